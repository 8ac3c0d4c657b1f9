from celery import shared_task


@shared_task(acks_late=True)
def rescore_leads(lead_ids):
    """Rescore these leads after their profile changed or activities arrived.

    Queued on commit by leadhub.services; idempotent (scoring is a pure function of the
    lead's facts and the published model), so a retry is harmless.
    """
    from qualification.services import rescore_leads as rescore

    rescore(lead_ids=lead_ids)
