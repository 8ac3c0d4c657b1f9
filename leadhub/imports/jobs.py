"""A job's phases after its mapping: the preview (`import_preview`, counting what the import
would do without writing a lead) and the commit (`import_start` + `import_commit`, batch by
batch, each batch one transaction), with the progress and heartbeat that let a second task on
the same job see it was overtaken; and the download of a job's rejected lines."""

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import DatabaseError, reset_queries, transaction
from django.db.models import F
from django.utils import timezone

from ..db import is_retryable
from ..errors import Conflict
from ..models import ImportKind, ImportOutcome, ImportRow, ImportStatus, LeadImport
from . import activities
from .batches import commit_batch, count_changes, plan_batch
from .outcomes import write_outcomes
from .rows import SHARED_DOMAIN_THRESHOLD, RowContext, parsed_batches, resolve_value, shared_domains
from .spec import ImportFileError, ImportSpec

STATS_DISTINCT = 100  # distinct values kept per column for the preview's value mapping

log = logging.getLogger("leadhub.imports")


def open_job_file(job):
    """The job's stored upload, opened for reading (bytes)."""
    return job.file.storage.open(job.file.name, "rb")


@dataclass
class Summary:
    rows: int = 0
    new: int = 0
    update: int = 0
    unchanged: int = 0
    rejected: int = 0
    possible_duplicates: int = 0
    issues: list = field(default_factory=list)  # (line, key, message) for a dry run
    changes: Counter = field(default_factory=Counter)  # field -> existing leads it would change; "outcome"
    column_stats: dict = field(default_factory=dict)  # see ColumnStats.as_json
    notes: list = field(default_factory=list)  # sentences about the whole file

    @property
    def bad_cells(self):
        return sum(stats["errors"] for stats in self.column_stats.values())


class ColumnStats:
    """Per mapped column: distinct raw values (after placeholders) with counts, what each
    becomes, empty cells and bad values left out."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.values = {index: Counter() for index, name in enumerate(ctx.fields) if name}
        self.empty = Counter()
        self.errors = Counter()
        self.error_examples = {}

    def add(self, row):
        for index, counter in self.values.items():
            raw = " ".join(row.cells[index].split()) if index < len(row.cells) else ""
            if not raw or raw.casefold() in self.ctx.placeholders:
                self.empty[index] += 1
            elif raw in counter or len(counter) < STATS_DISTINCT:
                counter[raw] += 1
        for index, message in row.cell_errors.items():
            self.errors[index] += 1
            self.error_examples.setdefault(index, message)

    def as_json(self):
        result = {}
        for index, counter in self.values.items():
            name = self.ctx.fields[index]
            values = []
            for raw, count in counter.most_common(STATS_DISTINCT):
                value, why = resolve_value(name, self._mapped(index, raw), self.ctx)
                values.append([raw, count, value if value is not None else "", why])
            result[str(index)] = {
                "field": name,
                "values": values,
                "distinct": len(counter),
                "empty": self.empty[index],
                "errors": self.errors[index],
                "error_example": self.error_examples.get(index, ""),
            }
        return result

    def _mapped(self, index, raw):
        mapped = self.ctx.value_maps.get(index)
        if mapped and raw.casefold() in mapped:
            return str(mapped[raw.casefold()] or "")
        return raw


def _progress(job_id, *, bytes_done, status, rows_before, **counts):
    """Add `counts` to the job's counters, set how far into the file it is (None: the end) and
    beat the job's heartbeat. Only while the job is still in `status` with `rows_before` rows
    done: False when another task got there first (a redelivered or resumed task running beside
    this one), and this one must stop (and its transaction roll back), so each row counts once."""
    position = {"bytes_done": bytes_done if bytes_done is not None else F("size")}
    return bool(
        LeadImport.objects.filter(pk=job_id, status=status, rows_done=rows_before).update(
            **position, heartbeat_at=timezone.now(), **{k: F(k) + v for k, v in counts.items()}
        )
    )


class _Overtaken(Exception):
    """Another task is working on this job: this one stops."""


def make_context(binary, spec):
    """The parsing context of a phase; a lead import's reads the file once for shared domains."""
    if spec.kind == ImportKind.ACTIVITIES:
        return activities.ActivityContext(spec)
    ctx = RowContext(spec)
    ctx.shared_domains = shared_domains(binary, spec, ctx)
    return ctx


def file_notes(ctx):
    notes = []
    for domain, rows in sorted(getattr(ctx, "shared_domains", {}).items(), key=lambda item: -item[1]):
        notes.append(
            f"{rows:,} rows have an email at {domain}, more than {SHARED_DOMAIN_THRESHOLD} without naming one company: "
            f"a shared address, not an employer, so these leads get no company from it."
        )
    return notes


def preview_rows(binary, spec, *, job_id=None, on_progress=None, keep_issues=1000):
    """Count what an import of this file would do; writes no lead.

    With a job, problem lines are stored as ImportRow rows and progress on the job; without
    (a dry run), the first `keep_issues` problems come back in Summary.issues.
    """
    summary = Summary()
    ctx = make_context(binary, spec)
    stats = ColumnStats(ctx)
    summary.notes = file_notes(ctx)
    rows_before = 0
    batches = activities.activity_batches if spec.kind == ImportKind.ACTIVITIES else parsed_batches
    for batch, bytes_read in batches(binary, spec, ctx=ctx):
        reset_queries()  # with DEBUG on, Django would keep every batch's SQL until the end
        if spec.kind == ImportKind.ACTIVITIES:
            plans = activities.plan_activities(batch, ctx)
        else:
            plans, _ = plan_batch([row for row in batch if not row.error], ctx)
            summary.changes.update(count_changes(plans))
            summary.changes.update(
                write_outcomes(
                    [(p.existing_id, p.row.outcome) for p in plans if p.row.outcome and p.existing_id],
                    source=ctx.source,
                    dry_run=True,
                )
            )
            summary.changes["outcome"] += sum(1 for p in plans if p.row.outcome and not p.existing_id)
        issues = []
        for row in batch:
            stats.add(row)
            if row.error:
                summary.rejected += 1
                issues.append(
                    ImportRow(
                        job_id=job_id,
                        line=row.line,
                        outcome=ImportOutcome.REJECTED,
                        email=row.key[:254],
                        message=row.error,
                        values=row.cells,
                    )
                )
        for plan in plans:
            setattr(summary, plan.kind, getattr(summary, plan.kind) + 1)
            if plan.note:
                summary.possible_duplicates += 1 if plan.possible_duplicate_of or plan.row.note else 0
                issues.append(
                    ImportRow(
                        job_id=job_id,
                        line=plan.row.line,
                        outcome=ImportOutcome.POSSIBLE_DUPLICATE
                        if plan.possible_duplicate_of or plan.row.note
                        else ImportOutcome.WARNING,
                        email=plan.row.key[:254],
                        message=plan.note,
                        possible_duplicate_of_id=plan.possible_duplicate_of,
                    )
                )
        summary.rows += len(batch)
        if job_id:
            issues.sort(key=lambda r: r.line)
            with transaction.atomic():
                if not _progress(
                    job_id, rows_done=len(batch), bytes_done=bytes_read, status=ImportStatus.PREVIEWING, rows_before=rows_before
                ):
                    raise _Overtaken
                ImportRow.objects.bulk_create(issues)
            rows_before += len(batch)
        elif len(summary.issues) < keep_issues:
            summary.issues.extend((r.line, r.email, r.message) for r in sorted(issues, key=lambda r: r.line))
            del summary.issues[keep_issues:]
        if on_progress:
            on_progress(bytes_read)
    summary.column_stats = stats.as_json()
    return summary


def import_preview(*, job_id, on_progress=None):
    """The preview phase of a job (a task body): idempotent, it starts over when retried."""
    job = LeadImport.objects.get(pk=job_id)
    if job.status != ImportStatus.PREVIEWING:
        return job
    with transaction.atomic():
        # Starting over: a task still working on this job (its worker was presumed dead) finds
        # the counters reset under it, and stops at its next batch.
        if not LeadImport.objects.filter(pk=job_id, status=ImportStatus.PREVIEWING).update(
            rows_done=0, bytes_done=0, heartbeat_at=timezone.now()
        ):
            return LeadImport.objects.get(pk=job_id)
        ImportRow.objects.filter(job=job).delete()
    try:
        with open_job_file(job) as binary:
            summary = preview_rows(binary, ImportSpec.for_job(job), job_id=job.pk, on_progress=on_progress)
    except ImportFileError as exc:
        LeadImport.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, error=exc.message)
        return LeadImport.objects.get(pk=job_id)
    except _Overtaken:
        log.info("Import %s: another task is previewing it; this one stops", job_id)
        return LeadImport.objects.get(pk=job_id)
    LeadImport.objects.filter(pk=job_id, status=ImportStatus.PREVIEWING).update(
        status=ImportStatus.PREVIEWED,
        previewed_at=timezone.now(),
        rows_total=summary.rows,
        new_count=summary.new,
        update_count=summary.update,
        unchanged_count=summary.unchanged,
        invalid_count=summary.rejected,
        possible_duplicate_count=summary.possible_duplicates,
        changes=dict(summary.changes),
        column_stats=summary.column_stats,
        notes=summary.notes,
    )
    return LeadImport.objects.get(pk=job_id)


@transaction.atomic
def import_start(*, job, queue=True):
    """Commit a previewed import: exactly one caller wins (a double click starts it once). Who
    imported is the job's created_by (the person who uploaded and previewed it)."""
    started = LeadImport.objects.filter(pk=job.pk, status=ImportStatus.PREVIEWED).update(
        status=ImportStatus.IMPORTING,
        started_at=timezone.now(),
        rows_done=0,
        bytes_done=0,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        rejected_count=0,
        changes={},
        heartbeat_at=timezone.now(),
        attempts=0,
    )
    if not started:
        raise Conflict("This import was already started, or it needs a preview first.")
    ImportRow.objects.filter(job=job).delete()
    if queue:
        from ..tasks import run_import

        transaction.on_commit(lambda: run_import.delay(job.pk))
    job.refresh_from_db()
    return job


def import_commit(*, job_id, on_progress=None):
    """Write the leads of an importing job, batch by batch (a task body).

    Each batch is one transaction: companies, leads, the lines' outcomes and the job's counters
    together. A retry after a crash skips the rows_done rows already committed. Two tasks on one
    job (a redelivered message beside a resumed one) never both count a batch: the job's row is
    claimed first in each batch's transaction (a conditional update on rows_done), and the task
    that finds it moved on stops.
    """
    job = LeadImport.objects.get(pk=job_id)
    if job.status != ImportStatus.IMPORTING:
        return job
    spec = ImportSpec.for_job(job)
    rows_before = job.rows_done
    batch = []
    activity_import = spec.kind == ImportKind.ACTIVITIES
    batches = activities.activity_batches if activity_import else parsed_batches
    commit = activities.commit_activities if activity_import else commit_batch
    try:
        with open_job_file(job) as binary:
            ctx = make_context(binary, spec)
            if not job.notes:
                LeadImport.objects.filter(pk=job.pk).update(notes=file_notes(ctx))
            for batch, bytes_read in batches(binary, spec, skip=job.rows_done, ctx=ctx):
                reset_queries()  # with DEBUG on, Django would keep every batch's SQL until the end
                with transaction.atomic():
                    # Claim the batch before writing it (the update locks the job's row until commit).
                    if not _progress(job.pk, bytes_done=bytes_read, status=ImportStatus.IMPORTING, rows_before=rows_before):
                        raise _Overtaken
                    counts, changes = commit(job.pk, batch, ctx)
                    LeadImport.objects.filter(pk=job.pk).update(**{k: F(k) + v for k, v in counts.items()})
                    if changes:
                        _add_changes(job.pk, changes)
                rows_before += counts["rows_done"]
                if on_progress:
                    on_progress(bytes_read)
    except ImportFileError as exc:
        LeadImport.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, error=exc.message, finished_at=timezone.now())
        return LeadImport.objects.get(pk=job_id)
    except _Overtaken:
        log.info("Import %s: another task is importing it; this one stops", job_id)
        return LeadImport.objects.get(pk=job_id)
    except DatabaseError as exc:
        if is_retryable(exc):
            raise  # a deadlock or serialization failure: the task runs again from the last batch
        # A batch the database refused (the preview checks every row as this does, so this is
        # rare): that batch is rolled back; the job says which lines and why, and can be mapped
        # and run again (leads are matched by email, so the batches already written update).
        lines = f"lines {batch[0].line}–{batch[-1].line}" if batch else "the file"
        error = f"The database refused {lines}: {str(exc).splitlines()[0][:300]}. Fix the file or the mapping and run it again."
        LeadImport.objects.filter(pk=job_id).update(
            status=ImportStatus.FAILED, error=error, finished_at=timezone.now(), started_at=None
        )
        return LeadImport.objects.get(pk=job_id)
    finished = LeadImport.objects.filter(pk=job_id, status=ImportStatus.IMPORTING).update(
        status=ImportStatus.DONE,
        finished_at=timezone.now(),
        bytes_done=job.size,
        rows_total=F("rows_done"),
        file="",
    )
    if finished:
        # The leads and the rejected lines (with their cells) are in the database now; the file
        # is personal data nobody needs any more.
        job.file.storage.delete(job.file.name)
    return LeadImport.objects.get(pk=job_id)


def _add_changes(job_id, changes):
    """Add a batch's per-field counts to the job's (its row is locked by the batch's claim)."""
    current = Counter(LeadImport.objects.filter(pk=job_id).values_list("changes", flat=True).first() or {})
    current.update(changes)
    LeadImport.objects.filter(pk=job_id).update(changes=dict(current))


def rejected_rows(job):
    """(header + "error", rows) of a job's rejected lines, original cells first, for download."""
    header = [*job.header, "error"]
    width = len(job.header)

    def rows():
        queryset = job.rows.filter(outcome=ImportOutcome.REJECTED).order_by("line").values_list("values", "message")
        for values, message in queryset.iterator(chunk_size=2000):
            cells = list(values)[:width] + [""] * max(0, width - len(values))
            yield [*cells, message]

    return header, rows()
