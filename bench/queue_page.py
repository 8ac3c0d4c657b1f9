"""Benchmark: the SDR queue page against a bare Django view through the same middleware.

    .venv/bin/python bench/queue_page.py                    # quick: 100,000 leads, 10,000 open handoffs
    .venv/bin/python bench/queue_page.py --leads 1000000    # the budget's size: 1M leads, 100k open handoffs

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/leadhub_bench_queue), created and filled when it does not
hold the requested size yet (leads with seed_demo's COPY machinery, handoffs with one COPY).
Requests go through Django's full middleware stack (sessions, auth, CSRF, messages, htmx)
in-process; the floor is a view returning "ok" behind the same middleware and the same
signed-in user, measured in the same run, interleaved with the queue requests.
Budget: queue p95 <= 3 x floor p95.
"""

import sys

# This file is named like the standard library's "queue"; keep its folder off the import path.
sys.path[:] = [p for p in sys.path if p and not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadhub_bench_queue"
SDR_COUNT = 100
POOL_SHARE = 0.02


def setup_django(url):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-bench-only-secret-key")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def ensure_database(url, fresh=False):
    """Create the database when missing; with `fresh`, drop it first (a database left by older
    code, with other migrations applied, cannot then break the run)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def build(leads, handoffs):
    """Fill the database: leads (COPY), scores, SDRs, open handoffs (COPY)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from handoff.models import Handoff, SDRProfile
    from leadhub import demo, roles
    from leadhub.models import Lead

    call_command("migrate", verbosity=0)
    if Lead.objects.count() == leads and Handoff.objects.filter(status="open").count() == handoffs:
        print(f"Database already holds {leads:,} leads and {handoffs:,} open handoffs.")
        attach_scoring_model()
        return
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE handoff_handoffevent, handoff_qualification, handoff_handoff, leadhub_stagechange, "
            "leadhub_activity, leadhub_lead, leadhub_company RESTART IDENTITY CASCADE"
        )
    last = [0]

    def progress(n):
        last[0] += n
        if last[0] % 100_000 < n:
            print(f"  {last[0]:,} leads", flush=True)

    demo.seed_leads(leads=leads, activities_per_lead=1.0, seed=11, progress=progress, chunk_size=20_000)
    print(f"Leads written in {time.monotonic() - started:.0f} s; scoring and handing off…", flush=True)
    with connection.cursor() as cursor:
        # Plausible scores: grade from fit, total = fit + engagement.
        cursor.execute("""
            UPDATE leadhub_lead SET fit_score = f, engagement_score = e, total_score = f + e,
                   grade = CASE WHEN f >= 60 THEN 'A' WHEN f >= 45 THEN 'B' WHEN f >= 30 THEN 'C' ELSE 'D' END
            FROM (SELECT id, round((random() * 80)::numeric, 1) AS f, round((random() * 70)::numeric, 1) AS e FROM leadhub_lead) s
            WHERE s.id = leadhub_lead.id""")
        cursor.execute("UPDATE leadhub_lead SET stage = 'mql' WHERE id <= %s", [handoffs])
    User = get_user_model()
    group = Group.objects.get(name=roles.SDR)
    sdrs = []
    for i in range(SDR_COUNT):
        user, _ = User.objects.get_or_create(username=f"bench_sdr{i}", defaults={"first_name": "Bench", "last_name": f"SDR {i}"})
        user.groups.add(group)
        SDRProfile.objects.get_or_create(user=user)
        sdrs.append(user.pk)
    rng = random.Random(5)
    now = timezone.now()
    rows = []
    lead_rows = Lead.objects.filter(id__lte=handoffs).values_list("id", "source", "campaign", "total_score", "grade")
    for lead_id, source, campaign, score, grade in lead_rows.iterator(chunk_size=10_000):
        created = now - timedelta(minutes=rng.uniform(5, 60 * 48))
        if rng.random() < POOL_SHARE:
            owner, assigned, due = None, None, None
        else:
            owner, assigned = rng.choice(sdrs), created + timedelta(seconds=30)
            due = assigned + timedelta(hours=4)
        rows.append((lead_id, "open", owner, source, campaign, score, grade, created, assigned, due, ""))
    writer = demo.BulkWriter(
        Handoff,
        [
            "lead_id",
            "status",
            "owner_id",
            "channel",
            "campaign",
            "score_at_handoff",
            "grade_at_handoff",
            "created_at",
            "assigned_at",
            "due_at",
            "note",
        ],
    )
    writer.write(rows)
    attach_scoring_model()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"Built {leads:,} leads and {handoffs:,} open handoffs in {time.monotonic() - started:.0f} s.", flush=True)


def attach_scoring_model():
    """Mark every lead as scored by a published demo model, with activity rollups, so the
    queue's "why it scored" chips do their real work (rules, rollups, the engine) per row."""
    from django.db import connection
    from django.utils import timezone

    from leadhub.models import Lead
    from qualification import demo as scoring_demo
    from qualification.choices import ModelStatus
    from qualification.models import ActivityRollup, ScoringModel

    model = ScoringModel.objects.filter(status=ModelStatus.PUBLISHED).first()
    if model is None:
        model = scoring_demo.default_model()
        ScoringModel.objects.filter(pk=model.pk).update(status=ModelStatus.PUBLISHED, published_at=timezone.now())
    if not ActivityRollup.objects.exists():
        print("Building activity rollups…", flush=True)
        scoring_demo.rebuild_all_rollups()
    if Lead.objects.filter(score_model_version__isnull=True).exists():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE leadhub_lead SET score_model_version = %s, scored_at = %s WHERE score_model_version IS NULL",
                [model.version, timezone.now()],
            )
            cursor.execute("VACUUM ANALYZE leadhub_lead")


def measure(requests, warmup):
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.http import HttpResponse
    from django.test import Client
    from django.urls import clear_url_caches, include, path

    def floor(request):
        return HttpResponse("ok")

    # DEBUG is off (as in production) but no collectstatic ran: plain static URLs.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [path("bench/floor/", floor), path("", include("leadhub.urls"))]
    sys.modules["bench_urls"] = urls
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()

    sdr = get_user_model().objects.get(username="bench_sdr7")
    manager = get_user_model().objects.filter(groups__name="Sales manager").first()
    if manager is None:
        from django.contrib.auth.models import Group

        manager, _ = get_user_model().objects.get_or_create(username="bench_manager")
        manager.groups.add(Group.objects.get(name="Sales manager"))
    scenarios = [
        ("SDR queue (mine + pool, due first)", sdr, "/queue/"),
        ("SDR queue sorted by score", sdr, "/queue/?sort=score"),
        ("Manager queue (everyone, due first)", manager, "/queue/?assigned=all"),
        ("Manager queue, paid, overdue", manager, "/queue/?assigned=all&channel=paid&overdue=true"),
    ]
    results = []
    for label, user, url in scenarios:
        client = Client()
        client.force_login(user)
        for _ in range(warmup):
            assert client.get(url).status_code == 200
            client.get("/bench/floor/")
        page, base = [], []
        for _ in range(requests):
            t0 = time.perf_counter()
            response = client.get(url)
            page.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.status_code
            t0 = time.perf_counter()
            response = client.get("/bench/floor/")
            base.append(time.perf_counter() - t0)
            assert response.status_code == 200
        results.append((label, page, base))
    return results


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--handoffs", type=int, help="Open handoffs (default: a tenth of --leads).")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--fresh", action="store_true", help="Drop and create the database first.")
    args = parser.parse_args()
    handoffs = args.handoffs or args.leads // 10
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url, fresh=args.fresh)
    setup_django(url)
    build(args.leads, handoffs)
    print(
        f"\nQueue page vs floor: {args.leads:,} leads, {handoffs:,} open handoffs, {SDR_COUNT} SDRs, "
        f"{args.requests} requests each (PostgreSQL, in-process client, full middleware)"
    )
    print(f"{'scenario':42} {'p50 ms':>8} {'p95 ms':>8} {'floor p50':>10} {'floor p95':>10} {'p95 ratio':>10}")
    worst = 0
    for label, page, base in measure(args.requests, args.warmup):
        ratio = pct(page, 95) / pct(base, 95)
        worst = max(worst, ratio)
        print(f"{label:42} {pct(page, 50):8.1f} {pct(page, 95):8.1f} {pct(base, 50):10.1f} {pct(base, 95):10.1f} {ratio:9.1f}x")
        # One line per scenario for bench/run_all.py's table (figures in milliseconds).
        print(
            "RESULT "
            + json.dumps(
                {
                    "name": f"queue page p95, {label}",
                    "figure": round(pct(page, 95), 1),
                    "unit": "ms",
                    "floor": round(pct(base, 95), 1),
                    "ratio": round(ratio, 2),
                    "budget": "p95 ≤ 3× floor",
                    "pass": ratio <= 3,
                    "note": f"{args.leads:,} leads, {handoffs:,} open handoffs",
                }
            ),
            flush=True,
        )
    print(
        f"\nBudget p95 <= 3.0 x floor: {'met' if worst <= 3 else 'NOT met'} (worst {worst:.1f}x; median of page {statistics.median(page) * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
