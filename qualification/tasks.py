from celery import shared_task


@shared_task(acks_late=True)
def rescore_run(run_id):
    """Work through a rescoring run (publish, nightly). Resumes from the run's saved cursor,
    so a redelivered or retried task converges instead of starting over."""
    from .services import run_rescore

    run_rescore(run_id=run_id)


@shared_task(acks_late=True)
def nightly_rescore():
    """Celery beat, nightly: rescore every lead at today's date so engagement decays.
    Skipped when another run (a publish) is active: that run rescores everything anyway."""
    from .choices import RunKind
    from .services import rescore_all

    run = rescore_all(kind=RunKind.NIGHTLY, by=None)
    return run.pk if run else None
