"""POST /api/outcomes/: history recorded outside the queue, idempotent, by email or external id."""

import pytest

from leadhub import services
from leadhub.models import Lead, Outcome, StageChange
from tests.conftest import token_client
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_batch_by_email_and_external_id_is_recorded_once_and_replays_are_known(integration_api):
    ann = LeadFactory(email="ann@acme.com", stage="nurture")
    crm_lead, _ = services.upsert_lead(external_ids=[("crm", "00Q1")])
    batch = {
        "outcomes": [
            {
                "email": "Ann@Acme.com",
                "result": "won",
                "occurred_on": "2026-10-01",
                "amount": "1200.50",
                "source": "crm",
                "external_id": "opp-1",
            },
            {"lead_external_id": {"source": "crm", "id": "00Q1"}, "converted": False, "source": "crm", "external_id": "opp-2"},
            {"lead_external_id": {"source": "crm", "id": "00Q1"}, "converted": "yes"},  # no key: its content is the key
        ]
    }
    response = integration_api.post("/api/outcomes/", batch, format="json")
    assert response.status_code == 200, response.data
    assert (response.data["created"], response.data["known"]) == (3, 0)
    won = Outcome.objects.get(external_id="opp-1")
    assert (won.lead_id, won.result, str(won.occurred_on), str(won.amount), won.origin) == (
        ann.pk,
        "won",
        "2026-10-01",
        "1200.50",
        "api",
    )
    assert Outcome.objects.get(external_id="opp-2").result == "lost"
    assert Outcome.objects.filter(lead=crm_lead).count() == 2

    again = integration_api.post("/api/outcomes/", batch, format="json")
    assert (again.data["created"], again.data["known"]) == (0, 3)
    assert Outcome.objects.count() == 3
    # Recorded outside the queue: no stage moved, no history faked.
    ann.refresh_from_db()
    assert ann.stage == "nurture"
    assert not StageChange.objects.exists()


def test_one_outcome_object_and_a_duplicate_inside_a_batch(integration_api):
    LeadFactory(email="ann@acme.com")
    one = {"email": "ann@acme.com", "result": "lost", "source": "crm", "external_id": "o-1"}
    response = integration_api.post("/api/outcomes/", one, format="json")
    assert response.status_code == 200 and response.data["created"] == 1
    response = integration_api.post(
        "/api/outcomes/", [one, {**one, "external_id": "o-2"}, {**one, "external_id": "o-2"}], format="json"
    )
    assert [item["status"] for item in response.data["items"]] == ["known", "created", "known"]
    assert Outcome.objects.count() == 2


def test_bad_rows_and_unknown_leads_are_400s_by_index_and_nothing_is_written(integration_api):
    LeadFactory(email="ann@acme.com")
    batch = [
        {"email": "ann@acme.com", "result": "maybe"},
        {"email": "ann@acme.com", "result": "won", "amount": -5, "occurred_on": "2026-13-01"},
        {"result": "won"},
        {"email": "ann@acme.com", "result": "won"},
    ]
    response = integration_api.post("/api/outcomes/", batch, format="json")
    assert response.status_code == 400
    errors = response.data["errors"]["outcomes"]
    assert set(errors) == {"0", "1", "2"}
    assert "not an outcome" in errors["0"]["result"][0]
    assert set(errors["1"]) == {"amount", "occurred_on"}
    assert "email" in errors["2"]
    response = integration_api.post("/api/outcomes/", [{"email": "who@acme.com", "result": "won"}], format="json")
    assert response.status_code == 400
    assert response.data["errors"]["outcomes"]["0"] == {"email": ["No lead has this email."]}
    assert not Outcome.objects.exists()


def test_a_batch_over_1000_is_refused(integration_api):
    response = integration_api.post("/api/outcomes/", [{"email": "a@b.com", "result": "won"}] * 1001, format="json")
    assert response.status_code == 400
    assert "at most 1,000" in response.data["detail"]


@pytest.mark.parametrize(
    ("role_fixture", "activities", "outcomes"),
    [("marketer", 200, 200), ("integration_user", 200, 200), ("sdr", 403, 403), ("manager", 403, 403), ("outsider", 403, 403)],
)
def test_who_may_send_activities_and_outcomes(request, role_fixture, activities, outcomes):
    LeadFactory(email="ann@acme.com")
    api = token_client(request.getfixturevalue(role_fixture))
    item = {
        "email": "ann@acme.com",
        "kind": "page_view",
        "occurred_at": "2026-11-20T10:00:00Z",
        "source": "web",
        "external_id": "pv",
    }
    assert api.post("/api/activities/", {"activities": [item]}, format="json").status_code == activities
    response = api.post("/api/outcomes/", {"email": "ann@acme.com", "result": "won"}, format="json")
    assert response.status_code == outcomes
    assert Outcome.objects.count() == (1 if outcomes == 200 else 0)
    assert Lead.objects.count() == 1
