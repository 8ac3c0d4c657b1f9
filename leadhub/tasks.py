from celery import shared_task

# Times a lead held by another transaction is passed over before rescoring waits for it.
BUSY_RETRIES = 5


@shared_task(acks_late=True)
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


@shared_task(acks_late=True)
def preview_import(job_id):
    """Check every row of an uploaded file and count what importing it would do (writes no lead).

    Idempotent: a retry starts the preview over.
    """
    from .imports import import_preview

    import_preview(job_id=job_id)


@shared_task(acks_late=True)
def run_import(job_id):
    """Import a previewed file, one transaction per batch; a retry resumes after the last batch."""
    from .imports import import_commit

    import_commit(job_id=job_id)
