from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from handoff.business_hours import BusinessCalendar, parse_holidays

UTC_9_18 = BusinessCalendar(opens=time(9), closes=time(18))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_friday_1730_plus_four_hours_is_monday_1230():
    friday = utc(2026, 11, 27, 17, 30)
    assert UTC_9_18.add(friday, timedelta(hours=4)) == utc(2026, 11, 30, 12, 30)


def test_assignment_before_opening_starts_the_clock_at_opening():
    assert UTC_9_18.add(utc(2026, 11, 24, 6, 0), timedelta(hours=1)) == utc(2026, 11, 24, 10, 0)


def test_assignment_at_the_weekend_starts_monday_morning():
    saturday = utc(2026, 11, 28, 12, 0)
    assert UTC_9_18.add(saturday, timedelta(minutes=30)) == utc(2026, 11, 30, 9, 30)


def test_exactly_at_closing_the_deadline_is_closing_not_next_morning():
    assert UTC_9_18.add(utc(2026, 11, 24, 14, 0), timedelta(hours=4)) == utc(2026, 11, 24, 18, 0)


def test_holidays_are_skipped():
    calendar = BusinessCalendar(opens=time(9), closes=time(18), holidays=frozenset({date(2026, 11, 30)}))
    assert calendar.add(utc(2026, 11, 27, 17, 30), timedelta(hours=4)) == utc(2026, 12, 1, 12, 30)


def test_local_time_zone_counts_local_office_hours():
    new_york = BusinessCalendar(time_zone="America/New_York", opens=time(9), closes=time(17))
    # 08:00 New York (13:00 UTC in winter): the clock starts at 09:00 local = 14:00 UTC.
    assert new_york.add(utc(2026, 12, 1, 13, 0), timedelta(hours=2)) == utc(2026, 12, 1, 16, 0)


def test_daylight_saving_change_over_a_weekend_keeps_local_hours():
    berlin = BusinessCalendar(time_zone="Europe/Berlin", opens=time(9), closes=time(17))
    zone = ZoneInfo("Europe/Berlin")
    friday_16_cet = datetime(2026, 3, 27, 16, 0, tzinfo=zone)  # clocks go forward Sunday 29 March
    due = berlin.add(friday_16_cet, timedelta(hours=2))
    assert due.astimezone(zone) == datetime(2026, 3, 30, 10, 0, tzinfo=zone)
    assert due == utc(2026, 3, 30, 8, 0)  # CEST is UTC+2; before the change it was UTC+1


def test_elapsed_counts_only_business_time():
    friday = utc(2026, 11, 27, 17, 0)
    monday = utc(2026, 11, 30, 10, 0)
    assert UTC_9_18.elapsed(friday, monday) == timedelta(hours=2)
    assert UTC_9_18.elapsed(monday, friday) == timedelta(0)


def test_elapsed_is_the_inverse_of_add():
    start = utc(2026, 11, 26, 15, 45)
    for hours in (0.5, 3, 9, 20, 47):
        due = UTC_9_18.add(start, timedelta(hours=hours))
        assert UTC_9_18.elapsed(start, due) == timedelta(hours=hours)


def test_calendar_without_working_days_or_hours_is_refused():
    with pytest.raises(ValueError, match="working day"):
        BusinessCalendar(workdays=frozenset())
    with pytest.raises(ValueError, match="open before"):
        BusinessCalendar(opens=time(18), closes=time(9))


def test_holidays_parse_from_text():
    assert parse_holidays("2026-12-25, 2026-12-26\n2027-01-01") == {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)}
    with pytest.raises(ValueError):
        parse_holidays("christmas")
