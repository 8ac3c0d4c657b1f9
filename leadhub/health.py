"""/healthz: can this process serve, and is the work behind it moving? (Composition root: it
reads every app's waiting work.)

Checks the database and the Celery broker (each "ok" or the error: which dependency is down),
and reports the waiting work with its age: leads waiting for rescoring, the active rescoring
run and running imports (with "stalled_since" when their heartbeat stopped). Answers 503 when
a dependency is down or the oldest waiting work is older than
settings.LEADHUB_HEALTH_BACKLOG_MAX_SECONDS (10 minutes by default): the workers are not
keeping up, or are not running.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leadhub.celery import app
from qualification import services as scoring
from qualification.models import RescoreRun
from qualification.pending import pending_backlog

from .imports import stalled_since as import_stalled_since
from .models import ImportStatus, LeadImport

BROKER_TIMEOUT_SECONDS = 2


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker():
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def _age(now, since):
    return None if since is None else round((now - since).total_seconds(), 1)


def backlog(now=None):
    """The waiting work and its age (seconds), as /healthz and the admin show it."""
    now = now or timezone.now()
    pending, oldest = pending_backlog(now)
    report = {"rescoring": {"waiting_leads": pending, "oldest_age_seconds": _age(now, oldest)}, "runs": [], "imports": []}
    ages = [_age(now, oldest)] if oldest else []
    for run in RescoreRun.objects.filter(active=True).select_related("model"):
        stalled = scoring.stalled_since(run, now)
        report["runs"].append(
            {
                "id": run.pk,
                "kind": run.kind,
                "status": run.status,
                "done": run.done,
                "total": run.total,
                "age_seconds": _age(now, run.created_at),
                "heartbeat_age_seconds": _age(now, run.heartbeat_at),
                "stalled_since": stalled.isoformat() if stalled else None,
            }
        )
        if stalled:
            ages.append(_age(now, stalled))
    jobs = LeadImport.objects.filter(status__in=[ImportStatus.PREVIEWING, ImportStatus.IMPORTING]).only(
        "pk", "status", "rows_done", "created_at", "started_at", "heartbeat_at"
    )
    for job in jobs[:20]:
        stalled = import_stalled_since(job, now)
        report["imports"].append(
            {
                "id": job.pk,
                "status": job.status,
                "rows_done": job.rows_done,
                "age_seconds": _age(now, job.started_at or job.created_at),
                "heartbeat_age_seconds": _age(now, job.heartbeat_at),
                "stalled_since": stalled.isoformat() if stalled else None,
            }
        )
        if stalled:
            ages.append(_age(now, stalled))
    report["oldest_waiting_seconds"] = max(ages) if ages else None
    return report


@login_not_required  # load balancers probe it without signing in; it reveals counts and ages only
@never_cache
@require_GET
def healthz(request):
    checks = {}
    healthy = True
    try:
        check_database()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; the message says which
        checks["database"] = f"error: {exc.__class__.__name__}: {exc}".strip()
        healthy = False
    if settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = "not used (tasks run in-process)"
    else:
        try:
            check_broker()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {exc.__class__.__name__}: {exc}".strip()
            healthy = False
    body = {"checks": checks}
    if checks["database"] == "ok":
        work = backlog()
        limit = settings.LEADHUB_HEALTH_BACKLOG_MAX_SECONDS
        oldest = work["oldest_waiting_seconds"]
        if oldest is not None and oldest > limit:
            checks["backlog"] = f"error: work has waited {oldest:,.0f} s (more than {limit:,} s): the workers are not keeping up"
            healthy = False
        else:
            checks["backlog"] = "ok"
        body["backlog"] = work
    down = [name for name, value in checks.items() if value != "ok" and value.startswith("error")]
    body = {"status": "ok" if healthy else "error", **({"down": down} if down else {}), **body}
    return JsonResponse(body, status=200 if healthy else 503)
