"""The SLA clock: business-time arithmetic over an SLAPolicy, with no database and no side effect.

An SLAPolicy becomes a BusinessCalendar (days, hours, time zone, holidays; handoff.business_hours);
`due_at_for` adds the policy's response time to the assignment moment in business time, and
`business_minutes` measures a response. Escalation, which acts on deadlines, is handoff.sla.
"""

from datetime import time, timedelta
from functools import lru_cache

from .business_hours import BusinessCalendar, parse_holidays
from .choices import DEFAULT_RESPONSE_HOURS

DEFAULT_CALENDAR = BusinessCalendar(time_zone="UTC", workdays=frozenset({0, 1, 2, 3, 4}), opens=time(9), closes=time(18))


@lru_cache(maxsize=256)
def _calendar(time_zone, workdays, opens, closes, holidays):
    return BusinessCalendar(time_zone=time_zone, workdays=frozenset(workdays), opens=opens, closes=closes,
                            holidays=parse_holidays(holidays))


def calendar_for(policy):
    """The business calendar of a policy (cached by its values); the default one without a policy."""
    if policy is None:
        return DEFAULT_CALENDAR
    return _calendar(policy.time_zone or "UTC", tuple(sorted(policy.workdays or ())), policy.opens_at, policy.closes_at,
                     policy.holidays or "")


def response_time(policy):
    return timedelta(hours=float(policy.response_hours if policy else DEFAULT_RESPONSE_HOURS))


def due_at_for(policy, assigned_at):
    """Deadline of the first decision: assignment + the response time, in business time."""
    return calendar_for(policy).add(assigned_at, response_time(policy))


def business_before(policy, end, duration):
    """The moment `duration` of the policy's business time before `end`: always inside its
    business hours (the demo stages overdue deadlines with it)."""
    calendar = calendar_for(policy)
    remaining, day = duration, end.astimezone(calendar.zone).date()
    for _ in range(3700):
        window = calendar.window(day)
        if window is not None and window[0] < end:
            finish = min(window[1], end)
            if remaining <= finish - window[0]:
                return finish - remaining
            remaining -= finish - window[0]
        day -= timedelta(days=1)
    raise ValueError("No business day within ten years before this date.")


def business_minutes(policy, start, end):
    """Whole minutes of the policy's business time between `start` and `end` (a response time)."""
    return round(calendar_for(policy).elapsed(start, end).total_seconds() / 60)
