"""What the database can hold, checked before any write: numbers within their column's range,
dates within a sensible window, and text that PostgreSQL and UTF-8 can store.

The API serializers, the CSV import's row parsing and the admin's model fields use these, so
a value that one refuses the others refuse with the same limit in the message. (Django's form
fields already refuse NUL characters, and browsers cannot send unpaired surrogates.)
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

# PostgreSQL `integer` (Django's IntegerField and PositiveIntegerField): 4 bytes, signed.
INT32_MAX = 2**31 - 1
# PostgreSQL `bigint` and SQLite's INTEGER: 8 bytes, signed. Ids are looked up as bigint.
INT64_MAX = 2**63 - 1
# Company.annual_revenue is numeric(16, 2) on PostgreSQL, but SQLite stores decimals as REAL,
# which keeps 15 significant digits: 13 before the point and 2 after round-trip exactly.
MAX_REVENUE = Decimal("9999999999999.99")
# Activities happen in the present: nothing before the Unix epoch, nothing beyond a year ahead
# (a date far in the future would pin a lead's "last activity" there for good).
EARLIEST_ACTIVITY = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_WINDOW = timedelta(days=366)
# A JSON object of properties is a flat bag of facts; deeper nesting is refused.
MAX_PROPERTIES_DEPTH = 8

NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Unpaired surrogate characters are not allowed."


def text_problem(value):
    """Why the string `value` cannot be stored (NUL, or a lone UTF-16 surrogate), or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def json_problem(value, depth=0):
    """Why a JSON value (parsed) cannot be stored, or None: bad text in any key or string,
    nesting deeper than MAX_PROPERTIES_DEPTH, or an integer outside 64 bits."""
    kind = type(value)
    if kind is str:
        return None if value.isascii() and "\x00" not in value else text_problem(value)
    if kind is dict:
        if depth >= MAX_PROPERTIES_DEPTH:
            return f"Nested more than {MAX_PROPERTIES_DEPTH} levels deep."
        for key, item in value.items():
            if (type(key) is not str or not key.isascii() or "\x00" in key) and (problem := text_problem(str(key))):
                return problem
            # Plain text and numbers, the usual properties, are checked here without a call.
            item_kind = type(item)
            if item_kind is str:
                if item.isascii() and "\x00" not in item:
                    continue
            elif item_kind is float or item_kind is bool or item is None:
                continue
            elif item_kind is int and -INT64_MAX - 1 <= item <= INT64_MAX:
                continue
            if problem := json_problem(item, depth + 1):
                return problem
        return None
    if kind is list:
        if depth >= MAX_PROPERTIES_DEPTH:
            return f"Nested more than {MAX_PROPERTIES_DEPTH} levels deep."
        for item in value:
            if problem := json_problem(item, depth + 1):
                return problem
        return None
    if kind is int:
        return None if -INT64_MAX - 1 <= value <= INT64_MAX else "Numbers must fit in 64 bits."
    if kind is float or kind is bool or value is None:
        return None
    return "Not a JSON value."


def activity_window(now=None):
    """(earliest, latest) times an activity may have, for one batch."""
    return EARLIEST_ACTIVITY, (now or timezone.now()) + FUTURE_WINDOW


def activity_time_problem(value, now=None):
    """Why an activity's (aware) time is out of range, or None."""
    now = now or timezone.now()
    try:
        if value < EARLIEST_ACTIVITY:
            return "Activities dated before 1970 are not accepted."
        if value > now + FUTURE_WINDOW:
            return "Activities dated more than a year ahead are not accepted."
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
        return "This date is out of range."
    return None
