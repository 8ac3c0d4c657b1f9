"""Daily activity rollups (ActivityRollup): what rescoring reads instead of raw activities.

New activities are added as they are recorded (add_to_rollups, a receiver of
leadhub.hooks.on_activities_recorded); a lead's rollups are rebuilt from its raw activities
when they move (a merge) or in bulk (rebuild_rollups, `manage.py` demo and tests)."""

from collections.abc import Mapping

from django.db import connection, transaction

from leadhub.models import Activity
from leadhub.sql import ALL_LEADS, SQL, Leads, is_postgresql, rows_cte
from leadhub.sql import execute as sql_execute

from .models import ActivityRollup

ACTIVITY = Activity._meta.db_table
ROLLUP = ActivityRollup._meta.db_table


def day_sql(column: str) -> str:
    if is_postgresql():
        return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    return f"CAST(julianday(substr({column}, 1, 10)) - 2440587.5 AS INTEGER)"


def _minutes_sql(column: str = "properties") -> str:
    if is_postgresql():
        return f"CASE WHEN jsonb_typeof({column} -> 'minutes') = 'number' THEN ({column} ->> 'minutes')::float8 END"
    return f"CASE WHEN json_type({column}, '$.minutes') IN ('integer', 'real') THEN json_extract({column}, '$.minutes') END"


def _insert_rollups_sql(where: SQL) -> SQL:
    sql = SQL().add(
        f"INSERT INTO {ROLLUP} (lead_id, kind, day, minutes, n) SELECT lead_id, kind, {day_sql('occurred_at')}, "
        f"{_minutes_sql()}, COUNT(*) FROM {ACTIVITY} WHERE "
    )
    return sql.extend(where).add(" GROUP BY 1, 2, 3, 4")


def rebuild_rollups(leads: Leads = ALL_LEADS) -> int:
    """Recompute the rollups of `leads` from their raw activities (set-based: one DELETE, one INSERT)."""
    with transaction.atomic(), connection.cursor() as cursor:
        sql = SQL().add(f"DELETE FROM {ROLLUP} WHERE ").extend(leads.where("lead_id"))
        cursor.execute(sql.text, sql.params)
        sql = _insert_rollups_sql(leads.where("lead_id"))
        cursor.execute(sql.text, sql.params)
        return cursor.rowcount


# (lead id, kind, UTC epoch day, minutes or None): one rollup row's key.
RollupKey = tuple[int, str, int, float | None]


def add_to_rollups(counts: Mapping[RollupKey, int]) -> None:
    """Add new activities to the rollups: `counts` maps (lead id, kind, UTC day, minutes) to how
    many activities were just inserted with those values. Only rows actually inserted are
    counted, so a replayed batch adds nothing.

    PostgreSQL: one upsert on the rollups' unique key, in key order, so two batches for the same
    lead add up one after the other (the second waits for the first's row, then adds to it) and
    never wait on each other in a cycle; no lock on the lead is needed. SQLite, one writer at a
    time: existing rows grow, then the others are inserted.
    """
    if not counts:
        return
    keyed = sorted(counts.items(), key=lambda item: (item[0][0], item[0][2], item[0][1], item[0][3] is not None, item[0][3] or 0))
    cte, params = rows_cte(
        "d",
        [("lead_id", "bigint"), ("kind", "text"), ("day", "int"), ("minutes", "float8"), ("n", "int")],
        [(*key, n) for key, n in keyed],
    )
    if is_postgresql():
        sql_execute(
            f"WITH {cte} INSERT INTO {ROLLUP} AS r (lead_id, kind, day, minutes, n)"
            " SELECT d.lead_id, d.kind, d.day, d.minutes, d.n FROM d ORDER BY d.lead_id, d.day, d.kind, d.minutes"
            " ON CONFLICT (lead_id, day, kind, minutes) DO UPDATE SET n = r.n + EXCLUDED.n",
            params,
        )
        return
    same = (
        f"{ROLLUP}.lead_id = d.lead_id AND {ROLLUP}.day = d.day AND {ROLLUP}.kind = d.kind"
        f" AND ({ROLLUP}.minutes = d.minutes OR ({ROLLUP}.minutes IS NULL AND d.minutes IS NULL))"
    )
    sql_execute(f"WITH {cte} UPDATE {ROLLUP} SET n = {ROLLUP}.n + d.n FROM d WHERE {same}", params)
    sql_execute(
        f"WITH {cte} INSERT INTO {ROLLUP} (lead_id, kind, day, minutes, n)"
        f" SELECT d.lead_id, d.kind, d.day, d.minutes, d.n FROM d WHERE NOT EXISTS (SELECT 1 FROM {ROLLUP} WHERE {same})",
        params,
    )
