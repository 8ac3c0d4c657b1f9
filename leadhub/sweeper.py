"""The sweeper (Celery beat, every minute) and the view of waiting work it shares with /healthz.

Waiting work lives in the database, never only on the broker, so whatever a killed worker, a
lost message or a broker outage left behind is found here:
- leads waiting for rescoring (PendingRescore) longer than LEADHUB_SWEEP_PENDING_AFTER_SECONDS:
  the rescoring task is queued again;
- rescoring runs and import jobs with no heartbeat for LEADHUB_STALLED_AFTER_SECONDS: resumed
  from their saved position, and marked failed with a sentence after LEADHUB_MAX_RESUMES resumes;
- partial uploads a killed web process left behind: deleted.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    pending: int = 0
    pending_oldest_seconds: float | None = None
    rescoring_queued: bool = False
    runs_resumed: list = field(default_factory=list)
    runs_failed: list = field(default_factory=list)
    imports_resumed: list = field(default_factory=list)
    imports_failed: list = field(default_factory=list)
    uploads_deleted: int = 0

    def as_dict(self):
        return asdict(self)


def pending_backlog(now=None):
    """(how many leads wait for rescoring, when the oldest started waiting or None)."""
    from .models import PendingRescore

    oldest = PendingRescore.objects.order_by("id").values_list("created_at", flat=True).first()
    if oldest is None:
        return 0, None
    return PendingRescore.objects.count(), oldest


def sweep(*, now=None):
    from qualification.services import sweep_runs

    from .imports import delete_abandoned_uploads, sweep_imports
    from .tasks import rescore_leads

    now = now or timezone.now()
    result = SweepResult()
    result.pending, oldest = pending_backlog(now)
    if oldest is not None:
        result.pending_oldest_seconds = round((now - oldest).total_seconds(), 1)
        if oldest < now - timedelta(seconds=settings.LEADHUB_SWEEP_PENDING_AFTER_SECONDS):
            log.warning("%s leads wait for rescoring, the oldest since %s: queueing the rescoring task", result.pending, oldest)
            rescore_leads.delay()
            result.rescoring_queued = True
    result.runs_resumed, result.runs_failed = sweep_runs(now=now)
    result.imports_resumed, result.imports_failed = sweep_imports(now=now)
    result.uploads_deleted = delete_abandoned_uploads(now=now)
    return result
