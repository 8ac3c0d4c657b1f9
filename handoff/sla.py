"""The escalation ladder run by the periodic SLA check (the deadlines are handoff.sla_clock's).

Escalation (`check_sla`, run every minute by Celery beat or `manage.py check_sla`):
1. mark breaches: open, assigned handoffs past their deadline get `breached_at` (one UPDATE of
   the rows locked in id order; rows a decision holds right now are left to the next check);
2. for each active EscalationTier, in order of delay, find overdue handoffs whose deadline
   plus the tier's delay (business minutes of their policy) has passed and that have no
   Escalation row for this tier and this clock (due_at);
3. take each step in its own transaction (retried on a deadlock or serialization failure):
   lock the lead, the handoff, then the SDR profiles (the lock order, docs/locking.md),
   re-check that the handoff is still open on the same clock, INSERT the Escalation row
   (unique on handoff, tier, due_at: a concurrent check that lost the race gets an
   IntegrityError and skips), act (return to pool / reassign), write the HandoffEvent and
   the in-app notices, and send the mail after commit, so a rolled-back step sends nothing.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from leadhub.db import retry_on_conflict

from . import rollup
from .choices import EventKind, HandoffStatus
from .models import Escalation, EscalationTier, Handoff, HandoffEvent, Notification
from .permissions import display_name
from .records import first_due, lock_handoff
from .routing import next_sdr
from .sla_clock import calendar_for, due_at_for

log = logging.getLogger(__name__)

# --- escalation --------------------------------------------------------------------------


@dataclass
class CheckResult:
    breached: int = 0
    escalations: int = 0
    skipped: int = 0  # steps another check took first, or handoffs decided in the meantime


def _managers():
    perm = Permission.objects.filter(content_type__app_label="handoff", codename="reassign_handoff")
    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__permissions__in=perm) | Q(user_permissions__in=perm) | Q(is_superuser=True))
        .distinct()
        .order_by("pk")
    )


def _lead_label(handoff):
    return str(handoff.lead)  # name, else email, phone or "Lead 12" (email is optional)


def _notify(users, *, handoff, escalation, subject, text):
    """In-app notices now (same transaction); e-mails after commit."""
    users = [u for u in users if u is not None]
    Notification.objects.bulk_create(
        Notification(recipient=u, handoff=handoff, escalation=escalation, text=text[:300], created_at=escalation.at)
        for u in users
    )
    emails = sorted({u.email for u in users if u.email})
    if emails:

        def mail():
            try:
                send_mail(subject, text, None, emails)
            except Exception:  # a mail server outage must not undo a recorded escalation
                log.exception("SLA escalation mail failed", extra={"handoff": handoff.pk})

        transaction.on_commit(mail)


@retry_on_conflict
def _step(handoff_id, tier, now):
    """Take one escalation step; returns the Escalation, or None when it was not (or no longer) due."""
    with transaction.atomic():
        _lead, handoff = lock_handoff(handoff_id)
        if handoff.status != HandoffStatus.OPEN or handoff.owner_id is None or handoff.due_at is None or handoff.due_at > now:
            return None
        handoff = Handoff.objects.select_related("lead", "owner", "sla_policy").get(pk=handoff.pk)
        try:
            with transaction.atomic():
                escalation = Escalation.objects.create(
                    handoff=handoff, tier=tier, due_at=handoff.due_at, owner_id=handoff.owner_id, action=tier.action, at=now
                )
        except IntegrityError:
            return None  # another SLA check took this step first
        owner, name = handoff.owner, _lead_label(handoff)
        overdue = display_name(owner)
        Action = EscalationTier.Action
        to_owner = None
        if tier.action == Action.NOTIFY_OWNER:
            text = f"{name} is past its SLA deadline: accept or reject it now."
            _notify([owner], handoff=handoff, escalation=escalation, subject=f"SLA missed: {name}", text=text)
        elif tier.action == Action.NOTIFY_MANAGER:
            text = (
                f"{name} ({overdue}) is overdue since {timezone.localtime(handoff.due_at):%b %-d %H:%M}: reassign or follow up."
            )
            _notify(_managers(), handoff=handoff, escalation=escalation, subject=f"SLA escalation: {name}", text=text)
        else:
            profile = next_sdr(now, exclude=[owner.pk]) if tier.action == Action.REASSIGN else None
            to_owner = profile.user if profile else None
            due = due_at_for(handoff.sla_policy, now) if to_owner else None
            with rollup.tracking([handoff.pk]):
                Handoff.objects.filter(pk=handoff.pk).update(
                    owner=to_owner, assigned_at=now if to_owner else None, due_at=due, first_due_at=first_due(due)
                )
            if profile:
                type(profile).objects.filter(pk=profile.pk).update(last_assigned_at=now)
                text = f"{name} was overdue with {overdue} and is now yours."
                _notify([to_owner], handoff=handoff, escalation=escalation, subject=f"Reassigned to you: {name}", text=text)
            text = (
                f"{name} was overdue and went to {display_name(to_owner)}."
                if to_owner
                else f"{name} was overdue and went back to the pool."
            )
            _notify([owner], handoff=handoff, escalation=escalation, subject=f"Taken back: {name}", text=text)
        HandoffEvent.objects.create(
            handoff=handoff,
            lead_id=handoff.lead_id,
            kind=EventKind.ESCALATED,
            at=now,
            by=None,
            reason=tier.name[:200],
            note=text,
            from_owner_id=owner.pk if tier.action in (Action.RETURN_TO_POOL, Action.REASSIGN) else None,
            to_owner_id=to_owner.pk if to_owner else None,
        )
        return escalation


@retry_on_conflict
def _mark_breaches(now):
    """Set breached_at on open, assigned handoffs past their deadline; returns how many."""
    with transaction.atomic():
        ids = list(
            Handoff.objects.select_for_update(no_key=True, skip_locked=True)
            .filter(status=HandoffStatus.OPEN, owner__isnull=False, due_at__lt=now, breached_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        return sum(
            Handoff.objects.filter(pk__in=ids[i : i + 1000], breached_at__isnull=True).update(breached_at=F("due_at"))
            for i in range(0, len(ids), 1000)
        )


def check_sla(*, now=None):
    """Mark breaches and take every escalation step that is due (see the module docstring).
    Idempotent: running it twice, or twice at once, takes each step once."""
    now = now or timezone.now()
    result = CheckResult()
    result.breached = _mark_breaches(now)
    tiers = list(EscalationTier.objects.filter(active=True).order_by("delay_minutes", "id"))
    if not tiers:
        return result
    overdue = list(
        Handoff.objects.filter(status=HandoffStatus.OPEN, owner__isnull=False, due_at__lte=now)
        .select_related("sla_policy")
        .only("id", "due_at", "owner_id", "sla_policy")
        .order_by("due_at", "id")
    )
    done = set(Escalation.objects.filter(handoff_id__in=[h.pk for h in overdue]).values_list("handoff_id", "tier_id", "due_at"))
    for handoff in overdue:
        calendar = calendar_for(handoff.sla_policy)
        for tier in tiers:
            if (handoff.pk, tier.pk, handoff.due_at) in done:
                continue
            # Business time is never shorter than wall time, so the cheap test comes first.
            if handoff.due_at + timedelta(minutes=tier.delay_minutes) > now:
                break
            if tier.delay_minutes and calendar.add(handoff.due_at, timedelta(minutes=tier.delay_minutes)) > now:
                break
            escalation = _step(handoff.pk, tier, now)
            if escalation is None:
                result.skipped += 1  # taken by a concurrent check, or the handoff moved on; next tier re-checks
                continue
            result.escalations += 1
            if tier.action in (EscalationTier.Action.RETURN_TO_POOL, EscalationTier.Action.REASSIGN):
                break  # a new clock (or none): later tiers belong to it
    return result
