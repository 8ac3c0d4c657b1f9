"""What a report is asked for, and where it reads from.

`Scope` is what the filter forms choose (MQL dates, SDR, channel, campaign). `handoff_q` turns
a report cell into conditions on Handoff; the lead list filters with the same function, so a
link (`leads_url`) lists exactly the leads behind a number.

`sources(scope)` is the one place that decides, per family of reports, whether a scope is
read from the daily rollups (handoff.rollup) or from the raw handoffs: a rollup answers a
scope only when it has a column for every filter the scope uses.
"""

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import TruncWeek
from django.db.models.lookups import LessThan
from django.urls import reverse
from django.utils import timezone

from ..choices import DUE_SOON_MINUTES, HandoffStatus
from ..models import Handoff, HandoffRule
from ..rollup import deadline


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
        return {
            k: v
            for k, v in {
                "mql_after": self.date_from.isoformat() if self.date_from else "",
                "mql_before": self.date_to.isoformat() if self.date_to else "",
                "handoff_owner": self.owner_id or "",
                "handoff_channel": self.channel,
                "handoff_campaign": self.campaign,
            }.items()
            if v
        }


def day_start(day):
    """The first moment of a local day (TIME_ZONE), aware."""
    return timezone.make_aware(datetime.combine(day, time.min))


def handoff_q(
    *,
    mql_after=None,
    mql_before=None,
    owner_id=None,
    channel="",
    campaign="",
    reached="",
    reason_id=None,
    score_min=None,
    score_max=None,
    grade="",
    sla_state="",
    rule="",
    now=None,
):
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
        q &= breached_q(now)
    if reason_id:
        q &= Q(rejection_reason_id=reason_id)
    if score_min is not None:
        q &= Q(score_at_handoff__gte=score_min)
    if score_max is not None:
        q &= Q(score_at_handoff__lt=score_max)
    if grade:
        q &= Q(grade_at_handoff=grade)
    if sla_state:
        q &= Q(status=HandoffStatus.OPEN) & state_q(sla_state, now)
    if rule:
        kind, _, rule_id = rule.partition(":")
        q &= Q(pk__in=HandoffRule.objects.filter(kind=kind, rule_id=int(rule_id)).values("handoff_id"))
    return q


# Leads behind a report cell: up to this many handoffs are listed as an array of lead ids the
# list reads by primary key; more are a semi-join the list's sort index drives (see drilldown_leads).
DRILLDOWN_IDS_INLINE = 5_000
# The handoff count that decides takes at most this long; past it the planner's estimate decides.
DRILLDOWN_COUNT_BUDGET_MS = 50


def drilldown_leads(leads, conditions):
    """`leads` narrowed to those with a handoff matching `conditions` (handoff_q's arguments):
    the lead list's drill-down filter.

    On PostgreSQL, a cell of up to DRILLDOWN_IDS_INLINE handoffs (one day, an SLA state, a
    reason, nothing at all) becomes `id = ANY(ARRAY(SELECT lead_id ...))`: the handoffs are read
    once from their own indexes and the leads by primary key, instead of walking the newest
    leads and probing each one's handoffs (a day a month ago, or a cell with no handoffs, read
    most of the lead table that way). A bigger cell stays a semi-join, and its MQL end date also
    bounds the leads' created_at: a lead exists before its handoff (routing hands off existing
    leads; a merge keeps the earlier created_at), so the newest-first walk starts at the
    window's end instead of at today. One query (the capped count of handoffs) decides."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    from leadhub.pagination import capped_count

    handoffs = Handoff.objects.filter(handoff_q(**conditions)).values("lead_id")
    if connection.vendor != "postgresql":
        return leads.filter(pk__in=handoffs)
    if not capped_count(handoffs, cap=DRILLDOWN_IDS_INLINE, budget_ms=DRILLDOWN_COUNT_BUDGET_MS).capped:
        try:
            sql, params = handoffs.query.sql_with_params()
        except EmptyResultSet:
            return leads.none()
        table = leads.model._meta.db_table
        return leads.filter(RawSQL(f'"{table}"."id" = ANY(ARRAY({sql}))', params, output_field=BooleanField()))
    leads = leads.filter(pk__in=handoffs)
    if conditions.get("mql_before"):
        leads = leads.filter(created_at__lt=day_start(conditions["mql_before"] + timedelta(days=1)))
    return leads


def state_q(state, now):
    soon = now + timedelta(minutes=DUE_SOON_MINUTES)
    return {
        "pool": Q(owner__isnull=True),
        "overdue": Q(owner__isnull=False, due_at__lt=now),
        "due_soon": Q(owner__isnull=False, due_at__gte=now, due_at__lte=soon),
        "on_time": Q(owner__isnull=False) & (Q(due_at__isnull=True) | Q(due_at__gt=soon)),
    }[state]


def breached_q(now):
    """Decided after the first deadline, or still open past it (rollup.deadline: a claim or a
    reassignment restarts the clock, but a breach that happened before it still counts)."""
    return Q(first_decision_at__gt=deadline()) | (
        Q(first_decision_at__isnull=True, status=HandoffStatus.OPEN) & Q(LessThan(deadline(), now))
    )


WITH_DEADLINE = Q(first_due_at__isnull=False) | Q(due_at__isnull=False)


def scoped(scope, **extra):
    return Handoff.objects.filter(
        handoff_q(
            mql_after=scope.date_from,
            mql_before=scope.date_to,
            owner_id=scope.owner_id,
            channel=scope.channel,
            campaign=scope.campaign,
            now=scope.now,
            **extra,
        )
    )


def leads_url(scope, **extra):
    params = {**scope.params(), **{k: v for k, v in extra.items() if v not in (None, "")}}
    return f"{reverse('leads:list')}?{urlencode(params)}"


def rate(part, whole):
    return round(100 * part / whole, 1) if whole else None


def weeks(queryset):
    return queryset.annotate(week=TruncWeek("created_at")).order_by()


def week_scope(scope, week_start):
    start = week_start.date() if isinstance(week_start, datetime) else week_start
    end = start + timedelta(days=6)
    return replace(
        scope,
        date_from=max(start, scope.date_from) if scope.date_from else start,
        date_to=min(end, scope.date_to) if scope.date_to else end,
    )


def week_key(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def rollup_rows(model, scope, **filters):
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


# --- where a report reads from ---------------------------------------------------------------

ROLLUP = "rollup"
RAW = "raw"


@dataclass(frozen=True)
class Sources:
    """Where each family of reports reads a scope from: ROLLUP or RAW.

    - counts: HandoffDailyRollup (per MQL day, SDR, channel, campaign, status, reason, grade,
      score band): the funnel, acceptance, rejection reasons, bands and grades.
    - sla: HandoffDailyRollup with the per-minute response histogram HandoffResponseRollup,
      which has no campaign: the SLA tables (medians and p90 are exact from the histogram).
    - rules: HandoffRuleRollup, or its campaign twin HandoffRuleCampaignRollup for a campaign;
      neither has an SDR: the per-rule table.

    What changes with the clock (open handoffs past their deadline, the live queue by SLA
    state, leads in cooldown) is always read live.
    """

    counts: str
    sla: str
    rules: str


def sources(scope):
    """The Sources of `scope`. With settings.HANDOFF_REPORTS_FROM_ROLLUP = False everything is
    RAW (tests hold every rollup-backed figure equal to its raw twin that way)."""
    on = getattr(settings, "HANDOFF_REPORTS_FROM_ROLLUP", True)

    def unless(*filters):
        return ROLLUP if on and not any(filters) else RAW

    return Sources(counts=unless(), sla=unless(scope.campaign), rules=unless(scope.owner_id))
