"""Read queries for the sales-acceptance queue, its side panel and the lead page's handoff section."""

from datetime import timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

import qualification.selectors as qualification_selectors
from leadhub.choices import Stage
from leadhub.models import Activity

from . import services
from .choices import DUE_SOON_MINUTES, REQUIRED_CHECKLIST, Destination, HandoffStatus, SLAState
from .models import Handoff, HandoffEvent, Qualification, RejectionReason

PANEL_TIMELINE_LIMIT = 30
WHY_LIMIT = 3

# Only what a queue row shows: the queue is read all day, keep rows narrow.
QUEUE_FIELDS = (
    "id", "status", "owner_id", "channel", "campaign", "created_at", "assigned_at", "due_at", "first_decision_at",
    "lead__id", "lead__first_name", "lead__last_name", "lead__email", "lead__title", "lead__stage",
    "lead__fit_score", "lead__engagement_score", "lead__total_score", "lead__grade", "lead__company_id",
    "lead__company__id", "lead__company__name", "lead__company__domain",
    # What scoring needs to say why each lead scored (qualification.selectors.lead_top_reasons).
    "lead__score_model_version", "lead__scored_at", "lead__country", "lead__phone",
    "lead__company__industry", "lead__company__employee_count", "lead__company__annual_revenue", "lead__company__country",
    "owner__id", "owner__username", "owner__first_name", "owner__last_name",
)


def queue_handoffs():
    return Handoff.objects.select_related("lead", "lead__company", "owner").only(*QUEUE_FIELDS)


def format_duration(delta):
    """'45 min', '3 h 20 min', '2 d 4 h': short enough for a table cell."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def sla_state(handoff, now):
    if handoff.owner_id is None:
        return SLAState.POOL
    if handoff.due_at is None:
        return SLAState.ON_TIME
    left = handoff.due_at - now
    if left < timedelta(0):
        return SLAState.OVERDUE
    if left <= timedelta(minutes=DUE_SOON_MINUTES):
        return SLAState.DUE_SOON
    return SLAState.ON_TIME


def sla_text(handoff, now):
    state = sla_state(handoff, now)
    if state == SLAState.POOL:
        return "Unassigned"
    if handoff.due_at is None:
        return "—"
    if state == SLAState.OVERDUE:
        return f"Overdue {format_duration(now - handoff.due_at)}"
    return f"{format_duration(handoff.due_at - now)} left"


def _why_label(item):
    """One 'why it scored' entry from whatever the scoring app returns (text or a dict)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        label = item.get("label") or item.get("rule") or item.get("name") or ""
        points = item.get("points")
        # Points first: a long rule name is cut short in the cell, the number must stay visible.
        return f"{float(points):+g} {label}" if points not in (None, "") else str(label)
    return str(item)


def top_reasons(leads):
    """{lead id: ["+17.5 Pricing page ×3", ...]}: scoring's top contributions when the scoring
    app provides them, else the fit/engagement split the lead row already carries."""
    leads = list(leads)
    provider = getattr(qualification_selectors, "lead_top_reasons", None)
    reasons = {}
    if provider is not None and leads:
        found = provider(leads) or {}
        reasons = {pk: [_why_label(item) for item in items][:WHY_LIMIT] for pk, items in found.items() if items}
    for lead in leads:
        if not reasons.get(lead.pk):
            reasons[lead.pk] = [f"Fit {lead.fit_score:.0f}", f"Engagement {lead.engagement_score:.0f}"]
    return reasons


def decorate(handoffs, now=None):
    """Attach what a row shows, ready to print: SLA state and text, age, why it scored, names
    and URLs. The queue renders many rows all day, so the template only prints strings."""
    now = now or timezone.now()
    handoffs = list(handoffs)
    why = top_reasons(h.lead for h in handoffs)
    queue_prefix, lead_prefix = reverse("handoff:queue"), reverse("leads:list")
    for handoff in handoffs:
        lead = handoff.lead
        handoff.sla_state = sla_state(handoff, now)
        handoff.sla_text = sla_text(handoff, now)
        handoff.age_text = format_duration(now - handoff.created_at)
        handoff.why = why.get(handoff.lead_id, [])
        handoff.lead_name = lead.full_name or lead.email
        handoff.lead_subtitle = " · ".join(filter(None, [lead.title or "No title", lead.company.name if lead.company_id else ""]))
        handoff.score_text = f"{lead.total_score:.0f}"
        handoff.owner_name = (handoff.owner.get_full_name() or handoff.owner.username) if handoff.owner_id else ""
        handoff.due_title = f"Due {timezone.localtime(handoff.due_at):%b %-d, %H:%M}" if handoff.due_at else ""
        handoff.url = f"{queue_prefix}{handoff.pk}/"
        handoff.lead_url = f"{lead_prefix}{handoff.lead_id}/"
    return handoffs


def count_each(querysets, *, fixed=()):
    """[count of each queryset] in one round trip, after the counts of `fixed` (sql, params)
    pairs. Each count is its own subquery, so the database answers it from the best index for
    that filter alone (an index-only scan of the open-handoff index per owner) instead of one
    scan for an OR of them all."""
    parts, params = [], []
    for sql, part_params in fixed:
        parts.append(f"({sql})")
        params.extend(part_params)
    for queryset in querysets:
        try:
            sql, part_params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # a filter that matches nothing by construction
            parts.append("0")
            continue
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS part)")
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        return list(cursor.fetchone())


def queue_parts(handoff_filter):
    """The filtered queue as querysets whose counts add up to its count and whose rows make it
    up ("mine and the pool" is two parts, each read from its own index)."""
    queryset = handoff_filter.qs  # evaluating the filter sets owner_parts
    return handoff_filter.owner_parts or [queryset]


class MergedQueue:
    """A page source for a queue split into parts (see queue_parts) for Paginator.

    A page [start:stop] of the whole queue lies within the first `stop` rows of each part, so
    each part reads only its own index, in order, for `stop` ids; the page is then cut from
    those few rows in the queue's own order. One query, however small a share of the queue
    the parts are."""

    def __init__(self, queryset, parts, count):
        self.queryset, self.parts, self._count = queryset, parts, count

    def count(self):
        return self._count

    def __len__(self):
        return self._count

    def __getitem__(self, item):
        if len(self.parts) == 1 or not isinstance(item, slice):
            return (self.parts[0] if len(self.parts) == 1 else self.queryset)[item]
        start, stop = item.start or 0, item.stop
        selects, params = [], []
        for part in self.parts:
            try:
                sql, part_params = part.values("pk")[:stop].query.sql_with_params()
            except EmptyResultSet:  # an empty page, or a part that matches nothing
                continue
            selects.append(f"SELECT * FROM ({sql}) AS part")
            params.extend(part_params)
        if not selects:
            return []
        candidates = RawSQL(" UNION ALL ".join(selects), params)
        return self.queryset.filter(pk__in=candidates)[start:stop]


def _summary_counts(user, now):
    """The header's counts as plain SQL: they never change shape, and the ORM would compile
    them again on every queue load."""
    from .models import Notification

    handoffs, notifications = Handoff._meta.db_table, Notification._meta.db_table
    due = connection.ops.adapt_datetimefield_value(now)
    status = HandoffStatus.OPEN.value
    return [
        (f"SELECT COUNT(*) FROM {handoffs} WHERE status = %s AND owner_id = %s", [status, user.pk]),
        (f"SELECT COUNT(*) FROM {handoffs} WHERE status = %s AND owner_id = %s AND due_at < %s", [status, user.pk, due]),
        (f"SELECT COUNT(*) FROM {handoffs} WHERE status = %s AND owner_id IS NULL", [status]),
        (f"SELECT COUNT(*) FROM {notifications} WHERE recipient_id = %s AND read_at IS NULL", [user.pk]),
    ]


def queue_summary(user, matching=(), now=None):
    """Counts for the queue's header (my open and overdue handoffs, the pool), the number of
    unread notices, and `matching`: the sum of the counts of the `matching` querysets (the
    filtered queue, split into parts that each use an index). One query."""
    counts = count_each(matching, fixed=_summary_counts(user, now or timezone.now()))
    mine, overdue, pool, notices, *matching_counts = counts
    return {"mine": mine, "overdue": overdue, "pool": pool, "unread_notices": notices, "matching": sum(matching_counts)}


def queue_row(handoff_id):
    """One row, fresh, whatever its status (after a decision or a conflict)."""
    handoff = Handoff.objects.select_related("lead", "lead__company", "owner", "decided_by", "rejection_reason").get(pk=handoff_id)
    return decorate([handoff])[0]


def rejection_reasons():
    """Active reasons grouped for a <select>: [(group label, [reason, ...]), ...]."""
    reasons = list(RejectionReason.objects.filter(active=True))
    groups = []
    for destination in Destination:
        items = [r for r in reasons if r.destination == destination]
        if items:
            groups.append((destination.label, items))
    return groups


def handoff_panel(handoff_id, user):
    """The side panel: the lead's profile, score explanation, activity timeline and the handoff."""
    handoff = (
        Handoff.objects.select_related("lead", "lead__company", "owner", "decided_by", "rejection_reason", "sla_policy")
        .get(pk=handoff_id)
    )
    decorate([handoff])
    lead = handoff.lead
    return {
        "handoff": handoff,
        "lead": lead,
        "timeline": list(Activity.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:PANEL_TIMELINE_LIMIT]),
        "events": list(HandoffEvent.objects.filter(lead=lead).select_related("by", "to_owner", "from_owner")[:10]),
        "reason_groups": rejection_reasons(),
        "can_act": services.can_act(user),
        "is_manager": services.is_manager(user),
        **qualification_selectors.lead_score_context(lead),
    }


def checklist_items(qualification, errors=None):
    """The checklist's yes/no items for a template: (field name, label, value, required)."""
    items = []
    for name in services.CHECKLIST_FLAGS:
        field = Qualification._meta.get_field(name)
        items.append({"name": name, "label": field.verbose_name[:1].upper() + field.verbose_name[1:],
                      "value": getattr(qualification, name) if qualification else False, "required": name in REQUIRED_CHECKLIST,
                      "errors": (errors or {}).get(name, [])})
    return items


def lead_handoff_context(lead, user, *, errors=None, notice=None, values=None):
    """Template context for the lead page's handoff section (templates/handoff/_lead_handoff.html).

    `errors`, `notice` and `values` come from a form post that failed, so the section shows
    what was typed with the messages."""
    handoffs = list(
        Handoff.objects.filter(lead_id=lead.pk).select_related("owner", "decided_by", "rejection_reason").order_by("-created_at", "-id")[:5]
    )
    open_handoff = next((h for h in handoffs if h.status == HandoffStatus.OPEN), None)
    if open_handoff:
        decorate([open_handoff])
    qualification = (
        Qualification.objects.filter(lead_id=lead.pk).select_related("qualified_by", "outcome_by").order_by("-created_at", "-id").first()
        if lead.stage in (Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST) else None
    )
    if qualification and values:
        for key, value in values.items():
            setattr(qualification, key, value)
    can_work = services.can_act(user) and (services.is_manager(user) or lead.owner_id == user.pk)
    events = list(
        HandoffEvent.objects.filter(lead_id=lead.pk).select_related("by", "to_owner", "from_owner")[:50]
    )
    return {
        "hs": {
            "lead": lead,
            "open": open_handoff,
            "handoffs": handoffs,
            "qualification": qualification,
            "checklist": checklist_items(qualification, errors),
            "events": events,
            "can_work": can_work,
            "reason_groups": rejection_reasons() if can_work and lead.stage == Stage.SAL else [],
            "errors": errors or {},
            "notice": notice,
        }
    }


NOTICE_LIMIT = 5


def unread_notices(user):
    """The user's newest undismissed escalation notices for the top of the queue."""
    from .models import Notification

    return list(Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).order_by("-created_at", "-id")[:NOTICE_LIMIT])


def queue_csv_rows(handoffs):
    """Rows of the queue's CSV export, streamed from the database in chunks."""
    now = timezone.now()
    for handoff in handoffs.defer(None).iterator(chunk_size=2000):
        lead = handoff.lead
        yield [
            handoff.pk, lead.pk, lead.full_name, lead.email, lead.title, lead.company.name if lead.company_id else "",
            handoff.channel, handoff.campaign, handoff.score_at_handoff, handoff.grade_at_handoff,
            handoff.owner.username if handoff.owner_id else "", handoff.created_at, handoff.assigned_at, handoff.due_at,
            sla_state(handoff, now),
        ]
