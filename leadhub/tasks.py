from celery import shared_task

# Times a lead held by another transaction is passed over before rescoring waits for it.
BUSY_RETRIES = 5


@shared_task(acks_late=True)
def rescore_leads(lead_ids, attempt=0):
    """Rescore these leads after their profile changed or activities arrived.

    Queued on commit by leadhub.services; idempotent (scoring is a pure function of the
    lead's facts and the published model), so a retry is harmless. Leads another transaction
    holds (often the next ingest batch, which queues them again itself) are not waited for:
    they are rescored by a follow-up task a moment later, so the worker keeps up with ingest.
    """
    from qualification.services import rescore_free_leads
    from qualification.services import rescore_leads as rescore

    if attempt >= BUSY_RETRIES:
        rescore(lead_ids=lead_ids)
        return
    _, busy = rescore_free_leads(lead_ids=lead_ids)
    if busy:
        rescore_leads.apply_async((list(busy), attempt + 1), countdown=0.2 * (attempt + 1))


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
