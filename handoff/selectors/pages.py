"""Page contexts beyond the queue's rows: the side panel, the lead page's handoff section (with
the SQL checklist), the notices above the queue and when the queue last moved."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth.models import User
from django.utils import timezone

import leadhub.selectors as lead_selectors
import qualification.selectors as qualification_selectors
from leadhub.choices import Stage
from leadhub.models import Activity, Lead

from .. import services
from ..choices import REQUIRED_CHECKLIST, Destination, EventKind, HandoffStatus
from ..models import Handoff, HandoffEvent, Notification, Qualification, RejectionReason
from .rows import decorate

PANEL_TIMELINE_LIMIT = 30


def rejection_reasons() -> list[tuple[str, list[RejectionReason]]]:
    """Active reasons grouped for a <select>: [(group label, [reason, ...]), ...]."""
    reasons = list(RejectionReason.objects.filter(active=True))
    groups: list[tuple[str, list[RejectionReason]]] = []
    for destination in Destination:
        items = [r for r in reasons if r.destination == destination]
        if items:
            groups.append((destination.label, items))
    return groups


def handoff_panel(handoff_id: int, user: User) -> dict[str, Any]:
    """The side panel: the lead's profile, score explanation, activity timeline and the handoff."""
    handoff = Handoff.objects.select_related(
        "lead", "lead__company", "owner", "decided_by", "rejection_reason", "sla_policy"
    ).get(pk=handoff_id)
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
        # The custom fields marked "show in the queue panel", and the lead's ids in other systems.
        "custom_fields": lead_selectors.lead_custom_fields(lead, panel_only=True),
        "external_ids": [str(key) for key in lead.external_ids.all()],
    }


class ChecklistItem(TypedDict):
    name: str
    label: str
    value: bool
    required: bool
    errors: list[str]


def checklist_items(qualification: Qualification | None, errors: Mapping[str, list[str]] | None = None) -> list[ChecklistItem]:
    """The checklist's yes/no items for a template: (field name, label, value, required)."""
    items: list[ChecklistItem] = []
    labels = {field.name: str(field.verbose_name) for field in Qualification._meta.concrete_fields}
    for name in services.CHECKLIST_FLAGS:
        label = labels[name]
        items.append(
            {
                "name": name,
                "label": label[:1].upper() + label[1:],
                "value": getattr(qualification, name) if qualification else False,
                "required": name in REQUIRED_CHECKLIST,
                "errors": (errors or {}).get(name, []),
            }
        )
    return items


def lead_handoff_context(
    lead: Lead,
    user: User,
    *,
    errors: Mapping[str, list[str]] | None = None,
    notice: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Template context for the lead page's handoff section (templates/handoff/_lead_handoff.html).

    `errors`, `notice` and `values` come from a form post that failed, so the section shows
    what was typed with the messages."""
    handoffs = list(
        Handoff.objects.filter(lead_id=lead.pk)
        .select_related("owner", "decided_by", "rejection_reason", "sla_policy")
        .order_by("-created_at", "-id")[:5]
    )
    for handoff in handoffs:
        handoff.lead = lead  # the page's lead (company loaded): no query per handoff
    open_handoff = next((h for h in handoffs if h.status == HandoffStatus.OPEN), None)
    if open_handoff:
        decorate([open_handoff])
    qualification = (
        Qualification.objects.filter(lead_id=lead.pk)
        .select_related("qualified_by", "outcome_by")
        .order_by("-created_at", "-id")
        .first()
        if lead.stage in (Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST)
        else None
    )
    if qualification and values:
        for key, value in values.items():
            setattr(qualification, key, value)
    can_work = services.can_act(user) and (services.is_manager(user) or lead.owner_id == user.pk)
    events = list(HandoffEvent.objects.filter(lead_id=lead.pk).select_related("by", "to_owner", "from_owner")[:50])
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
            # The first deadline, when a claim or reassignment restarted the clock since.
            "original_due_at": original_due_at(open_handoff) if open_handoff else None,
            "restarted_when": _restarted_when(open_handoff, events) if open_handoff else "",
        }
    }


def _restarted_when(handoff: Handoff, events: Sequence[HandoffEvent]) -> str:
    """What restarted the open handoff's clock, from its latest claim or reassignment in
    `events` (newest first): "claimed" or "reassigned"."""
    for event in events:
        if event.handoff_id == handoff.pk and event.kind in (EventKind.CLAIMED, EventKind.REASSIGNED):
            return "claimed" if event.kind == EventKind.CLAIMED else "reassigned"
    return "claimed or reassigned"


def original_due_at(handoff: Handoff) -> datetime | None:
    """The handoff's first deadline when it differs from the current one (the clock was
    restarted by a claim or a reassignment), else None."""
    first = handoff.first_due_at
    return first if first and first != handoff.due_at else None


def sla_restart_text(handoff: Handoff) -> str:
    """What a claim or reassignment did to the deadline, for the view's message:
    "SLA restarted: due Mon Dec 7, 17:00 UTC" (current time zone), or "" without a deadline."""
    if handoff.due_at is None:
        return ""
    due = timezone.localtime(handoff.due_at)
    return f"SLA restarted: due {due:%a %b %-d, %H:%M} {due.tzname()}"


NOTICE_LIMIT = 5


def unread_notices(user: User, limit: int = NOTICE_LIMIT) -> list[Notification]:
    """The user's notices worth showing above the queue, newest first: one per handoff (its
    latest step; dismissing it dismisses the handoff's), and only while the handoff is open and
    still on the clock the notice was about: not moved to someone else, back to the pool, or
    re-assigned since. A notice stays for the handoff's owner, and for a manager escalated to
    about the owner it still has. Notices about no handoff stay until dismissed."""
    from django.db.models import F, OuterRef, Q, Subquery

    latest = (
        Notification.objects.filter(recipient_id=user.pk, handoff_id=OuterRef("handoff_id"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    current = Q(id=Subquery(latest), handoff__status=HandoffStatus.OPEN, handoff__assigned_at__lte=F("created_at")) & (
        Q(handoff__owner_id=user.pk) | (Q(escalation__isnull=False) & ~Q(escalation__owner_id=user.pk))
    )
    return list(
        Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
        .filter(Q(handoff__isnull=True) | current)
        .select_related("handoff")
        .order_by("-created_at", "-id")[:limit]
    )


def last_decision(user: User) -> datetime | None:
    """When the queue last moved for this user: their own latest decision, or the team's for
    people who do not decide themselves (managers, marketing). None when nothing was decided."""
    from django.db.models import Max

    decided = Handoff.objects.filter(first_decision_at__isnull=False)
    if services.can_act(user) and not services.is_manager(user):
        decided = decided.filter(decided_by_id=user.pk)
    return decided.aggregate(at=Max("first_decision_at"))["at"]
