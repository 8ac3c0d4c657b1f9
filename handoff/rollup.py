"""Daily rollups of handoffs, so the dashboards read thousands of rows instead of millions.

Four tables (handoff.models): HandoffDailyRollup (counts per MQL day, SDR, channel, campaign,
grade, score band, status, rejection reason), HandoffResponseRollup (a histogram of response
times per MQL day, SDR, channel and business minute), HandoffRuleRollup (per MQL day, channel,
scoring rule and rejection reason) and HandoffRuleCampaignRollup (the same per campaign too).
"Day" is the local date of created_at in settings.TIME_ZONE, the zone the report filters use;
after changing TIME_ZONE run `manage.py rebuild_rollups`.

One grouped SELECT per table describes what a set of handoffs contributes; the same SELECT
builds the tables from scratch (`rebuild`) and keeps them current (`tracking`): the services
subtract the contribution of the handoffs they are about to change and add it back after
the change, as one INSERT ... SELECT ... ON CONFLICT DO UPDATE per table. Increments commute,
so concurrent decisions on different handoffs add to the same rollup row safely; the handoff
rows are locked first, so two changes of the same handoff cannot subtract the same state twice.

Response-time resolution: one business minute, the resolution Handoff.response_minutes is
stored in. The histogram therefore holds every value exactly and percentiles computed from
it equal percentile_cont over the raw rows; a coarser bucket would shrink the table but make
medians approximate, and the per-minute histogram is already small (response times cluster
in a few hundred distinct minutes per SDR and day).

Rows written without the services (bench COPY, seed_demo's back-dating, tests' factories)
need `rebuild()` afterwards; deleting leads or users is not tracked either.
"""

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
    whens = [When(Q(**({f"{field}__gte": lo} if lo is not None else {})) & Q(**({f"{field}__lt": hi} if hi is not None else {})),
                  then=Value(i)) for i, (lo, hi) in enumerate(BANDS)]
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
        day=TruncDate("created_at", tzinfo=reporting_zone()), week=_week(), owner=Coalesce("owner_id", 0, output_field=IntegerField()), channel=F("channel"),
        campaign=F("campaign"), grade=F("grade_at_handoff"), band=band_case(), status=F("status"),
        reason=Coalesce("rejection_reason_id", 0, output_field=IntegerField()),
    )
    sal, sql, won = Minutes("created_at", "first_decision_at"), Minutes("first_decision_at", "sql_at"), Minutes("sql_at", "won_at")
    measures = dict(
        n=Count("id"), with_deadline=Count(deadline(handoff)), decided=Count("response_minutes"),
        late=Count("id", filter=Q(first_decision_at__gt=deadline(handoff))),
        sql=Count("sql_at"), won=Count("won_at"),
        sal_minutes=Coalesce(Sum(sal), 0.0), sal_timed=Count(sal),
        sql_minutes=Coalesce(Sum(sql), 0.0), sql_timed=Count(sql),
        won_minutes=Coalesce(Sum(won), 0.0), won_timed=Count(won),
    )
    return apps.get_model("handoff", "HandoffDailyRollup"), handoff.objects.all(), "id", keys, measures


def _response(apps):
    keys = dict(day=TruncDate("created_at", tzinfo=reporting_zone()), week=_week(), owner=F("owner_id"), channel=F("channel"),
                minutes=F("response_minutes"))
    source = apps.get_model("handoff", "Handoff").objects.filter(owner__isnull=False, response_minutes__isnull=False)
    return apps.get_model("handoff", "HandoffResponseRollup"), source, "id", keys, dict(n=Count("id"))


def _rule_keys(**extra):
    return dict(
        **extra, day=TruncDate("handoff__created_at", tzinfo=reporting_zone()), channel=F("handoff__channel"), kind=F("kind"),
        rule_id=F("rule_id"), label=F("label"), points=F("points"),
        reason=Coalesce("handoff__rejection_reason_id", 0, output_field=IntegerField()),
    )


def _rule_measures():
    return dict(n=Count("id"), rejected=Count("id", filter=Q(handoff__status="rejected")),
                sql=Count("id", filter=Q(handoff__sql_at__isnull=False)))


def _rules(apps):
    return (apps.get_model("handoff", "HandoffRuleRollup"), apps.get_model("handoff", "HandoffRule").objects.all(), "handoff_id",
            _rule_keys(), _rule_measures())


def _campaign_rules(apps):
    return (apps.get_model("handoff", "HandoffRuleCampaignRollup"), apps.get_model("handoff", "HandoffRule").objects.all(),
            "handoff_id", _rule_keys(campaign=F("handoff__campaign")), _rule_measures())


TABLES = (_daily, _response, _rules, _campaign_rules)


def _apply(table, sign, handoff_ids=None, apps=global_apps):
    """Add (sign=1) or subtract (sign=-1) what the handoffs contribute to one rollup table:
    all handoffs when handoff_ids is None."""
    model, source, handoff_field, keys, measures = table(apps)
    if handoff_ids is not None:
        source = source.filter(**{f"{handoff_field}__in": list(handoff_ids)})
    # Aliases differ from the source's field names (an annotation may not shadow a field).
    grouped = (source.order_by().annotate(**{f"k_{k}": v for k, v in keys.items()})
               .values(*(f"k_{k}" for k in keys)).annotate(**{f"m_{m}": v for m, v in measures.items()}))
    select, params = grouped.query.sql_with_params()
    qn = connection.ops.quote_name
    table_name = qn(model._meta.db_table)
    columns = [*keys, *measures]
    values = [f"s.{qn('k_' + k)}" for k in keys] + [f"{int(sign)} * s.{qn('m_' + m)}" for m in measures]
    updates = ", ".join(f"{qn(m)} = {table_name}.{qn(m)} + excluded.{qn(m)}" for m in measures)
    # "WHERE true": SQLite needs it to tell the upsert's ON CONFLICT from a join's ON.
    sql = (f"INSERT INTO {table_name} ({', '.join(qn(c) for c in columns)}) SELECT {', '.join(values)} FROM ({select}) s "
           f"WHERE true ON CONFLICT ({', '.join(qn(k) for k in keys)}) DO UPDATE SET {updates}")
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


def add(handoff_ids):
    for table in TABLES:
        _apply(table, 1, handoff_ids)


def remove(handoff_ids):
    for table in TABLES:
        _apply(table, -1, handoff_ids)


@contextmanager
def tracking(handoff_ids):
    """Keep the rollups right across a change of these handoffs: lock them, subtract what
    they contribute now, let the caller change them, add what they contribute then.
    Call inside the caller's transaction (the services' transaction.atomic)."""
    from .models import Handoff

    ids = [pk for pk in handoff_ids if pk is not None]
    if not ids:
        yield
        return
    list(Handoff.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
    remove(ids)
    yield
    add(ids)
