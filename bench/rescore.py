"""Benchmark: rescore every lead after publishing a scoring model, against the floor.

    .venv/bin/python bench/rescore.py                   # 100,000 leads, ~1M activities (a few minutes)
    .venv/bin/python bench/rescore.py --leads 1000000   # the budget's size: 1M leads, ~10M activities
    .venv/bin/python bench/rescore.py --scenario custom # custom fields, a text-property condition, an aggregate

Builds the data with seed_demo's bulk path in its own PostgreSQL database (which also
publishes the demo model once), then in a fresh process: copies the published model into a
draft with changed weights, times preview, times publish + the whole rescoring run (what the
Celery task does), and times the floor: one plain UPDATE writing the same lead columns from
constants. Prints leads/s, the ratio to the floor and the measuring process's peak RSS, and
one "RESULT {json}" line per figure (the format bench/run_all.py collects).

Budget: ratio <= 4, peak RSS <= 300 MB.

`--scenario custom` (issue #15): the leads get two custom fields (occupation: text, visits:
number, in Lead.attributes), and the published model gains fit rules on both (one “is empty”),
an engagement rule with a text-property condition (page views whose url contains “/product”,
read from the raw activities) and an aggregate (total webinar minutes within 60 days ≥ 30).
Times publishing it with the whole rescoring run against the same floor, then the preview of
a draft that changes the text-property rule and the aggregate (leads scored today: only the
changed rules are computed). Budgets: ratio <= 4, <= 300 MB, preview <= 5 s at 1M leads.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_RESCORE_DB", "leadhub_bench_rescore")

sys.path.insert(0, str(ROOT / "bench"))
import _common as c  # noqa: E402

report = c.report


def build(url, leads, activities_per_lead):
    import psycopg

    with psycopg.connect(f"{c.PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    env = c.bench_env(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "seed_demo",
            "--leads",
            str(leads),
            "--activities-per-lead",
            str(activities_per_lead),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    print(
        f"built {leads:,} leads (seed_demo, incl. rollups and the first scoring) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    # What autovacuum leaves a database in after a bulk load (visibility map set, statistics
    # current): measured straight after the load, index-only scans still read every row.
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"vacuumed in {time.monotonic() - started:.0f} s (setup, not timed)", flush=True)


def measure(url):
    """Runs in its own process, so its peak RSS is the rescoring's, not the data builder's."""
    os.environ.update(c.bench_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection, transaction

    from leadhub.models import Activity, Lead
    from qualification import selectors, services
    from qualification.models import ActivityRollup

    leads, activities, rollups = Lead.objects.count(), Activity.objects.count(), ActivityRollup.objects.count()
    print(f"data: {leads:,} leads, {activities:,} activities, {rollups:,} rollup rows", flush=True)

    draft = services.copy_as_draft(model=selectors.published_model(), by=None, name="bench: heavier pricing, faster decay")
    rule = draft.engagement_rules.get(kind="pricing_page_view")
    rule.points, rule.cap = Decimal("12"), Decimal("36")
    rule.save()
    draft.half_life_days = 14
    draft.save()

    def vacuum():
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE leadhub_lead")

    vacuum()
    started = time.monotonic()
    preview = services.preview(draft=draft)
    preview_s = time.monotonic() - started
    print(f"preview: {preview_s:.2f} s ({preview.promoted:,} would enter MQL, {preview.leaving:,} stop qualifying)", flush=True)

    vacuum()
    started = time.monotonic()
    run = services.publish(draft=draft, by=None, enqueue=False)
    run = services.run_rescore(run_id=run.pk)
    rescore_s = time.monotonic() - started
    assert run.status == "done" and run.done == leads, (run.status, run.done, leads)

    vacuum()
    # The floor's UPDATE is rolled back: the leads keep the scores just computed, so the next
    # benchmark on this database (preview.py --reuse) sees what publishing left.
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute(
            "UPDATE leadhub_lead SET fit_score = 1.5, engagement_score = 2.5, total_score = 4.0, grade = 'B', "
            "score_model_version = 99, scored_at = now()"
        )
        floor_s = time.monotonic() - started
        transaction.set_rollback(True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    note = (
        f"{leads:,} leads, {activities:,} activities; {leads / rescore_s:,.0f} leads/s; "
        f"{run.promoted:,} promoted to MQL through transition(); preview {preview_s:.1f} s"
    )
    report(
        "rescore after publish", rescore_s, "s", floor=floor_s, budget="<= 4x floor", passed=rescore_s <= 4 * floor_s, note=note
    )
    report("rescore peak RSS", rss_mb, "MB", budget="<= 300 MB", passed=rss_mb <= 300)


def measure_custom(url):
    """The custom scenario (see the module docstring), in its own process."""
    os.environ.update(c.bench_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection, transaction

    from leadhub.models import Activity, Lead, LeadField
    from qualification import selectors, services
    from qualification.models import EngagementRule, FitRule

    leads, activities = Lead.objects.count(), Activity.objects.count()
    print(f"data: {leads:,} leads, {activities:,} activities", flush=True)
    LeadField.objects.get_or_create(key="occupation", defaults={"label": "Occupation", "type": "text"})
    LeadField.objects.get_or_create(key="visits", defaults={"label": "Total visits", "type": "number"})
    started = time.monotonic()
    with connection.cursor() as cursor:
        # A quarter without an occupation; visits 0..19.
        cursor.execute(
            "UPDATE leadhub_lead SET attributes = CASE id % 4 WHEN 0 THEN jsonb_build_object('visits', id % 20)"
            " ELSE jsonb_build_object('occupation', (ARRAY['Student', 'Working Professional', 'Unemployed'])[id % 4],"
            " 'visits', id % 20) END"
        )
    print(f"custom field values written in {time.monotonic() - started:.0f} s (setup, not timed)", flush=True)

    def custom_draft(source, name, product_points, minutes_at_least):
        draft = services.copy_as_draft(model=source, by=None, name=name)
        if not draft.fit_rules.filter(field__startswith="attributes.").exists():
            FitRule.objects.bulk_create(
                [
                    FitRule(
                        model=draft, field="attributes.occupation", operator="equals", value="Working Professional", points=10
                    ),
                    FitRule(model=draft, field="attributes.occupation", operator="is_empty", value="", points=-10),
                    FitRule(model=draft, field="attributes.visits", operator="gte", value="10", points=5),
                ]
            )
        draft.engagement_rules.filter(label__in=["Product page views", "Webinar minutes"]).delete()
        EngagementRule.objects.bulk_create(
            [
                EngagementRule(
                    model=draft,
                    kind="page_view",
                    points=Decimal(product_points),
                    cap=Decimal("12"),
                    window_days=30,
                    conditions=[{"property": "url", "operator": "contains", "value": "/product"}],
                    label="Product page views",
                ),
                EngagementRule(
                    model=draft,
                    kind="webinar_attended",
                    points=Decimal("15"),
                    window_days=60,
                    aggregate="sum",
                    aggregate_property="minutes",
                    at_least=minutes_at_least,
                    label="Webinar minutes",
                ),
            ]
        )
        return draft

    def vacuum():
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE leadhub_lead")

    draft = custom_draft(selectors.published_model(), "bench: custom fields, url condition, minutes aggregate", "3", 30.0)
    vacuum()
    started = time.monotonic()
    run = services.publish(draft=draft, by=None, enqueue=False)
    run = services.run_rescore(run_id=run.pk)
    rescore_s = time.monotonic() - started
    assert run.status == "done" and run.done == leads, (run.status, run.done, leads)

    changed = custom_draft(draft, "bench: heavier /product views, 45 webinar minutes", "4", 45.0)
    vacuum()
    started = time.monotonic()
    preview = services.preview(draft=changed)
    preview_s = time.monotonic() - started
    print(f"preview: {preview_s:.2f} s ({preview.promoted:,} would enter MQL, {preview.leaving:,} stop qualifying)", flush=True)

    vacuum()
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute(
            "UPDATE leadhub_lead SET fit_score = 1.5, engagement_score = 2.5, total_score = 4.0, grade = 'B', "
            "score_model_version = 99, scored_at = now()"
        )
        floor_s = time.monotonic() - started
        transaction.set_rollback(True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note = (
        f"{leads:,} leads, {activities:,} activities; 2 custom fields, url-contains condition (raw page views), "
        f"minutes aggregate; {leads / rescore_s:,.0f} leads/s; {run.promoted:,} promoted"
    )
    report(
        "rescore custom-field model",
        rescore_s,
        "s",
        floor=floor_s,
        budget="<= 4x floor",
        passed=rescore_s <= 4 * floor_s,
        note=note,
    )
    report("rescore custom-field model peak RSS", rss_mb, "MB", budget="<= 300 MB", passed=rss_mb <= 300)
    report(
        "preview custom-field model",
        preview_s,
        "s",
        budget="<= 5 s at 1M",
        passed=preview_s <= 5 * max(1, leads / 1_000_000),
        note="draft changes the url-condition rule and the aggregate; leads scored today",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=10)
    parser.add_argument("--reuse", action="store_true", help="Measure on the database of a previous run (same size).")
    parser.add_argument("--scenario", choices=["default", "custom"], default="default")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure_custom(args.measure) if args.scenario == "custom" else measure(args.measure)
    url = f"{c.PG}/{DATABASE}"
    if not args.reuse:
        build(url, args.leads, args.activities_per_lead)
    subprocess.run([sys.executable, __file__, "--scenario", args.scenario, "--measure", url], check=True)


if __name__ == "__main__":
    main()
