"""Set-based reports for the manager dashboard and marketing's feedback page.

Every report is one or two GROUP BY queries over handoffs of an MQL date range (indexes
handoff_created_chan_owner, handoff_reason_created, handoffrule_rule_handoff). A handoff is
one MQL spell: its funnel is MQL (the handoff) → SAL (accepted) → SQL (Handoff.sql_at, copied
from its qualification) → won (Handoff.won_at). Response times are the stored business
minutes from assignment to the first decision (Handoff.response_minutes).

Percentiles are continuous (linear interpolation, like PostgreSQL's percentile_cont): on
PostgreSQL in SQL, on SQLite from the sorted values per group (SQLite has no ordered-set
aggregates); tests hold the two equal.

The aggregate tables read the daily rollups (handoff.rollup) instead: a few thousand rows per
month instead of every handoff, and percentiles from the per-minute response histogram, which
equal the raw ones exactly. What changes with the clock is counted live from the open
handoffs (partial index handoff_open_due): open handoffs past their deadline are breaches now.
Filters a rollup does not hold fall back to the raw queries: a campaign for the SLA tables
(the histogram has no campaign) and an SDR for the per-rule table (which reads its campaign
twin, HandoffRuleCampaignRollup, for a campaign). Setting
HANDOFF_REPORTS_FROM_ROLLUP = False reads everything raw; tests compare the two.

Each row carries `url`s to the lead list with the matching filters (leadhub.filters.LeadFilter
uses `handoff_q` below, so a link lists exactly the leads behind a number).
"""

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Aggregate, Case, Count, F, FloatField, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import TruncWeek
from django.db.models.lookups import LessThan
from django.urls import reverse
from django.utils import timezone

from leadhub.choices import Channel, Stage
from leadhub.models import Lead
from leadhub.sql import is_postgresql

from .choices import DUE_SOON_MINUTES, EventKind, HandoffStatus
from .models import (
    Handoff,
    HandoffDailyRollup,
    HandoffEvent,
    HandoffResponseRollup,
    HandoffRule,
    HandoffRuleCampaignRollup,
    HandoffRuleRollup,
    RejectionReason,
)
from .rollup import BANDS, Minutes, deadline

REACHED = ("sal", "sql", "won", "rejected", "decided", "breached")


# --- scope and the shared handoff conditions ---------------------------------------------

@dataclass(frozen=True)
class Scope:
    """What the filter forms choose: MQL dates (inclusive, local days), SDR, channel, campaign."""

    date_from: date | None = None
    date_to: date | None = None
    owner_id: int | None = None
    channel: str = ""
    campaign: str = ""
    now: datetime = field(default_factory=timezone.now)

    def params(self):
        """The lead-list query parameters of this scope."""
        return {k: v for k, v in {
            "mql_after": self.date_from.isoformat() if self.date_from else "",
            "mql_before": self.date_to.isoformat() if self.date_to else "",
            "handoff_owner": self.owner_id or "", "handoff_channel": self.channel, "handoff_campaign": self.campaign,
        }.items() if v}


def day_start(day):
    """The first moment of a local day (TIME_ZONE), aware."""
    return timezone.make_aware(datetime.combine(day, time.min))


def handoff_q(*, mql_after=None, mql_before=None, owner_id=None, channel="", campaign="", reached="", reason_id=None,
              score_min=None, score_max=None, grade="", sla_state="", rule="", now=None):
    """Conditions on Handoff for a report cell; the lead list filters with the same function.

    Date bounds are ranges on created_at (local days), so the created_at index serves them."""
    now = now or timezone.now()
    q = Q()
    if mql_after:
        q &= Q(created_at__gte=day_start(mql_after))
    if mql_before:
        q &= Q(created_at__lt=day_start(mql_before + timedelta(days=1)))
    if owner_id:
        q &= Q(owner_id=owner_id)
    if channel:
        q &= Q(channel=channel)
    if campaign:
        q &= Q(campaign=campaign)
    if reached == "sal":
        q &= Q(status=HandoffStatus.ACCEPTED)
    elif reached == "sql":
        q &= Q(sql_at__isnull=False)
    elif reached == "won":
        q &= Q(won_at__isnull=False)
    elif reached == "rejected":
        q &= Q(status=HandoffStatus.REJECTED)
    elif reached == "decided":
        q &= Q(first_decision_at__isnull=False)
    elif reached == "breached":
        q &= _breached_q(now)
    if reason_id:
        q &= Q(rejection_reason_id=reason_id)
    if score_min is not None:
        q &= Q(score_at_handoff__gte=score_min)
    if score_max is not None:
        q &= Q(score_at_handoff__lt=score_max)
    if grade:
        q &= Q(grade_at_handoff=grade)
    if sla_state:
        q &= Q(status=HandoffStatus.OPEN) & _state_q(sla_state, now)
    if rule:
        kind, _, rule_id = rule.partition(":")
        q &= Q(pk__in=HandoffRule.objects.filter(kind=kind, rule_id=int(rule_id)).values("handoff_id"))
    return q


def _state_q(state, now):
    soon = now + timedelta(minutes=DUE_SOON_MINUTES)
    return {
        "pool": Q(owner__isnull=True),
        "overdue": Q(owner__isnull=False, due_at__lt=now),
        "due_soon": Q(owner__isnull=False, due_at__gte=now, due_at__lte=soon),
        "on_time": Q(owner__isnull=False) & (Q(due_at__isnull=True) | Q(due_at__gt=soon)),
    }[state]


def _breached_q(now):
    """Decided after the first deadline, or still open past it (rollup.deadline: a claim or a
    reassignment restarts the clock, but a breach that happened before it still counts)."""
    return Q(first_decision_at__gt=deadline()) | (
        Q(first_decision_at__isnull=True, status=HandoffStatus.OPEN) & Q(LessThan(deadline(), now)))


WITH_DEADLINE = Q(first_due_at__isnull=False) | Q(due_at__isnull=False)


def scoped(scope, **extra):
    return Handoff.objects.filter(handoff_q(mql_after=scope.date_from, mql_before=scope.date_to, owner_id=scope.owner_id,
                                            channel=scope.channel, campaign=scope.campaign, now=scope.now, **extra))


def leads_url(scope, **extra):
    params = {**scope.params(), **{k: v for k, v in extra.items() if v not in (None, "")}}
    return f"{reverse('leads:list')}?{urlencode(params)}"


def rate(part, whole):
    return round(100 * part / whole, 1) if whole else None


# --- SQL helpers ----------------------------------------------------------------------------

class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate percentile_cont(f) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    output_field = FloatField()

    def __init__(self, fraction, expression, **extra):
        self.fraction = fraction
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"percentile_cont({float(self.fraction)!r}) WITHIN GROUP (ORDER BY {sql})", params


class Avg(Aggregate):
    function = "AVG"
    output_field = FloatField()


def percentile(sorted_values, fraction):
    """Continuous percentile of sorted values: percentile_cont's linear interpolation."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * fraction
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo))


def _percentiles(queryset, key, value, fractions=(0.5, 0.9)):
    """{group key: [p for each fraction]} of `value` over `queryset` grouped by `key`
    (SQLite; PostgreSQL computes them in the grouped query itself, see _sla_counts)."""
    queryset = queryset.filter(**{f"{value}__isnull": False}).order_by()
    groups = {}
    for group, number in queryset.values_list(key, value).order_by(key, value):
        groups.setdefault(group, []).append(number)
    return {group: [percentile(values, f) for f in fractions] for group, values in groups.items()}


def _r(number, digits=1):
    return round(number, digits) if number is not None else None


# --- reading the rollups ---------------------------------------------------------------------

def _rollup(scope, *, campaign=True, owner=True):
    """True when the rollups can answer this scope (see the module docstring)."""
    if not getattr(settings, "HANDOFF_REPORTS_FROM_ROLLUP", True):
        return False
    return (campaign or not scope.campaign) and (owner or not scope.owner_id)


def _rollup_rows(model, scope, **filters):
    """Rollup rows of the scope's days, SDR, channel and campaign (the fields a model has)."""
    names = {f.name for f in model._meta.fields}
    q = Q(n__gt=0, **filters)
    if scope.date_from:
        q &= Q(day__gte=scope.date_from)
    if scope.date_to:
        q &= Q(day__lte=scope.date_to)
    for name, value in (("owner", scope.owner_id), ("channel", scope.channel), ("campaign", scope.campaign)):
        if value:
            assert name in names, f"{model.__name__} cannot filter by {name}"
            q &= Q(**{name: value})
    return model.objects.filter(q).order_by()


def _grouped(queryset, key, week="week"):
    """`queryset` grouped by key: None (one group, key None), "week" (the week expression) or a field."""
    if key is None:
        return queryset.annotate(group=Value(None, output_field=IntegerField())).values("group")
    group = (F(week) if isinstance(week, str) else week) if key == "week" else F(key)
    return queryset.annotate(group=group).values("group")


def percentile_of_counts(counts, fraction):
    """percentile_cont of a multiset given as sorted (value, count) pairs, count > 0."""
    total = sum(n for _, n in counts)
    if not total:
        return None
    k = (total - 1) * fraction
    lo = int(k)
    below, low_value, high_value = 0, None, None
    for value, n in counts:
        if low_value is None and lo < below + n:
            low_value = value
        if lo + 1 < below + n or below + n == total:
            high_value = value
            if low_value is not None:
                break
        below += n
    return float(low_value + (high_value - low_value) * (k - lo))


def _empty_sla():
    return {"handoffs": 0, "decided": 0, "breached": 0}


def _rollup_sla(scope):
    """{None: {None: figures}, "owner": {owner: figures}, "week": {week: figures}} of SDR-owned
    handoffs, each with counts, breaches and percentiles: one pass over each rollup, grouped by
    week and SDR, summed here, plus the live count of open handoffs past their deadline."""
    out = {None: {}, "owner": {}, "week": {}}

    def add(week, owner, **counts):
        for key, group in ((None, None), ("owner", owner), ("week", week)):
            figures = out[key].setdefault(group, _empty_sla())
            for name, n in counts.items():
                figures[name] += n

    for row in _rollup_rows(HandoffDailyRollup, scope).exclude(owner=0).values("week", "owner").annotate(
            handoffs=Sum("with_deadline"), decided=Sum("decided"), late=Sum("late")):
        add(row["week"], row["owner"], handoffs=row["handoffs"], decided=row["decided"], breached=row["late"])
    overdue = scoped(scope).filter(LessThan(deadline(), scope.now), status=HandoffStatus.OPEN, owner__isnull=False,
                                   first_decision_at__isnull=True)
    for row in overdue.annotate(week=TruncWeek("created_at")).order_by().values("week", "owner_id").annotate(n=Count("id")):
        add(_week_key(row["week"]), row["owner_id"], breached=row["n"])
    histograms = {None: {}, "owner": {}, "week": {}}
    for week, owner, minutes, n in (_rollup_rows(HandoffResponseRollup, scope).values("week", "owner", "minutes")
                                    .annotate(count=Sum("n")).values_list("week", "owner", "minutes", "count")):
        for key, group in ((None, None), ("owner", owner), ("week", week)):
            counts = histograms[key].setdefault(group, {})
            counts[minutes] = counts.get(minutes, 0) + n
    for key, groups in histograms.items():
        for group, counts in groups.items():
            pairs = sorted(counts.items())
            out[key].setdefault(group, _empty_sla()).update(
                p50=percentile_of_counts(pairs, 0.5), p90=percentile_of_counts(pairs, 0.9))
    return out


def _one_pass_sla(scope):
    """_rollup_sla's answer for scopes the rollups cannot answer (a campaign), read from the
    handoffs in one grouped scan (week, SDR, business minutes) instead of one scan per table;
    the percentiles come from the same per-minute counts the rollups keep."""
    out = {None: {}, "owner": {}, "week": {}}
    histograms = {None: {}, "owner": {}, "week": {}}
    rows = (_weeks(scoped(scope).filter(owner__isnull=False)).values("week", "owner_id", "response_minutes")
            .annotate(handoffs=Count("id", filter=WITH_DEADLINE), n=Count("id"),
                      breached=Count("id", filter=_breached_q(scope.now))))
    for row in rows:
        week, owner, minutes = _week_key(row["week"]), row["owner_id"], row["response_minutes"]
        decided = row["n"] if minutes is not None else 0
        for key, group in ((None, None), ("owner", owner), ("week", week)):
            figures = out[key].setdefault(group, _empty_sla())
            figures["handoffs"] += row["handoffs"]
            figures["decided"] += decided
            figures["breached"] += row["breached"]
            if decided:
                counts = histograms[key].setdefault(group, {})
                counts[minutes] = counts.get(minutes, 0) + decided
    for key, groups in out.items():
        for group, figures in groups.items():
            pairs = sorted(histograms[key].get(group, {}).items())
            figures.update(p50=percentile_of_counts(pairs, 0.5), p90=percentile_of_counts(pairs, 0.9))
    return out


def sla_tables(scope):
    """(sla_summary, response_by_sdr, response_by_week) of one scope, reading the rollups once
    (or, for a campaign, the handoffs once)."""
    if _rollup(scope, campaign=False):
        sla = _rollup_sla(scope)
    elif _rollup(scope):
        sla = _one_pass_sla(scope)
    else:
        sla = None
    return sla_summary(scope, sla=sla), response_by_sdr(scope, sla=sla), response_by_week(scope, sla=sla)


FUNNEL_SUMS = dict(
    mql=Sum("n"), sal=Sum("n", filter=Q(status=HandoffStatus.ACCEPTED)), sql=Sum("sql"), won=Sum("won"),
    sal_minutes=Sum("sal_minutes", filter=Q(status=HandoffStatus.ACCEPTED)), sal_timed=Sum("sal_timed", filter=Q(status=HandoffStatus.ACCEPTED)),
    sql_minutes=Sum("sql_minutes"), sql_timed=Sum("sql_timed"), won_minutes=Sum("won_minutes"), won_timed=Sum("won_timed"),
)


def _funnel_sums(row):
    """A FUNNEL_SUMS row as FUNNEL_COUNTS and STAGE_TIMES give it (counts, average minutes)."""
    out = {k: row.get(k) or 0 for k in ("mql", "sal", "sql", "won")}
    for name, total, timed in (("mql_to_sal", "sal_minutes", "sal_timed"), ("sal_to_sql", "sql_minutes", "sql_timed"),
                               ("sql_to_won", "won_minutes", "won_timed")):
        out[name] = row[total] / row[timed] if row.get(timed) else None
    return out


# --- SLA ----------------------------------------------------------------------------------

def _sla_counts(queryset, now):
    """Counts of one group; on PostgreSQL its percentiles too, so each table is one scan."""
    counts = dict(
        handoffs=Count("id", filter=WITH_DEADLINE),
        decided=Count("id", filter=Q(response_minutes__isnull=False)),
        breached=Count("id", filter=_breached_q(now)),
    )
    if is_postgresql():
        counts.update(p50=PercentileCont(0.5, "response_minutes"), p90=PercentileCont(0.9, "response_minutes"))
    return counts


def _group_percentiles(rows, queryset, key):
    """{key: (median, p90)}: from the rows on PostgreSQL, from sorted values on SQLite."""
    if is_postgresql():
        return {row[key]: (row.pop("p50"), row.pop("p90")) for row in rows}
    return _percentiles(queryset, key, "response_minutes")


def _sla_row(row, pcts, url_extra, scope):
    median, p90 = pcts or (None, None)
    return {
        **row, "median_minutes": _r(median), "p90_minutes": _r(p90), "breach_rate": rate(row["breached"], row["handoffs"]),
        "url": leads_url(scope, reached="decided", **url_extra),
        "breached_url": leads_url(scope, reached="breached", **url_extra),
    }


def response_by_sdr(scope, *, sla=None):
    """Per SDR (owner): handoffs with a deadline, decided, median and p90 business minutes to
    the first decision, breaches (decided late or open past the deadline) and breach rate."""
    if sla is not None or _rollup(scope, campaign=False):
        groups = (sla or _rollup_sla(scope))["owner"]
        rows = [{"owner_id": owner, **{k: g[k] for k in ("handoffs", "decided", "breached")}}
                for owner, g in groups.items() if g["handoffs"] > 0]
        pcts = {owner: (g.get("p50"), g.get("p90")) for owner, g in groups.items()}
    else:
        base = scoped(scope).filter(owner__isnull=False)
        rows = list(base.order_by().values("owner_id").annotate(**_sla_counts(base, scope.now)).filter(handoffs__gt=0))
        pcts = _group_percentiles(rows, base, "owner_id")
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=[r["owner_id"] for r in rows])}
    out = []
    for row in rows:
        user = users.get(row["owner_id"])
        if user is None:
            continue  # deleted since: the rollups keep its id until the next rebuild_rollups
        row["name"] = user.get_full_name() or user.username
        out.append(_sla_row(row, pcts.get(row["owner_id"]), {"handoff_owner": row["owner_id"]}, scope))
    return sorted(out, key=lambda r: r["name"])


def _weeks(queryset):
    return queryset.annotate(week=TruncWeek("created_at")).order_by()


def _week_scope(scope, week_start):
    start = week_start.date() if isinstance(week_start, datetime) else week_start
    end = start + timedelta(days=6)
    return replace(scope, date_from=max(start, scope.date_from) if scope.date_from else start,
                   date_to=min(end, scope.date_to) if scope.date_to else end)


def _week_key(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def response_by_week(scope, *, sla=None):
    """Per MQL week (Monday): the same figures as response_by_sdr."""
    if sla is not None or _rollup(scope, campaign=False):
        groups = (sla or _rollup_sla(scope))["week"]
        rows = [{"week": week, **{k: g[k] for k in ("handoffs", "decided", "breached")}} for week, g in groups.items()]
        pcts = {week: (g.get("p50"), g.get("p90")) for week, g in groups.items()}
    else:
        base = _weeks(scoped(scope).filter(owner__isnull=False))
        rows = list(base.values("week").annotate(**_sla_counts(base, scope.now)))
        pcts = {_week_key(k): v for k, v in _group_percentiles(rows, base, "week").items()}
    out = []
    for row in rows:
        row["week"] = _week_key(row["week"])
        week_scope = _week_scope(scope, row["week"])
        out.append(_sla_row(row, pcts.get(row["week"]), {}, week_scope))
    return sorted(out, key=lambda r: r["week"])


def sla_summary(scope, *, sla=None):
    """The whole scope in one row: handoffs, decided, median, p90, breaches, breach rate."""
    if sla is not None or _rollup(scope, campaign=False):
        group = (sla or _rollup_sla(scope))[None].get(None, _empty_sla())
        row = {k: group[k] for k in ("handoffs", "decided", "breached")}
        return _sla_row(row, (group.get("p50"), group.get("p90")), {}, scope)
    base = scoped(scope).filter(owner__isnull=False)
    row = base.aggregate(**_sla_counts(base, scope.now))
    if is_postgresql():
        pcts = (row.pop("p50"), row.pop("p90"))
    else:
        pcts = _percentiles(base.annotate(all=Value(1, output_field=IntegerField())), "all", "response_minutes").get(1)
    return _sla_row(row, pcts, {}, scope)


def open_by_state(scope):
    """Open handoffs right now by SLA state (pool, on time, due within the hour, overdue);
    the SDR and channel filters apply, the date range does not (this is the live queue)."""
    now = scope.now
    live = replace(scope, date_from=None, date_to=None)
    base = scoped(live, ).filter(status=HandoffStatus.OPEN)
    counts = base.aggregate(**{state: Count("id", filter=_state_q(state, now)) for state in ("on_time", "due_soon", "overdue", "pool")})
    labels = {"on_time": "On time", "due_soon": "Due within an hour", "overdue": "Overdue", "pool": "In the pool"}
    return [{"state": s, "label": labels[s], "count": counts[s], "url": leads_url(live, sla_state=s)} for s in labels]


# --- funnel --------------------------------------------------------------------------------

FUNNEL_COUNTS = dict(
    mql=Count("id"),
    sal=Count("id", filter=Q(status=HandoffStatus.ACCEPTED)),
    sql=Count("id", filter=Q(sql_at__isnull=False)),
    won=Count("id", filter=Q(won_at__isnull=False)),
)
STAGE_TIMES = dict(
    mql_to_sal=Avg(Minutes("created_at", "first_decision_at"), filter=Q(status=HandoffStatus.ACCEPTED)),
    sal_to_sql=Avg(Minutes("first_decision_at", "sql_at"), filter=Q(sql_at__isnull=False)),
    sql_to_won=Avg(Minutes("sql_at", "won_at"), filter=Q(won_at__isnull=False)),
)


def _funnel_row(row, scope, **url_extra):
    for key in ("mql_to_sal", "sal_to_sql", "sql_to_won"):
        if key in row:
            row[key] = _r(row[key] / 1440, 2) if row[key] is not None else None  # days
    row.update(
        sal_rate=rate(row["sal"], row["mql"]), sql_rate=rate(row["sql"], row["sal"]), won_rate=rate(row["won"], row["sql"]),
        mql_to_sql=rate(row["sql"], row["mql"]),
        urls={stage: leads_url(scope, reached="" if stage == "mql" else stage, **url_extra) for stage in ("mql", "sal", "sql", "won")},
    )
    return row


def funnel(scope, by=None):
    """MQL → SAL → SQL → won counts, conversion rates (%) and average days in each stage,
    for the whole scope (by=None) or per "channel", "campaign" or "week"."""
    if _rollup(scope):
        return _rollup_funnel(scope, by)
    base = scoped(scope)
    if by is None:
        return _funnel_row(base.aggregate(**FUNNEL_COUNTS, **STAGE_TIMES), scope)
    if by == "week":
        rows = list(_weeks(base).values("week").annotate(**FUNNEL_COUNTS, **STAGE_TIMES))
        out = []
        for row in rows:
            row["week"] = _week_key(row["week"])
            out.append(_funnel_row(row, _week_scope(scope, row["week"])))
        return sorted(out, key=lambda r: r["week"])
    key = {"channel": "channel", "campaign": "campaign"}[by]
    rows = list(base.order_by().values(key).annotate(**FUNNEL_COUNTS, **STAGE_TIMES))
    return _funnel_rows(rows, scope, key)


def _funnel_rows(rows, scope, key):
    labels = dict(Channel.choices)
    out = []
    for row in rows:
        row["label"] = labels.get(row[key], row[key]) if key == "channel" else (row[key] or "(none)")
        out.append(_funnel_row(row, scope, **{f"handoff_{key}": row[key]}))
    return sorted(out, key=lambda r: (-r["mql"], r["label"]))


def _rollup_funnel(scope, by, sums=None):
    """funnel(scope, by) from FUNNEL_SUMS per week, channel and campaign (one rollup query)."""
    if sums is None:
        sums = _funnel_sums_by(scope)
    if by is None:
        return _funnel_row(_funnel_sums(sums[None].get(None, {})), scope)
    if by == "week":
        out = [_funnel_row({"week": week, **_funnel_sums(row)}, _week_scope(scope, week)) for week, row in sums["week"].items()]
        return sorted(out, key=lambda r: r["week"])
    key = {"channel": "channel", "campaign": "campaign"}[by]
    return _funnel_rows([{key: value, **_funnel_sums(row)} for value, row in sums[key].items()], scope, key)


def _funnel_sums_by(scope):
    """{None|"week"|"channel"|"campaign": {group: FUNNEL_SUMS}} summed from one grouped rollup query."""
    out = {None: {}, "week": {}, "channel": {}, "campaign": {}}
    for row in _rollup_rows(HandoffDailyRollup, scope).values("week", "channel", "campaign").annotate(**FUNNEL_SUMS):
        for key, group in ((None, None), ("week", row["week"]), ("channel", row["channel"]), ("campaign", row["campaign"])):
            total = out[key].setdefault(group, dict.fromkeys(FUNNEL_SUMS, 0))
            for name in FUNNEL_SUMS:
                total[name] += row[name] or 0
    return out


def funnel_tables(scope):
    """{None: funnel(scope), "channel": ..., "campaign": ..., "week": ...}, reading the rollup once."""
    sums = _funnel_sums_by(scope) if _rollup(scope) else None
    return {by: _rollup_funnel(scope, by, sums) if sums is not None else funnel(scope, by=by)
            for by in (None, "channel", "campaign", "week")}


# --- marketing's feedback -----------------------------------------------------------------

def acceptance_by_channel(scope):
    """MQL → SAL: per channel, MQLs, decided, accepted, rejected and acceptance rate (of decided)."""
    if _rollup(scope):
        rows = _rollup_rows(HandoffDailyRollup, scope).values("channel").annotate(
            mql=Sum("n"), decided=Sum("n", filter=Q(status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED]), default=0),
            accepted=Sum("n", filter=Q(status=HandoffStatus.ACCEPTED), default=0),
            rejected=Sum("n", filter=Q(status=HandoffStatus.REJECTED), default=0),
        )
    else:
        rows = scoped(scope).order_by().values("channel").annotate(
            mql=Count("id"), decided=Count("id", filter=Q(status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED])),
            accepted=Count("id", filter=Q(status=HandoffStatus.ACCEPTED)), rejected=Count("id", filter=Q(status=HandoffStatus.REJECTED)),
        )
    labels = dict(Channel.choices)
    out = []
    for row in rows:
        extra = {"handoff_channel": row["channel"]}
        out.append({**row, "label": labels.get(row["channel"], row["channel"]), "rate": rate(row["accepted"], row["decided"]),
                    "url": leads_url(scope, **extra), "accepted_url": leads_url(scope, reached="sal", **extra),
                    "rejected_url": leads_url(scope, reached="rejected", **extra)})
    return sorted(out, key=lambda r: (r["rate"] is None, r["rate"] or 0))


def rejections(scope, by="channel"):
    """Rejection reasons per channel or campaign: a pivot {"reasons": [...], "rows": [...]},
    each row with its rejected total, and per reason the count and its share of the row."""
    key = {"channel": "channel", "campaign": "campaign"}[by]
    if _rollup(scope):
        counts = [{key: row[key], "rejection_reason_id": row["reason"], "n": row["count"]} for row in
                  _rollup_rows(HandoffDailyRollup, scope, status=HandoffStatus.REJECTED).values(key, "reason").annotate(count=Sum("n"))]
    else:
        counts = list(scoped(scope, reached="rejected").order_by().values(key, "rejection_reason_id").annotate(n=Count("id")))
    reason_ids = {row["rejection_reason_id"] for row in counts}
    reasons = list(RejectionReason.objects.filter(pk__in=reason_ids).order_by("order", "label"))
    labels = dict(Channel.choices)
    table = {}
    for row in counts:
        table.setdefault(row[key], {})[row["rejection_reason_id"]] = row["n"]
    out = []
    for value, cells in table.items():
        total = sum(cells.values())
        extra = {f"handoff_{key}": value}
        out.append({
            "key": value, "label": labels.get(value, value) if by == "channel" else (value or "(none)"), "rejected": total,
            "url": leads_url(scope, reached="rejected", **extra),
            "cells": [{"reason": r.label, "n": cells.get(r.pk, 0), "share": rate(cells.get(r.pk, 0), total),
                       "url": leads_url(scope, reached="rejected", rejection_reason=r.pk, **extra)} for r in reasons],
        })
    out.sort(key=lambda r: -r["rejected"])
    return {"reasons": [r.label for r in reasons], "rows": out}


def rejections_by_rule(scope, limit=None):
    """Scoring rules that fired on handed-off leads (HandoffRule, stored at handoff): per rule,
    handoffs, rejected, rejection rate, SQLs and SQL rate, and the most common rejection reason.
    A rule whose SQL rate is no better than the average adds points without adding buyers."""
    if _rollup(scope, owner=False):
        rules = _rollup_rows(HandoffRuleCampaignRollup if scope.campaign else HandoffRuleRollup, scope)
        rows = list(rules.values("kind", "rule_id").annotate(
            label=Max("label"), points=Max("points"), handoffs=Sum("n"), rejected=Sum("rejected"), sql=Sum("sql")))
        by_reason = list(rules.filter(rejected__gt=0).values("kind", "rule_id", "reason").annotate(count=Sum("rejected")))
        labels = dict(RejectionReason.objects.filter(pk__in={r["reason"] for r in by_reason}).values_list("pk", "label"))
        reasons = [(r["kind"], r["rule_id"], labels.get(r["reason"]), r["count"]) for r in by_reason]
    else:
        # An SDR filter (no rollup has SDR and rule): one grouped pass from the scope's handoffs to
        # their rules, per rule and rejection reason; summed per rule here. Rules are counted
        # by rule_id (never NULL), which handoffrule_handoff_cover holds: no heap reads.
        groups = scoped(scope).order_by().values("rules__kind", "rules__rule_id", "rejection_reason__label").annotate(
            label=Max("rules__label"), points=Max("rules__points"), handoffs=Count("rules__rule_id"),
            rejected=Count("rules__rule_id", filter=Q(status=HandoffStatus.REJECTED)),
            sql=Count("rules__rule_id", filter=Q(sql_at__isnull=False)),
        )
        per_rule, reasons = {}, []
        for group in groups:
            if group["rules__kind"] is None:
                continue  # a handoff without stored rules
            key = (group["rules__kind"], group["rules__rule_id"])
            row = per_rule.setdefault(key, {"kind": key[0], "rule_id": key[1], "label": group["label"],
                                            "points": group["points"], "handoffs": 0, "rejected": 0, "sql": 0})
            row["label"], row["points"] = max(row["label"], group["label"]), max(row["points"], group["points"])
            for name in ("handoffs", "rejected", "sql"):
                row[name] += group[name]
            if group["rejected"]:
                reasons.append((key[0], key[1], group["rejection_reason__label"], group["rejected"]))
        rows = list(per_rule.values())
    top = {}
    for kind, rule_id, label, n in reasons:
        best = top.get((kind, rule_id))
        if best is None or (n, label) > best:
            top[(kind, rule_id)] = (n, label)
    out = []
    for row in rows:
        rule = f"{row['kind']}:{row['rule_id']}"
        reason = top.get((row["kind"], row["rule_id"]))
        out.append({**row, "rule": rule, "rejection_rate": rate(row["rejected"], row["handoffs"]), "sql_rate": rate(row["sql"], row["handoffs"]),
                    "top_reason": reason[1] if reason else "", "top_reason_n": reason[0] if reason else 0,
                    "url": leads_url(scope, rule=rule), "rejected_url": leads_url(scope, rule=rule, reached="rejected"),
                    "sql_url": leads_url(scope, rule=rule, reached="sql")})
    out.sort(key=lambda r: (-r["handoffs"], r["label"]))
    return out[:limit] if limit else out


def _band_label(low, high):
    if low is None:
        return f"under {high}"
    if high is None:
        return f"{low}+"
    return f"{low}–{high - 1}"


def conversion_by_band(scope):
    """Funnel per band of the score at handoff: does a higher score mean more SQLs?"""
    whens = [When(Q(**({"score_at_handoff__gte": lo} if lo is not None else {})) & Q(**({"score_at_handoff__lt": hi} if hi is not None else {})),
                  then=Value(i)) for i, (lo, hi) in enumerate(BANDS)]
    if _rollup(scope):
        rows = {r["band"]: _funnel_sums(r) for r in _rollup_rows(HandoffDailyRollup, scope).values("band").annotate(**FUNNEL_SUMS)}
    else:
        rows = {r["band"]: r for r in scoped(scope).annotate(band=Case(*whens, output_field=IntegerField())).order_by()
                .values("band").annotate(**FUNNEL_COUNTS)}
    out = []
    for i, (lo, hi) in enumerate(BANDS):
        row = rows.get(i, {"mql": 0, "sal": 0, "sql": 0, "won": 0})
        out.append(_funnel_row({"band": _band_label(lo, hi), **{k: row[k] for k in ("mql", "sal", "sql", "won")}}, scope,
                               handoff_score_min=lo, handoff_score_max=hi))
    return out


def conversion_by_grade(scope):
    """Funnel per fit grade at handoff."""
    if _rollup(scope):
        rows = [{"grade_at_handoff": r["grade"], **_funnel_sums(r)}
                for r in _rollup_rows(HandoffDailyRollup, scope).values("grade").annotate(**FUNNEL_SUMS)]
    else:
        rows = scoped(scope).order_by().values("grade_at_handoff").annotate(**FUNNEL_COUNTS)
    out = [_funnel_row({"grade": r["grade_at_handoff"] or "–", **{k: r[k] for k in ("mql", "sal", "sql", "won")}}, scope,
                       handoff_grade=r["grade_at_handoff"]) for r in rows]
    return sorted(out, key=lambda r: r["grade"])


def recycled_leads(scope, limit=50):
    """Leads back in nurture after sales turned them down, still in cooldown: (total, first
    `limit` rows by cooldown end) with the latest reason. Channel applies; dates do not."""
    now = scope.now
    leads = Lead.objects.filter(stage=Stage.NURTURE, recycle_count__gte=1, nurture_until__gt=now)
    if scope.channel:
        leads = leads.filter(source=scope.channel)
    if scope.campaign:
        leads = leads.filter(campaign=scope.campaign)
    last = HandoffEvent.objects.filter(lead_id=OuterRef("pk"), kind__in=[EventKind.REJECTED, EventKind.RECYCLED]).order_by("-at", "-id")
    rows = list(
        leads.annotate(last_reason=Subquery(last.values("reason")[:1]), last_kind=Subquery(last.values("kind")[:1]),
                       last_at=Subquery(last.values("at")[:1]))
        .select_related("company").order_by("nurture_until", "id")[:limit]
    )
    total = leads.count()
    for lead in rows:
        lead.days_left = (lead.nurture_until - now).days
    url = f"{reverse('leads:list')}?{urlencode({'in_cooldown': 'true', **({'source': scope.channel} if scope.channel else {})})}"
    return {"total": total, "rows": rows, "url": url}


# --- the team page and the managers' queue header -------------------------------------------

def team_overdue_sql(now):
    """(sql, params) counting the whole team's open handoffs past their current deadline (all
    owners; pool handoffs have none), answered from the partial index handoff_open_due: for a
    round trip that reads other counts too (leadhub.sql.query_many)."""
    table = Handoff._meta.db_table
    return f"SELECT COUNT(*) FROM {table} WHERE status = %s AND due_at < %s", [HandoffStatus.OPEN.value, now]


def team_overdue_count(now=None):
    """How many open handoffs of the whole team are past their deadline now: the manager's
    "N overdue (team)" in the queue header. An int."""
    return Handoff.objects.filter(status=HandoffStatus.OPEN, due_at__lt=now or timezone.now()).count()


def team_load(now=None):
    """One row per SDR (everyone with an SDR profile), by name: the profile (available, out of
    office until, capacity) and open, overdue, decided today, decided this week, and the median
    business minutes to the first decision of this week's decisions (Handoff.response_minutes).

    Three queries for any team size: the profiles, the counts of all SDRs grouped by owner (open
    handoffs from handoff_open_owner_due, decisions since Monday from handoff_owner_decided),
    and the medians (percentile_cont on PostgreSQL, sorted values on SQLite). "Today" and "this
    week" are local days of TIME_ZONE, as the dashboards count them."""
    from .models import SDRProfile

    now = now or timezone.now()
    today = timezone.localdate(now)
    today_start, week_start = day_start(today), day_start(today - timedelta(days=today.weekday()))
    profiles = list(SDRProfile.objects.select_related("user").order_by("user__first_name", "user__last_name", "user__username"))
    ids = [p.user_id for p in profiles]
    is_open = Q(status=HandoffStatus.OPEN)
    handoffs = Handoff.objects.filter(owner_id__in=ids).order_by()
    counts = {row["owner_id"]: row for row in handoffs.filter(is_open | Q(first_decision_at__gte=week_start))
              .values("owner_id").annotate(
                  open=Count("id", filter=is_open), overdue=Count("id", filter=is_open & Q(due_at__lt=now)),
                  decided_today=Count("id", filter=Q(first_decision_at__gte=today_start)),
                  decided_week=Count("id", filter=Q(first_decision_at__gte=week_start)))}
    week = handoffs.filter(first_decision_at__gte=week_start, response_minutes__isnull=False)
    if is_postgresql():
        medians = dict(week.values("owner_id").annotate(p50=PercentileCont(0.5, "response_minutes")).values_list("owner_id", "p50"))
    else:
        medians = {owner: pcts[0] for owner, pcts in _percentiles(week, "owner_id", "response_minutes", (0.5,)).items()}
    rows = []
    for profile in profiles:
        row = counts.get(profile.user_id, {})
        n_open = row.get("open", 0)
        out = profile.is_out_of_office(now)
        rows.append({
            "profile": profile, "user": profile.user, "name": profile.user.get_full_name() or profile.user.username,
            "open": n_open, "overdue": row.get("overdue", 0), "decided_today": row.get("decided_today", 0),
            "decided_week": row.get("decided_week", 0), "median_minutes": _r(medians.get(profile.user_id)),
            "capacity": profile.capacity, "load": rate(n_open, profile.capacity),
            "at_capacity": n_open >= profile.capacity, "out_of_office": out,
            "routable": profile.available and not out and profile.user.is_active and n_open < profile.capacity,
            "queue_url": f"{reverse('handoff:queue')}?{urlencode({'assigned': 'all', 'owner': profile.user_id})}",
        })
    return rows
