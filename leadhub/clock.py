"""The clock seam: run a block of code as of another moment.

Services take the moment they act at (`now=`, `at=`); code that reads the clock itself
(scoring's decay, routing, the SLA clock) reads `django.utils.timezone.now()`. `running_as_of`
moves every such read at once, so a whole operation (seed_demo --as-of, a test at a fixed
instant: tests/clock.py) happens as it would have at that moment. The database's own clock
(`NOW()` in a column default) is not moved.
"""

from contextlib import contextmanager
from datetime import datetime

import time_machine
from django.utils import timezone


def parse_instant(value):
    """An aware datetime from ISO 8601 text ("2026-11-27T17:45:00+00:00", "...Z"); a time without
    an offset is in settings.TIME_ZONE. Raises ValueError with a sentence."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"{value!r} is not an ISO 8601 date and time, e.g. 2026-11-27T17:45:00+00:00.") from None
    return instant if timezone.is_aware(instant) else timezone.make_aware(instant)


@contextmanager
def running_as_of(instant):
    """Every clock read inside the block (timezone.now(), date.today(), time.time(), in this
    process's threads too) starts at `instant` and runs on from there; the wall clock when
    `instant` is None. Yields the block's starting moment."""
    if instant is None:
        yield timezone.now()
        return
    with time_machine.travel(instant, tick=True):
        yield timezone.now()
