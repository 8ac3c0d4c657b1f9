"""The shared formats: the same person, amount, number and moment read the same on every page."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.template import engines
from django.utils import timezone

from leadhub import formatting
from leadhub.choices import DefaultIndustry
from tests.factories import UserFactory

MOMENT = datetime.datetime(2026, 1, 15, 13, 5, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (42000, "$42,000"),
        (Decimal("42000.00"), "$42,000"),
        (Decimal("1234.5"), "$1,234.50"),
        (0, "$0"),
        (-1500, "-$1,500"),
        (None, "—"),
        ("", "—"),
        ("not a number", "—"),
    ],
)
def test_money_has_thousands_separators_and_cents_only_when_there_are_some(value, shown):
    assert formatting.money(value) == shown


def test_money_in_another_currency_names_it():
    assert formatting.money(1000, "EUR") == "€1,000"
    assert formatting.money(1000, "CHF") == "1,000 CHF"


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (1234567, 0, "1,234,567"),
        (Decimal("76.94"), 1, "76.9"),
        (988, 0, "988"),
        (None, 0, "—"),
        (0, 0, "0"),
    ],
)
def test_numbers_have_thousands_separators(value, places, shown):
    assert formatting.number(value, places) == shown


@pytest.mark.django_db
def test_people_are_shown_by_full_name_and_by_username_only_without_one():
    assert formatting.person(UserFactory(username="sdr9", first_name="Priya", last_name="Nair")) == "Priya Nair"
    assert formatting.person(UserFactory(username="sdr8", first_name="", last_name="")) == "sdr8"
    assert formatting.person(None) == "—"
    assert formatting.person(None, "the system") == "the system"


def test_dates_and_times_read_one_way_with_the_zone_named():
    assert formatting.day(datetime.date(2026, 3, 4)) == "Mar 4, 2026"
    with timezone.override(zoneinfo.ZoneInfo("UTC")):
        assert formatting.moment(MOMENT) == "Jan 15, 2026 13:05 UTC"
        assert formatting.day(MOMENT) == "Jan 15, 2026"
    assert formatting.moment(None) == "—"


def test_times_are_shown_in_the_viewers_zone():
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert formatting.moment(MOMENT) == "Jan 15, 2026 14:05 CET"
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        assert formatting.moment(MOMENT) == "Jan 15, 2026 08:05 EST"
    # A late evening in New York is already the next day in UTC: the day follows the viewer.
    late = datetime.datetime(2026, 1, 16, 3, 0, tzinfo=datetime.UTC)
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        assert formatting.day(late) == "Jan 15, 2026"


def test_a_zone_without_an_abbreviation_is_named_by_its_name():
    with timezone.override(zoneinfo.ZoneInfo("Asia/Dubai")):
        assert formatting.moment(MOMENT) == "Jan 15, 2026 17:05 Asia/Dubai"


def test_choice_values_are_shown_by_their_labels():
    assert formatting.label("professional_services", DefaultIndustry.choices) == "Professional services"
    assert formatting.humanize_value("professional_services") == "Professional services"
    assert formatting.humanize_value("SE") == "SE"
    assert formatting.humanize_value("$205,254,000") == "$205,254,000"


def test_the_same_filters_work_in_django_templates_and_jinja2():
    django_text = (
        engines["django"]
        .from_string("{% load formatting %}{{ amount|money }} {{ count|number }} {{ at|moment }}")
        .render({"amount": 42000, "count": 1500, "at": MOMENT})
    )
    jinja_text = (
        engines["jinja2"]
        .from_string("{{ amount|money }} {{ count|number }} {{ at|moment }}")
        .render({"amount": 42000, "count": 1500, "at": MOMENT})
    )
    assert django_text == jinja_text == "$42,000 1,500 Jan 15, 2026 13:05 UTC"


def test_bidirectional_overrides_are_taken_out_of_displayed_text_but_right_to_left_text_stays():
    assert formatting.plain("invoice\u202egnp.exe") == "invoicegnp.exe"
    assert formatting.plain("\u2067שלום\u2069 Ada") == "שלום Ada"
    assert formatting.plain(None) == ""
