"""The routing impact of a scoring publish (shown by qualification's preview and publish
confirmation, which reach it through qualification.routing_impact.provide): routing's turn
replayed on today's figures, without locking or writing anything."""

from django.db.models import Count, Q
from django.utils import timezone

from qualification.routing_impact import RoutingImpact, SDRLoad, turns

from .choices import HandoffStatus
from .models import Handoff, SDRProfile
from .permissions import display_name
from .routing import sla_policy_for


def routing_impact(new_mqls, *, daily_cap=None, at=None):
    """qualification.routing_impact.RoutingImpact of opening `new_mqls` handoffs now (read only)."""
    at = at or timezone.now()
    profiles = list(SDRProfile.objects.filter(user__is_active=True).select_related("user").order_by("pk"))
    routable = [p for p in profiles if p.available and not p.is_out_of_office(at)]
    routable.sort(key=lambda p: (p.last_assigned_at is not None, p.last_assigned_at or at, p.pk))
    counts = Handoff.objects.filter(status=HandoffStatus.OPEN).aggregate(pool=Count("id", filter=Q(owner__isnull=True)))
    load = dict(
        Handoff.objects.filter(status=HandoffStatus.OPEN, owner_id__in=[p.user_id for p in routable])
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("id"))
    )
    policy = sla_policy_for("")
    hours = policy.response_hours.normalize() if policy else None
    sdrs = [
        SDRLoad(
            name=display_name(p.user),
            username=p.user.username,
            open_now=load.get(p.user_id, 0),
            capacity=p.capacity,
            response_hours=hours,
        )
        for p in routable
    ]
    today = new_mqls if daily_cap is None else min(new_mqls, daily_cap)
    if sdrs:
        for sdr, received in zip(sdrs, turns(routable, [s.capacity - s.open_now for s in sdrs], today), strict=True):
            sdr.receives = received
    sdrs.sort(key=lambda s: s.name.casefold())
    return RoutingImpact(
        new_mqls=new_mqls,
        daily_cap=daily_cap,
        sdrs=sdrs,
        unavailable=len(profiles) - len(routable),
        pool_now=counts["pool"],
        response_hours=hours,
    )
