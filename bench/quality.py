"""Benchmark: the model quality report and the preview's backtest on PostgreSQL.

    .venv/bin/python bench/quality.py                           # 100,000 leads
    .venv/bin/python bench/quality.py --leads 1000000 --reuse   # the issue's size; builds once, then reuses

Builds the data with seed_demo's bulk path (which publishes the demo model and scores every
lead) in its own database, then records outcomes for a fifth of the leads (200,000 of 1M: won
more often the higher the lead's stored score, as imported history would be) in one INSERT.
Times, --runs times each:

* the quality report of the published model (qualification.quality.report) over every lead
  of the data's period, by outcome with a 90-day horizon: labels, scores, AUC, deciles, bands,
  per-rule lift; the floor is one bare pass over the leads' stored scores and outcomes
  (a COUNT with the same joins), timed in the same run;
* the preview of a draft (services.preview) alone, and the preview with the backtest
  (backtest.backtest on the same draft); the budget is the backtest adding at most the
  preview's own time (with it <= 2x without).

Budgets (issue #16): report <= 2 s; preview with backtest <= 2x the preview alone.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PG, PY, ROOT, bench_env, fresh_database, manage, report, setup_django  # noqa: E402

DATABASE = os.environ.get("BENCH_QUALITY_DB", "lh_quality_bench")
REPORT_BUDGET_S = 2.0
BACKTEST_RATIO = 2.0


def existing_leads(name):
    import psycopg

    try:
        with psycopg.connect(f"{PG}/{name}") as conn:
            return conn.execute("SELECT count(*) FROM leadhub_lead").fetchone()[0]
    except psycopg.Error:
        return None


def build(leads, activities_per_lead):
    url = fresh_database(DATABASE)
    env = bench_env(url)
    manage(env, "migrate", "-v", "0")
    import psycopg

    # seed_demo's bulk COPY does not name Lead.attributes (new in migration 0015, NOT NULL
    # without a database default): give the column one in this database only.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE leadhub_lead ALTER COLUMN attributes SET DEFAULT '{}'::jsonb")
    started = time.monotonic()
    manage(env, "seed_demo", "--leads", str(leads), "--activities-per-lead", str(activities_per_lead), "--no-progress")
    print(f"built {leads:,} leads (seed_demo) in {time.monotonic() - started:.0f} s", flush=True)


OUTCOMES_SQL = """
DELETE FROM leadhub_outcome WHERE source = 'bench';
INSERT INTO leadhub_outcome (lead_id, result, occurred_on, amount, origin, source, external_id, created_at)
SELECT l.id,
       CASE WHEN (abs(hashint8(l.id)) % 1000) < 150 + 6 * LEAST(GREATEST(COALESCE(l.total_score, 0), 0), 100) THEN 'won' ELSE 'lost' END,
       (l.created_at AT TIME ZONE 'UTC')::date + 20 + (abs(hashint8(l.id + 7)) % 40)::int,
       NULL, 'import', 'bench', 'bench-' || l.id, now()
FROM leadhub_lead l WHERE l.id %% 5 = 0;
ANALYZE leadhub_outcome;
"""


def measure(url, runs):
    setup_django(url)
    from django.db import connection
    from django.utils import timezone

    from leadhub.models import Lead, Outcome
    from qualification import backtest, bulk, quality, selectors, services
    from qualification.models import PendingRescore
    from qualification.quality_labels import Period

    # Every lead holds the published model's scores of today (as after the nightly rescoring;
    # an interrupted seed leaves some unscored): chunks of set-based UPDATEs, no stage moves.

    spec = selectors.snapshot(selectors.published_model())
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM leadhub_lead")
        low, high = cursor.fetchone()
    written = 0
    for start in range(low, high + 1, 100_000):
        written += bulk.write_scores(spec, timezone.now(), bulk.Leads(start, min(start + 99_999, high)))
    PendingRescore.objects.all().delete()
    print(f"scored {written:,} leads in {time.monotonic() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leadhub_lead")
        for statement in OUTCOMES_SQL.replace("%%", "%").split(";"):
            if statement.strip():
                cursor.execute(statement)
        cursor.execute("SELECT min(created_at)::date FROM leadhub_lead")
        first = cursor.fetchone()[0]
    leads, outcomes = Lead.objects.count(), Outcome.objects.count()
    published = selectors.published_model()
    period = Period(date_from=first, date_to=timezone.localdate(), horizon_days=90)
    print(f"data: {leads:,} leads, {outcomes:,} outcomes; published v{published.version}; {period.describe()}", flush=True)

    timings, result = [], None
    for _ in range(runs):
        started = time.monotonic()
        result = quality.report(published, period)
        timings.append(time.monotonic() - started)
        print(
            f"report: {timings[-1]:.2f} s (n {result['n']:,}, positives {result['positives']:,}, AUC {result['auc']})", flush=True
        )
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(l.total_score) FROM leadhub_lead l LEFT JOIN leadhub_outcome o ON o.lead_id = l.id"
            " WHERE l.created_at >= %s",
            [period.start],
        )
    floor = time.monotonic() - started
    figure = statistics.median(timings)
    report(
        "quality report (published model)",
        figure,
        "s",
        floor=floor,
        budget=f"<= {REPORT_BUDGET_S:g} s",
        passed=figure <= REPORT_BUDGET_S,
        note=f"{leads:,} leads, {outcomes:,} outcomes, n {result['n']:,}; median of {runs}: "
        + ", ".join(f"{t:.2f}" for t in timings),
    )

    from decimal import Decimal

    draft = services.copy_as_draft(model=published, by=None, name="bench: lower threshold, heavier pricing page")
    try:
        draft.mql_threshold -= 5
        draft.save()
        rule = draft.engagement_rules.get(kind="pricing_page_view")
        rule.points, rule.cap = rule.points + Decimal("5"), (rule.cap or Decimal("0")) + Decimal("15")
        rule.save()
        alone, together = [], []
        for _ in range(runs):
            started = time.monotonic()
            services.preview(draft=draft)
            alone.append(time.monotonic() - started)
            started = time.monotonic()
            services.preview(draft=draft)
            outcome = backtest.backtest(draft, period)
            together.append(time.monotonic() - started)
            print(f"preview {alone[-1]:.2f} s; with backtest {together[-1]:.2f} s ({outcome['verdict']})", flush=True)
    finally:
        draft.delete()
    figure, floor = statistics.median(together), statistics.median(alone)
    report(
        "preview with backtest",
        figure,
        "s",
        floor=floor,
        budget=f"<= {BACKTEST_RATIO:g}x the preview alone",
        passed=figure <= BACKTEST_RATIO * floor,
        note=f"floor = the preview alone; median of {runs}: " + ", ".join(f"{t:.2f}" for t in together),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--reuse", action="store_true", help="Measure an existing database of the same size instead of rebuilding it."
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure, args.runs)
    if not (args.reuse and existing_leads(DATABASE) == args.leads):
        build(args.leads, args.activities_per_lead)
    if args.build_only:
        return None
    subprocess.run([PY, __file__, "--measure", f"{PG}/{DATABASE}", "--runs", str(args.runs)], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
