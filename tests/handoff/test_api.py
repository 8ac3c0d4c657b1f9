import pytest

from handoff.choices import HandoffStatus
from handoff.models import Handoff
from leadhub.choices import Stage
from tests.conftest import token_client
from tests.handoff.factories import HandoffFactory, make_mql, reason

pytestmark = pytest.mark.django_db


def test_list_uses_the_queue_filters_and_defaults_to_open(sdr, other_sdr):
    mine = HandoffFactory(owner=sdr, lead__source="paid")
    pool = HandoffFactory(owner=None, lead__source="event")
    HandoffFactory(owner=other_sdr)
    HandoffFactory(owner=sdr, status=HandoffStatus.ACCEPTED)
    api = token_client(sdr)
    body = api.get("/api/handoffs/").json()
    assert {row["id"] for row in body["results"]} == {mine.pk, pool.pk}
    assert body["results"][0]["lead"]["email"]
    assert [r["id"] for r in api.get("/api/handoffs/", {"channel": "paid"}).json()["results"]] == [mine.pk]
    assert [r["id"] for r in api.get("/api/handoffs/", {"assigned": "pool"}).json()["results"]] == [pool.pk]
    decided = api.get("/api/handoffs/", {"status": "accepted", "assigned": "all"}).json()["results"]
    assert [r["status"] for r in decided] == ["accepted"]


def test_list_with_bad_filters_is_400_with_field_messages(sdr):
    response = token_client(sdr).get("/api/handoffs/", {"score_min": "x", "sort": "nope"})
    assert response.status_code == 400
    assert {"score_min", "sort"} <= set(response.json()["errors"])


def test_integration_token_without_queue_permission_gets_403(integration_api):
    assert integration_api.get("/api/handoffs/").status_code == 403


def test_accept_and_second_decision_409(sdr, routing):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    api = token_client(sdr)
    response = api.post(f"/api/handoffs/{handoff.pk}/accept/", {"note": "Great fit"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert response.json()["lead"]["stage"] == Stage.SAL
    again = api.post(f"/api/handoffs/{handoff.pk}/reject/", {"reason": reason("No need").pk}, format="json")
    assert again.status_code == 409 and "already accepted" in again.json()["detail"]


def test_reject_needs_an_active_reason(sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    api = token_client(sdr)
    response = api.post(f"/api/handoffs/{handoff.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and response.json()["errors"]["reason"] == ["Choose a reason."]
    response = api.post(f"/api/handoffs/{handoff.pk}/reject/", {"reason": "abc"}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    ok = api.post(f"/api/handoffs/{handoff.pk}/reject/", {"reason": reason("Student").pk, "note": "Thesis"}, format="json")
    assert ok.status_code == 200 and ok.json()["rejection_reason"] == "Student"
    assert ok.json()["lead"]["stage"] == Stage.DISQUALIFIED


def test_permissions_owner_teammate_manager_marketer(sdr, other_sdr, manager, marketer, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    assert handoff.owner == sdr
    assert token_client(other_sdr).post(f"/api/handoffs/{handoff.pk}/accept/").status_code == 403
    assert token_client(marketer).post(f"/api/handoffs/{handoff.pk}/accept/").status_code == 403
    assert token_client(marketer).get("/api/handoffs/").status_code == 200
    assert (
        token_client(sdr).post(f"/api/handoffs/{handoff.pk}/reassign/", {"owner": other_sdr.username}, format="json").status_code
        == 403
    )
    response = token_client(manager).post(f"/api/handoffs/{handoff.pk}/reassign/", {"owner": other_sdr.username}, format="json")
    assert response.status_code == 200 and response.json()["owner"] == other_sdr.username
    assert token_client(other_sdr).post(f"/api/handoffs/{handoff.pk}/accept/").status_code == 200


def test_reassign_to_an_unknown_user_is_400(manager, sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    response = token_client(manager).post(f"/api/handoffs/{handoff.pk}/reassign/", {"owner": "nobody"}, format="json")
    assert response.status_code == 400 and "owner" in response.json()["errors"]
    response = token_client(manager).post(f"/api/handoffs/{handoff.pk}/reassign/", {"owner": None}, format="json")
    assert response.status_code == 200 and response.json()["owner"] is None


def test_claim_pool_handoff_then_teammate_gets_409(sdr, other_sdr):
    handoff = Handoff.objects.get(lead=make_mql())
    assert token_client(sdr).post(f"/api/handoffs/{handoff.pk}/claim/").json()["owner"] == sdr.username
    response = token_client(other_sdr).post(f"/api/handoffs/{handoff.pk}/claim/")
    assert response.status_code == 409 and "already has this lead" in response.json()["detail"]


def test_unknown_handoff_is_404(sdr):
    assert token_client(sdr).post("/api/handoffs/999999/accept/").status_code == 404


def test_qualify_outcome_and_recycle_over_the_api(sdr, other_sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    api = token_client(sdr)
    api.post(f"/api/handoffs/{handoff.pk}/accept/")
    lead_id = handoff.lead_id
    missing = api.post(f"/api/leads/{lead_id}/qualify/", {"buying_cycle": True}, format="json")
    assert missing.status_code == 400 and "influencer" in missing.json()["errors"]
    assert token_client(other_sdr).post(f"/api/leads/{lead_id}/qualify/", {}, format="json").status_code == 403
    checklist = {
        "buying_cycle": True,
        "influencer": True,
        "timeframe_known": True,
        "permission_to_follow_up": True,
        "opportunity_amount": "15000.00",
    }
    ok = api.post(f"/api/leads/{lead_id}/qualify/", checklist, format="json")
    assert ok.status_code == 200 and ok.json()["stage"] == Stage.SQL
    assert api.post(f"/api/leads/{lead_id}/outcome/", {"outcome": "lost"}, format="json").status_code == 400
    assert api.post(f"/api/leads/{lead_id}/outcome/", {"outcome": "meh"}, format="json").status_code == 400
    won = api.post(f"/api/leads/{lead_id}/outcome/", {"outcome": "won"}, format="json")
    assert won.status_code == 200 and won.json()["stage"] == Stage.WON
    again = api.post(f"/api/leads/{lead_id}/recycle/", {"reason": reason("Bad timing").pk}, format="json")
    assert again.status_code == 409


def test_recycle_a_sal_over_the_api(sdr, routing):
    handoff = Handoff.objects.get(lead=make_mql())
    api = token_client(sdr)
    api.post(f"/api/handoffs/{handoff.pk}/accept/")
    response = api.post(f"/api/leads/{handoff.lead_id}/recycle/", {"reason": reason("No budget").pk}, format="json")
    assert response.status_code == 200 and response.json()["stage"] == Stage.NURTURE and response.json()["nurture_until"]


def test_schema_lists_the_queue_endpoints(client, manager):
    client.force_login(manager)
    schema = client.get("/api/schema/").content.decode()
    for path in [
        "/api/handoffs/",
        "/api/handoffs/{id}/accept/",
        "/api/handoffs/{id}/reject/",
        "/api/handoffs/{id}/claim/",
        "/api/handoffs/{id}/reassign/",
        "/api/leads/{id}/qualify/",
        "/api/leads/{id}/outcome/",
    ]:
        assert f"{path}:" in schema
