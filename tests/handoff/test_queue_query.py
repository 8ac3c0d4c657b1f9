"""The queue page reads with plain SQL (selectors.QueueQuery); the API and the CSV export read
the same filters as querysets (filters.HandoffFilter). Both must list the same handoffs, in
the same order, with the same count, for every filter, sort and assignment scope."""

import itertools
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from handoff import selectors
from handoff.choices import HandoffStatus
from handoff.filters import HandoffFilter
from handoff.models import Handoff
from leadhub.choices import Stage
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory

pytestmark = pytest.mark.django_db

FILTERS = [
    {},
    {"channel": ["paid", "event"]},
    {"campaign": "spring-LAUNCH"},
    {"grade": ["A", "B"]},
    {"score_min": "40", "score_max": "80.5"},
    {"overdue": "true"},
    {"overdue": "false", "grade": ["C"]},
    {"channel": ["paid"], "score_min": "10", "overdue": "false"},
]


@pytest.fixture
def queue(sdr, other_sdr):
    now = timezone.now()
    channels, grades, campaigns = (
        ["paid", "event", "inbound_form", "referral"],
        ["A", "B", "C", "D", ""],
        ["spring-launch", "", "Q4"],
    )
    owners = [sdr, other_sdr, None]
    for n in range(36):
        lead = LeadFactory(
            stage=Stage.MQL,
            source=channels[n % 4],
            grade=grades[n % 5],
            total_score=(n * 13) % 97 + 0.5,
            campaign=campaigns[n % 3],
        )
        owner = owners[n % 3]
        created = now - timedelta(hours=n % 7, minutes=n)
        # Ties on due time and score, missing due times and closed handoffs, so order and
        # filters meet every case.
        due = None if n % 8 == 0 else now + timedelta(hours=(n % 5) - 2, minutes=7)
        HandoffFactory(
            lead=lead,
            owner=owner,
            created_at=created,
            assigned_at=created if owner else None,
            due_at=due,
            score_at_handoff=(n * 7) % 40,
            status=HandoffStatus.ACCEPTED if n % 11 == 5 else HandoffStatus.OPEN,
        )
    return now


@pytest.mark.parametrize("assigned", ["mine_and_pool", "mine", "pool", "all"])
@pytest.mark.parametrize("sort", ["due", "score", "age", "newest"])
def test_plain_sql_queue_lists_what_the_filter_does(queue, sdr, assigned, sort):
    request = RequestFactory().get("/queue/")
    request.user = sdr
    for extra in FILTERS:
        data = {"assigned": assigned, "sort": sort, **extra}
        expected = list(HandoffFilter(data, queryset=Handoff.objects.all(), request=request).qs.values_list("pk", flat=True))
        form = HandoffFilter.bound_form(data, request)
        assert form.is_valid(), form.errors
        query = selectors.QueueQuery(form.cleaned_data, sdr.pk, queue)
        rows = [row.pk for row in selectors.queue_rows(query.rows(0, 1000), queue)]
        assert rows == expected, data
        assert selectors.queue_summary(sdr, matching=query.count_sql(), now=queue)["matching"] == len(expected), data
        # What the page reads: counts and the first page together.
        summary, first = selectors.queue_summary_and_rows(sdr, query, 0, 25, queue)
        assert summary["matching"] == len(expected) and [row[0] for row in first] == expected[:25], data
        # A page in the middle is the same slice of the same order.
        assert [row[0] for row in query.rows(3, 9)] == expected[3:9], data


def test_every_filter_combination_is_valid_sql(queue, sdr, other_sdr):
    request = RequestFactory().get("/queue/")
    request.user = sdr
    for first, second in itertools.combinations(FILTERS[1:], 2):
        data = {"assigned": "all", "owner": str(other_sdr.pk), **first, **second}
        expected = list(HandoffFilter(data, queryset=Handoff.objects.all(), request=request).qs.values_list("pk", flat=True))
        form = HandoffFilter.bound_form(data, request)
        assert form.is_valid(), form.errors
        assert [row[0] for row in selectors.QueueQuery(form.cleaned_data, sdr.pk, queue).rows(0, 1000)] == expected, data
