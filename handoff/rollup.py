"""Daily rollups of handoffs, so the dashboards read thousands of rows instead of millions.

Four tables (handoff.models): HandoffDailyRollup (counts per MQL day, SDR, channel, campaign,
grade, score band, status, rejection reason), HandoffResponseRollup (a histogram of response
times per MQL day, SDR, channel and business minute), HandoffRuleRollup (per MQL day, channel,
scoring rule and rejection reason) and HandoffRuleCampaignRollup (the same per campaign too).
"Day" is the local date of created_at in settings.TIME_ZONE, the zone the report filters use;
after changing TIME_ZONE run `manage.py rebuild_rollups`.

One grouped SELECT per table describes what a set of handoffs contributes; the same SELECT
builds the tables from scratch (`rebuild`) and keeps them current (`tracking`, `Change`): a
service reads what the handoffs it is about to change contribute, changes them, reads again
and applies the difference as one upsert per table (INSERT ... VALUES ... ON CONFLICT DO UPDATE
SET n = n + excluded.n, on PostgreSQL and SQLite alike). The difference of a change that moves
nothing in a table (an accept, for the per-rule tables) is empty, and that table is not touched.

Many transactions add to the same rollup rows (every decision of the day on one channel), so
these rows are the last locks a transaction takes (docs/locking.md) and are taken in one order:
table by table in TABLES order, rows in key order, once per transaction. Increments commute,
so any two transactions only ever wait for each other on a counter, briefly, and never in a
cycle. The handoff rows are locked first, so two changes of one handoff cannot both read the
same old state.

Response-time resolution: one business minute, the resolution Handoff.response_minutes is
stored in. The histogram therefore holds every value exactly and percentiles computed from
it equal percentile_cont over the raw rows; a coarser bucket would shrink the table but make
medians approximate, and the per-minute histogram is already small (response times cluster
in a few hundred distinct minutes per SDR and day).

Rows written without the services (bench COPY, seed_demo's back-dating, tests' factories)
need `rebuild()` afterwards; deleting leads or users is not tracked either.
"""

import datetime
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, DateField, F, FloatField, Func, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate, TruncWeek

# Score bands of the calibration view: the MQL threshold is usually 60–70.
BANDS = [(None, 70), (70, 80), (80, 90), (90, 100), (100, None)]


class Minutes(Func):
    """Minutes from the first datetime to the second, as a float, on both databases."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        (start, p1), (end, p2) = (compiler.compile(e) for e in self.source_expressions)
        if connection.vendor == "postgresql":
            return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0)", [*p2, *p1]
        return f"((julianday({end}) - julianday({start})) * 1440.0)", [*p2, *p1]


def reporting_zone():
    return ZoneInfo(settings.TIME_ZONE)


def band_case(field="score_at_handoff"):
    """The index in BANDS of a score."""
    whens = [
        When(
            Q(**({f"{field}__gte": lo} if lo is not None else {})) & Q(**({f"{field}__lt": hi} if hi is not None else {})),
            then=Value(i),
        )
        for i, (lo, hi) in enumerate(BANDS)
    ]
    return Case(*whens, default=Value(0), output_field=IntegerField())


def _week():
    return TruncWeek("created_at", tzinfo=reporting_zone(), output_field=DateField())


def deadline(model=None):
    """The deadline an SLA breach is counted against: the first one (Handoff.first_due_at), which a
    claim or reassignment never moves, so a breach that happened before it still counts; the
    current due_at for rows written without it (and for migrations older than the field)."""
    names = {f.name for f in model._meta.fields} if model is not None else {"first_due_at"}
    return Coalesce("first_due_at", "due_at") if "first_due_at" in names else F("due_at")


def _daily(apps):
    handoff = apps.get_model("handoff", "Handoff")
    keys = dict(
        day=TruncDate("created_at", tzinfo=reporting_zone()),
        week=_week(),
        owner=Coalesce("owner_id", 0, output_field=IntegerField()),
        channel=F("channel"),
        campaign=F("campaign"),
        grade=F("grade_at_handoff"),
        band=band_case(),
        status=F("status"),
        reason=Coalesce("rejection_reason_id", 0, output_field=IntegerField()),
    )
    sal, sql, won = (
        Minutes("created_at", "first_decision_at"),
        Minutes("first_decision_at", "sql_at"),
        Minutes("sql_at", "won_at"),
    )
    measures = dict(
        n=Count("id"),
        with_deadline=Count(deadline(handoff)),
        decided=Count("response_minutes"),
        late=Count("id", filter=Q(first_decision_at__gt=deadline(handoff))),
        sql=Count("sql_at"),
        won=Count("won_at"),
        sal_minutes=Coalesce(Sum(sal), 0.0),
        sal_timed=Count(sal),
        sql_minutes=Coalesce(Sum(sql), 0.0),
        sql_timed=Count(sql),
        won_minutes=Coalesce(Sum(won), 0.0),
        won_timed=Count(won),
    )
    return apps.get_model("handoff", "HandoffDailyRollup"), handoff.objects.all(), "id", keys, measures


def _response(apps):
    keys = dict(
        day=TruncDate("created_at", tzinfo=reporting_zone()),
        week=_week(),
        owner=F("owner_id"),
        channel=F("channel"),
        minutes=F("response_minutes"),
    )
    source = apps.get_model("handoff", "Handoff").objects.filter(owner__isnull=False, response_minutes__isnull=False)
    return apps.get_model("handoff", "HandoffResponseRollup"), source, "id", keys, dict(n=Count("id"))


def _rule_keys(**extra):
    return dict(
        **extra,
        day=TruncDate("handoff__created_at", tzinfo=reporting_zone()),
        channel=F("handoff__channel"),
        kind=F("kind"),
        rule_id=F("rule_id"),
        label=F("label"),
        points=F("points"),
        reason=Coalesce("handoff__rejection_reason_id", 0, output_field=IntegerField()),
    )


def _rule_measures():
    return dict(
        n=Count("id"),
        rejected=Count("id", filter=Q(handoff__status="rejected")),
        sql=Count("id", filter=Q(handoff__sql_at__isnull=False)),
    )


def _rules(apps):
    return (
        apps.get_model("handoff", "HandoffRuleRollup"),
        apps.get_model("handoff", "HandoffRule").objects.all(),
        "handoff_id",
        _rule_keys(),
        _rule_measures(),
    )


def _campaign_rules(apps):
    return (
        apps.get_model("handoff", "HandoffRuleCampaignRollup"),
        apps.get_model("handoff", "HandoffRule").objects.all(),
        "handoff_id",
        _rule_keys(campaign=F("handoff__campaign")),
        _rule_measures(),
    )


TABLES = (_daily, _response, _rules, _campaign_rules)


def _apply(table, sign, handoff_ids=None, apps=global_apps):
    """Add (sign=1) or subtract (sign=-1) what the handoffs contribute to one rollup table:
    all handoffs when handoff_ids is None."""
    model, source, handoff_field, keys, measures = table(apps)
    if handoff_ids is not None:
        source = source.filter(**{f"{handoff_field}__in": list(handoff_ids)})
    # Aliases differ from the source's field names (an annotation may not shadow a field).
    grouped = (
        source.order_by()
        .annotate(**{f"k_{k}": v for k, v in keys.items()})
        .values(*(f"k_{k}" for k in keys))
        .annotate(**{f"m_{m}": v for m, v in measures.items()})
    )
    select, params = grouped.query.sql_with_params()
    qn = connection.ops.quote_name
    table_name = qn(model._meta.db_table)
    columns = [*keys, *measures]
    values = [f"s.{qn('k_' + k)}" for k in keys] + [f"{int(sign)} * s.{qn('m_' + m)}" for m in measures]
    updates = ", ".join(f"{qn(m)} = {table_name}.{qn(m)} + excluded.{qn(m)}" for m in measures)
    # "WHERE true": SQLite needs it to tell the upsert's ON CONFLICT from a join's ON.
    sql = (
        f"INSERT INTO {table_name} ({', '.join(qn(c) for c in columns)}) SELECT {', '.join(values)} FROM ({select}) s "
        f"WHERE true ON CONFLICT ({', '.join(qn(k) for k in keys)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def models(apps=global_apps):
    """The rollup models, in TABLES order."""
    return [table(apps)[0] for table in TABLES]


@transaction.atomic
def rebuild(apps=global_apps, tables=TABLES):
    """Rebuild every rollup table from the handoffs: one DELETE and one INSERT ... SELECT each.
    A migration passes the tables its state has."""
    for table in tables:
        model = table(apps)[0]
        model.objects.all().delete()
        _apply(table, 1, apps=apps)


def _grouped(table, apps, ids):
    """The grouped SELECT of what the handoffs `ids` contribute to one table, and its key and
    measure names."""
    _model, source, handoff_field, keys, measures = table(apps)
    grouped = (
        source.filter(**{f"{handoff_field}__in": ids})
        .order_by()
        .annotate(**{f"k_{k}": v for k, v in keys.items()})
        .values(*(f"k_{k}" for k in keys))
        .annotate(**{f"m_{m}": v for m, v in measures.items()})
    )
    return grouped, list(keys), list(measures)


# Every decision reads what its handoff contributes twice, four SELECTs each: building them
# through the ORM cost more CPU than running them. The compiled statement and its value
# converters are kept per table, number of ids, database and reporting time zone; only the ids
# change between calls (the placeholders' positions are found with sentinel ids).
_COMPILED = {}


def _compiled(index, table, count):
    key = (index, count, connection.vendor, settings.TIME_ZONE)
    entry = _COMPILED.get(key)
    if entry is None:
        sentinels = [-(10**12) - i for i in range(count)]
        grouped, keys, measures = _grouped(table, global_apps, sentinels)
        compiler = grouped.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        params = list(params)
        positions = [params.index(sentinel) for sentinel in sentinels]
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        query = grouped.query
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        entry = _COMPILED[key] = (compiler, sql, params, positions, converters, names, keys, measures)
    return entry


def _rows(index, table, ids):
    compiler, sql, params, positions, converters, names, keys, measures = _compiled(index, table, len(ids))
    params = list(params)
    for position, pk in zip(positions, ids, strict=True):
        params[position] = pk
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if converters:
        rows = compiler.apply_converters(rows, converters)
    for row in rows:
        row = dict(zip(names, row, strict=True))
        yield tuple(row[f"k_{k}"] for k in keys), [row[f"m_{m}"] for m in measures]


COMPILED_MAX_IDS = 50  # decisions change one handoff, routing a few; bulk changes build afresh


def contributions(handoff_ids, apps=global_apps, compiled=True):
    """What these handoffs contribute to each rollup table now, in TABLES order: one
    {key tuple: [measures]} per table (one grouped SELECT each, no locks). `compiled=False`
    builds the statements through the ORM every time (the slow twin of the kept statements)."""
    ids = sorted({pk for pk in handoff_ids if pk is not None})
    result = []
    for index, table in enumerate(TABLES):
        rows = {}
        if ids and compiled and apps is global_apps and len(ids) <= COMPILED_MAX_IDS:
            rows = dict(_rows(index, table, ids))
        elif ids:
            grouped, keys, measures = _grouped(table, apps, ids)
            rows = {tuple(row[f"k_{k}"] for k in keys): [row[f"m_{m}"] for m in measures] for row in grouped}
        result.append(rows)
    return result


def _key_order(key):
    return tuple((value is None, 0 if value is None else value) for value in key)


UPSERT_ROWS = 500  # rows per statement: far below both databases' parameter limits


def _upsert(table, deltas, apps=global_apps):
    """Add `deltas` ({key: [measures]}) to one rollup table, rows in key order."""
    model, _source, _field, keys, measures = table(apps)
    qn = connection.ops.quote_name
    table_name = qn(model._meta.db_table)
    columns = [*keys, *measures]
    updates = ", ".join(f"{qn(m)} = {table_name}.{qn(m)} + excluded.{qn(m)}" for m in measures)
    head = f"INSERT INTO {table_name} ({', '.join(qn(c) for c in columns)}) VALUES "
    tail = f" ON CONFLICT ({', '.join(qn(k) for k in keys)}) DO UPDATE SET {updates}"
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"

    def adapt(value):
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return connection.ops.adapt_datefield_value(value)
        return value

    ordered = sorted(deltas.items(), key=lambda item: _key_order(item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), UPSERT_ROWS):
            chunk = ordered[start : start + UPSERT_ROWS]
            params = [adapt(v) for key, values in chunk for v in (*key, *values)]
            cursor.execute(head + ", ".join([row_sql] * len(chunk)) + tail, params)


def apply_difference(before, after, apps=global_apps):
    """Add after − before (two `contributions` results) to the rollup tables: tables in TABLES
    order, rows in key order, rows whose difference is zero skipped."""
    for table, old, new in zip(TABLES, before, after, strict=True):
        deltas = {}
        for key in old.keys() | new.keys():
            a, b = old.get(key), new.get(key)
            if a is None:
                diff = list(b)
            elif b is None:
                diff = [-v for v in a]
            else:
                diff = [y - x for x, y in zip(a, b, strict=True)]
            if any(diff):
                deltas[key] = diff
        if deltas:
            _upsert(table, deltas, apps)


def _nothing():
    return [{} for _ in TABLES]


def add(handoff_ids):
    """Count new handoffs in the rollups."""
    apply_difference(_nothing(), contributions(handoff_ids))


def remove(handoff_ids):
    """Stop counting these handoffs (before they are deleted)."""
    apply_difference(contributions(handoff_ids), _nothing())


class Change:
    """A change of some handoffs, kept in the rollups: create it before changing them (it locks
    the handoff rows in id order and reads what they contribute), call `apply()` after, once,
    with any handoffs created meanwhile as `new_ids` (they contributed nothing before), so a
    transaction updates every rollup table once, in the documented order.
    Call inside the caller's transaction (the services' transaction.atomic)."""

    def __init__(self, handoff_ids):
        from .models import Handoff

        self.ids = sorted({pk for pk in handoff_ids if pk is not None})
        if self.ids:
            list(Handoff.objects.select_for_update().filter(pk__in=self.ids).order_by("pk").values_list("pk", flat=True))
        self.before = contributions(self.ids)

    def apply(self, new_ids=()):
        apply_difference(self.before, contributions([*self.ids, *new_ids]))


@contextmanager
def tracking(handoff_ids):
    """Keep the rollups right across a change of these handoffs (see Change): lock them and
    read what they contribute now, let the caller change them, then apply the difference.
    Call inside the caller's transaction (the services' transaction.atomic)."""
    ids = [pk for pk in handoff_ids if pk is not None]
    if not ids:
        yield
        return
    change = Change(ids)
    yield
    change.apply()
