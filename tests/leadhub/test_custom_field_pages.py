"""Custom fields, external ids and outcomes where people read leads: the lead page, the lead
list (columns and attr_ filters, also through the API), the CSV export and the queue panel."""

import csv
import io

import pytest

from leadhub import services
from leadhub.choices import Stage
from leadhub.models import LeadField, Outcome
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(db):
    return {
        "band": LeadField.objects.create(
            key="band", label="Employees band", type="choice", options=["1-10", "11-50"], show_in_list=True, show_in_panel=True
        ),
        "visits": LeadField.objects.create(key="visits", label="Total visits", type="number", show_in_list=True),
        "dne": LeadField.objects.create(key="dne", label="Do not e-mail", type="boolean"),
        "city": LeadField.objects.create(key="city", label="City", type="text"),
    }


@pytest.fixture
def leads(fields):
    small, _ = services.upsert_lead(
        external_ids=[("crm", "00Q-small")],
        first_name="Sam",
        attributes={"band": "1-10", "visits": 3, "dne": "yes", "city": "Pune"},
    )
    big, _ = services.upsert_lead(email="big@acme.com", first_name="Bea", attributes={"band": "11-50", "visits": 40})
    bare, _ = services.upsert_lead(external_ids=[("crm", "00Q-bare")])
    return small, big, bare


def names(response):
    return sorted(lead.first_name for lead in response.context["page"])


def test_the_list_shows_external_ids_and_list_columns_and_filters_by_attributes(client, marketer, leads):
    client.force_login(marketer)
    response = client.get("/leads/")
    html = response.content.decode()
    assert "crm:00Q-small" in html and ">Employees band<" in html and ">Total visits<" in html
    assert ">City<" not in html  # not marked "show in the lead list"
    assert "Lead " in html  # a lead with neither name nor email still has a name to click
    assert 'name="attr_band"' in html and 'name="attr_visits_min"' in html
    assert names(client.get("/leads/", {"attr_band": "11-50"})) == ["Bea"]
    assert names(client.get("/leads/", {"attr_band": "11-50", "attr_visits_max": "10"})) == []
    assert names(client.get("/leads/", {"attr_visits_min": "3", "attr_visits_max": "3"})) == ["Sam"]
    assert names(client.get("/leads/", {"attr_dne": "true"})) == ["Sam"]
    assert names(client.get("/leads/", {"attr_city": "pune"})) == []  # text equality is exact
    assert names(client.get("/leads/", {"attr_city": "Pune"})) == ["Sam"]
    bad = client.get("/leads/", {"attr_visits_min": "lots"})
    assert "attr_visits_min: “lots” is not a number." in bad.content.decode()


def test_the_api_list_takes_the_same_attribute_filters(integration_api, leads):
    response = integration_api.get("/api/leads/", {"attr_band": "1-10"})
    assert response.status_code == 200
    assert [row["external_ids"] for row in response.data["results"]] == [[{"source": "crm", "id": "00Q-small"}]]
    assert integration_api.get("/api/leads/", {"attr_band": "nope"}).status_code == 400


def test_the_lead_page_shows_ids_custom_fields_and_outcomes(client, marketer, leads):
    small, _, bare = leads
    Outcome.objects.create(lead=small, result="won", origin="import", source="crm", external_id="o1", amount="1200")
    client.force_login(marketer)
    html = client.get(f"/leads/{small.pk}/").content.decode()
    assert "crm:00Q-small" in html
    assert "Employees band" in html and "Do not e-mail" in html and "Yes" in html and "Pune" in html
    assert "recorded outside the queue (import" in html
    html = client.get(f"/leads/{bare.pk}/").content.decode()
    assert "No company: the lead has no email." in html and "None" not in html.split("<main", 1)[-1].split("Profile")[1][:400]


def test_the_csv_export_has_external_ids_and_a_column_per_custom_field(client, marketer, leads):
    client.force_login(marketer)
    data = b"".join(client.get("/leads/export.csv", {"attr_band": "1-10"}).streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == 1
    row = rows[0]
    assert row["email"] == "" and row["external_ids"] == "crm:00Q-small"
    assert (row["attributes.band"], row["attributes.visits"], row["attributes.dne"], row["attributes.city"]) == (
        "1-10",
        "3",
        "True",
        "Pune",
    )


def test_the_queue_panel_shows_panel_fields_and_ids(client, sdr, leads):
    small = leads[0]
    small.stage = Stage.MQL
    small.save()
    handoff = HandoffFactory(owner=sdr, lead=small)
    client.force_login(sdr)
    html = client.get(f"/queue/{handoff.pk}/panel/", HTTP_HX_REQUEST="true").content.decode()
    assert "Employees band" in html and "1-10" in html and "crm:00Q-small" in html
    assert "Total visits" not in html  # not marked "show in the queue panel"
    assert "None (no email)" in html


def test_an_id_only_lead_without_a_name_has_a_readable_name_everywhere(client, marketer):
    lead = LeadFactory(email=None, first_name="", last_name="", phone="")
    assert str(lead) == f"Lead {lead.pk}"
