"""The lead API by e-mail or external id, with custom field values (attributes)."""

import pytest

from leadhub.models import Activity, Lead, LeadField

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(db):
    LeadField.objects.create(key="employees_band", label="Employees band", type="choice", options=["1-10", "11-50"])
    LeadField.objects.create(key="visits", label="Total visits", type="number")
    LeadField.objects.create(key="do_not_email", label="Do not e-mail", type="boolean")


def test_an_id_only_lead_is_created_and_updated_through_the_api(integration_api, fields):
    body = {"external_id": {"source": "crm", "id": "00Q5e01"}, "phone": "+91 98", "attributes": {"visits": "12"}}
    response = integration_api.post("/api/leads/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["email"] is None
    assert response.data["external_ids"] == [{"source": "crm", "id": "00Q5e01"}]
    assert response.data["attributes"] == {"visits": 12}

    body = {"external_id": {"source": "crm", "id": "00Q5e01"}, "attributes": {"employees_band": "11-50", "visits": None}}
    response = integration_api.post("/api/leads/", body, format="json")
    assert response.status_code == 200, response.data
    assert response.data["attributes"] == {"employees_band": "11-50"}
    assert Lead.objects.get().email is None

    lead_id = response.data["id"]
    read = integration_api.get(f"/api/leads/{lead_id}/")
    assert read.data["external_ids"] == [{"source": "crm", "id": "00Q5e01"}]
    assert read.data["attributes"] == {"employees_band": "11-50"}


def test_external_ids_as_a_list_and_a_numeric_id(integration_api):
    body = {"email": "a@acme.com", "external_ids": [{"source": "crm", "id": 42}, {"source": "erp", "id": "E-1"}]}
    response = integration_api.post("/api/leads/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["external_ids"] == [{"source": "crm", "id": "42"}, {"source": "erp", "id": "E-1"}]


def test_bad_attribute_values_are_typed_400s_naming_the_key_and_nothing_is_written(integration_api, fields):
    body = {"email": "a@acme.com", "attributes": {"employees_band": "x", "visits": "many", "nope": 1}}
    response = integration_api.post("/api/leads/", body, format="json")
    assert response.status_code == 400
    errors = response.data["errors"]["attributes"]
    assert errors["employees_band"] == ["“x” is not one of “1-10”, “11-50”."]
    assert errors["visits"] == ["“many” is not a number."]
    assert errors["nope"] == ["No custom field has this key."]
    assert not Lead.objects.exists()


def test_a_lead_needs_an_email_or_an_external_id(integration_api):
    response = integration_api.post("/api/leads/", {"first_name": "Nobody"}, format="json")
    assert response.status_code == 400
    assert "email" in response.data["errors"]
    response = integration_api.post("/api/leads/", {"external_id": {"source": "crm"}}, format="json")
    assert response.status_code == 400
    assert "id" in response.data["errors"]["external_id"]


def test_email_of_one_lead_and_id_of_another_is_a_409(integration_api):
    integration_api.post("/api/leads/", {"email": "a@acme.com"}, format="json")
    integration_api.post("/api/leads/", {"external_id": {"source": "crm", "id": "B"}}, format="json")
    response = integration_api.post(
        "/api/leads/", {"email": "a@acme.com", "external_id": {"source": "crm", "id": "B"}}, format="json"
    )
    assert response.status_code == 409
    assert "merge the two leads first" in response.data["detail"]


def test_activities_name_their_lead_by_external_id(integration_api):
    integration_api.post("/api/leads/", {"external_id": {"source": "crm", "id": "L1"}}, format="json")
    item = {"kind": "page_view", "occurred_at": "2026-11-20T10:00:00Z", "source": "web", "external_id": "pv-1"}
    response = integration_api.post(
        "/api/activities/", {"activities": [{**item, "lead_external_id": {"source": "CRM", "id": "L1"}}]}, format="json"
    )
    assert response.status_code == 200, response.data
    assert Activity.objects.get().lead.external_ids.get().external_id == "L1"

    response = integration_api.post(
        "/api/activities/",
        {"activities": [{**item, "external_id": "pv-2", "lead_external_id": {"source": "crm", "id": "unknown"}}]},
        format="json",
    )
    assert response.status_code == 400
    assert "lead_external_id" in response.data["errors"]["activities"]["0"]
    both = {**item, "external_id": "pv-3", "email": "a@acme.com", "lead_external_id": {"source": "crm", "id": "L1"}}
    response = integration_api.post("/api/activities/", {"activities": [both]}, format="json")
    assert response.status_code == 400
    assert response.data["errors"]["activities"]["0"]["lead_external_id"] == [
        "Name the lead by email or by lead_external_id, not both."
    ]
