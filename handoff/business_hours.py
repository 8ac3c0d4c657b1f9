"""Business-time arithmetic for SLA clocks.

A BusinessCalendar says when the team works: weekdays, opening and closing time, a time
zone and holidays. `add` moves a moment forward by an amount of *business* time (a lead
assigned Friday 17:30 with 4 business hours and hours 9–18 is due Monday 12:30); `elapsed`
measures the business time between two moments.

How: walk the calendar day by day in the calendar's time zone. Each working day contributes
one window [opens, closes) in local wall-clock time, converted to UTC before any arithmetic,
so days on which daylight saving time changes are handled by zoneinfo, not by us.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 3700  # ten years: a calendar with no working day in reach is an error, not a hang


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "UTC"
    workdays: frozenset = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    holidays: frozenset = field(default_factory=frozenset)

    def __post_init__(self):
        if not self.workdays:
            raise ValueError("A business calendar needs at least one working day.")
        if self.opens >= self.closes:
            raise ValueError("Business hours must open before they close.")

    @property
    def zone(self):
        return ZoneInfo(self.time_zone)

    def window(self, day):
        """The [start, end) UTC window of business time on local date `day`, or None."""
        if day.weekday() not in self.workdays or day in self.holidays:
            return None
        zone = self.zone
        start = datetime.combine(day, self.opens, tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day, self.closes, tzinfo=zone).astimezone(UTC)
        return start, end

    def _days_from(self, moment):
        day = moment.astimezone(self.zone).date()
        for offset in range(MAX_DAYS):
            yield day + timedelta(days=offset)
        raise ValueError("No business day within ten years of this date.")

    def add(self, start, duration):
        """The moment `duration` of business time after `start` (both aware; result in UTC)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        remaining = duration
        start = start.astimezone(UTC)
        for day in self._days_from(start):
            window = self.window(day)
            if window is None or window[1] <= start:
                continue
            begin = max(window[0], start)
            available = window[1] - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable")

    def elapsed(self, start, end):
        """Business time between two aware moments (zero when end is not after start)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        for day in self._days_from(start):
            window = self.window(day)
            if window is not None:
                lo, hi = max(window[0], start), min(window[1], end)
                if hi > lo:
                    total += hi - lo
            if datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC) > end:
                break
        return total


def parse_holidays(text):
    """Holidays from text: ISO dates separated by commas, spaces or new lines."""
    days = set()
    for token in text.replace(",", " ").split():
        days.add(date.fromisoformat(token))
    return frozenset(days)
