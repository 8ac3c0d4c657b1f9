"""SLA reports: response times (the stored business minutes from assignment to the first
decision, Handoff.response_minutes), median and p90, breaches and breach rate, per SDR, per MQL
week and for the whole scope; and the open handoffs right now by SLA state.

From the rollups (sources(scope).sla): the counts per week and SDR from HandoffDailyRollup, the
percentiles from the per-minute histogram, plus the live count of open handoffs past their
deadline (partial index handoff_open_due): those are breaches now. A campaign, which the
histogram lacks, is read from the handoffs in one grouped pass (`_one_pass_sla`)."""

from dataclasses import replace

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Q, Sum, Value
from django.db.models.functions import TruncWeek
from django.db.models.lookups import LessThan

from leadhub.sql import is_postgresql

from ..choices import HandoffStatus
from ..models import HandoffDailyRollup, HandoffResponseRollup
from ..rollup import deadline
from .scope import (
    ROLLUP,
    WITH_DEADLINE,
    breached_q,
    leads_url,
    rate,
    rollup_rows,
    scoped,
    sources,
    state_q,
    week_key,
    week_scope,
    weeks,
)
from .stats import PercentileCont, percentile_of_counts, percentiles_by, rounded


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

    for row in (
        rollup_rows(HandoffDailyRollup, scope)
        .exclude(owner=0)
        .values("week", "owner")
        .annotate(handoffs=Sum("with_deadline"), decided=Sum("decided"), late=Sum("late"))
    ):
        add(row["week"], row["owner"], handoffs=row["handoffs"], decided=row["decided"], breached=row["late"])
    overdue = scoped(scope).filter(
        LessThan(deadline(), scope.now), status=HandoffStatus.OPEN, owner__isnull=False, first_decision_at__isnull=True
    )
    for row in overdue.annotate(week=TruncWeek("created_at")).order_by().values("week", "owner_id").annotate(n=Count("id")):
        add(week_key(row["week"]), row["owner_id"], breached=row["n"])
    histograms = {None: {}, "owner": {}, "week": {}}
    for week, owner, minutes, n in (
        rollup_rows(HandoffResponseRollup, scope)
        .values("week", "owner", "minutes")
        .annotate(count=Sum("n"))
        .values_list("week", "owner", "minutes", "count")
    ):
        for key, group in ((None, None), ("owner", owner), ("week", week)):
            counts = histograms[key].setdefault(group, {})
            counts[minutes] = counts.get(minutes, 0) + n
    for key, groups in histograms.items():
        for group, counts in groups.items():
            pairs = sorted(counts.items())
            out[key].setdefault(group, _empty_sla()).update(
                p50=percentile_of_counts(pairs, 0.5), p90=percentile_of_counts(pairs, 0.9)
            )
    return out


def _one_pass_sla(scope):
    """_rollup_sla's answer for scopes the rollups cannot answer (a campaign), read from the
    handoffs in one grouped scan (week, SDR, business minutes) instead of one scan per table;
    the percentiles come from the same per-minute counts the rollups keep."""
    out = {None: {}, "owner": {}, "week": {}}
    histograms = {None: {}, "owner": {}, "week": {}}
    rows = (
        weeks(scoped(scope).filter(owner__isnull=False))
        .values("week", "owner_id", "response_minutes")
        .annotate(handoffs=Count("id", filter=WITH_DEADLINE), n=Count("id"), breached=Count("id", filter=breached_q(scope.now)))
    )
    for row in rows:
        week, owner, minutes = week_key(row["week"]), row["owner_id"], row["response_minutes"]
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
    source = sources(scope)
    if source.sla == ROLLUP:
        sla = _rollup_sla(scope)
    elif source.counts == ROLLUP:
        sla = _one_pass_sla(scope)  # rollups on, but a campaign the histogram lacks
    else:
        sla = None
    return sla_summary(scope, sla=sla), response_by_sdr(scope, sla=sla), response_by_week(scope, sla=sla)


def _sla_counts(queryset, now):
    """Counts of one group; on PostgreSQL its percentiles too, so each table is one scan."""
    counts = dict(
        handoffs=Count("id", filter=WITH_DEADLINE),
        decided=Count("id", filter=Q(response_minutes__isnull=False)),
        breached=Count("id", filter=breached_q(now)),
    )
    if is_postgresql():
        counts.update(p50=PercentileCont(0.5, "response_minutes"), p90=PercentileCont(0.9, "response_minutes"))
    return counts


def _group_percentiles(rows, queryset, key):
    """{key: (median, p90)}: from the rows on PostgreSQL, from sorted values on SQLite."""
    if is_postgresql():
        return {row[key]: (row.pop("p50"), row.pop("p90")) for row in rows}
    return percentiles_by(queryset, key, "response_minutes")


def _sla_row(row, pcts, url_extra, scope):
    median, p90 = pcts or (None, None)
    return {
        **row,
        "median_minutes": rounded(median),
        "p90_minutes": rounded(p90),
        "breach_rate": rate(row["breached"], row["handoffs"]),
        "url": leads_url(scope, reached="decided", **url_extra),
        "breached_url": leads_url(scope, reached="breached", **url_extra),
    }


def response_by_sdr(scope, *, sla=None):
    """Per SDR (owner): handoffs with a deadline, decided, median and p90 business minutes to
    the first decision, breaches (decided late or open past the deadline) and breach rate."""
    if sla is not None or sources(scope).sla == ROLLUP:
        groups = (sla or _rollup_sla(scope))["owner"]
        rows = [
            {"owner_id": owner, **{k: g[k] for k in ("handoffs", "decided", "breached")}}
            for owner, g in groups.items()
            if g["handoffs"] > 0
        ]
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


def response_by_week(scope, *, sla=None):
    """Per MQL week (Monday): the same figures as response_by_sdr."""
    if sla is not None or sources(scope).sla == ROLLUP:
        groups = (sla or _rollup_sla(scope))["week"]
        rows = [{"week": week, **{k: g[k] for k in ("handoffs", "decided", "breached")}} for week, g in groups.items()]
        pcts = {week: (g.get("p50"), g.get("p90")) for week, g in groups.items()}
    else:
        base = weeks(scoped(scope).filter(owner__isnull=False))
        rows = list(base.values("week").annotate(**_sla_counts(base, scope.now)))
        pcts = {week_key(k): v for k, v in _group_percentiles(rows, base, "week").items()}
    out = []
    for row in rows:
        row["week"] = week_key(row["week"])
        in_week = week_scope(scope, row["week"])
        out.append(_sla_row(row, pcts.get(row["week"]), {}, in_week))
    return sorted(out, key=lambda r: r["week"])


def sla_summary(scope, *, sla=None):
    """The whole scope in one row: handoffs, decided, median, p90, breaches, breach rate."""
    if sla is not None or sources(scope).sla == ROLLUP:
        group = (sla or _rollup_sla(scope))[None].get(None, _empty_sla())
        row = {k: group[k] for k in ("handoffs", "decided", "breached")}
        return _sla_row(row, (group.get("p50"), group.get("p90")), {}, scope)
    base = scoped(scope).filter(owner__isnull=False)
    row = base.aggregate(**_sla_counts(base, scope.now))
    if is_postgresql():
        pcts = (row.pop("p50"), row.pop("p90"))
    else:
        pcts = percentiles_by(base.annotate(all=Value(1, output_field=IntegerField())), "all", "response_minutes").get(1)
    return _sla_row(row, pcts, {}, scope)


def open_by_state(scope):
    """Open handoffs right now by SLA state (pool, on time, due within the hour, overdue);
    the SDR and channel filters apply, the date range does not (this is the live queue)."""
    now = scope.now
    live = replace(scope, date_from=None, date_to=None)
    base = scoped(
        live,
    ).filter(status=HandoffStatus.OPEN)
    counts = base.aggregate(
        **{state: Count("id", filter=state_q(state, now)) for state in ("on_time", "due_soon", "overdue", "pool")}
    )
    labels = {"on_time": "On time", "due_soon": "Due within an hour", "overdue": "Overdue", "pool": "In the pool"}
    return [{"state": s, "label": labels[s], "count": counts[s], "url": leads_url(live, sla_state=s)} for s in labels]
