"""Fixed instants for the tests whose outcome could depend on the time of day or the weekday
(the demo, scoring's day-based decay, the SLA's business hours). Each runs at every instant
below through the `fixed_instant` fixture (tests/conftest.py), which moves every clock read in
the process (leadhub.clock.running_as_of), so the suite passes whenever it runs."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handoff.sla_clock import DEFAULT_CALENDAR

BUSINESS_ZONE = ZoneInfo(DEFAULT_CALENDAR.time_zone)  # the default SLA policy's business hours

INSTANTS = {
    # Decay counts whole days in UTC: an activity "an hour ago" is yesterday's.
    "just-after-midnight-utc": datetime(2026, 11, 24, 0, 4, tzinfo=UTC),  # a Tuesday
    # A quarter of an hour before the business day closes, with the weekend ahead.
    "friday-17:45-business": datetime(2026, 11, 27, 17, 45, tzinfo=BUSINESS_ZONE),
    # No business hours all day: every SLA clock is stopped.
    "sunday": datetime(2026, 11, 29, 14, 30, tzinfo=UTC),
}


def is_business_time(instant):
    """Whether the default SLA calendar is open at `instant`."""
    local = instant.astimezone(BUSINESS_ZONE)
    return local.weekday() in DEFAULT_CALENDAR.workdays and DEFAULT_CALENDAR.opens <= local.time() < DEFAULT_CALENDAR.closes
