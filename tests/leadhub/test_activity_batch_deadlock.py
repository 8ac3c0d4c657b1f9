"""Integrations push overlapping activity batches at once: each activity is recorded once and
no batch fails, whatever order the batches list their keys in."""

import logging
from functools import partial

import pytest
from django.utils import timezone

from leadhub.models import Activity
from leadhub.services import record_activities
from tests.concurrency import race
from tests.conftest import token_client
from tests.factories import LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def activity(email, external_id):
    return {
        "email": email,
        "kind": "page_view",
        "occurred_at": timezone.now().isoformat(),
        "source": "hubspot",
        "external_id": external_id,
        "properties": {"url": "/pricing"},
    }


def post(api, items):
    response = api.post("/api/activities/", {"activities": items}, format="json")
    return response.status_code, response.json()


def test_batches_with_the_same_keys_in_opposite_orders_at_once_record_each_activity_once(integration_user, caplog):
    caplog.set_level(logging.WARNING, logger="leadhub.db")
    emails = [LeadFactory().email for _ in range(5)]
    first, second = token_client(integration_user), token_client(integration_user)
    rounds, size = 4, 300
    for n in range(rounds):
        items = [activity(emails[i % len(emails)], f"r{n}-{i}") for i in range(size)]
        # Half the keys shared, in opposite orders; each batch also has keys of its own.
        mine = [activity(emails[0], f"a{n}-{i}") for i in range(10)]
        theirs = [activity(emails[1], f"b{n}-{i}") for i in range(10)]
        results = race(partial(post, first, items + mine), partial(post, second, theirs + items[::-1]))

        assert [code for code, _ in results] == [200, 200], results
        created = [item["external_id"] for _, body in results for item in body["items"] if item["status"] == "created"]
        assert sorted(created) == sorted(i["external_id"] for i in items + mine + theirs)  # each once, in one batch
    assert Activity.objects.count() == rounds * (size + 20)
    assert Activity.objects.values("source", "external_id").distinct().count() == rounds * (size + 20)
    # Key order leaves no cycle: the database never had to break one.
    assert not [r.getMessage() for r in caplog.records if r.name == "leadhub.db"]


def test_the_service_records_overlapping_batches_in_opposite_orders_at_once(caplog):
    """The same, straight at the service, so both inserts start together: before activities
    were inserted in key order, two such batches deadlocked on the (source, external_id) index."""
    caplog.set_level(logging.WARNING, logger="leadhub.db")
    emails = [LeadFactory().email for _ in range(5)]
    rounds, size = 8, 600
    for n in range(rounds):
        now = timezone.now()
        items = [
            {
                "email": emails[i % len(emails)],
                "kind": "page_view",
                "occurred_at": now,
                "source": "hubspot",
                "external_id": f"s{n}-{i}",
                "properties": {},
            }
            for i in range(size)
        ]
        results = race(partial(record_activities, items=items), partial(record_activities, items=items[::-1]))

        assert not [r for r in results if isinstance(r, Exception)], results
        created = [o.external_id for outcomes in results for o in outcomes if o.status == "created"]
        assert sorted(created) == sorted(i["external_id"] for i in items)
    assert Activity.objects.count() == rounds * size
    assert not [r.getMessage() for r in caplog.records if r.name == "leadhub.db"]
