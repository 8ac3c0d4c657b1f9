import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import CompanyFactory, LeadFactory
from tests.handoff.factories import HandoffFactory

pytestmark = pytest.mark.django_db


def rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_queue_exports_the_filtered_rows_as_csv(client, sdr, other_sdr):
    mine = HandoffFactory(
        owner=sdr,
        channel="paid",
        lead=LeadFactory(stage="mql", first_name="Ada", last_name="Byron", company=CompanyFactory(name="Engines")),
    )
    HandoffFactory(owner=sdr, channel="event")
    HandoffFactory(owner=other_sdr, channel="paid")  # someone else's: not in "mine and the pool"
    client.force_login(sdr)
    exported = rows(client.get("/queue/export.csv", {"channel": "paid"}))
    assert [(r["handoff id"], r["name"], r["company"], r["channel"], r["owner"]) for r in exported] == [
        (str(mine.pk), "Ada Byron", "Engines", "paid", sdr.username)
    ]
    assert exported[0]["sla state"] in {"on_time", "due_soon", "overdue"}


def test_queue_export_reads_in_constant_queries(client, sdr):
    client.force_login(sdr)
    HandoffFactory(owner=sdr)
    with CaptureQueriesContext(connection) as few:
        rows(client.get("/queue/export.csv"))
    for _ in range(20):
        HandoffFactory(owner=sdr)
    with CaptureQueriesContext(connection) as many:
        assert len(rows(client.get("/queue/export.csv"))) == 21
    assert len(many) == len(few)


def test_queue_export_with_a_bad_filter_says_why(client, sdr):
    client.force_login(sdr)
    response = client.get("/queue/export.csv", {"score_min": "lots"})
    assert response.status_code == 400
    assert b"Some filters are not valid" in response.content


def test_queue_export_needs_queue_access(client, outsider):
    client.force_login(outsider)
    assert client.get("/queue/export.csv").status_code == 403


def test_queue_page_links_to_the_export_with_its_filters(client, sdr):
    client.force_login(sdr)
    response = client.get("/queue/", {"channel": "paid"})
    assert b'href="/queue/export.csv?channel=paid' in response.content
