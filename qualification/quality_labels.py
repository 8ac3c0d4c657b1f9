"""Outcomes as labels: which leads of a period converted, set-based (one statement).

Two labels, each over the leads created in a period (optionally of one channel, campaign or
custom choice value):

* ``outcome``: a lead's latest Outcome (by occurred_on, else the day it was recorded, then id)
  is won within the horizon after its start (its first MQL, else its creation) = positive;
  lost, won only after the horizon, disqualified (its stage or any move to disqualified), or no
  outcome once the horizon has passed = negative; no outcome and still inside the horizon =
  left out (still open). A lead moved to won or lost in leadhub without any Outcome row counts
  by that move (so the queue's history is a label before it is recorded as Outcome rows).
* ``acceptance``: the SDR's first decision after MQL (StageChange from mql): to SAL = accepted
  (positive); back to nurture or to disqualified = rejected. Leads without a decision are left
  out.

Reads only the lead records' tables (leadhub); never handoff.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from leadhub.models import Company, Lead, Outcome, StageChange
from leadhub.sql import SQL, db_datetime, is_postgresql

OUTCOME, ACCEPTANCE = "outcome", "acceptance"
LABELS = {
    OUTCOME: "Outcome: won vs lost, disqualified or nothing within the horizon",
    ACCEPTANCE: "SDR acceptance: accepted (SAL) vs rejected",
}
SHORT = {OUTCOME: "won", ACCEPTANCE: "accepted"}
DEFAULT_HORIZON = 90
ATTRIBUTE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

LEAD = Lead._meta.db_table
COMPANY = Company._meta.db_table
TEMP_TABLE = "quality_labelled_leads"
OUTCOME_TABLE = Outcome._meta.db_table
STAGES = StageChange._meta.db_table


@dataclass(frozen=True)
class Period:
    """Leads created from `date_from` to `date_to` (inclusive days, UTC) and their filters."""

    date_from: date
    date_to: date
    label: str = OUTCOME
    horizon_days: int = DEFAULT_HORIZON
    channel: str = ""
    campaign: str = ""
    field_key: str = ""  # a custom field: attributes.<key> = field_value
    field_value: str = ""

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    def as_of(self, now: datetime) -> datetime:
        """The moment every score of the report is computed as of: the end of the period, or
        now when the period has not ended."""
        return min(self.end, now)

    def describe(self) -> str:
        parts = [f"leads created {self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}"]
        if self.channel:
            parts.append(f"channel {self.channel}")
        if self.campaign:
            parts.append(f"campaign “{self.campaign}”")
        if self.field_key:
            parts.append(f"{self.field_key} = “{self.field_value}”")
        return ", ".join(parts)


@dataclass
class Labels:
    """The labelled leads of a period: ids ascending, y (1 positive, 0 negative), and how many
    leads were left out (still open, or undecided for acceptance)."""

    period: Period
    ids: np.ndarray
    y: np.ndarray
    left_out: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def positives(self) -> int:
        return int(self.y.sum())


def _day(expr: str, is_date: bool = False) -> str:
    """Whole days since 1970-01-01 (UTC) of a timestamp or date column, as an integer."""
    if is_postgresql():
        if is_date:
            return f"({expr} - DATE '1970-01-01')"
        return f"(CAST(({expr}) AT TIME ZONE 'UTC' AS date) - DATE '1970-01-01')"
    return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"


def _period_where(period: Period) -> SQL:
    """The conditions on a lead `l` of the period and its filters."""
    sql = SQL().add("l.created_at >= %s AND l.created_at < %s", db_datetime(period.start), db_datetime(period.end))
    if period.channel:
        sql.add(" AND l.source = %s", period.channel)
    if period.campaign:
        sql.add(" AND l.campaign = %s", period.campaign)
    if period.field_key:
        if not ATTRIBUTE_KEY.match(period.field_key):
            raise ValueError(f"“{period.field_key}” is not a custom field key.")
        if is_postgresql():
            sql.add(" AND l.attributes @> %s::jsonb", json.dumps({period.field_key: period.field_value}))
        else:
            sql.add(f" AND json_extract(l.attributes, '$.{period.field_key}') = %s", period.field_value)
    return sql


def _candidates_sql(period: Period, today: int) -> SQL:
    """The leads that may have a label, a superset found through small sets and indexes (the
    period may hold a million leads, most of them still open): for acceptance, those an SDR
    decided on after MQL; for outcome, those with an Outcome row, a move to won, lost or
    disqualified, disqualified now, or created at least the horizon ago (a lead's start is
    never before its creation, so no other lead's horizon has passed). A lead may appear more
    than once (the caller's lookup by id ignores repeats)."""
    if period.label == ACCEPTANCE:
        return SQL().add(
            f"SELECT sc.lead_id AS id FROM {STAGES} sc WHERE sc.to_stage IN ('sal', 'nurture', 'disqualified') AND sc.from_stage = 'mql'"
        )
    cutoff = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=today - int(period.horizon_days) + 1)
    return SQL().add(
        f"SELECT oc.lead_id AS id FROM {OUTCOME_TABLE} oc"
        f" UNION ALL SELECT sc.lead_id FROM {STAGES} sc WHERE sc.to_stage IN ('won', 'lost', 'disqualified')"
        f" UNION ALL SELECT l.id FROM {LEAD} l WHERE l.stage = 'disqualified'"
        f" UNION ALL SELECT l.id FROM {LEAD} l WHERE l.created_at >= %s AND l.created_at < %s",
        db_datetime(period.start),
        db_datetime(min(cutoff, period.end)),
    )


def labelled_leads_sql(period: Period, today: int, columns: tuple[tuple[str, SQL], ...] = ()) -> SQL:
    """SELECT id, stage, created_day and the `columns` (as x_<name>) of the period's leads
    that may have a label (_candidates_sql)."""
    sql = SQL().add("WITH c AS (").extend(_candidates_sql(period, today)).add(")")
    sql.add(f" SELECT l.id AS id, l.stage AS stage, {_day('l.created_at')} AS created_day")
    for name, column in columns:
        sql.add(", ").extend(column).add(f" AS x_{name}")
    sql.add(f" FROM {LEAD} l")
    if any("c." in column.text for _, column in columns):
        sql.add(f" LEFT JOIN {COMPANY} c ON c.id = l.company_id")
    if is_postgresql():
        # The candidates as one array the lead's primary key is probed with: a hash join would
        # read every lead of the period (a million) to keep a fifth of them.
        sql.add(" WHERE l.id = ANY(ARRAY(SELECT c.id FROM c)) AND ")
    else:
        sql.add(" WHERE l.id IN (SELECT c.id FROM c) AND ")
    return sql.extend(_period_where(period))


def labels_sql(period: Period, now: datetime, columns: tuple[tuple[str, SQL], ...] = (), table: str = "") -> SQL:
    """SELECT id, y (1 or 0; the leads left out are not returned) and the extra `columns` (whole
    numbers) for the period's leads that may have a label, ordered by id. `columns` are (name, SQL over the lead `l` and its
    company `c`) read in the same pass over the leads' rows, e.g. a model's stored scores
    (quality.stored_columns). With `table`, the leads are read from that table, which holds
    labelled_leads_sql's rows (labels() on PostgreSQL); otherwise they are a CTE."""
    today = (now.astimezone(UTC).date() - date(1970, 1, 1)).days
    if table:
        sql = SQL().add("WITH ")
        b = f"{table} b"
    else:
        sql = SQL().add("WITH b AS (").extend(labelled_leads_sql(period, today, columns)).add("), ")
        b = "b"
    extra = "".join(f", b.x_{name}" for name, _ in columns)
    sql.add(
        f"m AS (SELECT sc.lead_id AS lead_id, MIN({_day('sc.at')}) AS day FROM {STAGES} sc JOIN {b} ON b.id = sc.lead_id"
        " WHERE sc.to_stage = 'mql' GROUP BY sc.lead_id)"
    )
    if period.label == ACCEPTANCE:
        sql.add(
            ", d AS (SELECT t.lead_id AS lead_id, t.to_stage AS to_stage FROM (SELECT sc.lead_id AS lead_id, sc.to_stage AS to_stage,"
            " ROW_NUMBER() OVER (PARTITION BY sc.lead_id ORDER BY sc.at, sc.id) AS rn"
            f" FROM {STAGES} sc JOIN {b} ON b.id = sc.lead_id WHERE sc.from_stage = 'mql'"
            " AND sc.to_stage IN ('sal', 'nurture', 'disqualified')) t WHERE t.rn = 1)"
            f" SELECT b.id, CASE WHEN d.to_stage = 'sal' THEN 1 ELSE 0 END AS y{extra}"
            f" FROM {b} JOIN d ON d.lead_id = b.id ORDER BY b.id"
        )
        return sql
    # Outcome rows, else the lead's moves to won or lost, latest first.
    sql.add(
        ", o AS (SELECT t.lead_id AS lead_id, t.result AS result, t.day AS day FROM (SELECT u.lead_id AS lead_id,"
        " u.result AS result, u.day AS day, ROW_NUMBER() OVER (PARTITION BY u.lead_id ORDER BY u.day DESC, u.src, u.key DESC) AS rn"
        f" FROM (SELECT oc.lead_id AS lead_id, oc.result AS result, COALESCE({_day('oc.occurred_on', is_date=True)},"
        f" {_day('oc.created_at')}) AS day, 0 AS src, oc.id AS key FROM {OUTCOME_TABLE} oc JOIN {b} ON b.id = oc.lead_id"
        f" UNION ALL SELECT sc.lead_id, sc.to_stage, {_day('sc.at')}, 1, sc.id FROM {STAGES} sc JOIN {b} ON b.id = sc.lead_id"
        f" WHERE sc.to_stage IN ('won', 'lost') AND NOT EXISTS (SELECT 1 FROM {OUTCOME_TABLE} x WHERE x.lead_id = sc.lead_id)) u) t"
        " WHERE t.rn = 1)"
        f", q AS (SELECT DISTINCT sc.lead_id AS lead_id FROM {STAGES} sc JOIN {b} ON b.id = sc.lead_id WHERE sc.to_stage = 'disqualified')"
    )
    horizon = int(period.horizon_days)
    start = "COALESCE(m.day, b.created_day)"
    sql.add(
        " SELECT * FROM (SELECT b.id AS id, CASE"
        f" WHEN o.result = 'won' AND o.day <= {start} + {horizon} THEN 1"
        " WHEN o.result IS NOT NULL THEN 0"
        " WHEN b.stage = 'disqualified' OR q.lead_id IS NOT NULL THEN 0"
        f" WHEN {start} + {horizon} <= {today} THEN 0"
        f" ELSE NULL END AS y{extra}"
        f" FROM {b} LEFT JOIN m ON m.lead_id = b.id LEFT JOIN o ON o.lead_id = b.id LEFT JOIN q ON q.lead_id = b.id) t"
        " WHERE t.y IS NOT NULL ORDER BY t.id"
    )
    return sql


def period_count(period: Period) -> int:
    """How many leads the period (with its filters) holds."""
    sql = SQL().add(f"SELECT COUNT(*) FROM {LEAD} l WHERE ").extend(_period_where(period))
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return cursor.fetchone()[0]


def labels(period: Period, now: datetime | None = None, columns: tuple[tuple[str, SQL], ...] = ()) -> Labels:
    """The labelled leads of `period` (see the module docstring), as of `now`; with `columns`
    (see labels_sql), Labels.extra holds each as an array aligned with ids."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if is_postgresql():
            # Sorts and hashes of a few hundred thousand leads in memory, not on disk; no JIT
            # (compiling the expressions took 0.4 s at 1M leads, more than it saved).
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            # The period's candidate leads in a temporary table with statistics: found by
            # probing the leads' key with an array, whose size the planner cannot see, so joins
            # planned on it directly looped over "ten" leads a few hundred thousand times.
            today = (now.astimezone(UTC).date() - date(1970, 1, 1)).days
            found = labelled_leads_sql(period, today, columns)
            cursor.execute(f"DROP TABLE IF EXISTS {TEMP_TABLE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {TEMP_TABLE} ON COMMIT DROP AS {found.text}", found.params)
            cursor.execute("SET LOCAL default_statistics_target = 10")  # its size and ids are all it needs
            cursor.execute(f"ANALYZE {TEMP_TABLE}")
            sql = labels_sql(period, now, columns, table=TEMP_TABLE)
        else:
            sql = labels_sql(period, now, columns)
        cursor.execute(sql.text, sql.params)
        rows = cursor.fetchall()
        if is_postgresql():
            cursor.execute(f"DROP TABLE {TEMP_TABLE}")
    # Every column is a whole number (the leads left out are not among the rows).
    table = np.array(rows, dtype=np.int64).reshape(len(rows), 2 + len(columns))
    extra = {name: table[:, 2 + i] for i, (name, _) in enumerate(columns)}
    ids, y = table[:, 0].copy(), table[:, 1].astype(np.int8)
    return Labels(period=period, ids=ids, y=y, left_out=period_count(period) - len(rows), extra=extra)
