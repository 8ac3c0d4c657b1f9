"""Celery tasks of leadhub, the durable task base every leadhub task uses, and the sweeper.

Work is never only a message on the broker: the database records it first (PendingRescore
rows, a RescoreRun, an import job's status), and a task is just the wake-up call. So:
- a task is acknowledged when it finished (acks late) and redelivered when its worker died;
  every task is idempotent, so running one twice is harmless;
- a database hiccup (deadlock, serialization failure, lost connection) retries the task with
  backoff and jitter;
- publishing a task while the broker is down never fails the request that stored the data:
  the error is logged and the sweeper (beat, every minute) picks the work up from the database.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from .db import ConflictRetryTask, backoff

log = logging.getLogger(__name__)

# Times a lead held by another transaction is passed over before rescoring waits for it.
BUSY_RETRIES = 5


def _publish_errors():
    from redis.exceptions import RedisError

    return (BrokerError, RedisError, OSError)


class DurableTask(ConflictRetryTask):
    """Acks late; a deadlock or serialization failure first re-runs the body in place
    (ConflictRetryTask); any other database or broker error retries the task with exponential
    backoff and full jitter (up to 5 minutes apart). Publishing never raises a broker error into
    the caller: the work it would start is recorded in the database, and the sweeper finds it."""

    acks_late = True
    reject_on_worker_lost = True
    retry_errors = (OperationalError, InterfaceError, BrokerError)
    retry_backoff_max = 300
    max_retries = 8

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except self.retry_errors as exc:
            if self.request.called_directly:
                raise
            countdown = backoff(self.request.retries or 0, base=2.0, cap=self.retry_backoff_max)
            log.warning("%s: %s, retrying in %.1f s", self.name, type(exc).__name__, countdown)
            raise self.retry(exc=exc, countdown=countdown)

    def apply_async(self, args=None, kwargs=None, **options):
        if self.app.conf.task_always_eager:
            return super().apply_async(args, kwargs, **options)
        try:
            return super().apply_async(args, kwargs, **options)
        except _publish_errors() as exc:
            log.warning(
                "broker unavailable: task %s not queued (%s: %s); the sweeper will pick the work up from the database",
                self.name, type(exc).__name__, exc,
            )
            return None


@shared_task(base=DurableTask)
def rescore_leads(lead_ids=None, attempt=0):
    """Rescore the leads waiting for it (their profile changed or activities arrived).

    Queued on commit by leadhub.services after it marks the leads (PendingRescore); a task
    scores whatever is waiting by then, so while the worker is busy many changes to one lead
    cost one scoring. Idempotent (scoring is a pure function of the lead's facts and the
    published model), so a retry is harmless. Leads another transaction holds (often the next
    ingest batch) are not waited for: a follow-up task comes back for them a moment later, and
    after BUSY_RETRIES it waits. `lead_ids`: leads to add first (messages queued by the
    previous release named them).
    """
    from qualification.services import rescore_pending

    from .services import mark_for_rescoring

    if lead_ids:
        mark_for_rescoring(lead_ids)
    _, busy = rescore_pending(wait=attempt >= BUSY_RETRIES)
    if busy:
        rescore_leads.apply_async(kwargs={"attempt": attempt + 1}, countdown=0.2 * (attempt + 1))


@shared_task(base=DurableTask)
def preview_import(job_id):
    """Check every row of an uploaded file and count what importing it would do (writes no lead).

    Idempotent: a retry starts the preview over.
    """
    from .imports import import_preview

    import_preview(job_id=job_id)


@shared_task(base=DurableTask)
def run_import(job_id):
    """Import a previewed file, one transaction per batch; a retry resumes after the last batch."""
    from .imports import import_commit

    import_commit(job_id=job_id)


@shared_task(base=DurableTask)
def sweep():
    """Celery beat, every minute: resume what stalled (leadhub.sweeper.sweep)."""
    from .sweeper import sweep as run

    return run().as_dict()
