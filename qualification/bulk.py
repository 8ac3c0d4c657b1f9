"""Rescoring a chunk of leads, set-based: lock, score, move stages, in one transaction.

The scores come from one statement (scoring_sql.scores_sql); the stage moves that follow
follow the lifecycle: a scored new lead enters nurture, a nurture lead that qualifies and is
not in cooldown becomes an MQL, nothing else moves. new -> nurture through leadhub.lifecycle.nurture_new_leads
(one conditional UPDATE plus the StageChange rows, the bulk twin of lifecycle.transition, with
the same check); nurture -> mql through leadhub.lifecycle.transition_many, whose
on_stage_entered hook routes the handoffs.

The SQL toolkit (SQL, Leads, rows_cte) is leadhub.sql's; the scoring SQL, the preview's and
the rollups' are re-exported here for the services that compose them.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from leadhub.choices import Stage
from leadhub.lifecycle import nurture_new_leads, transition_many
from leadhub.sql import ALL_LEADS, SQL, Leads, db_datetime, is_postgresql, rowcount, rows_cte
from leadhub.sql import execute as sql_execute

from . import engine
from .rollups import add_to_rollups, rebuild_rollups  # noqa: F401 (re-exported)
from .scoring_sql import (  # noqa: F401 (re-exported)
    COMPANY,
    LEAD,
    ROLLUP,
    changed_scores_sql,
    fence,
    grades_at_least,
    parallel_scores_sql,
    preview_scores_sql,
    required_sql,
    rule_changes,
    scores_sql,
)

ALL = ALL_LEADS

# A lead's scores as scoring_sql computes them: (fit, engagement, total) in tenths, and the grade.
TenthsScore = tuple[int, int, int, str]


# --- writing scores -------------------------------------------------------------------------


def write_scores(
    spec: engine.ModelSpec, as_of: datetime, leads: Leads, last_activity: Mapping[int, datetime | None] | None = None
) -> int:
    """One UPDATE: the scores of `leads` under `spec` at `as_of`. Returns the rows written.
    `last_activity` ({lead id: time}) moves those leads' last_activity_at forward (never back)
    in the same row update."""
    today = engine.epoch_day(as_of)
    sql = scores_sql(spec, today, leads)
    sets = (
        "fit_score = s.fit / 10.0, engagement_score = s.eng / 10.0, total_score = s.total / 10.0, "
        "grade = s.grade, score_model_version = %s, scored_at = %s"
    )
    target = "l" if is_postgresql() else LEAD
    source = "s"
    if last_activity:
        cte, params = rows_cte("la", [("id", "bigint"), ("at", "timestamptz")], sorted(last_activity.items()))
        sql.add(f", {cte}", *params)
        sets += (
            f", last_activity_at = CASE WHEN la.at IS NOT NULL AND ({target}.last_activity_at IS NULL"
            f" OR {target}.last_activity_at < la.at) THEN la.at ELSE {target}.last_activity_at END"
        )
        source = "s LEFT JOIN la ON la.id = s.id"
    # The target is limited to the same leads too: otherwise PostgreSQL scans the whole table per chunk.
    alias = " AS l" if is_postgresql() else ""
    sql.add(f" UPDATE {LEAD}{alias} SET {sets} FROM {source} WHERE {target}.id = s.id AND ", spec.version, db_datetime(as_of))
    sql.extend(leads.where(f"{target}.id"))
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return rowcount(cursor)


def scores(spec: engine.ModelSpec, as_of: datetime, leads: Leads = ALL) -> dict[int, TenthsScore]:
    """{lead id: (fit, eng, total, grade)} in tenths, without writing (tests, previews of a few)."""
    sql = scores_sql(spec, engine.epoch_day(as_of), leads).add(" SELECT id, fit, eng, total, grade FROM s")
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return {pk: (fit, eng, total, grade) for pk, fit, eng, total, grade in cursor.fetchall()}


# --- stage moves ----------------------------------------------------------------------------


def move_new_to_nurture(spec: engine.ModelSpec, leads: Leads, *, at: datetime) -> int:
    """new -> nurture for scored leads (leadhub.lifecycle.nurture_new_leads), with the reason
    naming the model. Returns how many moved."""
    return nurture_new_leads(leads, reason=f"Scored by model v{spec.version}", at=at)


def promotable(spec: engine.ModelSpec, leads: Leads, *, now: datetime) -> dict[int, tuple[Decimal, str]]:
    """{lead id: (total, grade)} for nurture leads that qualify under their stored score and
    are not in cooldown."""
    sql = (
        SQL()
        .add(
            f"SELECT l.id, l.total_score, l.grade FROM {LEAD} l LEFT JOIN {COMPANY} c ON c.id = l.company_id WHERE l.stage = 'nurture'"
            f" AND l.score_model_version = %s AND l.total_score >= %s"
            f" AND l.grade IN ({', '.join(repr(g) for g in grades_at_least(spec.min_grade))})"
            f" AND (l.nurture_until IS NULL OR l.nurture_until <= %s) AND {required_sql(spec)} AND ",
            spec.version,
            engine.from_tenths(spec.threshold),
            db_datetime(now),
        )
        .extend(leads.where("l.id"))
        .add(" ORDER BY l.id")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return {pk: (total, grade) for pk, total, grade in cursor.fetchall()}


TENTH = Decimal("0.1")


def promote(spec: engine.ModelSpec, qualifying: Mapping[int, tuple[Decimal, str]], *, at: datetime) -> int:
    """nurture -> mql for the `promotable` leads through leadhub.lifecycle.transition_many (set-based:
    their history rows and routed handoffs in a few statements). Returns how many moved;
    a lead someone else moved since it was read keeps their move."""
    threshold = engine.from_tenths(spec.threshold)
    reasons = {
        pk: f"Score {Decimal(str(total)).quantize(TENTH)} ≥ {threshold}, grade {grade} (model v{spec.version})"
        for pk, (total, grade) in qualifying.items()
    }
    return len(transition_many(reasons, Stage.MQL, at=at))


def tune_for_aggregation() -> None:
    """Inside a transaction: let PostgreSQL sort and hash a chunk's rollups in memory
    (the default 4 MB spills to disk). Bounded by the chunk size, so memory stays flat."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")


def tune_for_preview() -> None:
    """Inside a transaction: settings for the preview's one pass over every lead and rollup.
    JIT compiling its many rule expressions costs seconds, more than it saves here. Its
    parallelism comes from whole parts (parallel_scores_sql): a parallel scan inside a part
    would put a Gather in every part, and then the parts would run one after the other."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL min_parallel_index_scan_size = '1TB'")
            cursor.execute("SET LOCAL min_parallel_table_scan_size = '1TB'")


def lock_leads(leads: Leads, *, skip_locked: bool = False) -> Leads:
    """Lock these leads' rows in id order (inside a transaction). Every writer of many leads
    (ingest, rescoring) takes them in this order first, so two can never wait on each other in
    a cycle; the UPDATE that follows would otherwise lock them in whatever order it meets them.
    The lock is the one an UPDATE of non-key columns takes (FOR NO KEY UPDATE): it does not
    block inserting activities, whose foreign key only takes a key-share lock on the lead.
    With `skip_locked` (a list of ids only), leads another transaction holds are passed over.
    Returns the Leads now locked."""
    if skip_locked and leads.ids is None:
        raise ValueError("lock_leads(skip_locked=True) needs a list of ids, not a range.")
    if not is_postgresql():
        return leads  # SQLite: one writer at a time, the transaction holds the whole database
    sql = SQL().add(f"SELECT id FROM {LEAD} WHERE ").extend(leads.where("id")).add(" ORDER BY id FOR NO KEY UPDATE")
    with connection.cursor() as cursor:
        if not skip_locked:
            cursor.execute(sql.text, sql.params)
            return leads
        cursor.execute(sql.text + " SKIP LOCKED", sql.params)
        locked = tuple(row[0] for row in cursor.fetchall())
    return leads if len(locked) == len(leads.ids or ()) else Leads(ids=locked)


def touch_last_activity(latest: Mapping[int, datetime | None]) -> None:
    """Move last_activity_at forward (never back) to {lead id: time}, without scoring (nothing
    is published to score with)."""
    if not latest:
        return
    with transaction.atomic():
        lock_leads(Leads(ids=tuple(sorted(latest))))
        cte, params = rows_cte("v", [("id", "bigint"), ("at", "timestamptz")], sorted(latest.items()))
        sql_execute(
            f"WITH {cte} UPDATE {LEAD} SET last_activity_at = v.at FROM v"
            f" WHERE {LEAD}.id = v.id AND ({LEAD}.last_activity_at IS NULL OR {LEAD}.last_activity_at < v.at)",
            params,
        )


def rescore(
    spec: engine.ModelSpec,
    leads: Leads,
    *,
    as_of: datetime,
    now: datetime | None = None,
    skip_locked: bool = False,
    last_activity: Mapping[int, datetime | None] | None = None,
) -> tuple[int, int, int, tuple[int, ...]]:
    """Score `leads` and make the stage moves that follow, in one transaction. With
    `skip_locked`, leads another transaction holds are left for later (see lock_leads).
    `last_activity`: see write_scores. Returns (scored, nurtured, promoted, ids of the leads left)."""
    now = now or as_of
    with transaction.atomic():
        tune_for_aggregation()
        locked = lock_leads(leads, skip_locked=skip_locked)
        left = tuple(sorted(set(leads.ids or ()) - set(locked.ids or ()))) if locked is not leads else ()
        scored = write_scores(spec, as_of, locked, last_activity)
        nurtured = move_new_to_nurture(spec, locked, at=now)
        promoted = promote(spec, promotable(spec, locked, now=now), at=now)
    return scored, nurtured, promoted, left


def chunk_bounds(after_id: int, size: int, *, max_id: int) -> tuple[int, int] | None:
    """The next chunk of up to `size` leads after `after_id`: (low, high) ids, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(id), MAX(id) FROM (SELECT id FROM {LEAD} WHERE id > %s AND id <= %s ORDER BY id LIMIT %s) t",
            [after_id, max_id, size],
        )
        low, high = cursor.fetchone() or (None, None)
    return None if low is None or high is None else (low, high)


def analyze() -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL plans the chunk joins from them)."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ROLLUP}")
            cursor.execute(f"ANALYZE {LEAD}")
