"""leadhub.sql's datetime reading: plain SQL rows give datetimes as the ORM would."""

from datetime import UTC, datetime

import pytest

from leadhub.sql import aware_datetime


def test_sqlite_text_and_naive_values_read_as_aware_utc():
    moment = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert aware_datetime("2026-03-05 14:30:00") == moment
    assert aware_datetime(datetime(2026, 3, 5, 14, 30)) == moment
    assert aware_datetime(moment) is moment
    assert aware_datetime(None) is None


def test_text_that_is_no_datetime_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="Not a datetime: 'yesterday'"):
        aware_datetime("yesterday")
