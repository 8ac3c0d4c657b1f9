"""/feedback/: acceptance and rejection reasons by any custom choice field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff.choices import HandoffStatus
from handoff.reports import Scope, by_field
from leadhub.models import LeadField
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin(db):
    return LeadField.objects.create(key="origin", label="Lead origin", type="choice", options=["Chat", "Referral"])


@pytest.fixture
def handoffs(sdr, origin):
    now = timezone.now()
    made = []
    for i, (value, status, why) in enumerate(
        [
            ("Chat", HandoffStatus.ACCEPTED, None),
            ("Chat", HandoffStatus.REJECTED, "Student"),
            ("Referral", HandoffStatus.ACCEPTED, None),
            ("Referral", HandoffStatus.ACCEPTED, None),
            (None, HandoffStatus.REJECTED, "No budget"),
            (None, HandoffStatus.OPEN, None),
        ]
    ):
        lead = LeadFactory(attributes={"origin": value} if value else {})
        created = now - timedelta(days=2, hours=i)
        made.append(
            HandoffFactory(
                lead=lead,
                owner=sdr,
                created_at=created,
                assigned_at=created,
                status=status,
                first_decision_at=None if status == HandoffStatus.OPEN else created + timedelta(minutes=5),
                rejection_reason=reason(why) if why else None,
            )
        )
    return made


def test_breakdown_counts_acceptance_and_reasons_per_value(origin, handoffs):
    today = timezone.localdate()
    result = by_field.breakdown(Scope(date_from=today - timedelta(days=7), date_to=today), origin)
    rows = {r["label"]: r for r in result["rows"]}
    assert list(rows) == ["Chat", "Referral", "(no value)"]
    assert (rows["Chat"]["mql"], rows["Chat"]["accepted"], rows["Chat"]["rejected"], rows["Chat"]["rate"]) == (2, 1, 1, 50.0)
    assert rows["Referral"]["rate"] == 100.0
    assert (rows["(no value)"]["mql"], rows["(no value)"]["decided"]) == (2, 1)
    assert set(result["reasons"]) == {"Student", "No budget"}
    student = {c["reason"]: c for c in rows["Chat"]["cells"]}["Student"]
    assert (student["n"], student["share"]) == (1, 100.0)
    assert "attr_origin=Chat" in student["url"] and "reached=rejected" in student["url"]


def test_feedback_page_has_the_field_picker_and_its_links_filter_the_lead_list(client, marketer, origin, handoffs):
    client.force_login(marketer)
    page = client.get("/feedback/", {"field": "origin"}).content.decode()
    assert "Acceptance and rejection reasons by a custom field" in page
    assert '<option value="origin" selected>' in page
    assert "attr_origin=Referral" in page
    listed = client.get("/leads/", {"attr_origin": "Chat", "reached": "rejected"}).context["page"]
    assert [lead.pk for lead in listed] == [handoffs[1].lead_id]


def test_feedback_without_choice_fields_says_how_to_get_the_section(client, marketer):
    client.force_login(marketer)
    assert "Define a custom field of type choice" in client.get("/feedback/").content.decode()
