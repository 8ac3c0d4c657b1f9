"""Publishing asks for confirmation, says what it will do to the SDRs' queues, does exactly
that, and can open the new handoffs gradually under a daily cap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import held_release, routing_cap
from handoff.choices import EventKind, HandoffStatus
from handoff.models import Handoff, HandoffEvent, HeldHandoff
from qualification import services
from qualification.models import PublishRecord, RescoreRun
from qualification.routing_impact import routing_impact
from tests.factories import UserFactory
from tests.handoff.factories import HandoffFactory, SDRProfileFactory
from tests.handoff.test_batch_routing import hot_leads

from .factories import simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(sdr, other_sdr):
    """Three SDRs with 2 + 3 free slots between them, and one away."""
    SDRProfileFactory(user=sdr, capacity=3)
    SDRProfileFactory(user=other_sdr, capacity=4)
    HandoffFactory(owner=sdr, status=HandoffStatus.OPEN)
    HandoffFactory(owner=other_sdr, status=HandoffStatus.OPEN)
    SDRProfileFactory(user=UserFactory(username="away"), capacity=10, available=False)
    return sdr, other_sdr


def test_routing_impact_equals_what_publish_then_does(team, marketer, django_capture_on_commit_callbacks):
    hot_leads(9)
    draft = simple_model()
    preview = services.preview(draft=draft)
    impact = routing_impact(preview.promoted)
    assert (impact.new_mqls, impact.free_capacity, impact.routed_now, impact.to_pool, impact.unavailable) == (9, 5, 5, 4, 1)
    pool_before = Handoff.objects.filter(status="open", owner__isnull=True).count()

    with django_capture_on_commit_callbacks(execute=True):
        services.publish(draft=draft, by=marketer, note="Demo requests from software companies", daily_cap=None)

    assert RescoreRun.objects.get().promoted == impact.new_mqls
    for sdr in impact.sdrs:
        assert Handoff.objects.filter(status="open", owner__username=sdr.username).count() == sdr.open_after, sdr.name
    assert Handoff.objects.filter(status="open", owner__isnull=True).count() - pool_before == impact.to_pool


def test_a_gradual_publish_routes_at_most_the_cap_a_day_and_holds_the_rest_in_order(
    team, marketer, django_capture_on_commit_callbacks
):
    sdr, other_sdr = team
    Handoff.objects.filter(status="open").update(status="closed")  # room for everyone: only the cap limits
    hot_leads(7)
    draft = simple_model()
    assert routing_impact(7, daily_cap=2).routed_now == 2 and routing_impact(7, daily_cap=2).held_by_cap == 5
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        services.publish(draft=draft, by=marketer, note="Slowly", daily_cap=2, expected_new_mqls=7, now=now)

    record = PublishRecord.objects.get()
    assert (record.note, record.daily_cap, record.expected_new_mqls, record.routed_today) == ("Slowly", 2, 7, 2)
    assert Handoff.objects.filter(status="open", owner__isnull=False).count() == 2
    held = HeldHandoff.objects.filter(record=record)
    assert held.count() == 5 and routing_cap.held_count(record) == 5
    reasons = set(HandoffEvent.objects.filter(kind=EventKind.POOLED).values_list("reason", flat=True))
    assert reasons == {f"Held in the pool: publishing v{draft.version} opens 2 handoffs a day"}

    assert held_release.release_held(now) == 0  # today's share is used
    tomorrow = now + timedelta(days=1)
    expected_next = list(
        Handoff.objects.filter(pk__in=held.values("handoff_id"))
        .order_by("-score_at_handoff", "pk")
        .values_list("pk", flat=True)[:2]
    )
    assert held_release.release_held(tomorrow) == 2
    assert None not in set(Handoff.objects.filter(pk__in=expected_next).values_list("owner_id", flat=True))
    assert routing_cap.held_count(record) == 3 and held_release.release_held(tomorrow) == 0
    assert held_release.release_held(tomorrow + timedelta(days=1)) == 2


def test_an_ordinary_mql_is_not_capped_by_a_finished_gradual_publish(team, marketer, django_capture_on_commit_callbacks):
    hot_leads(3)
    with django_capture_on_commit_callbacks(execute=True):
        services.publish(draft=simple_model(), by=marketer, note="Slowly", daily_cap=1)
    assert Handoff.objects.filter(status="open", owner__isnull=False).count() == 2 + 1
    later = hot_leads(2)
    services.rescore_leads(lead_ids=[lead.pk for lead in later])
    assert Handoff.objects.filter(lead__in=later, owner__isnull=False).count() == 2


def test_confirmation_needs_a_note_and_a_cap_for_a_gradual_publish(client, marketer, team):
    client.force_login(marketer)
    hot_leads(3)
    draft = simple_model()
    url = f"/admin/qualification/scoringmodel/{draft.pk}/publish/"
    page = client.get(url).content.decode()
    assert 'id="pv-headline"' in page and 'id="pv-routing"' in page and "Open them gradually" in page
    response = client.post(url, {"note": "", "mode": "gradual", "daily_cap": ""})
    html = response.content.decode()
    assert response.status_code == 400 and "Say why you publish" in html and "Give the most new handoffs" in html
    assert not RescoreRun.objects.exists() and draft.publishes.count() == 0
    response = client.post(url, {"note": "Lower threshold", "mode": "gradual", "daily_cap": "2"})
    assert response.status_code == 302 and PublishRecord.objects.get().daily_cap == 2


def test_a_draft_whose_required_fields_block_every_lead_says_so(client, marketer):
    hot_leads(3)
    draft = simple_model(required_fields=["phone"])
    preview = services.preview(draft=draft)
    assert preview.qualify_draft == 0 and preview.blocked_by_required
    assert preview.blocked_reasons == [(f"missing a required field under v{draft.version} (Phone)", 3)]
    client.force_login(marketer)
    page = client.get(f"/admin/qualification/scoringmodel/{draft.pk}/preview/").content.decode()
    assert f"The required fields of v{draft.version} block every lead" in page


def test_preview_names_the_custom_required_field_that_blocks_every_lead(client, marketer):
    """“3 → 0 MQLs” with the reason: no lead has an Occupation; counted per field."""
    from leadhub.models import LeadField

    LeadField.objects.create(key="occupation", label="Occupation", type="text")
    hot_leads(3)
    draft = simple_model(required_fields=["title", "attributes.occupation"])
    preview = services.preview(draft=draft)
    assert preview.qualify_draft == 0 and preview.blocking_fields == ["Occupation"]
    assert preview.missing_reasons == [("missing required field Occupation", 3)]
    client.force_login(marketer)
    page = client.get(f"/admin/qualification/scoringmodel/{draft.pk}/preview/").content.decode()
    assert "none of the 3 leads has them all (no lead has Occupation)" in page
    assert "Missing required field Occupation" in page
