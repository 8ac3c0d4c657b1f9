"""The sweeper (Celery beat, every minute): composition root, like /healthz (leadhub.health).

It reaches into every app's waiting work, so it sits above them all, with the URLs and
settings, not in the lead records' domain; its task is registered through CELERY_IMPORTS.

Waiting work lives in the database, never only on the broker, so whatever a killed worker, a
lost message or a broker outage left behind is found here:
- leads waiting for rescoring (PendingRescore) longer than LEADHUB_SWEEP_PENDING_AFTER_SECONDS:
  the rescoring task is queued again;
- rescoring runs and import jobs with no heartbeat for LEADHUB_STALLED_AFTER_SECONDS: resumed
  from their saved position, and marked failed with a sentence after LEADHUB_MAX_RESUMES resumes;
- partial uploads a killed web process left behind: deleted;
- handoffs a gradual publish held in the pool: today's share routed (handoff.held_release).
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from handoff.held_release import release_held
from qualification.pending import pending_backlog
from qualification.services import sweep_runs
from qualification.tasks import rescore_leads

from .imports import delete_abandoned_uploads, sweep_imports
from .tasks import DurableTask

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
    held_handoffs_routed: int = 0

    def as_dict(self):
        return asdict(self)


def sweep(*, now=None):
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
    result.held_handoffs_routed = release_held(now)  # a gradual publish's share of the day
    return result


# The name it had in leadhub.tasks: Celery beat's schedule and queued messages use it.
@shared_task(base=DurableTask, name="leadhub.tasks.sweep")
def sweep_task():
    """Celery beat, every minute: resume what stalled (sweep)."""
    return sweep().as_dict()
