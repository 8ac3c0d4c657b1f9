"""CSV import of leads: the business rules behind /leads/import/, `manage.py import_leads` and
the import tasks. Views, the command and tasks only parse input and call the functions here.

The way of a file, and the module that holds each step:
1. `reading`: `import_upload` (in `uploads`) stores the upload on disk (never in memory) and
   `sniff` reads it: encoding (UTF-8 with or without BOM, else Windows-1252), delimiter
   (csv.Sniffer, checked against the header), the header and a few sample rows. A file that is
   not CSV fails here, with a sentence (`spec.ImportFileError`).
2. `mapping`: which column holds which field (a lead field, the external id, a company
   field, a custom field `attributes.KEY`, the outcome, or none; remembered per header
   fingerprint in ImportMapping); `options` the other choices (match key and source system,
   placeholders, value maps, truncated columns, channel/campaign updates, bad cells);
   `uploads.import_set_mapping` records them (creating custom fields asked for) and queues
   the preview.
3. `rows`: each data row checked against the mapping (`parse_row`; `values` turns cells into
   countries, outcomes, dates and guesses a new field's type), in batches of BATCH_SIZE with
   duplicates inside the file marked (`parsed_batches`), and domains shared by many rows.
4. `batches`: what a batch does to leads and companies (`plan_batch`), the writes
   (`write_batch`), the per-line outcomes (`commit_batch`); `outcomes` the historical
   outcomes it records.
   `activities`: the same steps for an activity import.
5. `jobs`: the job's phases. `import_preview` reads the whole file streaming and counts what
   the import would do (new, update, unchanged, rejected) without writing a lead; problem
   lines are stored as ImportRow rows with their line number and reason. `import_start` +
   `import_commit` write the leads: per batch one transaction with the bulk upsert, the
   per-line outcomes and the job's progress, so a crash leaves whole batches only and a retry
   resumes after the last one. Rescoring of the touched leads is queued on commit of each batch.
6. `stalled`: jobs whose heartbeat stopped, resumed by hand or by the sweeper.

Importing the same file twice creates nothing new: rows are matched by normalised email or by
external id, and a row whose values equal the lead's is "unchanged" (not written, not rescored).
"""

from .activities import ActivityContext, content_hash, parse_time
from .batches import commit_batch, plan_batch, write_batch
from .jobs import Summary, import_commit, import_preview, import_start, preview_rows, rejected_rows
from .mapping import (
    ACTIVITY_FIELDS,
    ACTIVITY_LABELS,
    FIELD_LABELS,
    IMPORT_FIELDS,
    NEW_FIELD,
    clean_fields,
    field_label,
    guess_fields,
    header_fingerprint,
    parse_mapping_options,
    remembered_mapping,
    slug,
)
from .options import BAD_CELLS, DEFAULT_PLACEHOLDERS, parse_placeholders
from .reading import check_size, human_size, iter_records, sniff
from .rows import BATCH_SIZE, SHARED_DOMAIN_THRESHOLD, ParsedRow, RowContext, mappable, parse_row, parsed_batches, target_choices
from .spec import FileInfo, ImportFileError, ImportSpec
from .stalled import delete_abandoned_uploads, import_resume, stalled_after, stalled_since, sweep_imports
from .uploads import import_from_path, import_local_file, import_set_mapping, import_set_values, import_upload
from .values import country_code, guess_type, outcome_result

__all__ = [
    "ACTIVITY_FIELDS",
    "ACTIVITY_LABELS",
    "BAD_CELLS",
    "BATCH_SIZE",
    "DEFAULT_PLACEHOLDERS",
    "FIELD_LABELS",
    "IMPORT_FIELDS",
    "NEW_FIELD",
    "SHARED_DOMAIN_THRESHOLD",
    "ActivityContext",
    "RowContext",
    "content_hash",
    "country_code",
    "field_label",
    "guess_type",
    "import_set_values",
    "mappable",
    "outcome_result",
    "parse_placeholders",
    "parse_time",
    "remembered_mapping",
    "slug",
    "target_choices",
    "FileInfo",
    "ImportFileError",
    "ImportSpec",
    "ParsedRow",
    "Summary",
    "check_size",
    "clean_fields",
    "commit_batch",
    "delete_abandoned_uploads",
    "guess_fields",
    "header_fingerprint",
    "human_size",
    "import_commit",
    "import_from_path",
    "import_local_file",
    "import_preview",
    "import_resume",
    "import_set_mapping",
    "import_start",
    "import_upload",
    "iter_records",
    "parse_mapping_options",
    "parse_row",
    "parsed_batches",
    "plan_batch",
    "preview_rows",
    "rejected_rows",
    "sniff",
    "stalled_after",
    "stalled_since",
    "sweep_imports",
    "write_batch",
]
