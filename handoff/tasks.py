from celery import shared_task

from leadhub.tasks import DurableTask

from .sla import check_sla as run


@shared_task(base=DurableTask)
def check_sla():
    """Celery beat, every minute: mark SLA breaches and escalate (handoff.sla.check_sla).
    Safe to run twice at once: each escalation step is taken once (a unique constraint)."""
    result = run()
    return {"breached": result.breached, "escalations": result.escalations, "skipped": result.skipped}
