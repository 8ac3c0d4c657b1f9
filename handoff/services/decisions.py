"""Deciding on a handoff: claim, reassign, accept, reject (and the rules they share).

Each service takes keyword-only arguments and the acting user (`by`), runs in one transaction,
locks lead then handoff (records.lock_handoff; docs/locking.md) and raises a domain error from
leadhub.errors when the request does not fit the current state. Stage moves go through
leadhub.lifecycle.transition, which writes the lead's StageChange row; HandoffEvent rows record
the rest.
"""

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.db import retry_on_conflict
from leadhub.errors import Conflict, NotAllowed, ValidationFailed
from leadhub.lifecycle import transition
from leadhub.models import Lead

from .. import rollup
from ..choices import Destination, EventKind, HandoffStatus
from ..models import Handoff, Qualification, RejectionReason, SDRProfile
from ..permissions import can_act, check_can_decide, display_name, is_manager
from ..records import first_due, lock_handoff, record_event
from ..sla_clock import business_minutes, due_at_for


def already_decided(handoff: Handoff) -> Conflict:
    """The sentence a second decider sees: who decided, how and when."""
    handoff = Handoff.objects.select_related("decided_by", "rejection_reason").get(pk=handoff.pk)
    when = timezone.localtime(handoff.first_decision_at or handoff.closed_at or timezone.now())
    if handoff.status == HandoffStatus.ACCEPTED:
        what = ""
    elif handoff.status == HandoffStatus.REJECTED:
        what = f" (“{handoff.rejection_reason}”)"
    else:
        return Conflict("This handoff was closed: the lead is no longer an MQL.")
    verb = handoff.get_status_display().lower()
    return Conflict(f"{display_name(handoff.decided_by)} already {verb} this lead{what} at {when:%H:%M on %b %-d}.")


# The longest note a decision, reassignment or recycle keeps (the API, the pages and the admin alike).
NOTE_MAX_LENGTH = 2000


def check_note(note: str | None) -> None:
    if note and len(note) > NOTE_MAX_LENGTH:
        message = f"Keep the note to {NOTE_MAX_LENGTH:,} characters (it has {len(note):,})."
        raise ValidationFailed(message, field_errors={"note": [message]})


def resolve_reason(reason: RejectionReason | int | str | None) -> RejectionReason:
    """A RejectionReason that may be chosen now, from an instance or an id; else ValidationFailed."""
    if reason is None or reason == "":
        raise ValidationFailed("Choose a reason.", field_errors={"reason": ["Choose a reason."]})
    if not isinstance(reason, RejectionReason):
        try:
            reason = RejectionReason.objects.get(pk=int(reason))
        except (RejectionReason.DoesNotExist, ValueError, TypeError):
            raise ValidationFailed("Unknown reason.", field_errors={"reason": ["Choose one of the listed reasons."]})
    else:
        reason.refresh_from_db()
    if not reason.active:
        message = f"“{reason.label}” is no longer in use; choose another reason."
        raise ValidationFailed(message, field_errors={"reason": [message]})
    return reason


def send_back(*, lead: Lead, by: User | None, reason: RejectionReason, note: str, at: datetime) -> Lead:
    """Move a lead out of sales as the reason says: nurture with a cooldown, or disqualified."""
    if reason.destination == Destination.NURTURE:
        updates: dict[str, Any] = {
            "owner": None,
            "nurture_until": at + timedelta(days=reason.cooldown_days),
            "recycle_count": lead.recycle_count + 1,
        }
        return transition(lead, Stage.NURTURE, by=by, reason=reason.label, note=note, updates=updates, at=at)
    return transition(lead, Stage.DISQUALIFIED, by=by, reason=reason.label, note=note, updates={"owner": None}, at=at)


@retry_on_conflict
@transaction.atomic
def handoff_claim(*, handoff: Handoff | int, by: User, at: datetime | None = None) -> Handoff:
    """An SDR takes a pool handoff; the SLA clock (re)starts now. Claiming one's own is a no-op.

    Returns the handoff with its new due_at, for the "SLA restarted: due …" message;
    first_due_at keeps the first deadline, which the SLA reports count a breach against."""
    at = at or timezone.now()
    if not can_act(by):
        raise NotAllowed("Your role can view the queue but not claim leads.")
    _lead, locked = lock_handoff(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise already_decided(locked)
    if locked.owner_id == by.pk:
        return locked
    if locked.owner_id is not None:
        owner = get_user_model().objects.get(pk=locked.owner_id)
        raise Conflict(f"{display_name(owner)} already has this lead.")
    due = due_at_for(locked.sla_policy, at)
    with rollup.tracking([locked.pk]):
        Handoff.objects.filter(pk=locked.pk).update(owner=by, assigned_at=at, due_at=due, first_due_at=first_due(due))
    record_event(handoff=locked, lead=locked.lead_id, kind=EventKind.CLAIMED, by=by, at=at, to_owner=by.pk)
    locked.owner, locked.assigned_at, locked.due_at = by, at, due
    locked.first_due_at = locked.first_due_at or due
    return locked


@retry_on_conflict
@transaction.atomic
def handoff_reassign(
    *, handoff: Handoff | int, by: User, to_user: User | None, note: str = "", at: datetime | None = None
) -> Handoff:
    """A sales manager moves an open handoff to another SDR (to_user) or back to the pool (None).

    The SLA clock restarts for the new owner (the returned handoff carries the new due_at);
    first_due_at keeps the first deadline, so a breach before the move still counts in the
    reports. Only people with an SDR profile take handoffs: a manager without one is no target.
    """
    check_note(note)
    at = at or timezone.now()
    if not is_manager(by):
        raise NotAllowed("Only a sales manager can reassign leads.")
    if to_user is not None and not (
        to_user.is_active and can_act(to_user) and SDRProfile.objects.filter(user_id=to_user.pk).exists()
    ):
        message = f"{display_name(to_user)} does not work the queue."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    _lead, locked = lock_handoff(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise already_decided(locked)
    new_owner_id = to_user.pk if to_user else None
    if locked.owner_id == new_owner_id:
        message = "It is already assigned there." if to_user else "It is already in the pool."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    assigned_at, due = (at, due_at_for(locked.sla_policy, at)) if to_user else (None, None)
    with rollup.tracking([locked.pk]):
        Handoff.objects.filter(pk=locked.pk).update(
            owner_id=new_owner_id, assigned_at=assigned_at, due_at=due, first_due_at=first_due(due)
        )
    record_event(
        handoff=locked,
        lead=locked.lead_id,
        kind=EventKind.REASSIGNED,
        by=by,
        at=at,
        note=note,
        from_owner=locked.owner_id,
        to_owner=new_owner_id,
    )
    locked.owner_id, locked.assigned_at, locked.due_at = new_owner_id, assigned_at, due
    locked.first_due_at = locked.first_due_at or due
    return locked


def _decide(locked: Handoff, by: User, at: datetime) -> None:
    """Fields every decision sets; a pool handoff becomes the decider's."""
    locked.owner_id = locked.owner_id or by.pk
    locked.assigned_at = locked.assigned_at or at
    locked.first_decision_at = at
    # The SLA clock in business time, stored so reports aggregate a column instead of a calendar.
    locked.response_minutes = business_minutes(locked.sla_policy, locked.assigned_at, at)
    locked.decided_by = by
    locked.closed_at = at


@retry_on_conflict
@transaction.atomic
def handoff_accept(*, handoff: Handoff | int, by: User, note: str = "", at: datetime | None = None) -> Handoff:
    """Sales accepts the MQL: the lead becomes a SAL owned by the handoff's SDR, with an empty SQL checklist."""
    check_note(note)
    at = at or timezone.now()
    lead, locked = lock_handoff(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise already_decided(locked)
    check_can_decide(locked, by)
    if lead.stage != Stage.MQL:
        raise Conflict(f"This lead is no longer an MQL (it is {lead.get_stage_display()}).")
    _decide(locked, by, at)
    transition(lead, Stage.SAL, by=by, reason="Accepted by sales", note=note, updates={"owner_id": locked.owner_id}, at=at)
    locked.status, locked.note = HandoffStatus.ACCEPTED, note or ""
    rollups = rollup.Change([locked.pk])
    locked.save(
        update_fields=[
            "status",
            "note",
            "owner",
            "assigned_at",
            "first_decision_at",
            "decided_by",
            "closed_at",
            "response_minutes",
        ]
    )
    Qualification.objects.create(handoff=locked, lead=lead, created_at=at)
    record_event(handoff=locked, lead=lead, kind=EventKind.ACCEPTED, by=by, at=at, note=note, to_owner=locked.owner_id)
    rollups.apply()  # last: the rollup rows are the most shared locks, held only until the commit
    return locked


@retry_on_conflict
@transaction.atomic
def handoff_reject(
    *, handoff: Handoff | int, by: User, reason: RejectionReason | int | str | None, note: str = "", at: datetime | None = None
) -> Handoff:
    """Sales turns the MQL down. The reason is required and decides where the lead goes:
    back to nurture until its cooldown ends (recycle count +1), or disqualified."""
    check_note(note)
    at = at or timezone.now()
    reason = resolve_reason(reason)
    lead, locked = lock_handoff(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise already_decided(locked)
    check_can_decide(locked, by)
    if lead.stage != Stage.MQL:
        raise Conflict(f"This lead is no longer an MQL (it is {lead.get_stage_display()}).")
    _decide(locked, by, at)
    send_back(lead=lead, by=by, reason=reason, note=note, at=at)
    locked.status, locked.rejection_reason, locked.note = HandoffStatus.REJECTED, reason, note or ""
    rollups = rollup.Change([locked.pk])
    locked.save(
        update_fields=[
            "status",
            "rejection_reason",
            "note",
            "owner",
            "assigned_at",
            "first_decision_at",
            "decided_by",
            "closed_at",
            "response_minutes",
        ]
    )
    record_event(handoff=locked, lead=lead, kind=EventKind.REJECTED, by=by, at=at, reason=reason.label, note=note)
    rollups.apply()  # last: the rollup rows are the most shared locks, held only until the commit
    return locked
