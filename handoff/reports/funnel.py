"""The funnel: MQL (the handoff) → SAL (accepted) → SQL (Handoff.sql_at, copied from its
qualification) → won (Handoff.won_at), with conversion rates and the average days in each
stage, for the whole scope or per channel, campaign or MQL week. A handoff is one MQL spell.

From the rollups (sources(scope).counts): FUNNEL_SUMS over HandoffDailyRollup, one grouped
query for all four tables (`funnel_tables`); raw: FUNNEL_COUNTS and STAGE_TIMES over the
scope's handoffs."""

from django.db.models import Count, Q, Sum

from leadhub import taxonomy

from ..choices import HandoffStatus
from ..models import HandoffDailyRollup
from ..rollup import Minutes
from .scope import ROLLUP, leads_url, rate, rollup_rows, scoped, sources, week_key, week_scope, weeks
from .stats import Avg, rounded

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
FUNNEL_SUMS = dict(
    mql=Sum("n"),
    sal=Sum("n", filter=Q(status=HandoffStatus.ACCEPTED)),
    sql=Sum("sql"),
    won=Sum("won"),
    sal_minutes=Sum("sal_minutes", filter=Q(status=HandoffStatus.ACCEPTED)),
    sal_timed=Sum("sal_timed", filter=Q(status=HandoffStatus.ACCEPTED)),
    sql_minutes=Sum("sql_minutes"),
    sql_timed=Sum("sql_timed"),
    won_minutes=Sum("won_minutes"),
    won_timed=Sum("won_timed"),
)


def funnel_sums(row):
    """A FUNNEL_SUMS row as FUNNEL_COUNTS and STAGE_TIMES give it (counts, average minutes)."""
    out = {k: row.get(k) or 0 for k in ("mql", "sal", "sql", "won")}
    for name, total, timed in (
        ("mql_to_sal", "sal_minutes", "sal_timed"),
        ("sal_to_sql", "sql_minutes", "sql_timed"),
        ("sql_to_won", "won_minutes", "won_timed"),
    ):
        out[name] = row[total] / row[timed] if row.get(timed) else None
    return out


def funnel_row(row, scope, **url_extra):
    for key in ("mql_to_sal", "sal_to_sql", "sql_to_won"):
        if key in row:
            row[key] = rounded(row[key] / 1440, 2) if row[key] is not None else None  # days
    row.update(
        sal_rate=rate(row["sal"], row["mql"]),
        sql_rate=rate(row["sql"], row["sal"]),
        won_rate=rate(row["won"], row["sql"]),
        mql_to_sql=rate(row["sql"], row["mql"]),
        urls={
            stage: leads_url(scope, reached="" if stage == "mql" else stage, **url_extra)
            for stage in ("mql", "sal", "sql", "won")
        },
    )
    return row


def funnel(scope, by=None):
    """MQL → SAL → SQL → won counts, conversion rates (%) and average days in each stage,
    for the whole scope (by=None) or per "channel", "campaign" or "week"."""
    if sources(scope).counts == ROLLUP:
        return _rollup_funnel(scope, by)
    base = scoped(scope)
    if by is None:
        return funnel_row(base.aggregate(**FUNNEL_COUNTS, **STAGE_TIMES), scope)
    if by == "week":
        rows = list(weeks(base).values("week").annotate(**FUNNEL_COUNTS, **STAGE_TIMES))
        out = []
        for row in rows:
            row["week"] = week_key(row["week"])
            out.append(funnel_row(row, week_scope(scope, row["week"])))
        return sorted(out, key=lambda r: r["week"])
    key = {"channel": "channel", "campaign": "campaign"}[by]
    rows = list(base.order_by().values(key).annotate(**FUNNEL_COUNTS, **STAGE_TIMES))
    return _funnel_rows(rows, scope, key)


def _funnel_rows(rows, scope, key):
    labels = taxonomy.labels("channel")
    out = []
    for row in rows:
        row["label"] = labels.get(row[key], row[key]) if key == "channel" else (row[key] or "(none)")
        out.append(funnel_row(row, scope, **{f"handoff_{key}": row[key]}))
    return sorted(out, key=lambda r: (-r["mql"], r["label"]))


def _rollup_funnel(scope, by, sums=None):
    """funnel(scope, by) from FUNNEL_SUMS per week, channel and campaign (one rollup query)."""
    if sums is None:
        sums = _funnel_sums_by(scope)
    if by is None:
        return funnel_row(funnel_sums(sums[None].get(None, {})), scope)
    if by == "week":
        out = [funnel_row({"week": week, **funnel_sums(row)}, week_scope(scope, week)) for week, row in sums["week"].items()]
        return sorted(out, key=lambda r: r["week"])
    key = {"channel": "channel", "campaign": "campaign"}[by]
    return _funnel_rows([{key: value, **funnel_sums(row)} for value, row in sums[key].items()], scope, key)


def _funnel_sums_by(scope):
    """{None|"week"|"channel"|"campaign": {group: FUNNEL_SUMS}} summed from one grouped rollup query."""
    out = {None: {}, "week": {}, "channel": {}, "campaign": {}}
    for row in rollup_rows(HandoffDailyRollup, scope).values("week", "channel", "campaign").annotate(**FUNNEL_SUMS):
        for key, group in ((None, None), ("week", row["week"]), ("channel", row["channel"]), ("campaign", row["campaign"])):
            total = out[key].setdefault(group, dict.fromkeys(FUNNEL_SUMS, 0))
            for name in FUNNEL_SUMS:
                total[name] += row[name] or 0
    return out


def funnel_tables(scope):
    """{None: funnel(scope), "channel": ..., "campaign": ..., "week": ...}, reading the rollup once."""
    sums = _funnel_sums_by(scope) if sources(scope).counts == ROLLUP else None
    return {
        by: _rollup_funnel(scope, by, sums) if sums is not None else funnel(scope, by=by)
        for by in (None, "channel", "campaign", "week")
    }
