from celery import shared_task

from leadhub.tasks import DurableTask


@shared_task(base=DurableTask)
def rescore_run(run_id):
    """Work through a rescoring run (publish, nightly). Resumes from the run's saved cursor,
    so a redelivered, retried or swept (leadhub.sweeper) task converges instead of starting over."""
    from .services import run_rescore

    run_rescore(run_id=run_id)


@shared_task(base=DurableTask)
def nightly_rescore():
    """Celery beat, nightly: rescore every lead at today's date so engagement decays.
    When another run (a publish) is active, this one does not start, and says so: in the log
    and as a failed run with the reason in the admin (that run rescores everything anyway)."""
    from .choices import RunKind
    from .services import rescore_all

    run = rescore_all(kind=RunKind.NIGHTLY, by=None)
    return run.pk if run else None
