"""Jobs whose worker died or whose task was lost: how long without a heartbeat counts as
stalled, resuming one by hand (the admin) or by the sweeper, and partial uploads a killed web
process left behind."""

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..errors import Conflict
from ..models import ImportStatus, LeadImport

log = logging.getLogger("leadhub.imports")


def stalled_after():
    return timedelta(seconds=settings.LEADHUB_STALLED_AFTER_SECONDS)


def stalled_since(job, now=None):
    """When a previewing or importing job last showed progress, if longer ago than
    stalled_after() (its worker died, or its task was never delivered); else None."""
    if job.status not in (ImportStatus.PREVIEWING, ImportStatus.IMPORTING):
        return None
    last = job.heartbeat_at or job.started_at or job.created_at
    return last if last < (now or timezone.now()) - stalled_after() else None


def _queue_phase(job_id, status):
    from ..tasks import preview_import, run_import

    task = preview_import if status == ImportStatus.PREVIEWING else run_import
    transaction.on_commit(lambda: task.delay(job_id))


@transaction.atomic
def import_resume(*, job, by=None):
    """Resume a stalled job, or an import that failed part way (it continues after the last
    committed batch; a preview starts over). Refused while the job is making progress."""
    job = LeadImport.objects.select_for_update().get(pk=job.pk)
    if stalled_since(job):
        status = job.status
    elif job.status == ImportStatus.FAILED and job.started_at is not None and job.file:
        status = ImportStatus.IMPORTING
    else:
        raise Conflict("This import is not stalled: it is making progress, finished, or has not started.")
    if not job.file or not job.file.storage.exists(job.file.name):
        raise Conflict("The uploaded file is gone; upload it again.")
    LeadImport.objects.filter(pk=job.pk).update(
        status=status, heartbeat_at=timezone.now(), attempts=0, error="", finished_at=None
    )
    _queue_phase(job.pk, status)
    log.info("Import %s resumed by %s", job.pk, by or "the system")
    job.refresh_from_db()
    return job


def sweep_imports(*, now=None):
    """The sweeper's part for imports: resume each previewing or importing job whose heartbeat
    stopped, or after settings.LEADHUB_MAX_RESUMES resumes mark it failed with a sentence.
    Returns (resumed, failed) job ids; each job is claimed with a conditional update."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    stalled = LeadImport.objects.filter(status__in=[ImportStatus.PREVIEWING, ImportStatus.IMPORTING]).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    resumed, failed = [], []
    for job in stalled.only("pk", "status", "heartbeat_at", "attempts", "created_at", "started_at"):
        claim = LeadImport.objects.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at)
        last = job.heartbeat_at or job.started_at or job.created_at
        if job.attempts >= settings.LEADHUB_MAX_RESUMES:
            why = (
                f"Stopped after {job.attempts} automatic resumes: no progress since "
                f"{timezone.localtime(last):%Y-%m-%d %H:%M}. Resume it once the workers are healthy."
            )
            if claim.update(status=ImportStatus.FAILED, error=why, finished_at=now):
                log.error("Import %s failed: %s", job.pk, why)
                failed.append(job.pk)
            continue
        if claim.update(heartbeat_at=now, attempts=F("attempts") + 1):
            log.warning("Import %s stalled (no progress since %s); resuming it (attempt %s)", job.pk, last, job.attempts + 1)
            with transaction.atomic():
                _queue_phase(job.pk, job.status)
            resumed.append(job.pk)
    return resumed, failed


def delete_abandoned_uploads(*, older_than=timedelta(hours=1), now=None):
    """Delete partial uploads a killed web process left in FILE_UPLOAD_TEMP_DIR (a request
    that dies normally deletes its own). Returns how many files were deleted."""
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR or "")
    if not settings.FILE_UPLOAD_TEMP_DIR or not directory.is_dir():
        return 0
    cutoff = (now or timezone.now()).timestamp() - older_than.total_seconds()
    deleted = 0
    for path in directory.glob("*.upload*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except OSError:
            continue
    return deleted
