"""Gradual publish: a daily cap on the handoffs a scoring publish opens for SDRs.

While a publish's rescoring run routes its new MQLs (qualification.publishing.run_rescore runs
it inside `qualification.publish_records.capped(record)`), routing gives SDRs at most the record's daily cap a day; the rest wait in
the pool, recorded as held (HeldHandoff), and are routed later in order (highest score at
handoff first), up to the cap each day, by the sweeper (handoff.held_release.release_held). SDRs may still claim
any of them from the pool at any time.
"""

from django.utils import timezone

from qualification.models import PublishRecord
from qualification.publish_records import capped_record_id

from .choices import EventKind, HandoffStatus
from .models import HandoffEvent, HeldHandoff


def _record():
    record_id = capped_record_id()
    if record_id is None:
        return None
    record = PublishRecord.objects.select_for_update().filter(pk=record_id, daily_cap__isnull=False).first()
    return record


def used_today(record, day):
    return record.routed_today if record.routed_day == day else 0


def apply(owners, at):
    """The owners routing chose (SDRProfiles, None for the pool), with those past today's cap
    sent to the pool instead. Unchanged outside a capped publish."""
    record = _record()
    if record is None:
        return owners
    day = timezone.localdate(at)
    used = used_today(record, day)
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
    record_id = capped_record_id()
    pooled = [h.pk for h in handoffs if h.owner_id is None]
    if record_id is None or not pooled:
        return
    record = _record()
    if record is None:
        return
    HeldHandoff.objects.bulk_create([HeldHandoff(record_id=record.pk, handoff_id=pk) for pk in pooled], ignore_conflicts=True)
    HandoffEvent.objects.filter(handoff_id__in=pooled, kind=EventKind.POOLED).update(
        reason=f"Held in the pool: publishing v{record.model.version} opens {record.daily_cap:,} handoffs a day"
    )


def held_count(record):
    """Handoffs of this publish still waiting in the pool for their turn."""
    return HeldHandoff.objects.filter(record=record, handoff__status=HandoffStatus.OPEN, handoff__owner__isnull=True).count()
