import pytest
from rest_framework.test import APIClient

from leadhub import lifecycle
from leadhub.models import Lead
from tests.conftest import token_client
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_post_creates_lead_then_updates_it_by_email(integration_api):
    response = integration_api.post(
        "/api/leads/",
        {
            "email": "Grace@Hopper.dev",
            "first_name": "Grace",
            "channel": "event",
            "company": {"name": "Hopper", "employee_count": 80},
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["email"] == "grace@hopper.dev"
    assert response.data["company"]["name"] == "Hopper"
    assert response.data["channel"] == "event"

    response = integration_api.post("/api/leads/", {"email": "grace@hopper.dev", "title": "CTO"}, format="json")
    assert response.status_code == 200
    assert response.data["title"] == "CTO"
    assert Lead.objects.count() == 1


def test_post_with_invalid_fields_gets_400_with_field_messages_and_writes_nothing(integration_api):
    response = integration_api.post(
        "/api/leads/", {"email": "nope", "channel": "carrier-pigeon", "company": {"employee_count": "many"}}, format="json"
    )
    assert response.status_code == 400
    # An unknown channel is no error: it files the lead under Other (tests/leadhub/test_taxonomy.py).
    assert set(response.data["errors"]) == {"email", "company"}
    assert "employee_count" in response.data["errors"]["company"]
    assert not Lead.objects.exists()


def test_malformed_json_gets_400_not_500(integration_api):
    response = integration_api.post("/api/leads/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.data


def test_missing_or_wrong_token_gets_401():
    client = APIClient()
    assert client.get("/api/leads/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/leads/").status_code == 401


def test_token_without_permission_gets_403(outsider, sdr):
    assert token_client(outsider).get("/api/leads/").status_code == 403
    # An SDR may read leads but not push them.
    api = token_client(sdr)
    assert api.get("/api/leads/").status_code == 200
    assert api.post("/api/leads/", {"email": "x@y.com"}, format="json").status_code == 403


def test_list_filters_by_stage_channel_and_score(integration_api):
    hot = LeadFactory(source="event", total_score=80)
    LeadFactory(source="event", total_score=10)
    LeadFactory(source="paid", total_score=90)
    Lead.objects.filter(pk=hot.pk).update(stage="mql")
    response = integration_api.get("/api/leads/", {"source": "event", "score_min": 50})
    assert [row["id"] for row in response.data["results"]] == [hot.pk]
    response = integration_api.get("/api/leads/", {"stage": "mql"})
    assert response.data["count"] == 1


def test_list_with_malformed_filter_gets_400(integration_api):
    response = integration_api.get("/api/leads/", {"score_min": "lots", "stage": "hot"})
    assert response.status_code == 400
    assert {"score_min", "stage"} <= set(response.data["errors"])


def test_detail_has_activities_and_stage_history(integration_api, manager):
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind="pricing_page_view")
    lifecycle.transition(lead, "nurture", by=manager, reason="scored")
    response = integration_api.get(f"/api/leads/{lead.pk}/")
    assert response.status_code == 200
    assert [a["kind"] for a in response.data["activities"]] == ["pricing_page_view"]
    assert response.data["stage_history"][0] == {
        "from_stage": "new",
        "to_stage": "nurture",
        "at": response.data["stage_history"][0]["at"],
        "by": manager.username,
        "reason": "scored",
        "note": "",
    }


def test_session_auth_works_for_signed_in_users(client, manager):
    client.force_login(manager)
    assert client.get("/api/leads/").status_code == 200


def test_schema_and_docs_need_authentication(client, manager):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code == 302
    client.force_login(manager)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/activities/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()


def test_browsable_api_only_for_staff(client, manager, marketer):
    client.force_login(manager)
    assert client.get("/api/leads/", HTTP_ACCEPT="text/html")["Content-Type"].startswith("application/json")
    client.force_login(marketer)
    assert client.get("/api/leads/", HTTP_ACCEPT="text/html")["Content-Type"].startswith("text/html")
