"""What "Suggest weights" learns from: labelled leads and their facts, read set-based from SQL
into numpy columns (no per-lead ORM objects), and the rule language evaluated on those columns.

Labels (`label`):
* "outcome": the lead's latest leadhub Outcome. won = positive, lost = negative; a lead with no
  outcome `horizon_days` after it was created counts as negative (no win within the horizon);
  a younger lead without an outcome is still open and left out. Facts are taken as of the
  outcome's date (its occurred_on, else when it was recorded), or as of the horizon's end.
* "acceptance": the SDR's decision on the lead's latest MQL: StageChange mql → sal is positive,
  mql → nurture or mql → disqualified negative, as of the decision.

Text columns are read as codes into a vocabulary (one Python step per distinct value, numpy for
the rest); numbers as float64 with NaN for missing. Engagement is the decayed count of an
activity kind in a window before each lead's as-of day (ActivityRollup rows, decayed with the
model's half-life, summed in SQL), the quantity an engagement rule multiplies by its points.
"""

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from django.db import connection, transaction

from leadhub.models import Company, Lead, LeadField, Outcome, StageChange
from leadhub.sql import is_postgresql

from . import engine
from .models import ActivityRollup

LEAD = Lead._meta.db_table
COMPANY = Company._meta.db_table
OUTCOME = Outcome._meta.db_table
STAGE_CHANGE = StageChange._meta.db_table
ROLLUP = ActivityRollup._meta.db_table
FETCH = 50_000  # rows per fetch
ATTR = "attributes."
KEY_PATTERN = re.compile(r"^[a-z0-9_]+$")

LABELS = {"outcome": "won vs lost or no win within the horizon", "acceptance": "SDR accepted vs rejected the MQL"}


@dataclass
class Filters:
    """The quality report's filters: one business unit fitted apart from the rest."""

    channel: str = ""
    campaign: str = ""
    field: str = ""  # a custom choice field's key
    field_value: str = ""
    created_from: date | None = None
    created_to: date | None = None

    def describe(self):
        parts = []
        if self.channel:
            parts.append(f"channel {self.channel}")
        if self.campaign:
            parts.append(f"campaign {self.campaign}")
        if self.field:
            parts.append(f"{self.field} = {self.field_value}")
        if self.created_from or self.created_to:
            parts.append(f"created {self.created_from or '…'} to {self.created_to or '…'}")
        return ", ".join(parts) or "all leads"


@dataclass
class Column:
    """A lead fact: codes into `vocab` for text (-1: empty), or float64 numbers (NaN: missing)."""

    numeric: bool
    values: np.ndarray
    vocab: list = field(default_factory=list)


@dataclass
class Dataset:
    ids: np.ndarray
    y: np.ndarray  # 1 positive, 0 negative
    asof: np.ndarray  # epoch day the facts are taken at
    created: np.ndarray  # epoch day the lead was created
    columns: dict  # fit field name -> Column
    numeric_attributes: list
    choice_attributes: list
    _where: str = ""
    _params: list = field(default_factory=list)

    @property
    def n(self):
        return len(self.ids)


# --- SQL pieces -------------------------------------------------------------------------------


def _day(expr):
    """Epoch day of a date or timestamp column (UTC)."""
    if is_postgresql():
        return f"(CAST(({expr}) AT TIME ZONE 'UTC' AS date) - DATE '1970-01-01')"
    return f"CAST(julianday(substr({expr}, 1, 10)) - 2440587.5 AS INTEGER)"


def _date_day(expr):
    if is_postgresql():
        return f"(({expr}) - DATE '1970-01-01')"
    return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"


def _attr(key):
    if not KEY_PATTERN.match(key):
        raise ValueError(f"“{key}” is not a custom field key.")
    if is_postgresql():
        return f"(l.attributes ->> '{key}')"
    return f"json_extract(l.attributes, '$.{key}')"


FIELD_SQL = {
    "channel": "l.source",
    "campaign": "l.campaign",
    "industry": "c.industry",
    "country": "COALESCE(NULLIF(l.country, ''), c.country)",
    "employee_count": "c.employee_count",
    "annual_revenue": "c.annual_revenue",
    "title": "l.title",
    "first_name": "l.first_name",
    "last_name": "l.last_name",
    "phone": "l.phone",
    "company_name": "c.name",
}
NUMERIC = {"employee_count", "annual_revenue"}


def _email_domain():
    if is_postgresql():
        return "split_part(l.email, '@', 2)"
    return "substr(l.email, instr(l.email, '@') + 1)"


def field_sql(name):
    if name == "email_domain":
        return _email_domain()
    if name.startswith(ATTR):
        return _attr(name[len(ATTR) :])
    return FIELD_SQL[name]


def _labelled_sql(label, horizon_days, today, filters):
    """(SQL selecting id, y, asof, created of the labelled leads, params)."""
    params: list = []
    created = _day("l.created_at")
    if label == "acceptance":
        source = (
            f"SELECT lead_id, CASE WHEN to_stage = 'sal' THEN 1 ELSE 0 END AS y, {_day('at')} AS day, "
            f"ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY at DESC, id DESC) AS rn FROM {STAGE_CHANGE} "
            "WHERE from_stage = 'mql' AND to_stage IN ('sal', 'nurture', 'disqualified')"
        )
        ys = "x.y"
        asof = "x.day"
        keep = "x.lead_id IS NOT NULL"
    else:
        day = f"COALESCE({_date_day('occurred_on')}, {_day('created_at')})"
        source = (
            f"SELECT lead_id, CASE WHEN result = 'won' THEN 1 ELSE 0 END AS y, {day} AS day, "
            f"ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY {day} DESC, created_at DESC, id DESC) AS rn FROM {OUTCOME}"
        )
        ys = "COALESCE(x.y, 0)"
        asof = f"COALESCE(x.day, {created} + {int(horizon_days)})"
        keep = f"(x.lead_id IS NOT NULL OR {created} + {int(horizon_days)} <= {int(today)})"
    where = [keep]
    if filters.channel:
        where.append("l.source = %s")
        params.append(filters.channel)
    if filters.campaign:
        where.append("l.campaign = %s")
        params.append(filters.campaign)
    if filters.field:
        where.append(f"{_attr(filters.field)} = %s")
        params.append(filters.field_value)
    if filters.created_from:
        where.append(f"{created} >= %s")
        params.append(engine.epoch_day(filters.created_from))
    if filters.created_to:
        where.append(f"{created} <= %s")
        params.append(engine.epoch_day(filters.created_to))
    least = "LEAST" if is_postgresql() else "MIN"
    sql = (
        f"SELECT l.id, {ys} AS y, {least}({asof}, {int(today)}) AS asof, {created} AS created "
        f"FROM {LEAD} l LEFT JOIN (SELECT lead_id, y, day FROM ({source}) s WHERE rn = 1) x ON x.lead_id = l.id "
        f"WHERE {' AND '.join(where)}"
    )
    return sql, params


def _fetch(sql, params):
    """Rows in chunks (a server-side cursor on PostgreSQL: a million rows never sit in memory as tuples)."""
    with transaction.atomic():
        cursor = connection.chunked_cursor() if is_postgresql() else connection.cursor()
        try:
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(FETCH)
                if not rows:
                    break
                yield rows
        finally:
            cursor.close()


def _to_number(value):
    if value is None or value == "":
        return np.nan
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


# --- loading ----------------------------------------------------------------------------------


def custom_fields():
    """(numeric keys, choice keys) of the custom lead fields."""
    numeric, choice = [], []
    for key, kind in LeadField.objects.values_list("key", "type"):
        if kind == "number":
            numeric.append(key)
        elif kind == "choice":
            choice.append(key)
    return numeric, choice


def load(*, label="outcome", horizon_days=180, filters=None, today=None, text_fields=()):
    """The labelled leads (in id order) with the fit facts the suggestion reads: channel,
    industry, country, company size and revenue, custom number and choice fields, and any
    `text_fields` the model's own rules use."""
    filters = filters or Filters()
    today = engine.epoch_day(today or date.today())
    numeric_attrs, choice_attrs = custom_fields()
    names = ["channel", "industry", "country", "employee_count", "annual_revenue"]
    names += [f"{ATTR}{k}" for k in choice_attrs + numeric_attrs]
    names += [n for n in text_fields if n not in names]
    labelled, params = _labelled_sql(label, horizon_days, today, filters)
    select = ", ".join(f"{field_sql(n)} AS f{i}" for i, n in enumerate(names))
    sql = (
        f"SELECT t.id, t.y, t.asof, t.created, {select} FROM ({labelled}) t "
        f"JOIN {LEAD} l ON l.id = t.id LEFT JOIN {COMPANY} c ON c.id = l.company_id ORDER BY t.id"
    )
    numeric = {n for n in names if n in NUMERIC or (n.startswith(ATTR) and n[len(ATTR) :] in numeric_attrs)}
    heads: dict[str, list] = {k: [] for k in ("ids", "y", "asof", "created")}
    parts: dict[str, list] = {n: [] for n in names}
    vocabs: dict[str, dict] = {n: {} for n in names if n not in numeric}
    for rows in _fetch(sql, params):
        columns = list(zip(*rows, strict=True))
        heads["ids"].append(np.asarray(columns[0], dtype=np.int64))
        heads["y"].append(np.asarray(columns[1], dtype=np.int8))
        heads["asof"].append(np.asarray(columns[2], dtype=np.int32))
        heads["created"].append(np.asarray(columns[3], dtype=np.int32))
        for i, name in enumerate(names):
            raw = columns[4 + i]
            if name in numeric:
                parts[name].append(np.fromiter((_to_number(v) for v in raw), dtype=np.float64, count=len(raw)))
            else:
                vocab = vocabs[name]
                codes = np.fromiter(
                    (-1 if v is None or v == "" else vocab.setdefault(str(v), len(vocab)) for v in raw),
                    dtype=np.int32,
                    count=len(raw),
                )
                parts[name].append(codes)

    def joined(chunks, dtype):
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)

    columns = {}
    for name in names:
        if name in numeric:
            columns[name] = Column(True, joined(parts[name], np.float64))
        else:
            columns[name] = Column(False, joined(parts[name], np.int32), list(vocabs[name]))
    dataset = Dataset(
        ids=joined(heads["ids"], np.int64),
        y=joined(heads["y"], np.int8),
        asof=joined(heads["asof"], np.int32),
        created=joined(heads["created"], np.int32),
        columns=columns,
        numeric_attributes=numeric_attrs,
        choice_attributes=choice_attrs,
    )
    dataset._where, dataset._params = labelled, params
    return dataset


@dataclass
class Engagement:
    """The labelled leads' rollup rows in the widest window any feature needs, read once: the
    lead's position in the dataset, the kind's code, the age in days before its as-of day, the
    minutes property and the count. Every engagement feature is computed from these in numpy."""

    window_days: int
    position: np.ndarray
    kind: np.ndarray
    age: np.ndarray
    minutes: np.ndarray
    n: np.ndarray
    kinds: list


def load_engagement(dataset, window_days):
    sql = (
        f"SELECT r.lead_id, r.kind, t.asof - r.day, r.minutes, r.n FROM {ROLLUP} r JOIN ({dataset._where}) t ON t.id = r.lead_id "
        f"WHERE r.day <= t.asof AND r.day > t.asof - {int(window_days)}"
    )
    kinds: dict[str, int] = {}
    parts: dict[str, list] = {k: [] for k in ("position", "kind", "age", "minutes", "n")}
    for rows in _fetch(sql, dataset._params):
        lead_ids, row_kinds, ages, minutes, counts = zip(*rows, strict=True)
        parts["position"].append(np.searchsorted(dataset.ids, np.asarray(lead_ids, dtype=np.int64)).astype(np.int32))
        parts["kind"].append(np.fromiter((kinds.setdefault(k, len(kinds)) for k in row_kinds), dtype=np.int16, count=len(rows)))
        parts["age"].append(np.asarray(ages, dtype=np.int32))
        parts["minutes"].append(np.asarray([np.nan if m is None else m for m in minutes], dtype=np.float64))
        parts["n"].append(np.asarray(counts, dtype=np.float64))
    dtypes = {"position": np.int32, "kind": np.int16, "age": np.int32, "minutes": np.float64, "n": np.float64}
    arrays = {k: (np.concatenate(v) if v else np.zeros(0, dtype=dtypes[k])) for k, v in parts.items()}
    return Engagement(window_days=int(window_days), kinds=list(kinds), **arrays)


def kinds_seen(dataset, engagement, window_days, min_leads):
    """Activity kinds that at least `min_leads` labelled leads had in the window before their as-of day."""
    inside = engagement.age < window_days
    seen = []
    for code, kind in enumerate(engagement.kinds):
        mask = inside & (engagement.kind == code)
        if len(np.unique(engagement.position[mask])) >= min_leads:
            seen.append(kind)
    return sorted(seen)


def decayed_counts(dataset, engagement, *, kinds, window_days, half_life_days, condition=None):
    """{kind: float array aligned with dataset.ids}: Σ count × 0.5^(age / half-life) over the
    rollups of that kind in the window before each lead's as-of day (age 0 = the as-of day).
    `condition`: (operator, value) on the activities' minutes, as an engagement rule's."""
    if window_days > engagement.window_days:
        raise ValueError(f"engagement was read for {engagement.window_days} days, not {window_days}")
    mask = engagement.age < window_days
    if condition:
        op, value = condition
        with np.errstate(invalid="ignore"):
            test = {"gte": np.greater_equal, "lte": np.less_equal, "equals": np.equal, "eq": np.equal}[op]
            mask &= ~np.isnan(engagement.minutes) & test(engagement.minutes, float(value))
    weight = engagement.n * np.power(0.5, engagement.age / float(half_life_days))
    out = {}
    for kind in kinds:
        code = engagement.kinds.index(kind) if kind in engagement.kinds else -1
        chosen = mask & (engagement.kind == code)
        out[kind] = np.bincount(engagement.position[chosen], weights=weight[chosen], minlength=dataset.n).astype(np.float64)
    return out


# --- the rule language on columns ---------------------------------------------------------------


def _numbers(operator, value):
    text = (value or "").strip()
    if operator == "between":
        parts = [p for p in re.split(r"\s*(?:,|\.\.|–|—|\bto\b|\band\b)\s*", text) if p]
        if len(parts) != 2:
            raise ValueError("between needs two numbers")
        return [float(engine.parse_number(p)) for p in parts]
    return [float(engine.parse_number(text))]


def fit_fires(column, operator, value):
    """Boolean array: where a fit rule (field's column, operator, value) fires, as the engine
    decides it (text compared with A–Z folded, a missing field fires nothing but is_empty).
    Raises ValueError for an operator or value it does not know."""
    if column.numeric:
        x = column.values
        present = ~np.isnan(x)
        if operator == "is_empty":
            return ~present
        if operator == "is_not_empty":
            return present
        nums = _numbers(operator, value)
        with np.errstate(invalid="ignore"):
            if operator == "equals":
                return present & (x == nums[0])
            if operator == "is_not":
                return present & (x != nums[0])
            if operator == "gte":
                return present & (x >= nums[0])
            if operator == "lte":
                return present & (x <= nums[0])
            if operator == "between":
                return present & (x >= nums[0]) & (x <= nums[1])
        raise ValueError(f"operator {operator} on a number")
    codes = column.values
    folded = [engine.fold(v) for v in column.vocab]
    text = (value or "").strip()
    items = [engine.fold(v.strip()) for v in text.split(",") if v.strip()]
    one = engine.fold(text)
    tests = {
        "equals": lambda v: v == one,
        "is_not": lambda v: v != one,
        "in": lambda v: v in items,
        "not_in": lambda v: v not in items,
        "contains": lambda v: one in v,
        "starts_with": lambda v: v.startswith(one),
    }
    if operator == "is_empty":
        return codes < 0
    if operator == "is_not_empty":
        return codes >= 0
    if operator not in tests:
        raise ValueError(f"operator {operator} on text")
    table = np.fromiter((tests[operator](v) for v in folded), dtype=bool, count=len(folded))
    fires = np.zeros(len(codes), dtype=bool)
    present = codes >= 0
    if len(table):
        fires[present] = table[codes[present]]
    return fires


def epoch_date(day):
    return engine.EPOCH + timedelta(days=int(day))
