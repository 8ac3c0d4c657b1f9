"""Marketing's feedback page: acceptance by channel, rejection reasons by channel and campaign,
the scoring rules behind rejected and converted leads (HandoffRule, stored at handoff),
conversion by score band and grade, and recycled leads in cooldown.

Each report reads the rollups when sources(scope) says so (per-rule counts: their campaign twin
for a campaign, the raw handoffs for an SDR), else the scope's handoffs."""

from urllib.parse import urlencode

from django.db.models import Case, Count, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value, When
from django.urls import reverse

from leadhub import taxonomy
from leadhub.choices import Stage
from leadhub.models import Lead
from qualification.quality import score_bands as score_bands_for
from qualification.selectors import published_model

from ..choices import EventKind, HandoffStatus
from ..models import HandoffDailyRollup, HandoffEvent, HandoffRuleCampaignRollup, HandoffRuleRollup, RejectionReason
from ..rollup import BANDS
from .funnel import FUNNEL_COUNTS, FUNNEL_SUMS, funnel_row, funnel_sums
from .scope import ROLLUP, leads_url, rate, rollup_rows, scoped, sources


def acceptance_by_channel(scope):
    """MQL → SAL: per channel, MQLs, decided, accepted, rejected and acceptance rate (of decided)."""
    if sources(scope).counts == ROLLUP:
        rows = (
            rollup_rows(HandoffDailyRollup, scope)
            .values("channel")
            .annotate(
                mql=Sum("n"),
                decided=Sum("n", filter=Q(status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED]), default=0),
                accepted=Sum("n", filter=Q(status=HandoffStatus.ACCEPTED), default=0),
                rejected=Sum("n", filter=Q(status=HandoffStatus.REJECTED), default=0),
            )
        )
    else:
        rows = (
            scoped(scope)
            .order_by()
            .values("channel")
            .annotate(
                mql=Count("id"),
                decided=Count("id", filter=Q(status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED])),
                accepted=Count("id", filter=Q(status=HandoffStatus.ACCEPTED)),
                rejected=Count("id", filter=Q(status=HandoffStatus.REJECTED)),
            )
        )
    labels = taxonomy.labels("channel")
    out = []
    for row in rows:
        extra = {"handoff_channel": row["channel"]}
        out.append(
            {
                **row,
                "label": labels.get(row["channel"], row["channel"]),
                "rate": rate(row["accepted"], row["decided"]),
                "url": leads_url(scope, **extra),
                "accepted_url": leads_url(scope, reached="sal", **extra),
                "rejected_url": leads_url(scope, reached="rejected", **extra),
            }
        )
    return sorted(out, key=lambda r: (r["rate"] is None, r["rate"] or 0))


def rejections(scope, by="channel"):
    """Rejection reasons per channel or campaign: a pivot {"reasons": [...], "rows": [...]},
    each row with its rejected total, and per reason the count and its share of the row."""
    key = {"channel": "channel", "campaign": "campaign"}[by]
    if sources(scope).counts == ROLLUP:
        counts = [
            {key: row[key], "rejection_reason_id": row["reason"], "n": row["count"]}
            for row in rollup_rows(HandoffDailyRollup, scope, status=HandoffStatus.REJECTED)
            .values(key, "reason")
            .annotate(count=Sum("n"))
        ]
    else:
        counts = list(scoped(scope, reached="rejected").order_by().values(key, "rejection_reason_id").annotate(n=Count("id")))
    reason_ids = {row["rejection_reason_id"] for row in counts}
    reasons = list(RejectionReason.objects.filter(pk__in=reason_ids).order_by("order", "label"))
    labels = taxonomy.labels("channel")
    table = {}
    for row in counts:
        table.setdefault(row[key], {})[row["rejection_reason_id"]] = row["n"]
    out = []
    for value, cells in table.items():
        total = sum(cells.values())
        extra = {f"handoff_{key}": value}
        out.append(
            {
                "key": value,
                "label": labels.get(value, value) if by == "channel" else (value or "(none)"),
                "rejected": total,
                "url": leads_url(scope, reached="rejected", **extra),
                "cells": [
                    {
                        "reason": r.label,
                        "n": cells.get(r.pk, 0),
                        "share": rate(cells.get(r.pk, 0), total),
                        "url": leads_url(scope, reached="rejected", rejection_reason=r.pk, **extra),
                    }
                    for r in reasons
                ],
            }
        )
    out.sort(key=lambda r: -r["rejected"])
    return {"reasons": [r.label for r in reasons], "rows": out}


def rejections_by_rule(scope, limit=None):
    """Scoring rules that fired on handed-off leads (HandoffRule, stored at handoff): per rule,
    handoffs, rejected, rejection rate, SQLs and SQL rate, and the most common rejection reason.
    A rule whose SQL rate is no better than the average adds points without adding buyers."""
    if sources(scope).rules == ROLLUP:
        rules = rollup_rows(HandoffRuleCampaignRollup if scope.campaign else HandoffRuleRollup, scope)
        rows = list(
            rules.values("kind", "rule_id").annotate(
                label=Max("label"), points=Max("points"), handoffs=Sum("n"), rejected=Sum("rejected"), sql=Sum("sql")
            )
        )
        by_reason = list(rules.filter(rejected__gt=0).values("kind", "rule_id", "reason").annotate(count=Sum("rejected")))
        labels = dict(RejectionReason.objects.filter(pk__in={r["reason"] for r in by_reason}).values_list("pk", "label"))
        reasons = [(r["kind"], r["rule_id"], labels.get(r["reason"]), r["count"]) for r in by_reason]
    else:
        # An SDR filter (no rollup has SDR and rule): one grouped pass from the scope's handoffs to
        # their rules, per rule and rejection reason; summed per rule here. Rules are counted
        # by rule_id (never NULL), which handoffrule_handoff_cover holds: no heap reads.
        groups = (
            scoped(scope)
            .order_by()
            .values("rules__kind", "rules__rule_id", "rejection_reason__label")
            .annotate(
                label=Max("rules__label"),
                points=Max("rules__points"),
                handoffs=Count("rules__rule_id"),
                rejected=Count("rules__rule_id", filter=Q(status=HandoffStatus.REJECTED)),
                sql=Count("rules__rule_id", filter=Q(sql_at__isnull=False)),
            )
        )
        per_rule, reasons = {}, []
        for group in groups:
            if group["rules__kind"] is None:
                continue  # a handoff without stored rules
            key = (group["rules__kind"], group["rules__rule_id"])
            row = per_rule.setdefault(
                key,
                {
                    "kind": key[0],
                    "rule_id": key[1],
                    "label": group["label"],
                    "points": group["points"],
                    "handoffs": 0,
                    "rejected": 0,
                    "sql": 0,
                },
            )
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
        out.append(
            {
                **row,
                "rule": rule,
                "rejection_rate": rate(row["rejected"], row["handoffs"]),
                "sql_rate": rate(row["sql"], row["handoffs"]),
                "top_reason": reason[1] if reason else "",
                "top_reason_n": reason[0] if reason else 0,
                "url": leads_url(scope, rule=rule),
                "rejected_url": leads_url(scope, rule=rule, reached="rejected"),
                "sql_url": leads_url(scope, rule=rule, reached="sql"),
            }
        )
    out.sort(key=lambda r: (-r["handoffs"], r["label"]))
    return out[:limit] if limit else out


def _band_label(low, high):
    if low is None:
        return f"under {high}"
    if high is None:
        return f"{low}+"
    return f"{low}–{high - 1}"


def score_bands():
    """The score bands at handoff: from the published model's MQL threshold ("under T", then
    steps of about T/4 from T: qualification.quality.score_bands), so they split the MQLs
    where that model puts them; the old fixed bands when nothing is published.
    [(label, low inclusive or None, high exclusive or None)]."""
    model = published_model()
    if model is None:
        return [(_band_label(lo, hi), lo, hi) for lo, hi in BANDS]
    return score_bands_for(model.mql_threshold, below=False)


def conversion_by_band(scope):
    """Funnel per band of the score at handoff (bands that follow the published model's
    threshold, see score_bands): does a higher score mean more SQLs? Read from the scope's
    handoffs: the rollups keep the fixed bands' index only."""
    bands = score_bands()
    whens = [
        When(
            Q(**({"score_at_handoff__gte": lo} if lo is not None else {}))
            & Q(**({"score_at_handoff__lt": hi} if hi is not None else {})),
            then=Value(i),
        )
        for i, (_, lo, hi) in enumerate(bands)
    ]
    rows = {
        r["band"]: r
        for r in scoped(scope)
        .annotate(band=Case(*whens, output_field=IntegerField()))
        .order_by()
        .values("band")
        .annotate(**FUNNEL_COUNTS)
    }
    out = []
    for i, (label, lo, hi) in enumerate(bands):
        row = rows.get(i, {"mql": 0, "sal": 0, "sql": 0, "won": 0})
        out.append(
            funnel_row(
                {"band": label, **{k: row[k] for k in ("mql", "sal", "sql", "won")}},
                scope,
                handoff_score_min=lo,
                handoff_score_max=hi,
            )
        )
    return out


def conversion_by_grade(scope):
    """Funnel per fit grade at handoff."""
    if sources(scope).counts == ROLLUP:
        rows = [
            {"grade_at_handoff": r["grade"], **funnel_sums(r)}
            for r in rollup_rows(HandoffDailyRollup, scope).values("grade").annotate(**FUNNEL_SUMS)
        ]
    else:
        rows = scoped(scope).order_by().values("grade_at_handoff").annotate(**FUNNEL_COUNTS)
    out = [
        funnel_row(
            {"grade": r["grade_at_handoff"] or "–", **{k: r[k] for k in ("mql", "sal", "sql", "won")}},
            scope,
            handoff_grade=r["grade_at_handoff"],
        )
        for r in rows
    ]
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
    last = HandoffEvent.objects.filter(lead_id=OuterRef("pk"), kind__in=[EventKind.REJECTED, EventKind.RECYCLED]).order_by(
        "-at", "-id"
    )
    rows = list(
        leads.annotate(
            last_reason=Subquery(last.values("reason")[:1]),
            last_kind=Subquery(last.values("kind")[:1]),
            last_at=Subquery(last.values("at")[:1]),
        )
        .select_related("company")
        .order_by("nurture_until", "id")[:limit]
    )
    total = leads.count()
    for lead in rows:
        lead.days_left = (lead.nurture_until - now).days
    url = f"{reverse('leads:list')}?{urlencode({'in_cooldown': 'true', **({'source': scope.channel} if scope.channel else {})})}"
    return {"total": total, "rows": rows, "url": url}
