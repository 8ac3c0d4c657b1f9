"""CSV import of leads: the business rules behind /leads/import/, `manage.py import_leads` and
the import tasks. Views, the command and tasks only parse input and call the functions here.

The way of a file, and the module that holds each step:
1. `reading`: `import_upload` (in `uploads`) stores the upload on disk (never in memory) and
   `sniff` reads it: encoding (UTF-8 with or without BOM, else Windows-1252), delimiter
   (csv.Sniffer, checked against the header), the header and a few sample rows. A file that is
   not CSV fails here, with a sentence (`spec.ImportFileError`).
2. `mapping`: which column holds which lead field (remembered per header fingerprint in
   ImportMapping); `uploads.import_set_mapping` records it with the channel and campaign and
   queues the preview.
3. `rows`: each data row checked against the mapping (`parse_row`), in batches of BATCH_SIZE
   with duplicates inside the file marked (`parsed_batches`).
4. `batches`: what a batch does to leads and companies (`plan_batch`), the bulk upsert
   (`write_batch`) and the per-line outcomes (`commit_batch`).
5. `jobs`: the job's phases. `import_preview` reads the whole file streaming and counts what
   the import would do (new, update, unchanged, rejected) without writing a lead; problem
   lines are stored as ImportRow rows with their line number and reason. `import_start` +
   `import_commit` write the leads: per batch one transaction with the bulk upsert, the
   per-line outcomes and the job's progress, so a crash leaves whole batches only and a retry
   resumes after the last one. Rescoring of the touched leads is queued on commit of each batch.
6. `stalled`: jobs whose heartbeat stopped, resumed by hand or by the sweeper.

Importing the same file twice creates nothing new: rows are matched by normalised email, and a
row whose values equal the lead's is "unchanged" (not written, not rescored).
"""

from .batches import commit_batch, plan_batch, write_batch
from .jobs import Summary, import_commit, import_preview, import_start, preview_rows, rejected_rows
from .mapping import FIELD_LABELS, IMPORT_FIELDS, clean_fields, guess_fields, header_fingerprint, parse_mapping_options
from .reading import check_size, human_size, iter_records, sniff
from .rows import BATCH_SIZE, ParsedRow, parse_row, parsed_batches
from .spec import FileInfo, ImportFileError, ImportSpec
from .stalled import delete_abandoned_uploads, import_resume, stalled_after, stalled_since, sweep_imports
from .uploads import import_from_path, import_local_file, import_set_mapping, import_upload

__all__ = [
    "BATCH_SIZE",
    "FIELD_LABELS",
    "IMPORT_FIELDS",
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
