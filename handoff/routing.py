"""Routing: every new MQL gets a handoff, given round-robin to the SDR whose turn it is.

handoff_create_many runs inside leadhub.lifecycle's transaction (the receiver of
leadhub.hooks.on_stage_entered for MQL, handoff.receivers), with the lead rows locked; the
SLA escalation (handoff.sla) reassigns through next_sdr.
"""

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from leadhub.db import retry_on_conflict
from leadhub.errors import Conflict
from leadhub.models import Lead
from qualification.selectors import lead_scores

from . import rollup, routing_cap
from .choices import EventKind, HandoffStatus
from .models import Handoff, HandoffEvent, HandoffRule, SDRProfile, SLAPolicy
from .records import first_due, lock_handoff, record_event
from .sla_clock import due_at_for


def sla_policy_for(channel: str) -> SLAPolicy | None:
    """The active policy for this channel, else the default one (no channel), else None."""
    policies = list(SLAPolicy.objects.filter(Q(channel=channel) | Q(channel=""), active=True))
    policies.sort(key=lambda p: p.channel != channel)
    return policies[0] if policies else None


def sdrs_in_turn(count: int, at: datetime, exclude: Collection[int] = ()) -> list[SDRProfile | None]:
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
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("id"))
    )
    free = [profile.capacity - load.get(profile.user_id, 0) for profile in candidates]
    owners: list[SDRProfile | None] = []
    turn = 0
    for _ in range(count):
        nxt = next(
            ((turn + step) % len(candidates) for step in range(len(candidates)) if free[(turn + step) % len(candidates)] > 0),
            None,
        )
        if nxt is None:
            owners.extend([None] * (count - len(owners)))
            break
        owners.append(candidates[nxt])
        free[nxt] -= 1
        turn = nxt + 1
    return owners


def next_sdr(at: datetime, exclude: Collection[int] = ()) -> SDRProfile | None:
    """The available SDR under capacity whose turn it is, or None (see sdrs_in_turn)."""
    return sdrs_in_turn(1, at, exclude)[0]


def mark_assigned(owners: Sequence[SDRProfile | None], at: datetime) -> None:
    """Move each assigned SDR's turn to the back: last_assigned_at is `at` plus the position of
    their last handoff in this routing (microseconds), so the next routing goes on where this
    one stopped instead of restarting from the lowest id."""
    last = {profile.pk: index for index, profile in enumerate(owners) if profile is not None}
    SDRProfile.objects.bulk_update(
        [SDRProfile(pk=pk, last_assigned_at=at + timedelta(microseconds=index)) for pk, index in last.items()],
        ["last_assigned_at"],
    )


def record_rules(handoffs: Iterable[Handoff], leads: Iterable[Lead]) -> None:
    """Store the scoring rules that contributed to each lead's score at handoff (HandoffRule):
    marketing's feedback groups rejections by rule with one GROUP BY, and the rows describe
    the score sales actually saw, even after the model changes."""
    results = lead_scores([lead for lead in leads if lead.score_model_version is not None])
    HandoffRule.objects.bulk_create(
        [
            HandoffRule(handoff=handoff, rule_id=c.rule_id, kind=c.kind, label=c.rule[:200], points=c.points)
            for handoff in handoffs
            if handoff.lead_id in results
            for c in results[handoff.lead_id].contributions
            if c.points
        ],
        ignore_conflicts=True,
    )


@retry_on_conflict
@transaction.atomic
def handoff_create(*, lead: Lead, by: User | None = None, at: datetime | None = None) -> Handoff:
    """Open a handoff for a lead that just became an MQL and route it (see handoff_create_many)."""
    return handoff_create_many(lead_ids=[lead.pk], by=by, at=at)[0]


@retry_on_conflict
@transaction.atomic
def handoff_create_many(*, lead_ids: Iterable[int], by: User | None = None, at: datetime | None = None) -> list[Handoff]:
    """Open a handoff for each lead that just became an MQL and route them round-robin
    (sdrs_in_turn); a handoff nobody can take waits in the pool. Returns the handoffs in
    lead id order.

    Called from leadhub.lifecycle.transition and transition_many (on_stage_entered) inside their
    transaction, with the lead rows locked. A constant number of queries for any number of leads. An open
    handoff left over from an earlier MQL spell (the lead left MQL by another path) is closed
    first, so the one-open-per-lead constraint holds.
    """
    at = at or timezone.now()
    leads = sorted(Lead.objects.filter(pk__in=lead_ids).select_related("company"), key=lambda lead: lead.pk)
    if not leads:
        return []
    stale = list(
        Handoff.objects.select_for_update(no_key=True)
        .filter(lead_id__in=[lead.pk for lead in leads], status=HandoffStatus.OPEN)
        .order_by("pk")
    )
    # One rollup update at the end for the closed and the new handoffs (rollup.Change).
    rollups = rollup.Change([h.pk for h in stale])
    if stale:
        Handoff.objects.filter(pk__in=[h.pk for h in stale]).update(status=HandoffStatus.CLOSED, closed_at=at)
        HandoffEvent.objects.bulk_create(
            [
                HandoffEvent(
                    handoff_id=h.pk,
                    lead_id=h.lead_id,
                    kind=EventKind.CLOSED,
                    by=by,
                    at=at,
                    reason="Superseded by a new MQL handoff",
                )
                for h in stale
            ]
        )
    policies: dict[str, SLAPolicy | None] = {}
    due: dict[SLAPolicy | None, datetime] = {}
    owners = routing_cap.apply(sdrs_in_turn(len(leads), at), at)  # a gradual publish's daily cap
    handoffs: list[Handoff] = []
    for lead, owner in zip(leads, owners, strict=True):
        if lead.source not in policies:
            policies[lead.source] = sla_policy_for(lead.source)
        policy = policies[lead.source]
        if owner is not None and policy not in due:
            due[policy] = due_at_for(policy, at)
        handoffs.append(
            Handoff(
                lead_id=lead.pk,
                channel=lead.source,
                campaign=lead.campaign,
                score_at_handoff=lead.total_score,
                grade_at_handoff=lead.grade,
                created_at=at,
                sla_policy=policy,
                owner_id=owner.user_id if owner else None,
                assigned_at=at if owner else None,
                due_at=due[policy] if owner else None,
                first_due_at=due[policy] if owner else None,
            )
        )
    handoffs = Handoff.objects.bulk_create(handoffs)
    events = [HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.CREATED, by=by, at=at) for h in handoffs]
    events += [
        HandoffEvent(handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.ASSIGNED, by=by, at=at, to_owner_id=h.owner_id)
        if h.owner_id is not None
        else HandoffEvent(
            handoff_id=h.pk, lead_id=h.lead_id, kind=EventKind.POOLED, by=by, at=at, reason="No SDR is available under capacity"
        )
        for h in handoffs
    ]
    HandoffEvent.objects.bulk_create(events)
    mark_assigned(owners, at)
    record_rules(handoffs, leads)
    rollups.apply(new_ids=[h.pk for h in handoffs])
    routing_cap.hold(handoffs)
    return handoffs


@retry_on_conflict
@transaction.atomic
def handoff_assign(*, handoff: Handoff, by: User | None = None, at: datetime | None = None) -> Handoff:
    """Give a pool handoff to the SDR whose turn it is; leave it in the pool when nobody is free."""
    at = at or timezone.now()
    _lead, locked = lock_handoff(handoff)  # lead and handoff before the SDR profiles: the lock order
    if locked.status != HandoffStatus.OPEN or locked.owner_id is not None:
        raise Conflict("This handoff is no longer waiting for an owner.")
    profile = next_sdr(at)
    if profile is None:
        record_event(
            handoff=handoff,
            lead=handoff.lead_id,
            kind=EventKind.POOLED,
            by=by,
            at=at,
            reason="No SDR is available under capacity",
        )
        return handoff
    due = due_at_for(locked.sla_policy, at)
    with rollup.tracking([handoff.pk]):
        updated = Handoff.objects.filter(pk=handoff.pk, status=HandoffStatus.OPEN, owner__isnull=True).update(
            owner_id=profile.user_id, assigned_at=at, due_at=due, first_due_at=first_due(due)
        )
    if updated != 1:
        raise Conflict("This handoff is no longer waiting for an owner.")
    mark_assigned([profile], at)
    record_event(handoff=handoff, lead=handoff.lead_id, kind=EventKind.ASSIGNED, by=by, at=at, to_owner=profile.user_id)
    handoff.owner_id, handoff.assigned_at, handoff.due_at = profile.user_id, at, due
    handoff.first_due_at = handoff.first_due_at or due
    return handoff
