"""Gradual publish: a daily cap on the handoffs a scoring publish opens for SDRs.

While a publish's rescoring run routes its new MQLs (qualification.publishing.run_rescore sets
`capped(record)`), routing gives SDRs at most the record's daily cap a day; the rest wait in
the pool, recorded as held (HeldHandoff), and are routed later in order (highest score at
handoff first), up to the cap each day, by the sweeper (release_held). SDRs may still claim
any of them from the pool at any time.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.utils import timezone

from .choices import EventKind, HandoffStatus

_record_id = ContextVar("gradual_publish_record", default=None)


@contextmanager
def capped(record_id):
    """Route the handoffs opened inside under the daily cap of this PublishRecord."""
    token = _record_id.set(record_id)
    try:
        yield
    finally:
        _record_id.reset(token)


def _record():
    from qualification.models import PublishRecord

    record_id = _record_id.get()
    if record_id is None:
        return None
    record = PublishRecord.objects.select_for_update().filter(pk=record_id, daily_cap__isnull=False).first()
    return record


def _used_today(record, day):
    return record.routed_today if record.routed_day == day else 0


def apply(owners, at):
    """The owners routing chose (SDRProfiles, None for the pool), with those past today's cap
    sent to the pool instead. Unchanged outside a capped publish."""
    record = _record()
    if record is None:
        return owners
    day = timezone.localdate(at)
    used = _used_today(record, day)
    capped_owners = []
    for owner in owners:
        if owner is not None and used < record.daily_cap:
            used += 1
            capped_owners.append(owner)
        else:
            capped_owners.append(None)
    record.routed_day, record.routed_today = day, used
    record.save(update_fields=["routed_day", "routed_today"])
    return capped_owners


def hold(handoffs):
    """Record the pool handoffs of a capped publish as held, and say so in their history."""
    from qualification.models import HeldHandoff

    from .models import HandoffEvent

    record_id = _record_id.get()
    pooled = [h.pk for h in handoffs if h.owner_id is None]
    if record_id is None or not pooled:
        return
    record = _record()
    if record is None:
        return
    HeldHandoff.objects.bulk_create([HeldHandoff(record_id=record.pk, handoff_id=pk) for pk in pooled], ignore_conflicts=True)
    HandoffEvent.objects.filter(handoff_id__in=pooled, kind=EventKind.POOLED).update(
        reason=f"Held in the pool: publishing v{record.model.version} opens {record.daily_cap:,} handoffs a day")


def release_held(now=None):
    """Route today's share of each gradual publish's held handoffs (once its run finished):
    up to the daily cap a day, highest score at handoff first. Returns how many were routed."""
    from qualification.models import HeldHandoff, PublishRecord

    from .models import Handoff
    from .services import handoff_assign

    now = now or timezone.now()
    day = timezone.localdate(now)
    routed = 0
    records = PublishRecord.objects.filter(daily_cap__isnull=False, held__isnull=False).exclude(run__active=True).distinct()
    for record in records:
        # Handoffs claimed, assigned or closed meanwhile are no longer held.
        HeldHandoff.objects.filter(record=record).exclude(
            handoff__status=HandoffStatus.OPEN, handoff__owner__isnull=True).delete()
        left = record.daily_cap - _used_today(record, day)
        if left <= 0:
            continue
        waiting = list(Handoff.objects.filter(pk__in=HeldHandoff.objects.filter(record=record).values("handoff_id"))
                       .order_by("-score_at_handoff", "pk")[:left])
        done = 0
        for handoff in waiting:
            assigned = handoff_assign(handoff=handoff, at=now)
            if assigned.owner_id is None:
                break  # nobody is free: the rest wait for tomorrow (or a claim)
            done += 1
        if done:
            with transaction.atomic():
                HeldHandoff.objects.filter(record=record, handoff_id__in=[h.pk for h in waiting[:done]]).delete()
                used = _used_today(PublishRecord.objects.select_for_update().get(pk=record.pk), day)
                PublishRecord.objects.filter(pk=record.pk).update(routed_day=day, routed_today=used + done)
            routed += done
    return routed


def held_count(record):
    """Handoffs of this publish still waiting in the pool for their turn."""
    from qualification.models import HeldHandoff

    return HeldHandoff.objects.filter(record=record, handoff__status=HandoffStatus.OPEN, handoff__owner__isnull=True).count()
