"""Celery tasks of scoring: thin wake-up calls for work the database records (see leadhub.tasks)."""

from celery import shared_task
from django.db import transaction

from leadhub.tasks import DurableTask

from . import services
from .choices import RunKind
from .pending import mark_for_rescoring

# Times a lead held by another transaction is passed over before rescoring waits for it.
BUSY_RETRIES = 5


def enqueue_rescore(lead_ids):
    """Mark these leads as waiting for rescoring, in the caller's transaction, and wake the
    rescoring task once it commits (so the task sees the rows it scores). A lead marked again
    before the worker gets to it is still scored once. `lead_ids` may map each lead to its
    newest new activity (see pending.mark_for_rescoring)."""
    if mark_for_rescoring(lead_ids):
        transaction.on_commit(rescore_leads.delay)


# The name it had when the lead records app owned it: messages already queued still find it.
@shared_task(base=DurableTask, name="leadhub.tasks.rescore_leads")
def rescore_leads(lead_ids=None, attempt=0):
    """Rescore the leads waiting for it (their profile changed or activities arrived).

    Queued on commit by enqueue_rescore after it marks the leads (PendingRescore); a task
    scores whatever is waiting by then, so while the worker is busy many changes to one lead
    cost one scoring. Idempotent (scoring is a pure function of the lead's facts and the
    published model), so a retry is harmless. Leads another transaction holds (often the next
    ingest batch) are not waited for: a follow-up task comes back for them a moment later, and
    after BUSY_RETRIES it waits. `lead_ids`: leads to add first (messages queued by an
    earlier release named them).
    """
    if lead_ids:
        mark_for_rescoring(lead_ids)
    _, busy = services.rescore_pending(wait=attempt >= BUSY_RETRIES)
    if busy:
        rescore_leads.apply_async(kwargs={"attempt": attempt + 1}, countdown=0.2 * (attempt + 1))


@shared_task(base=DurableTask)
def rescore_run(run_id):
    """Work through a rescoring run (publish, nightly). Resumes from the run's saved cursor,
    so a redelivered, retried or swept (leadhub.sweeper) task converges instead of starting over."""
    services.run_rescore(run_id=run_id)


@shared_task(base=DurableTask)
def nightly_rescore():
    """Celery beat, nightly: rescore every lead at today's date so engagement decays.
    When another run (a publish) is active, this one does not start, and says so: in the log
    and as a failed run with the reason in the admin (that run rescores everything anyway)."""
    run = services.rescore_all(kind=RunKind.NIGHTLY, by=None)
    return run.pk if run else None


@shared_task(base=DurableTask)
def suggest_weights(run_id):
    """Fit suggested weights from outcomes and create the draft (qualification.suggest); the run
    (SuggestionRun) records progress and the result. A run already done is not repeated."""
    from .suggest import run_suggestion

    run_suggestion(run_id)
