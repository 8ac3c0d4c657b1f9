"""The lead-list benchmark's database (bench/lead_list.py): built once with seed_demo, topped up
with handoffs and scores in set-based SQL, and reused while its size and schema match."""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _common as c  # noqa: E402


def built(url, leads, *, handoffs=True):
    """True when the database exists and holds `leads` leads (with a handoff each, unless not asked)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{c.PG}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
    try:
        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM leadhub_lead").fetchone()[0]
            h = conn.execute("SELECT count(DISTINCT lead_id) FROM handoff_handoff").fetchone()[0]
    except psycopg.Error:
        return False
    return n == leads and (not handoffs or h >= leads * 0.99)


HANDOFFS = """
INSERT INTO handoff_handoff (lead_id, status, owner_id, channel, campaign, score_at_handoff, grade_at_handoff, created_at,
       assigned_at, due_at, first_decision_at, response_minutes, breached_at, rejection_reason_id, note, closed_at,
       sql_at, won_at)
SELECT l.id, s.status, CASE WHEN s.status = 'open' AND l.id % 7 = 0 THEN NULL ELSE (%(sdrs)s)[1 + l.id % %(n)s] END,
       l.source, l.campaign, 40 + (l.id * 7919) % 80, CASE WHEN l.id % 4 = 0 THEN 'A' WHEN l.id % 4 = 1 THEN 'B' ELSE 'C' END,
       l.created_at, l.created_at, l.created_at + interval '4 hours',
       CASE WHEN s.status IN ('accepted', 'rejected') THEN l.created_at + (s.minutes || ' minutes')::interval END,
       CASE WHEN s.status IN ('accepted', 'rejected') THEN s.minutes END,
       CASE WHEN s.minutes > 240 THEN l.created_at + interval '4 hours' END,
       CASE WHEN s.status = 'rejected' THEN (SELECT min(id) FROM handoff_rejectionreason) + l.id % 9 END, '',
       CASE WHEN s.status <> 'open' THEN l.created_at + (s.minutes || ' minutes')::interval END,
       CASE WHEN s.status = 'accepted' AND l.id % 5 < 2 THEN l.created_at + interval '3 days' END,
       CASE WHEN s.status = 'accepted' AND l.id % 20 = 0 THEN l.created_at + interval '20 days' END
FROM leadhub_lead l
CROSS JOIN LATERAL (SELECT
    CASE WHEN l.id % 100 < 6 AND l.created_at > now() - interval '3 days' THEN 'open'
         WHEN l.id % 100 < 8 THEN 'closed' WHEN (l.id * 31) % 100 < 32 THEN 'rejected' ELSE 'accepted' END AS status,
    (10 + ((l.id * 7919) % 97) * (1 + l.id % %(n)s) / 3)::int AS minutes) s
WHERE NOT EXISTS (SELECT 1 FROM handoff_handoff h WHERE h.lead_id = l.id)
"""
# Leads a scoring run has not reached (an interrupted seed) get plausible scores, set-based.
SCORES = """
UPDATE leadhub_lead SET fit_score = f, engagement_score = e, total_score = f + e,
       grade = CASE WHEN f >= 60 THEN 'A' WHEN f >= 45 THEN 'B' WHEN f >= 30 THEN 'C' ELSE 'D' END,
       score_model_version = (SELECT max(version) FROM qualification_scoringmodel), scored_at = now()
FROM (SELECT id, round((random() * 80)::numeric, 1) AS f, round((random() * 70)::numeric, 1) AS e
      FROM leadhub_lead WHERE score_model_version IS NULL) s
WHERE s.id = leadhub_lead.id
"""
RULES = """
INSERT INTO handoff_handoffrule (handoff_id, rule_id, kind, label, points)
SELECT h.id, r.rule_id, r.kind, r.label, r.points FROM handoff_handoff h
CROSS JOIN LATERAL (VALUES (1 + h.id % 8, 'fit', 'Fit rule ' || (1 + h.id % 8), 10),
                           (20 + h.id % 5, 'engagement', 'Engagement rule ' || (h.id % 5), 8),
                           (30 + h.id % 3, 'engagement', 'Engagement rule ' || (10 + h.id % 3), 5)) r(rule_id, kind, label, points)
WHERE NOT EXISTS (SELECT 1 FROM handoff_handoffrule x WHERE x.handoff_id = h.id)
"""


def build(url, leads, activities):
    env = c.bench_env(url)
    c.fresh_database(url.rsplit("/", 1)[1])
    started = time.monotonic()
    c.manage(env, "migrate", "-v", "0")
    c.manage(env, "seed_demo", "--leads", str(leads), "--activities-per-lead", str(activities), "--no-progress", "--force")
    print(f"seed_demo: {leads:,} leads in {time.monotonic() - started:.0f} s", flush=True)


def top_up(url):
    """One handoff per lead (and its fired rules), set-based, then statistics and rollups."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from handoff import rollup

    sdrs = list(get_user_model().objects.filter(groups__name="SDR").order_by("id").values_list("id", flat=True))
    statements = [
        SCORES,
        HANDOFFS.replace("%(sdrs)s", "ARRAY[" + ",".join(map(str, sdrs)) + "]").replace("%(n)s", str(len(sdrs))),
        RULES,
        "VACUUM ANALYZE",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            t0 = time.monotonic()
            cursor.execute(sql)
            print(
                f"  {sql.split()[0]} {sql.split()[2] if sql.strip().startswith('INSERT') else ''}: {cursor.rowcount:,} rows, "
                f"{time.monotonic() - t0:.0f} s",
                flush=True,
            )
    t0 = time.monotonic()
    rollup.rebuild()
    print(f"  rollups: {time.monotonic() - t0:.0f} s", flush=True)
