"""Celery tasks of the lead records (imports), and the durable task base every task of the project uses.

Work is never only a message on the broker: the database records it first (PendingRescore
rows, a RescoreRun, an import job's status), and a task is just the wake-up call. So:
- a task is acknowledged when it finished (acks late) and redelivered when its worker died;
  every task is idempotent, so running one twice is harmless;
- a database hiccup (deadlock, serialization failure, lost connection) retries the task with
  backoff and jitter;
- publishing a task while the broker is down never fails the request that stored the data:
  the error is logged and the sweeper (leadhub.sweeper, beat every minute) picks the work up from
  the database.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from . import imports
from .db import ConflictRetryTask, backoff

log = logging.getLogger(__name__)


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
                self.name,
                type(exc).__name__,
                exc,
            )
            return None


@shared_task(base=DurableTask)
def preview_import(job_id):
    """Check every row of an uploaded file and count what importing it would do (writes no lead).

    Idempotent: a retry starts the preview over.
    """
    imports.import_preview(job_id=job_id)


@shared_task(base=DurableTask)
def run_import(job_id):
    """Import a previewed file, one transaction per batch; a retry resumes after the last batch."""
    imports.import_commit(job_id=job_id)
