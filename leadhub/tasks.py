from celery import shared_task


@shared_task(acks_late=True)
def rescore_leads(lead_ids):
    """Rescore these leads after their profile changed or activities arrived.

    Queued on commit by leadhub.services; idempotent (scoring is a pure function of the
    lead's facts and the published model), so a retry is harmless.
    """
    from qualification.services import rescore_leads as rescore

    rescore(lead_ids=lead_ids)


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
