"""Load benchmark: a team of SDRs working the queue while an integration pushes activities,
against the production shape (deploy/serve.sh: gunicorn, a Celery worker and beat under the
supervisor, PostgreSQL and Redis) on 127.0.0.1, for a bounded time.

    .venv/bin/python bench/load.py                                  # 50 SDRs, 500 activities/s, 120 s
    .venv/bin/python bench/load.py --seconds 20 --sdrs 10 --rate 200  # the CI variant

Each simulated SDR signs in as its own SDR user and loops: queue page → a handoff's panel →
the lead's page → think → accept (70%) or reject (30%). The integration posts batches of
--batch activities (default 1,000 every 2 s at 500/s) with unique external ids for existing
leads. Everything stops by itself: the load after --seconds, every request after --timeout,
the server when the run is over.

Reports throughput, p50/p95/p99 per page and action, error counts by status, ingest achieved
against offered, the rescoring backlog (from /healthz during the run, and drained after), the
SLA check's lag behind its minute, and checks afterwards that no activity was lost or
duplicated and that no handoff was decided twice. Budgets: zero 5xx, ingest >= 95% of offered,
queue p95 <= 1 s at the client.

Uses its own database (BENCH_LOAD_DB, default leadhub_bench_load; dropped and created afresh)
and broker (BENCH_LOAD_BROKER, default redis://127.0.0.1:6379/9; flushed first).
"""

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

ACTIONS = ("queue", "panel", "lead", "accept", "reject", "activities")

from _load_client import HOST, PASSWORD, Stats, health_loop, integration_loop, sdr_loop, sign_in_all  # noqa: E402


def prepare(args, database_url, broker):
    env = {**c.bench_env(database_url), "DEBUG": "1", "CELERY_BROKER_URL": ""}
    print(f"building {args.leads:,} leads in {database_url.rsplit('/', 1)[1]}", flush=True)
    c.manage(env, "migrate", "-v", "0")
    c.manage(env, "seed_demo", "--leads", str(args.leads), "--force", "--no-progress")
    c.setup_django(database_url, CELERY_BROKER_URL="", DEBUG="1")
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from handoff.models import RejectionReason, SDRProfile
    from leadhub.choices import Stage
    from leadhub.lifecycle import transition
    from leadhub.models import Lead

    sdr_group = Group.objects.get(name="SDR")
    users = []
    for i in range(1, args.sdrs + 1):
        user = User.objects.create_user(f"bench-sdr-{i}", password=PASSWORD, first_name="Bench", last_name=f"SDR {i}")
        user.groups.add(sdr_group)
        SDRProfile.objects.create(user=user, available=True, capacity=1000)
        users.append(user.username)
    # The demo's own SDRs take no new work: the bench's SDRs work what is routed.
    SDRProfile.objects.exclude(user__username__startswith="bench-sdr-").update(available=False)
    integration = User.objects.create_user("bench-integration")
    integration.groups.add(Group.objects.get(name="Integration"))
    token = Token.objects.create(user=integration).key
    # Work at the start: leads made MQL the way scoring does, routed to the SDRs.
    for lead in Lead.objects.filter(stage=Stage.NEW).order_by("id")[: args.sdrs * 8]:
        transition(lead, Stage.NURTURE)
        transition(lead, Stage.MQL, reason="bench")
    emails = list(Lead.objects.values_list("email", flat=True)[:20000])
    reasons = [str(pk) for pk in RejectionReason.objects.filter(active=True).values_list("pk", flat=True)]
    from django.db import connections

    connections.close_all()
    return users, token, emails, reasons


def start_server(args, database_url, broker, logs):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-load-secret-" + "k" * 40,
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "PORT": str(args.port),
        "BIND": f"{HOST}:{args.port}",
        "RUN_DIR": str(logs / "run"),
        "LOG_LEVEL": "INFO",
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = open(logs / "serve.log", "w")
    return subprocess.Popen(
        ["deploy/serve.sh"], cwd=c.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


CELERY_SUCCESS = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]+\] Task handoff\.tasks\.check_sla\[[^\]]+\] succeeded"
)


def sla_lags(log_text, since, until):
    """Seconds from each minute's start to the end of that minute's SLA check (beat sends it
    at :00), from the worker's "Task handoff.tasks.check_sla[…] succeeded" lines."""
    lags = []
    for line in log_text.splitlines():
        match = CELERY_SUCCESS.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            if since <= stamp.replace(tzinfo=UTC).timestamp() <= until:
                lags.append(stamp.second + stamp.microsecond / 1e6)
    return lags


def after_checks(run_tag):
    """After the load: activities stored (and stored twice), handoffs decided twice, and how
    long the rescoring backlog takes to drain (bounded: 60 s)."""
    from django.db import connection
    from django.db.models import Count

    from handoff.models import HandoffEvent
    from leadhub.models import Activity
    from qualification.models import PendingRescore

    connection.close()
    ours = Activity.objects.filter(source="bench", external_id__startswith=f"{run_tag}-")
    stored = ours.count()
    duplicated = stored - ours.values("external_id").distinct().count()
    twice = (
        HandoffEvent.objects.filter(kind__in=["accepted", "rejected"])
        .values("handoff_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    started = time.monotonic()
    while PendingRescore.objects.exists() and time.monotonic() - started < 60:
        time.sleep(1)
    return stored, duplicated, twice, PendingRescore.objects.count(), time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdrs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=float, default=500, help="activities offered per second")
    parser.add_argument("--batch", type=int, default=1000, help="activities per post")
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--think", type=float, nargs=2, default=(0.5, 1.5), metavar=("MIN", "MAX"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_LOAD_PORT", "8151")))
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a request is given up")
    args = parser.parse_args()
    if not (1 <= args.sdrs <= 500 and 1 <= args.seconds <= 1800 and 0 < args.rate <= 20000 and 1 <= args.batch <= 1000):
        parser.error("keep it bounded: 1-500 SDRs, 1-1800 s, a rate up to 20,000/s, batches up to 1,000")
    database_url = c.fresh_database(os.environ.get("BENCH_LOAD_DB", "leadhub_bench_load"))
    broker = os.environ.get("BENCH_LOAD_BROKER", "redis://127.0.0.1:6379/9")
    import redis

    redis.Redis.from_url(broker).flushdb()
    users, token, emails, reasons = prepare(args, database_url, broker)
    logs = Path(tempfile.mkdtemp(prefix="leadhub-load-"))
    base = f"http://{HOST}:{args.port}"
    server = start_server(args, database_url, broker, logs)
    stats, stop = Stats(), threading.Event()
    run_tag = f"load{int(time.time())}"
    try:
        try:
            c.wait_for_http(f"{base}/login/", timeout=90)
        except RuntimeError:
            print((logs / "serve.log").read_text()[-4000:])
            raise
        signing_in = time.monotonic()
        sessions = sign_in_all(base, users, args, stats)
        print(
            f"{len(sessions)} of {args.sdrs} SDRs signed in ({time.monotonic() - signing_in:.0f} s); "
            f"{len(sessions)} SDRs and {args.rate:,.0f} activities/s for {args.seconds:.0f} s against {base} (logs in {logs})",
            flush=True,
        )
        started_wall, started = time.time(), time.monotonic()
        threads = [
            threading.Thread(target=sdr_loop, args=(base, session, reasons, stats, stop, args, random.Random(i)), daemon=True)
            for i, (_, session) in enumerate(sessions)
        ]
        threads.append(
            threading.Thread(target=integration_loop, args=(base, token, emails, stats, stop, args, run_tag), daemon=True)
        )
        threads.append(threading.Thread(target=health_loop, args=(base, stats, stop, started), daemon=True))
        for thread in threads:
            thread.start()
        stop.wait(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=args.timeout + 5)
        elapsed = time.monotonic() - started
        ended_wall = time.time()
        stored, duplicated, twice, left, drain = after_checks(run_tag)
    finally:
        stop.set()
        c.stop(server, timeout=40)  # the supervisor lets web, worker and beat finish first
    serve_log = (logs / "serve.log").read_text(errors="replace")
    lags = sla_lags(serve_log, started_wall, ended_wall)

    print(f"\n{'':12} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    total = 0
    for name in ACTIONS:
        times = stats.times.get(name, [])
        total += len(times)
        if not times:
            continue
        p = [c.percentile(times, q) * 1000 for q in (0.5, 0.95, 0.99)]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses[name].items(), key=str))
        print(f"{name:12} {len(times):7d} {len(times) / elapsed:7.1f} {p[0]:8.0f} {p[1]:8.0f} {p[2]:8.0f}  {statuses}")
    five = sum(n for s in stats.statuses.values() for k, n in s.items() if isinstance(k, int) and k >= 500)
    failed = sum(n for s in stats.statuses.values() for k, n in s.items() if not isinstance(k, int))
    ingest_ratio = stats.acknowledged / stats.offered if stats.offered else 0
    queue_p95 = c.percentile(stats.times.get("queue", []), 0.95)
    max_waiting = max((w or 0 for _, w, _ in stats.backlog), default=0)
    max_age = max((a for _, _, a in stats.backlog), default=0)
    print(
        f"\nrequests: {total:,} in {elapsed:.0f} s ({total / elapsed:.1f}/s); 5xx: {five}; failed connections/timeouts: {failed}"
    )
    if stats.errors:
        print(f"other errors: {dict(stats.errors)}")
    print(
        f"ingest: {stats.acknowledged:,} of {stats.offered:,} offered acknowledged ({stats.acknowledged / elapsed:,.0f}/s, "
        f"{ingest_ratio:.1%}); acknowledged as created {stats.created:,}, stored {stored:,}, stored twice {duplicated:,}"
    )
    print(
        f"rescoring backlog during the run: up to {max_waiting:,} leads waiting, oldest {max_age:.0f} s; "
        f"after: {left:,} waiting ({'drained' if not left else 'not drained'} in {drain:.0f} s)"
    )
    print(f"SLA check lag behind its minute: {', '.join(f'{x:.1f} s' for x in lags) or 'no check finished during the run'}")
    print(f"handoffs decided more than once: {twice}")

    c.report("load: 5xx responses", five, "responses", budget="0", passed=five == 0)
    c.report(
        "load: ingest of offered activities", round(100 * ingest_ratio, 1), "%", budget=">= 95%", passed=ingest_ratio >= 0.95
    )
    c.report("load: queue p95 at the client", queue_p95 * 1000, "ms", budget="<= 1000 ms", passed=queue_p95 <= 1.0)
    lost = max(0, stats.created - stored)  # acknowledged as created, not in the database
    c.report("load: activities lost or duplicated", lost + duplicated, "activities", budget="0", passed=lost + duplicated == 0)
    c.report("load: handoffs decided twice", twice, "handoffs", budget="0", passed=twice == 0)
    print(f"(logs: {logs})")


if __name__ == "__main__":
    main()
