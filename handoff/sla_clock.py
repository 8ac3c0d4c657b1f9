"""The SLA clock: business-time arithmetic over an SLAPolicy, with no database and no side effect.

An SLAPolicy becomes a BusinessCalendar (days, hours, time zone, holidays; handoff.business_hours);
`due_at_for` adds the policy's response time to the assignment moment in business time, and
`business_minutes` measures a response. Escalation, which acts on deadlines, is handoff.sla.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from .business_hours import BusinessCalendar, parse_holidays
from .choices import DEFAULT_RESPONSE_HOURS


class PolicyClock(Protocol):
    """What the clock reads of an SLA policy: an SLAPolicy, or the queue's row of its columns
    (handoff.selectors.rows). Only values: the clock itself needs no database."""

    @property
    def response_hours(self) -> Decimal | float: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def workdays(self) -> Any: ...  # weekday numbers, Monday = 0 (a JSON list on the model)
    @property
    def opens_at(self) -> time: ...
    @property
    def closes_at(self) -> time: ...
    @property
    def holidays(self) -> str: ...


DEFAULT_CALENDAR = BusinessCalendar(time_zone="UTC", workdays=frozenset({0, 1, 2, 3, 4}), opens=time(9), closes=time(18))


@lru_cache(maxsize=256)
def _calendar(time_zone: str, workdays: tuple[int, ...], opens: time, closes: time, holidays: str) -> BusinessCalendar:
    return BusinessCalendar(
        time_zone=time_zone, workdays=frozenset(workdays), opens=opens, closes=closes, holidays=parse_holidays(holidays)
    )


def calendar_for(policy: PolicyClock | None) -> BusinessCalendar:
    """The business calendar of a policy (cached by its values); the default one without a policy."""
    if policy is None:
        return DEFAULT_CALENDAR
    return _calendar(
        policy.time_zone or "UTC", tuple(sorted(policy.workdays or ())), policy.opens_at, policy.closes_at, policy.holidays or ""
    )


def response_time(policy: PolicyClock | None) -> timedelta:
    return timedelta(hours=float(policy.response_hours if policy else DEFAULT_RESPONSE_HOURS))


def due_at_for(policy: PolicyClock | None, assigned_at: datetime) -> datetime:
    """Deadline of the first decision: assignment + the response time, in business time."""
    return calendar_for(policy).add(assigned_at, response_time(policy))


def business_before(policy: PolicyClock | None, end: datetime, duration: timedelta) -> datetime:
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


def business_minutes(policy: PolicyClock | None, start: datetime, end: datetime) -> int:
    """Whole minutes of the policy's business time between `start` and `end` (a response time)."""
    return round(calendar_for(policy).elapsed(start, end).total_seconds() / 60)
