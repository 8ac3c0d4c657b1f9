"""Hostile or out-of-range input to the API: a 400 with a field message, nothing written."""

import json

import pytest

from leadhub.models import Activity, Company, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

GOOD_ITEM = {
    "kind": "page_view",
    "occurred_at": "2026-11-20T10:00:00Z",
    "source": "web",
    "external_id": "e-1",
    "properties": {"url": "/pricing"},
}


@pytest.fixture
def lead(db):
    return LeadFactory(email="ada@lovelace.dev")


def post_activity(api, **changes):
    item = {**GOOD_ITEM, "email": "ada@lovelace.dev", **changes}
    return api.post("/api/activities/", {"activities": [item]}, format="json")


def item_errors(response):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()["errors"]["activities"]["0"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("annual_revenue", "99999999999999.99"),
        ("employee_count", 2**31),
        ("employee_count", 2**63 + 5),
    ],
)
def test_company_numbers_beyond_their_column_get_a_field_error_and_nothing_is_written(integration_api, field, value):
    response = integration_api.post("/api/leads/", {"email": "big@corp.example", "company": {field: value}}, format="json")

    assert response.status_code == 400
    message = " ".join(response.json()["errors"]["company"][field])
    assert "less than or equal to" in message
    assert not Lead.objects.exists()
    assert not Company.objects.exists()


def test_the_largest_revenue_accepted_reads_back_exactly_and_the_lead_list_still_works(integration_api):
    response = integration_api.post(
        "/api/leads/", {"email": "big@corp.example", "company": {"annual_revenue": "9999999999999.99"}}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json()["company"]["annual_revenue"] == "9999999999999.99"
    assert integration_api.get("/api/leads/").status_code in (200, 403)
    assert Company.objects.get().annual_revenue == Company.objects.get().annual_revenue  # reads back without error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Ada\x00"),
        ("campaign", "spring\ud800"),
        ("email", "ada\x00@lovelace.dev"),
    ],
)
def test_lead_text_with_nul_or_lone_surrogate_gets_a_field_error(integration_api, field, value):
    body = json.dumps({"email": "ada@lovelace.dev", field: value})
    response = integration_api.post("/api/leads/", body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source", "web\x00", "Null characters"),
        ("external_id", "e\ud800", "surrogate"),
        ("properties", {"url": "/a\x00"}, "Null characters"),
        ("properties", {"k\udfff": 1}, "surrogate"),
        ("properties", {"n": 2**70}, "64 bits"),
        ("kind", ["page_view"], "not a valid activity kind"),
        ("kind", {"a": 1}, "not a valid activity kind"),
        ("occurred_at", "2026-02-30T10:00:00Z", "Not a real date"),
        ("occurred_at", "2026-01-01T25:00:00Z", "Not a real date"),
        ("occurred_at", "0001-01-01T00:00:00+05:00", "before 1970"),
        ("occurred_at", "9999-12-31T23:00:00-05:00", "a year ahead"),
        ("occurred_at", "9999-12-31T00:00:00Z", "a year ahead"),
        ("occurred_at", "1969-12-31T23:59:59Z", "before 1970"),
        ("occurred_at", ["2026-01-01"], "wrong format"),
    ],
)
def test_hostile_activity_fields_get_a_field_error_and_nothing_is_written(integration_api, lead, field, value, message):
    body = json.dumps({"activities": [{**GOOD_ITEM, "email": lead.email, field: value}]})
    response = integration_api.post("/api/activities/", body, content_type="application/json")

    errors = item_errors(response)
    assert message in " ".join(errors[field])
    assert not Activity.objects.exists()


def test_json_nested_100000_deep_is_a_json_400(integration_api, lead):
    body = '{"activities": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = integration_api.post("/api/activities/", body, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert not Activity.objects.exists()


def test_properties_nested_too_deep_get_a_field_error(integration_api, lead):
    nested = {}
    for _ in range(50):
        nested = {"x": nested}
    errors = item_errors(post_activity(integration_api, properties=nested))
    assert "Nested more than" in errors["properties"][0]


def test_a_10_mb_body_gets_a_json_413(integration_api, lead):
    body = json.dumps({"activities": [{**GOOD_ITEM, "email": lead.email, "properties": {"pad": "x" * (10 * 1024 * 1024)}}]})
    response = integration_api.post("/api/activities/", body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert "too large" in response.json()["detail"]
    assert not Activity.objects.exists()


def test_an_activity_within_the_window_is_still_recorded(integration_api, lead):
    response = post_activity(integration_api, occurred_at="2026-11-20T10:00:00+02:00")
    assert response.status_code == 200, response.json()
    assert Activity.objects.count() == 1
