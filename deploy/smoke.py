"""Smoke test of the production shape: gunicorn, a Celery worker and beat against PostgreSQL
and Redis on 127.0.0.1. Pushes a lead and activities over HTTP, waits for the worker (not an
eager task) to score it into MQL, accepts its handoff through the API, then stops every process
it started. Exit code 0 only when all of that happened. Run by .ci/run.
"""

import json
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _common as c  # noqa: E402

PORT = int(os.environ.get("SMOKE_PORT", "8477"))
BROKER = os.environ.get("SMOKE_BROKER", "redis://127.0.0.1:6379/8")
BASE = f"http://127.0.0.1:{PORT}"


def api(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{BASE}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def fail(message, logs):
    print(f"SMOKE FAILED: {message}")
    for name in ("web", "worker", "beat"):
        path = Path(logs) / f"{name}.log"
        if path.exists():
            print(f"--- {name}.log (tail)\n" + "\n".join(path.read_text().splitlines()[-25:]))
    sys.exit(1)


def main():
    database_url = c.fresh_database("leadhub_smoke")
    env = {
        **c.bench_env(database_url),
        "DEBUG": "0",
        "DJANGO_SECRET_KEY": "smoke-test-secret-" + "k" * 40,
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CELERY_BROKER_URL": BROKER,
        "PORT": str(PORT),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "INFO",
    }
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    c.manage(env, "migrate", "-v", "0")
    c.manage(env, "collectstatic", "--no-input", "-v", "0")
    # Demo users, SDR profiles, rejection reasons and the published scoring model.
    c.manage(env, "seed_demo", "--leads", "50", "--force", "--no-progress")
    c.setup_django(database_url, **{k: env[k] for k in ("DEBUG", "DJANGO_SECRET_KEY", "CELERY_BROKER_URL")})
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    integration = User.objects.create_user("smoke-integration")
    from django.contrib.auth.models import Group

    integration.groups.add(Group.objects.get(name="Integration"))
    integration_token = Token.objects.create(user=integration).key

    logs = tempfile.mkdtemp(prefix="leadhub-smoke-")
    processes = {
        "web": c.start([c.PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"], env, f"{logs}/web.log"),
        "worker": c.start(
            [
                c.PY,
                "-m",
                "celery",
                "-A",
                "leadhub",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "--pidfile",
                f"{logs}/worker.pid",
            ],
            env,
            f"{logs}/worker.log",
        ),
        "beat": c.start(
            [
                c.PY,
                "-m",
                "celery",
                "-A",
                "leadhub",
                "beat",
                "-l",
                "info",
                "--pidfile",
                f"{logs}/beat.pid",
                "--schedule",
                f"{logs}/beat-schedule",
            ],
            env,
            f"{logs}/beat.log",
        ),
    }
    try:
        c.wait_for_http(f"{BASE}/healthz")
        status, health = api("GET", "/healthz", integration_token)
        if status != 200 or health["checks"]["broker"] != "ok":
            fail(f"/healthz: {status} {health}", logs)

        status, lead = api(
            "POST",
            "/api/leads/",
            integration_token,
            {
                "email": "jordan.reyes@northwind-analytics.com",
                "first_name": "Jordan",
                "last_name": "Reyes",
                "title": "VP Marketing",
                "country": "US",
                "channel": "inbound_form",
                "campaign": "website-demo-form",
                "company": {
                    "name": "Northwind Analytics",
                    "industry": "software",
                    "employee_count": 800,
                    "annual_revenue": "120000000",
                },
            },
        )
        if status != 201:
            fail(f"creating the lead: {status} {lead}", logs)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        kinds = [
            "demo_request",
            "pricing_page_view",
            "pricing_page_view",
            "pricing_page_view",
            "webinar_attended",
            "email_reply",
            "contact_request",
        ]
        activities = [
            {
                "email": lead["email"],
                "kind": kind,
                "occurred_at": now,
                "source": "smoke",
                "external_id": f"smoke-{i}",
                "properties": {"minutes": 50} if kind == "webinar_attended" else {},
            }
            for i, kind in enumerate(kinds)
        ]
        status, result = api("POST", "/api/activities/", integration_token, {"activities": activities})
        if status != 200 or result["created"] != len(kinds):
            fail(f"posting activities: {status} {result}", logs)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, detail = api("GET", f"/api/leads/{lead['id']}/", integration_token)
            if detail.get("stage") == "mql":
                break
            time.sleep(0.5)
        else:
            fail(
                f"the worker did not make the lead an MQL within 60 s (stage {detail.get('stage')}, score {detail.get('total_score')})",
                logs,
            )
        print(f"lead {lead['id']} scored {detail['total_score']} (grade {detail['grade']}) and became an MQL through the worker")

        from handoff.models import Handoff

        handoff = Handoff.objects.select_related("owner").get(lead_id=lead["id"], status="open")
        actor = handoff.owner or User.objects.get(username="sdr1")
        actor_token = Token.objects.get_or_create(user=actor)[0].key
        if handoff.owner is None:
            status, body = api("POST", f"/api/handoffs/{handoff.pk}/claim/", actor_token, {})
            if status != 200:
                fail(f"claiming handoff {handoff.pk}: {status} {body}", logs)
        status, body = api("POST", f"/api/handoffs/{handoff.pk}/accept/", actor_token, {})
        if status != 200:
            fail(f"accepting handoff {handoff.pk}: {status} {body}", logs)
        status, detail = api("GET", f"/api/leads/{lead['id']}/", integration_token)
        if detail.get("stage") != "sal":
            fail(f"after accept the lead is {detail.get('stage')}, not sal", logs)
        print(f"handoff {handoff.pk} accepted by {actor.username}; lead is a SAL")
        worker_log = Path(f"{logs}/worker.log").read_text()
        if "leadhub.tasks.rescore_leads" not in worker_log:
            fail("the worker log shows no rescore task", logs)
    finally:
        for process in processes.values():
            c.stop(process)
    leftovers = [name for name, p in processes.items() if p.poll() is None]
    if leftovers:
        for p in processes.values():
            os.killpg(p.pid, signal.SIGKILL)
        fail(f"processes still running after stop: {leftovers}", logs)
    print("SMOKE OK: web, worker and beat started, lead scored to MQL by the worker, handoff accepted, all stopped")


if __name__ == "__main__":
    main()
