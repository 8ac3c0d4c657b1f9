"""What a publish would do to the SDRs' queues: the routing impact shown in the preview and on
the publish confirmation.

Publishing opens a handoff for every lead it makes an MQL; routing gives them round-robin to
the SDRs who are available, not out of office and under capacity, from the one assigned
longest ago (handoff.services._sdrs_in_turn), and the rest wait in the pool. This replays that
turn on today's figures without locking or writing anything; with a daily cap
(handoff.routing_cap) only the cap is routed today and the rest wait in the pool.
"""

import math
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone


@dataclass
class SDRLoad:
    name: str
    username: str
    open_now: int
    capacity: int
    receives: int = 0
    response_hours: object = None  # the default SLA policy's response time

    @property
    def open_after(self):
        return self.open_now + self.receives

    @property
    def free(self):
        return max(self.capacity - self.open_now, 0)


@dataclass
class RoutingImpact:
    new_mqls: int  # handoffs the publish opens
    daily_cap: int | None
    sdrs: list = field(default_factory=list)  # SDRLoad of each SDR routing may give work to now
    unavailable: int = 0  # SDRs away (unavailable or out of office): they get nothing
    pool_now: int = 0  # handoffs already waiting in the pool
    response_hours: object = None

    @property
    def free_capacity(self):
        return sum(s.free for s in self.sdrs)

    @property
    def routed_now(self):
        return sum(s.receives for s in self.sdrs)

    @property
    def to_pool(self):
        return self.new_mqls - self.routed_now

    @property
    def held_by_cap(self):
        """Of those waiting, how many wait for the cap rather than for free capacity."""
        if not self.daily_cap:
            return 0
        return max(min(self.new_mqls, self.free_capacity) - self.routed_now, 0)

    @property
    def days_to_route(self):
        """Days until a capped publish has routed all its handoffs (capacity permitting)."""
        if not self.daily_cap or not self.new_mqls:
            return 0
        return math.ceil(self.new_mqls / self.daily_cap)


def _turn(candidates, free, count):
    """How many of `count` handoffs each candidate gets, taking turns and skipping the full
    (the loop of handoff.services._sdrs_in_turn)."""
    got, turn = [0] * len(candidates), 0
    for _ in range(count):
        nxt = next(((turn + step) % len(candidates) for step in range(len(candidates))
                    if free[(turn + step) % len(candidates)] > 0), None)
        if nxt is None:
            break
        got[nxt] += 1
        free[nxt] -= 1
        turn = nxt + 1
    return got


def routing_impact(new_mqls, *, daily_cap=None, at=None):
    from handoff.choices import HandoffStatus
    from handoff.models import Handoff, SDRProfile
    from handoff.services import display_name, sla_policy_for

    at = at or timezone.now()
    profiles = list(SDRProfile.objects.filter(user__is_active=True).select_related("user").order_by("pk"))
    routable = [p for p in profiles if p.available and not p.is_out_of_office(at)]
    routable.sort(key=lambda p: (p.last_assigned_at is not None, p.last_assigned_at or at, p.pk))
    counts = Handoff.objects.filter(status=HandoffStatus.OPEN).aggregate(
        pool=Count("id", filter=Q(owner__isnull=True)))
    load = dict(Handoff.objects.filter(status=HandoffStatus.OPEN, owner_id__in=[p.user_id for p in routable])
                .order_by().values_list("owner_id").annotate(n=Count("id")))
    policy = sla_policy_for("")
    hours = policy.response_hours.normalize() if policy else None
    sdrs = [SDRLoad(name=display_name(p.user), username=p.user.username, open_now=load.get(p.user_id, 0), capacity=p.capacity, response_hours=hours)
            for p in routable]
    today = new_mqls if daily_cap is None else min(new_mqls, daily_cap)
    if sdrs:
        for sdr, received in zip(sdrs, _turn(routable, [s.capacity - s.open_now for s in sdrs], today), strict=True):
            sdr.receives = received
    sdrs.sort(key=lambda s: s.name.casefold())
    return RoutingImpact(new_mqls=new_mqls, daily_cap=daily_cap, sdrs=sdrs, unavailable=len(profiles) - len(routable),
                         pool_now=counts["pool"], response_hours=hours)
