"""Benchmark: /dashboard/ and /feedback/ over N leads and N handoffs on PostgreSQL.

    .venv/bin/python bench/dashboard.py                    # quick: 100,000 leads and handoffs
    .venv/bin/python bench/dashboard.py --leads 1000000    # the budget's size

Own database (BENCH_DATABASE_URL, default .../leadhub_bench_dashboard), rebuilt when it does
not hold the requested size. Everything is written set-based: leads, handoffs (one per lead,
90 days, every status), qualifications, three scoring-rule rows per handoff and recycled
leads with INSERT ... SELECT generate_series, then VACUUM ANALYZE. The rows bypass the
services, so the dashboards' rollups are rebuilt from them (set-based) on every run, reused
database or not, and the time that takes is printed. Pages are requested in-process through
the full middleware stack as a signed-in sales manager (marketer for feedback), with the
default filters and with typical ones (90 days, a channel, an SDR); each scenario prints the
median and p95 server time of --requests requests after --warmup, and the budget
(<= 300 ms each) is checked against the p95: the slow request is the one a manager notices.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _common import percentile, report  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadhub_bench_dashboard"
SDRS = 12
BUDGET_MS = 300
CHANNELS = ["inbound_form", "paid", "interaction", "event", "referral", "import"]


def setup_django(url):
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="leadhub.settings",
        DEBUG="0",
        DJANGO_ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL="",
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-bench-only-secret-key")
    import django

    django.setup()


def ensure_database(url, fresh=False):
    """Create the database when missing; with `fresh`, drop it first (a database left by older
    code, with other migrations applied, cannot then break the run)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def build(n, rebuild=False):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from handoff.models import Handoff
    from leadhub import roles

    call_command("migrate", verbosity=0)
    if not rebuild and Handoff.objects.count() == n:
        print(f"Database already holds {n:,} leads and handoffs.")
        build_rollups()
        return
    started = time.monotonic()
    User = get_user_model()
    sdr_ids = []
    for i in range(SDRS):
        user, _ = User.objects.get_or_create(username=f"bench_sdr{i}", defaults={"first_name": "SDR", "last_name": f"{i:02d}"})
        user.groups.add(Group.objects.get(name=roles.SDR))
        sdr_ids.append(user.pk)
    for name, role in (("bench_manager", roles.SALES_MANAGER), ("bench_marketer", roles.MARKETING)):
        user, _ = User.objects.get_or_create(username=name)
        user.groups.add(Group.objects.get(name=role))
    channels = "ARRAY[" + ",".join(f"'{c}'" for c in CHANNELS) + "]"
    sdrs = "ARRAY[" + ",".join(str(i) for i in sdr_ids) + "]"
    statements = [
        "TRUNCATE handoff_notification, handoff_escalation, handoff_handoffrule, handoff_handoffevent, handoff_qualification, "
        "handoff_handoff, leadhub_stagechange, leadhub_activity, leadhub_lead RESTART IDENTITY CASCADE",
        # Leads: one per handoff, every stage a handoff can lead to; a few recycled ones in cooldown.
        f"""INSERT INTO leadhub_lead (email, first_name, last_name, title, phone, country, source, campaign, stage, fit_score,
               engagement_score, total_score, grade, recycle_count, nurture_until, created_at, updated_at)
            SELECT 'lead' || g || '@bench' || (g % 5000) || '.example', 'Lead', 'No. ' || g, 'Manager', '', 'US',
                   ({channels})[1 + g % 6], 'campaign-' || (g % 40), CASE WHEN g % 50 = 0 THEN 'nurture' ELSE 'sal' END,
                   40, 40, 60 + (g * 7919) % 60, 'B', CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,
                   CASE WHEN g % 50 = 0 THEN now() + ((g % 90) || ' days')::interval END,
                   now() - ((g % 129600) || ' minutes')::interval - interval '1 hour', now()
            FROM generate_series(1::bigint, {n}::bigint) g""",
        # Handoffs over 90 days: ~62% accepted, ~30% rejected, 6% open, 2% closed; SDR response
        # times log-normal-ish by SDR, so medians differ; deadlines 4 h after assignment.
        f"""INSERT INTO handoff_handoff (lead_id, status, owner_id, channel, campaign, score_at_handoff, grade_at_handoff,
               created_at, assigned_at, due_at, first_decision_at, response_minutes, breached_at, rejection_reason_id, note,
               closed_at, decided_by_id)
            SELECT l.id, s.status, CASE WHEN s.status = 'open' AND l.id % 7 = 0 THEN NULL ELSE ({sdrs})[1 + l.id % {SDRS}] END,
                   l.source, l.campaign, l.total_score, CASE WHEN l.total_score >= 100 THEN 'A' WHEN l.total_score >= 80 THEN 'B' ELSE 'C' END,
                   l.created_at, l.created_at, l.created_at + interval '4 hours',
                   CASE WHEN s.status IN ('accepted', 'rejected') THEN l.created_at + (s.minutes || ' minutes')::interval END,
                   CASE WHEN s.status IN ('accepted', 'rejected') THEN s.minutes END,
                   CASE WHEN s.minutes > 240 THEN l.created_at + interval '4 hours' END,
                   CASE WHEN s.status = 'rejected' THEN (SELECT min(id) FROM handoff_rejectionreason) + l.id % 9 END, '',
                   CASE WHEN s.status <> 'open' THEN l.created_at + (s.minutes || ' minutes')::interval END, NULL
            FROM leadhub_lead l
            CROSS JOIN LATERAL (SELECT
                CASE WHEN l.id % 50 = 0 THEN 'rejected' WHEN l.id % 100 < 6 AND l.created_at > now() - interval '3 days' THEN 'open'
                     WHEN l.id % 100 < 2 THEN 'closed' WHEN (l.id * 31) % 100 < 32 THEN 'rejected' ELSE 'accepted' END AS status,
                (10 + ((l.id * 7919) % 97) * (1 + l.id % {SDRS}) / 3)::int AS minutes) s""",
        """INSERT INTO handoff_qualification (handoff_id, lead_id, buying_cycle, influencer, timeframe_known, permission_to_follow_up,
               budget_note, authority_note, need_note, timeline_note, qualified_at, outcome, lost_reason, outcome_at, created_at, updated_at)
            SELECT h.id, h.lead_id, true, true, true, true, '', '', '', '',
                   CASE WHEN h.id % 5 < 2 THEN h.first_decision_at + interval '3 days' END,
                   CASE WHEN h.id % 5 < 2 AND h.id % 4 = 0 THEN 'won' ELSE '' END, '',
                   CASE WHEN h.id % 5 < 2 AND h.id % 4 = 0 THEN h.first_decision_at + interval '20 days' END,
                   h.first_decision_at, now()
            FROM handoff_handoff h WHERE h.status = 'accepted'""",
        """UPDATE handoff_handoff h SET sql_at = q.qualified_at, won_at = q.outcome_at FROM handoff_qualification q
            WHERE q.handoff_id = h.id AND q.qualified_at IS NOT NULL""",
        """INSERT INTO handoff_handoffrule (handoff_id, rule_id, kind, label, points)
            SELECT h.id, r.rule_id, r.kind, r.label, r.points FROM handoff_handoff h
            CROSS JOIN LATERAL (VALUES (1 + h.id % 8, 'fit', 'Fit rule ' || (1 + h.id % 8), 10),
                                       (20 + h.id % 5, 'engagement', 'Engagement rule ' || (h.id % 5), 8),
                                       (30 + h.id % 3, 'engagement', 'Engagement rule ' || (10 + h.id % 3), 5)) r(rule_id, kind, label, points)""",
        """INSERT INTO handoff_handoffevent (lead_id, handoff_id, kind, at, reason, note)
            SELECT h.lead_id, h.id, 'rejected', h.first_decision_at, 'No budget', '' FROM handoff_handoff h
            JOIN leadhub_lead l ON l.id = h.lead_id WHERE l.recycle_count > 0""",
        "VACUUM ANALYZE",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            t0 = time.monotonic()
            cursor.execute(sql)
            print(
                f"  {sql.split()[0]} {sql.split()[2] if sql.startswith('INSERT') else ''} {time.monotonic() - t0:.1f} s",
                flush=True,
            )
    print(f"Built {n:,} leads and handoffs in {time.monotonic() - started:.0f} s.", flush=True)
    build_rollups()


def build_rollups():
    from django.db import connection

    from handoff import rollup

    started = time.monotonic()
    rollup.rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE " + ", ".join(m._meta.db_table for m in rollup.models()))
    sizes = ", ".join(f"{m.objects.count():,} {m.__name__}" for m in rollup.models())
    print(f"Rebuilt the rollups in {time.monotonic() - started:.1f} s: {sizes} rows.", flush=True)


def measure(requests, warmup):
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    manager = get_user_model().objects.get(username="bench_manager")
    marketer = get_user_model().objects.get(username="bench_marketer")
    sdr = get_user_model().objects.get(username="bench_sdr3").pk
    scenarios = [
        ("dashboard page, last 28 days", manager, "/dashboard/"),
        ("dashboard page, 90 days", manager, "/dashboard/?date_from={d90}&date_to={today}"),
        ("dashboard page, 90 days, paid", manager, "/dashboard/?date_from={d90}&date_to={today}&channel=paid"),
        ("dashboard page, last 28 days, one SDR", manager, f"/dashboard/?date_from={{d28}}&date_to={{today}}&owner={sdr}"),
        ("dashboard page, 90 days, one campaign", manager, "/dashboard/?date_from={d90}&date_to={today}&campaign=campaign-7"),
        ("feedback page, last 28 days", marketer, "/feedback/"),
        ("feedback page, 90 days", marketer, "/feedback/?date_from={d90}&date_to={today}"),
        ("feedback page, 90 days, paid", marketer, "/feedback/?date_from={d90}&date_to={today}&channel=paid"),
        ("feedback page, 90 days, one campaign", marketer, "/feedback/?date_from={d90}&date_to={today}&campaign=campaign-7"),
    ]
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    results = []
    for label, user, url in scenarios:
        url = url.format(
            today=today.isoformat(), d90=(today - timedelta(days=89)).isoformat(), d28=(today - timedelta(days=27)).isoformat()
        )
        client = Client()
        client.force_login(user)
        for _ in range(warmup):
            assert client.get(url).status_code == 200
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and b"report-results" in response.content
        results.append((label, times))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000, help="Leads, and as many handoffs (default 100000).")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the data even when the size matches.")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="Drop and create the database first.")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url, fresh=args.fresh)
    setup_django(url)
    build(args.leads, args.rebuild)
    for label, times in measure(args.requests, args.warmup):
        p95 = percentile(times, 0.95)
        report(
            f"{label} (p95)",
            p95,
            "ms",
            budget=f"≤ {BUDGET_MS} ms",
            passed=p95 <= BUDGET_MS,
            note=f"{args.leads:,} handoffs; {len(times)} requests: median {statistics.median(times):.0f} ms, "
            f"max {max(times):.0f} ms",
        )


if __name__ == "__main__":
    main()
