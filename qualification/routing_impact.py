"""What a publish would do to the SDRs' queues: the routing impact shown in the preview and on
the publish confirmation.

Publishing opens a handoff for every lead it makes an MQL; routing gives them round-robin to
the SDRs who are available, not out of office and under capacity, from the one assigned
longest ago (handoff.routing.sdrs_in_turn), and the rest wait in the pool. The handoff app
replays that turn on today's figures without locking or writing anything (handoff.routing_impact,
registered here at start-up with `provide`: scoring sits below the queue); with a daily cap
(handoff.routing_cap) only the cap is routed today and the rest wait in the pool.
"""

import math
from dataclasses import dataclass, field


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


def turns(candidates, free, count):
    """How many of `count` handoffs each candidate gets, taking turns and skipping the full
    (the loop of handoff.routing.sdrs_in_turn)."""
    got, turn = [0] * len(candidates), 0
    for _ in range(count):
        nxt = next(
            ((turn + step) % len(candidates) for step in range(len(candidates)) if free[(turn + step) % len(candidates)] > 0),
            None,
        )
        if nxt is None:
            break
        got[nxt] += 1
        free[nxt] -= 1
        turn = nxt + 1
    return got


_provider = None


def provide(function):
    """Register the function that measures the routing impact (the handoff app, in ready())."""
    global _provider
    _provider = function


def routing_impact(new_mqls, *, daily_cap=None, at=None):
    """RoutingImpact of opening `new_mqls` handoffs now (None when no queue app is installed)."""
    if _provider is None:
        return None
    return _provider(new_mqls, daily_cap=daily_cap, at=at)
