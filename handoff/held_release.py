"""A gradual publish's later days: the sweeper (leadhub.sweeper, every minute) routes each day's
share of the handoffs the publish held in the pool (handoff.routing_cap)."""

from django.db import transaction
from django.utils import timezone

from qualification.models import PublishRecord

from .choices import HandoffStatus
from .models import Handoff, HeldHandoff
from .routing import handoff_assign
from .routing_cap import used_today


def release_held(now=None):
    """Route today's share of each gradual publish's held handoffs (once its run finished):
    up to the daily cap a day, highest score at handoff first. Returns how many were routed."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    routed = 0
    records = PublishRecord.objects.filter(daily_cap__isnull=False, held__isnull=False).exclude(run__active=True).distinct()
    for record in records:
        # Handoffs claimed, assigned or closed meanwhile are no longer held.
        HeldHandoff.objects.filter(record=record).exclude(
            handoff__status=HandoffStatus.OPEN, handoff__owner__isnull=True
        ).delete()
        left = record.daily_cap - used_today(record, day)
        if left <= 0:
            continue
        waiting = list(
            Handoff.objects.filter(pk__in=HeldHandoff.objects.filter(record=record).values("handoff_id")).order_by(
                "-score_at_handoff", "pk"
            )[:left]
        )
        done = 0
        for handoff in waiting:
            assigned = handoff_assign(handoff=handoff, at=now)
            if assigned.owner_id is None:
                break  # nobody is free: the rest wait for tomorrow (or a claim)
            done += 1
        if done:
            with transaction.atomic():
                HeldHandoff.objects.filter(record=record, handoff_id__in=[h.pk for h in waiting[:done]]).delete()
                used = used_today(PublishRecord.objects.select_for_update().get(pk=record.pk), day)
                PublishRecord.objects.filter(pk=record.pk).update(routed_day=day, routed_today=used + done)
            routed += done
    return routed
