import pytest

from leadhub.models import Activity
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def item(email, external_id, **extra):
    return {
        "email": email,
        "kind": "page_view",
        "occurred_at": "2026-11-20T10:00:00Z",
        "source": "hubspot",
        "external_id": external_id,
        **extra,
    }


def test_batch_is_recorded_and_replay_reports_known_items(integration_api):
    lead = LeadFactory()
    batch = {"activities": [item(lead.email, "a"), item(lead.email, "b", kind="webinar_attended", properties={"minutes": 40})]}
    first = integration_api.post("/api/activities/", batch, format="json")
    assert first.status_code == 200, first.data
    assert (first.data["created"], first.data["known"]) == (2, 0)
    replay = integration_api.post("/api/activities/", batch, format="json")
    assert (replay.data["created"], replay.data["known"]) == (0, 2)
    assert [i["status"] for i in replay.data["items"]] == ["known", "known"]
    assert Activity.objects.count() == 2
    assert Activity.objects.get(external_id="b").properties == {"minutes": 40}


def test_bare_list_is_accepted(integration_api):
    lead = LeadFactory()
    response = integration_api.post("/api/activities/", [item(lead.email, "a")], format="json")
    assert response.status_code == 200
    assert response.data["created"] == 1


def test_invalid_items_are_reported_by_index_and_nothing_is_written(integration_api):
    lead = LeadFactory()
    batch = {
        "activities": [
            item(lead.email, "ok"),
            item(lead.email, "bad-kind", kind="telepathy"),
            item(lead.email, "bad-date", occurred_at="yesterday-ish"),
            {**item(lead.email, "bad-props"), "properties": "not an object"},
        ]
    }
    response = integration_api.post("/api/activities/", batch, format="json")
    assert response.status_code == 400
    errors = response.data["errors"]["activities"]
    assert set(errors) == {"1", "2", "3"}
    assert "kind" in errors["1"] and "occurred_at" in errors["2"] and "properties" in errors["3"]
    assert not Activity.objects.exists()


def test_unknown_lead_email_is_reported_by_index(integration_api):
    lead = LeadFactory()
    response = integration_api.post(
        "/api/activities/", {"activities": [item(lead.email, "a"), item("ghost@x.io", "b")]}, format="json"
    )
    assert response.status_code == 400
    assert list(response.data["errors"]["activities"]) == ["1"]
    assert not Activity.objects.exists()


def test_batch_over_1000_items_is_refused(integration_api):
    lead = LeadFactory()
    batch = {"activities": [item(lead.email, str(n)) for n in range(1001)]}
    response = integration_api.post("/api/activities/", batch, format="json")
    assert response.status_code == 400
    assert "1000" in response.data["detail"].replace(",", "")
    assert not Activity.objects.exists()


@pytest.mark.parametrize("body", [{}, {"activities": []}, {"activities": "lots"}, 42, "text"])
def test_wrong_shapes_get_400(integration_api, body):
    response = integration_api.post("/api/activities/", body, format="json")
    assert response.status_code == 400
    assert response.data["detail"]


def test_posting_activities_needs_permission(sdr):
    from tests.conftest import token_client

    lead = LeadFactory()
    response = token_client(sdr).post("/api/activities/", {"activities": [item(lead.email, "a")]}, format="json")
    assert response.status_code == 403


def test_missing_fields_wrong_types_and_non_objects_are_reported_by_index(integration_api):
    lead = LeadFactory()
    batch = {
        "activities": [
            {"kind": "page_view", "occurred_at": "2026-11-20T10:00:00Z", "source": "hubspot", "external_id": "a"},
            {**item(lead.email, "b"), "email": 42},
            {**item(lead.email, "c"), "source": "x" * 61},
            "not an object",
            {**item(lead.email, "e"), "external_id": True},
            item(lead.email, "fine"),
        ]
    }
    response = integration_api.post("/api/activities/", batch, format="json")
    assert response.status_code == 400
    errors = response.data["errors"]["activities"]
    assert errors == {
        "0": {"email": ["This field is required (or name the lead by lead_external_id)."]},
        "1": {"email": ["Enter a valid email address."]},
        "2": {"source": ["Ensure this field has no more than 60 characters."]},
        "3": {"non_field_errors": ["Expected an object."]},
        "4": {"external_id": ["Not a valid string."]},
    }
    assert not Activity.objects.exists()


def test_naive_times_are_taken_in_the_server_time_zone(integration_api, settings):
    lead = LeadFactory()
    response = integration_api.post("/api/activities/", [item(lead.email, "n", occurred_at="2026-11-20T10:00:00")], format="json")
    assert response.status_code == 200
    assert Activity.objects.get(external_id="n").occurred_at.isoformat() == "2026-11-20T10:00:00+00:00"


@pytest.mark.parametrize(
    "email",
    [
        "ann@example.com",
        "Ann.O'Neil+webinar@sub.example.co.uk",
        "a..b@example.com",
        ".ann@example.com",
        "ann@localhost",
        "ann@[127.0.0.1]",
        "ann@[999.1.1.1]",
        "ann@-example.com",
        "ann@example",
        "ann@example.c",
        "ann@exa_mple.com",
        "ann@bücher.de",
        '"ann smith"@example.com',
        "ann smith@example.com",
        "ann@@example.com",
        "a" * 310 + "@example.com",
        "ann@" + "x" * 64 + ".com",
        "ann@xn--bcher-kva.de",
    ],
)
def test_an_activity_email_is_accepted_exactly_when_djangos_validator_accepts_it(email):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from leadhub.api import parse_activity_items

    try:
        validate_email(email)
        expected = True
    except ValidationError:
        expected = False
    valid, errors = parse_activity_items(
        [{"email": email, "kind": "page_view", "occurred_at": "2026-11-20T10:00:00Z", "source": "crm", "external_id": "1"}]
    )
    assert (valid != [] and not errors) == expected, errors
