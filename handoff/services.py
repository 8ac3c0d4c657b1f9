"""Every write of the sales-acceptance queue: routing, claims, decisions, the SQL checklist.

Each service takes keyword-only arguments and the acting user (`by`, None for the system),
runs in one transaction, locks what it changes in the one documented order (lead, handoff,
SDR profile, rollup rows; each set in id/key order; never auth_user: docs/locking.md) and raises a domain error from leadhub.errors when the
request does not fit the current state. Services that open their own transaction are wrapped in
leadhub.db.retry_on_conflict, which re-runs them on a deadlock or serialization failure. Stage moves go through leadhub.services.transition,
which writes the lead's StageChange row; HandoffEvent rows record the rest.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.db import retry_on_conflict
from leadhub.errors import Conflict, NotAllowed, ValidationFailed
from leadhub.models import Lead
from leadhub.services import transition

from . import rollup, routing_cap
from .choices import REQUIRED_CHECKLIST, Destination, EventKind, HandoffStatus, Outcome
from .models import Handoff, HandoffEvent, HandoffRule, Qualification, RejectionReason, SDRProfile, SDRProfileChange, SLAPolicy

ACT_PERMISSION = "handoff.act_on_handoff"
MANAGE_PERMISSION = "handoff.reassign_handoff"
CHECKLIST_FLAGS = ("buying_cycle", "influencer", "timeframe_known", "permission_to_follow_up")
CHECKLIST_NOTES = ("budget_note", "authority_note", "need_note", "timeline_note")
CHECKLIST_FIELDS = (*CHECKLIST_FLAGS, "opportunity_amount", *CHECKLIST_NOTES)


def display_name(user):
    if user is None:
        return "the system"
    return user.get_full_name() or user.username


def is_manager(user):
    return bool(user and user.is_authenticated and user.has_perm(MANAGE_PERMISSION))


def can_act(user):
    return bool(user and user.is_authenticated and (user.has_perm(ACT_PERMISSION) or is_manager(user)))


# --- SLA -------------------------------------------------------------------------------

def sla_policy_for(channel):
    """The active policy for this channel, else the default one (no channel), else None."""
    policies = list(SLAPolicy.objects.filter(Q(channel=channel) | Q(channel=""), active=True))
    policies.sort(key=lambda p: p.channel != channel)
    return policies[0] if policies else None


def due_at_for(policy, assigned_at):
    """Deadline for the first decision: the policy's response time in business hours (handoff.sla)."""
    from .sla import due_at_for as business_due_at

    return business_due_at(policy, assigned_at)


# --- helpers ---------------------------------------------------------------------------

def _event(*, handoff=None, lead, kind, by, at, reason="", note="", from_owner=None, to_owner=None):
    return HandoffEvent.objects.create(
        handoff_id=handoff.pk if hasattr(handoff, "pk") else handoff,
        lead_id=lead.pk if hasattr(lead, "pk") else lead, kind=kind, by=by, at=at,
        reason=reason or "", note=note or "", from_owner_id=from_owner, to_owner_id=to_owner,
    )


def _lock(handoff):
    """Lock the handoff's lead, then the handoff; returns fresh copies of both.

    The project's one lock order (docs/locking.md): leads → handoffs → SDR profiles → rollup
    rows, each set in id/key order, auth_user never. A transaction may skip a level but never
    goes back up, so no two transactions wait for each other in a cycle: decisions lock lead,
    handoff, then (rollup.Change, last) the rollup rows; routing locks the promoted leads, their
    stale handoffs, the profiles (only their rows: `of=self`), then the rollup rows.

    FOR NO KEY UPDATE: it excludes every other writer of these rows, but not the key-share
    locks that inserting rows pointing at them takes (activities, events), so ingest goes on.
    If a merge moved the handoff to another lead while we waited, the new lead is locked."""
    handoff_id = handoff.pk if isinstance(handoff, Handoff) else handoff
    for _ in range(3):
        lead_id = Handoff.objects.filter(pk=handoff_id).values_list("lead_id", flat=True).first()
        if lead_id is None:
            raise ValidationFailed("This handoff does not exist.")
        lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()
        locked = Handoff.objects.select_for_update(no_key=True).filter(pk=handoff_id).first()
        if locked is None:
            raise ValidationFailed("This handoff does not exist.")
        if lead is not None and locked.lead_id == lead.pk:
            return lead, locked
    raise Conflict("This lead was merged into another one a moment ago. Reload and try again.")


def _already_decided(handoff):
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


def _check_can_decide(handoff, by):
    """SDRs decide on their own handoffs and on pool handoffs; managers on any."""
    if not can_act(by):
        raise NotAllowed("Your role can view the queue but not act on it.")
    if is_manager(by) or handoff.owner_id in (None, by.pk):
        return
    owner = get_user_model().objects.filter(pk=handoff.owner_id).first()
    raise NotAllowed(f"This lead is assigned to {display_name(owner)}; only they or a sales manager can act on it.")


# The longest note a decision, reassignment or recycle keeps (the API, the pages and the admin alike).
NOTE_MAX_LENGTH = 2000


def _check_note(note):
    if note and len(note) > NOTE_MAX_LENGTH:
        message = f"Keep the note to {NOTE_MAX_LENGTH:,} characters (it has {len(note):,})."
        raise ValidationFailed(message, field_errors={"note": [message]})


def _resolve_reason(reason):
    """A RejectionReason that may be chosen now, from an instance or an id; else ValidationFailed."""
    if reason in (None, ""):
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


def _send_back(*, lead, by, reason, note, at):
    """Move a lead out of sales as the reason says: nurture with a cooldown, or disqualified."""
    if reason.destination == Destination.NURTURE:
        updates = {
            "owner": None,
            "nurture_until": at + timedelta(days=reason.cooldown_days),
            "recycle_count": lead.recycle_count + 1,
        }
        return transition(lead, Stage.NURTURE, by=by, reason=reason.label, note=note, updates=updates, at=at)
    return transition(lead, Stage.DISQUALIFIED, by=by, reason=reason.label, note=note, updates={"owner": None}, at=at)


# --- routing ---------------------------------------------------------------------------

def _sdrs_in_turn(count, at, exclude=()):
    """Who gets each of `count` new handoffs, in turn (round-robin): a list of SDRProfiles,
    None where nobody is free.

    The turn starts with the available SDR who was assigned longest ago and skips anyone at
    capacity (max open handoffs). The candidates' profile rows are locked so concurrent
    routings take turns and cannot both fill the last free slot of the same SDR: in id order
    (the lock order), and only the profile rows (`of=self`): the join with auth_user must not
    lock the users, whom every decision's foreign keys point at.
    """
    candidates = list(
        SDRProfile.objects.select_for_update(no_key=True, of=("self",))
        .filter(available=True, user__is_active=True)
        .filter(Q(out_of_office_until__isnull=True) | Q(out_of_office_until__lte=at))
        .exclude(user_id__in=exclude)
        .order_by("pk")
    )
    # The turn: longest since an assignment first (read after the lock, so it is current).
    candidates.sort(key=lambda p: (p.last_assigned_at is not None, p.last_assigned_at or at, p.pk))
    if not candidates:
        return [None] * count
    load = dict(
        Handoff.objects.filter(status=HandoffStatus.OPEN, owner_id__in=[p.user_id for p in candidates])
        .order_by().values_list("owner_id").annotate(n=Count("id"))
    )
    free = [profile.capacity - load.get(profile.user_id, 0) for profile in candidates]
    owners, turn = [], 0
    for _ in range(count):
        nxt = next(((turn + step) % len(candidates) for step in range(len(candidates)) if free[(turn + step) % len(candidates)] > 0), None)
        if nxt is None:
            owners.extend([None] * (count - len(owners)))
            break
        owners.append(candidates[nxt])
        free[nxt] -= 1
        turn = nxt + 1
    return owners


# --- the team: SDR profiles ------------------------------------------------------------

PROFILE_PERMISSION = "handoff.change_sdrprofile"
MAX_CAPACITY = 500
PROFILE_LABELS = SDRProfileChange.FIELD_LABELS


def _profile_value(name, value):
    """How a profile field reads in its history."""
    if name == "available":
        return "available" if value else "unavailable"
    if name == "out_of_office_until":
        return f"{timezone.localtime(value):%a %b %-d %Y %H:%M %Z}" if value else "not set"
    return str(value)


def _clean_profile_changes(changes, at):
    unknown = set(changes) - set(PROFILE_LABELS)
    if unknown:
        raise ValidationFailed(f"Unknown SDR profile fields: {', '.join(sorted(unknown))}.")
    cleaned, errors = {}, {}
    if "available" in changes:
        cleaned["available"] = bool(changes["available"])
    if "capacity" in changes:
        try:
            capacity = int(str(changes["capacity"]).strip())
        except (TypeError, ValueError):
            capacity = None
        if capacity is None or not 0 <= capacity <= MAX_CAPACITY:
            errors["capacity"] = [f"Capacity is a whole number of open handoffs from 0 to {MAX_CAPACITY}."]
        else:
            cleaned["capacity"] = capacity
    if "out_of_office_until" in changes:
        until = changes["out_of_office_until"] or None
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until)
        if until is not None and until <= at:
            errors["out_of_office_until"] = [
                f"Out of office until {timezone.localtime(until):%a %b %-d %H:%M} is in the past: choose a later time, or clear it."]
        else:
            cleaned["out_of_office_until"] = until
    if errors:
        raise ValidationFailed(" ".join(message for messages in errors.values() for message in messages), field_errors=errors)
    return cleaned


@transaction.atomic
def sdr_profile_update(*, profile, by, at=None, **changes):
    """A sales manager changes an SDR's routing facts: available, out_of_office_until (aware
    datetime or None) and capacity (most open handoffs, 0 to MAX_CAPACITY).

    Refuses (ValidationFailed, by field) a capacity out of range and an out-of-office end in
    the past; NotAllowed without the permission to change SDR profiles. Writes the changed
    fields and one SDRProfileChange row per field (who, from, to, when) in one transaction,
    with the profile row locked. Returns the profile and the list of changes written (empty
    when nothing changed)."""
    at = at or timezone.now()
    if not (by and by.is_authenticated and by.has_perm(PROFILE_PERMISSION)):
        raise NotAllowed("Only a sales manager can change SDR availability and capacity.")
    cleaned = _clean_profile_changes(changes, at)
    locked = SDRProfile.objects.select_for_update().select_related("user").get(pk=profile.pk)
    written = []
    for name, value in cleaned.items():
        old = getattr(locked, name)
        if old == value:
            continue
        written.append(SDRProfileChange(profile=locked, field=name, old_value=_profile_value(name, old)[:100],
                                        new_value=_profile_value(name, value)[:100], by=by, at=at))
        setattr(locked, name, value)
    if written:
        locked.save(update_fields=[change.field for change in written])
        SDRProfileChange.objects.bulk_create(written)
    return locked, written


def _next_sdr(at, exclude=()):
    """The available SDR under capacity whose turn it is, or None (see _sdrs_in_turn)."""
    return _sdrs_in_turn(1, at, exclude)[0]


def _mark_assigned(owners, at):
    """Move each assigned SDR's turn to the back: last_assigned_at is `at` plus the position of
    their last handoff in this routing (microseconds), so the next routing goes on where this
    one stopped instead of restarting from the lowest id."""
    last = {profile.pk: index for index, profile in enumerate(owners) if profile is not None}
    SDRProfile.objects.bulk_update(
        [SDRProfile(pk=pk, last_assigned_at=at + timedelta(microseconds=index)) for pk, index in last.items()], ["last_assigned_at"])


def _record_rules(handoffs, leads):
    """Store the scoring rules that contributed to each lead's score at handoff (HandoffRule):
    marketing's feedback groups rejections by rule with one GROUP BY, and the rows describe
    the score sales actually saw, even after the model changes."""
    import qualification.selectors as scoring

    results = scoring.lead_scores([lead for lead in leads if lead.score_model_version is not None])
    HandoffRule.objects.bulk_create(
        [HandoffRule(handoff=handoff, rule_id=c.rule_id, kind=c.kind, label=c.rule[:200], points=c.points)
         for handoff in handoffs if handoff.lead_id in results
         for c in results[handoff.lead_id].contributions if c.points],
        ignore_conflicts=True,
    )


@retry_on_conflict
@transaction.atomic
def handoff_create(*, lead, by=None, at=None):
    """Open a handoff for a lead that just became an MQL and route it (see handoff_create_many)."""
    return handoff_create_many(lead_ids=[lead.pk], by=by, at=at)[0]


@retry_on_conflict
@transaction.atomic
def handoff_create_many(*, lead_ids, by=None, at=None):
    """Open a handoff for each lead that just became an MQL and route them round-robin
    (_sdrs_in_turn); a handoff nobody can take waits in the pool. Returns the handoffs in
    lead id order.

    Called by leadhub.services.transition and transition_many inside their transaction, with
    the lead rows locked. A constant number of queries for any number of leads. An open
    handoff left over from an earlier MQL spell (the lead left MQL by another path) is closed
    first, so the one-open-per-lead constraint holds.
    """
    at = at or timezone.now()
    leads = sorted(Lead.objects.filter(pk__in=lead_ids).select_related("company"), key=lambda lead: lead.pk)
    if not leads:
        return []
    stale = list(Handoff.objects.select_for_update(no_key=True).filter(
        lead_id__in=[lead.pk for lead in leads], status=HandoffStatus.OPEN).order_by("pk"))
    # One rollup update at the end for the closed and the new handoffs (rollup.Change).
    rollups = rollup.Change([h.pk for h in stale])
    if stale:
        Handoff.objects.filter(pk__in=[h.pk for h in stale]).update(status=HandoffStatus.CLOSED, closed_at=at)
        HandoffEvent.objects.bulk_create([
            HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.CLOSED, by=by, at=at,
                         reason="Superseded by a new MQL handoff") for h in stale
        ])
    policies, due = {}, {}
    owners = routing_cap.apply(_sdrs_in_turn(len(leads), at), at)  # a gradual publish's daily cap
    handoffs = []
    for lead, owner in zip(leads, owners, strict=True):
        if lead.source not in policies:
            policies[lead.source] = sla_policy_for(lead.source)
        policy = policies[lead.source]
        if owner is not None and policy not in due:
            due[policy] = due_at_for(policy, at)
        handoffs.append(Handoff(
            lead_id=lead.pk, channel=lead.source, campaign=lead.campaign, score_at_handoff=lead.total_score,
            grade_at_handoff=lead.grade, created_at=at, sla_policy=policy, owner_id=owner.user_id if owner else None,
            assigned_at=at if owner else None, due_at=due[policy] if owner else None,
            first_due_at=due[policy] if owner else None,
        ))
    handoffs = Handoff.objects.bulk_create(handoffs)
    events = [HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.CREATED, by=by, at=at) for h in handoffs]
    events += [
        HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.ASSIGNED, by=by, at=at, to_owner_id=h.owner_id)
        if h.owner_id is not None else
        HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.POOLED, by=by, at=at, reason="No SDR is available under capacity")
        for h in handoffs
    ]
    HandoffEvent.objects.bulk_create(events)
    _mark_assigned(owners, at)
    _record_rules(handoffs, leads)
    rollups.apply(new_ids=[h.pk for h in handoffs])
    routing_cap.hold(handoffs)
    return handoffs


@retry_on_conflict
@transaction.atomic
def handoff_assign(*, handoff, by=None, at=None):
    """Give a pool handoff to the SDR whose turn it is; leave it in the pool when nobody is free."""
    at = at or timezone.now()
    _lead, locked = _lock(handoff)  # lead and handoff before the SDR profiles: the lock order
    if locked.status != HandoffStatus.OPEN or locked.owner_id is not None:
        raise Conflict("This handoff is no longer waiting for an owner.")
    profile = _next_sdr(at)
    if profile is None:
        _event(handoff=handoff, lead=handoff.lead_id, kind=EventKind.POOLED, by=by, at=at,
               reason="No SDR is available under capacity")
        return handoff
    due = due_at_for(locked.sla_policy, at)
    with rollup.tracking([handoff.pk]):
        updated = Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.OPEN, owner__isnull=True).update(
            owner_id=profile.user_id, assigned_at=at, due_at=due, first_due_at=_first_due(due)
        )
    if updated != 1:
        raise Conflict("This handoff is no longer waiting for an owner.")
    _mark_assigned([profile], at)
    _event(handoff=handoff, lead=handoff.lead_id, kind=EventKind.ASSIGNED, by=by, at=at, to_owner=profile.user_id)
    handoff.owner_id, handoff.assigned_at, handoff.due_at = profile.user_id, at, due
    handoff.first_due_at = handoff.first_due_at or due
    return handoff


def _first_due(due):
    """first_due_at for an UPDATE that (re)starts the clock: set once, at the first deadline, never moved."""
    return Coalesce(F("first_due_at"), Value(due, output_field=DateTimeField())) if due else F("first_due_at")


@retry_on_conflict
@transaction.atomic
def handoff_claim(*, handoff, by, at=None):
    """An SDR takes a pool handoff; the SLA clock (re)starts now. Claiming one's own is a no-op.

    Returns the handoff with its new due_at, for the "SLA restarted: due …" message;
    first_due_at keeps the first deadline, which the SLA reports count a breach against."""
    at = at or timezone.now()
    if not can_act(by):
        raise NotAllowed("Your role can view the queue but not claim leads.")
    _lead, locked = _lock(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise _already_decided(locked)
    if locked.owner_id == by.pk:
        return locked
    if locked.owner_id is not None:
        owner = get_user_model().objects.get(pk=locked.owner_id)
        raise Conflict(f"{display_name(owner)} already has this lead.")
    due = due_at_for(locked.sla_policy, at)
    with rollup.tracking([locked.pk]):
        Handoff.objects.filter(pk=locked.pk).update(owner=by, assigned_at=at, due_at=due, first_due_at=_first_due(due))
    _event(handoff=locked, lead=locked.lead_id, kind=EventKind.CLAIMED, by=by, at=at, to_owner=by.pk)
    locked.owner, locked.assigned_at, locked.due_at = by, at, due
    locked.first_due_at = locked.first_due_at or due
    return locked


@retry_on_conflict
@transaction.atomic
def handoff_reassign(*, handoff, by, to_user, note="", at=None):
    """A sales manager moves an open handoff to another SDR (to_user) or back to the pool (None).

    The SLA clock restarts for the new owner (the returned handoff carries the new due_at);
    first_due_at keeps the first deadline, so a breach before the move still counts in the
    reports. Only people with an SDR profile take handoffs: a manager without one is no target.
    """
    _check_note(note)
    at = at or timezone.now()
    if not is_manager(by):
        raise NotAllowed("Only a sales manager can reassign leads.")
    if to_user is not None and not (to_user.is_active and can_act(to_user) and SDRProfile.objects.filter(user_id=to_user.pk).exists()):
        message = f"{display_name(to_user)} does not work the queue."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    _lead, locked = _lock(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise _already_decided(locked)
    new_owner_id = to_user.pk if to_user else None
    if locked.owner_id == new_owner_id:
        message = "It is already assigned there." if to_user else "It is already in the pool."
        raise ValidationFailed(message, field_errors={"owner": [message]})
    assigned_at, due = (at, due_at_for(locked.sla_policy, at)) if to_user else (None, None)
    with rollup.tracking([locked.pk]):
        Handoff.objects.filter(pk=locked.pk).update(owner_id=new_owner_id, assigned_at=assigned_at, due_at=due,
                                                    first_due_at=_first_due(due))
    _event(handoff=locked, lead=locked.lead_id, kind=EventKind.REASSIGNED, by=by, at=at, note=note,
           from_owner=locked.owner_id, to_owner=new_owner_id)
    locked.owner_id, locked.assigned_at, locked.due_at = new_owner_id, assigned_at, due
    locked.first_due_at = locked.first_due_at or due
    return locked


def _decide(locked, by, at):
    """Fields every decision sets; a pool handoff becomes the decider's."""
    locked.owner_id = locked.owner_id or by.pk
    locked.assigned_at = locked.assigned_at or at
    locked.first_decision_at = at
    # The SLA clock in business time, stored so reports aggregate a column instead of a calendar.
    from .sla import calendar_for

    elapsed = calendar_for(locked.sla_policy).elapsed(locked.assigned_at, at)
    locked.response_minutes = round(elapsed.total_seconds() / 60)
    locked.decided_by = by
    locked.closed_at = at


@retry_on_conflict
@transaction.atomic
def handoff_accept(*, handoff, by, note="", at=None):
    """Sales accepts the MQL: the lead becomes a SAL owned by the handoff's SDR, with an empty SQL checklist."""
    _check_note(note)
    at = at or timezone.now()
    lead, locked = _lock(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise _already_decided(locked)
    _check_can_decide(locked, by)
    if lead.stage != Stage.MQL:
        raise Conflict(f"This lead is no longer an MQL (it is {lead.get_stage_display()}).")
    _decide(locked, by, at)
    transition(lead, Stage.SAL, by=by, reason="Accepted by sales", note=note, updates={"owner_id": locked.owner_id}, at=at)
    locked.status, locked.note = HandoffStatus.ACCEPTED, note or ""
    rollups = rollup.Change([locked.pk])
    locked.save(update_fields=["status", "note", "owner", "assigned_at", "first_decision_at", "decided_by", "closed_at",
                                "response_minutes"])
    Qualification.objects.create(handoff=locked, lead=lead, created_at=at)
    _event(handoff=locked, lead=lead, kind=EventKind.ACCEPTED, by=by, at=at, note=note, to_owner=locked.owner_id)
    rollups.apply()  # last: the rollup rows are the most shared locks, held only until the commit
    return locked


@retry_on_conflict
@transaction.atomic
def handoff_reject(*, handoff, by, reason, note="", at=None):
    """Sales turns the MQL down. The reason is required and decides where the lead goes:
    back to nurture until its cooldown ends (recycle count +1), or disqualified."""
    _check_note(note)
    at = at or timezone.now()
    reason = _resolve_reason(reason)
    lead, locked = _lock(handoff)
    if locked.status != HandoffStatus.OPEN:
        raise _already_decided(locked)
    _check_can_decide(locked, by)
    if lead.stage != Stage.MQL:
        raise Conflict(f"This lead is no longer an MQL (it is {lead.get_stage_display()}).")
    _decide(locked, by, at)
    _send_back(lead=lead, by=by, reason=reason, note=note, at=at)
    locked.status, locked.rejection_reason, locked.note = HandoffStatus.REJECTED, reason, note or ""
    rollups = rollup.Change([locked.pk])
    locked.save(update_fields=[
        "status", "rejection_reason", "note", "owner", "assigned_at", "first_decision_at", "decided_by", "closed_at",
        "response_minutes",
    ])
    _event(handoff=locked, lead=lead, kind=EventKind.REJECTED, by=by, at=at, reason=reason.label, note=note)
    rollups.apply()  # last: the rollup rows are the most shared locks, held only until the commit
    return locked


@retry_on_conflict
@transaction.atomic
def handoff_close(*, lead, by=None, reason="", at=None):
    """Close the lead's open handoff without a decision (the lead left MQL by another path).
    Returns the number closed (0 or 1)."""
    at = at or timezone.now()
    closed = 0
    for stale in Handoff.objects.select_for_update(no_key=True).filter(lead_id=lead.pk, status=HandoffStatus.OPEN).order_by("pk"):
        with rollup.tracking([stale.pk]):
            closed += Handoff.objects.filter(pk=stale.pk, status=HandoffStatus.OPEN).update(
                status=HandoffStatus.CLOSED, closed_at=at)
        _event(handoff=stale, lead=lead, kind=EventKind.CLOSED, by=by, at=at, reason=reason)
    return closed


# --- working a SAL ---------------------------------------------------------------------

def _check_can_work_lead(lead, by):
    if not can_act(by):
        raise NotAllowed("Your role can view leads but not work them.")
    if is_manager(by) or lead.owner_id == by.pk:
        return
    owner = get_user_model().objects.filter(pk=lead.owner_id).first()
    raise NotAllowed(f"This lead belongs to {display_name(owner)}; only they or a sales manager can work it.")


def _lock_lead(lead, stage, verb):
    locked = Lead.objects.select_for_update(no_key=True).filter(pk=lead.pk).first()
    if locked is None:
        raise Conflict("This lead was merged into another one a moment ago. Reload and try again.")
    if locked.stage != stage:
        raise Conflict(f"Only a {Stage(stage).label} can be {verb}; this lead is {locked.get_stage_display()}.")
    return locked


def current_qualification(lead):
    """The checklist of the lead's latest acceptance, or None."""
    return Qualification.objects.filter(lead_id=lead.pk).order_by("-created_at", "-id").first()


def _clean_checklist(values):
    """Typed checklist values from loosely typed input; unknown keys are refused."""
    unknown = set(values) - set(CHECKLIST_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown checklist fields: {', '.join(sorted(unknown))}.")
    cleaned = {}
    for key, value in values.items():
        if key in CHECKLIST_FLAGS:
            cleaned[key] = bool(value)
        elif key == "opportunity_amount":
            if value in (None, ""):
                cleaned[key] = None
            else:
                try:
                    amount = Decimal(str(value))
                except InvalidOperation:
                    raise ValidationFailed("Enter the opportunity size as a number.",
                                           field_errors={key: ["Enter a number."]})
                if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
                    raise ValidationFailed("Enter a positive opportunity size.",
                                           field_errors={key: ["Enter a positive amount."]})
                cleaned[key] = amount.quantize(Decimal("0.01"))
        else:
            cleaned[key] = (value or "").strip()
    return cleaned


def _save_checklist(lead, cleaned, at):
    qualification = current_qualification(lead)
    if qualification is None:
        # A SAL made outside the queue (e.g. imported) still gets a checklist.
        qualification = Qualification(lead_id=lead.pk, created_at=at)
    for key, value in cleaned.items():
        setattr(qualification, key, value)
    return qualification


def missing_checklist_items(qualification):
    labels = {f.name: f.verbose_name for f in Qualification._meta.get_fields() if hasattr(f, "verbose_name")}
    missing = {}
    for key in REQUIRED_CHECKLIST:
        value = getattr(qualification, key)
        if key == "opportunity_amount":
            if not value or value <= 0:
                missing[key] = ["Enter the opportunity size."]
        elif not value:
            missing[key] = [f"Confirm “{labels[key]}”."]
    return missing


@retry_on_conflict
@transaction.atomic
def qualification_save(*, lead, by, at=None, **checklist):
    """Save the SQL checklist of a SAL without qualifying it yet."""
    at = at or timezone.now()
    cleaned = _clean_checklist(checklist)
    locked = _lock_lead(lead, Stage.SAL, "worked on")
    _check_can_work_lead(locked, by)
    qualification = _save_checklist(locked, cleaned, at)
    qualification.save()
    _event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.CHECKLIST, by=by, at=at)
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_qualify(*, lead, by, note="", at=None, **checklist):
    """SAL → SQL once every required checklist item is confirmed; the checklist is saved with it.

    When items are missing nothing is written and ValidationFailed lists them by field.
    """
    at = at or timezone.now()
    cleaned = _clean_checklist(checklist)
    locked = _lock_lead(lead, Stage.SAL, "qualified")
    _check_can_work_lead(locked, by)
    qualification = _save_checklist(locked, cleaned, at)
    missing = missing_checklist_items(qualification)
    if missing:
        raise ValidationFailed("Confirm every required checklist item before qualifying.", field_errors=missing)
    qualification.qualified_at, qualification.qualified_by = at, by
    qualification.save()
    with rollup.tracking([qualification.handoff_id]):
        if qualification.handoff_id:
            Handoff.objects.filter(pk=qualification.handoff_id).update(sql_at=at)
    summary = f"Opportunity ${qualification.opportunity_amount:,.0f}"
    transition(locked, Stage.SQL, by=by, reason="Qualified: checklist complete", note=note or summary, at=at)
    _event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.QUALIFIED, by=by, at=at, note=note or summary)
    lead.stage = locked.stage
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_record_outcome(*, lead, by, outcome, lost_reason="", note="", at=None):
    """SQL → won or lost; a loss needs its reason."""
    at = at or timezone.now()
    if outcome not in Outcome.values:
        raise ValidationFailed("Choose won or lost.", field_errors={"outcome": ["Choose won or lost."]})
    lost_reason = (lost_reason or "").strip()
    if outcome == Outcome.LOST and not lost_reason:
        raise ValidationFailed("Say why it was lost.", field_errors={"lost_reason": ["Say why it was lost."]})
    if outcome == Outcome.WON:
        lost_reason = ""
    locked = _lock_lead(lead, Stage.SQL, "closed as won or lost")
    _check_can_work_lead(locked, by)
    qualification = current_qualification(locked) or Qualification(lead_id=locked.pk, created_at=at)
    qualification.outcome, qualification.lost_reason = outcome, lost_reason
    qualification.outcome_at, qualification.outcome_by = at, by
    qualification.save()
    with rollup.tracking([qualification.handoff_id]):
        if qualification.handoff_id:
            Handoff.objects.filter(pk=qualification.handoff_id).update(won_at=at if outcome == Outcome.WON else None)
    reason = "Won" if outcome == Outcome.WON else f"Lost: {lost_reason}"
    transition(locked, Stage(outcome), by=by, reason=reason, note=note, at=at)
    _event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.OUTCOME, by=by, at=at, reason=reason, note=note)
    lead.stage = locked.stage
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_recycle(*, lead, by, reason, note="", at=None):
    """A SAL goes back to marketing: to nurture with the reason's cooldown, or disqualified."""
    _check_note(note)
    at = at or timezone.now()
    reason = _resolve_reason(reason)
    locked = _lock_lead(lead, Stage.SAL, "recycled")
    _check_can_work_lead(locked, by)
    moved = _send_back(lead=locked, by=by, reason=reason, note=note, at=at)
    qualification = current_qualification(locked)
    _event(handoff=qualification.handoff_id if qualification else None, lead=locked, kind=EventKind.RECYCLED, by=by,
           at=at, reason=reason.label, note=note)
    lead.stage = moved.stage
    return moved


# --- merging duplicate leads (called by leadhub.services.lead_merge) -------------------------

def handoff_lead_merged(*, survivor, duplicate, by, at):
    """Move the duplicate's handoffs, events and checklists to the survivor when two leads merge.

    The caller holds both lead rows locked in one transaction. A lead has at most one open
    handoff, so the duplicate's open one is closed (not rejected: no SDR decided, and rejection
    reports stay about sales' decisions) unless the survivor is an MQL without one, which then
    takes it over. Returns {"handoffs": n, "handoff_events": n, "qualifications": n, "closed": 0|1}.
    """
    closed = 0
    open_duplicate = Handoff.objects.select_for_update().filter(lead_id=duplicate.pk, status=HandoffStatus.OPEN).first()
    if open_duplicate is not None:
        survivor_has_open = Handoff.objects.filter(lead_id=survivor.pk, status=HandoffStatus.OPEN).exists()
        if survivor_has_open or survivor.stage != Stage.MQL:
            with rollup.tracking([open_duplicate.pk]):
                closed = Handoff.objects.filter(pk=open_duplicate.pk, status=HandoffStatus.OPEN).update(
                    status=HandoffStatus.CLOSED, closed_at=at)
            _event(handoff=open_duplicate, lead=duplicate, kind=EventKind.CLOSED, by=by, at=at, reason="Duplicate",
                   note=f"Lead {duplicate.email} was merged into {survivor.email}.")
    moved = {
        "handoffs": Handoff.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
        "handoff_events": HandoffEvent.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
        "qualifications": Qualification.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
    }
    return {**moved, "closed": closed}


def notification_dismiss(*, notification_id, by, at=None):
    """Mark one of the user's notices read; someone else's or an unknown one is a no-op (0)."""
    from .models import Notification

    return Notification.objects.filter(pk=notification_id, recipient_id=by.pk, read_at__isnull=True).update(
        read_at=at or timezone.now())
