"""The queue rows' strings, built for speed, say what the plain way would."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handoff import selectors
from tests.handoff.factories import HandoffFactory


@pytest.mark.parametrize("tz", [UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])
def test_due_title_reads_as_the_shared_moment_format_would(tz):
    from django.utils import timezone

    from leadhub.formatting import moment

    start = datetime(2026, 1, 1, 0, 7, tzinfo=UTC)
    with timezone.override(tz):
        for hours in range(0, 24 * 366, 37):
            due = start + timedelta(hours=hours)
            assert selectors.rows._due_title(due, tz) == f"Due {moment(due)}"


@pytest.mark.django_db
def test_why_labels_follow_scorings_answer_when_it_changes(client, sdr, monkeypatch):
    import qualification.selectors as qs

    handoff = HandoffFactory(owner=sdr)
    answer = {handoff.lead_id: [{"rule": "Pricing page", "points": 10}]}
    monkeypatch.setattr(qs, "lead_top_reasons", lambda leads: answer, raising=False)
    client.force_login(sdr)
    assert "+10 Pricing page" in client.get("/queue/").content.decode()
    answer = {handoff.lead_id: [{"rule": "Demo request", "points": 25}]}  # rescored: a new answer
    html = client.get("/queue/").content.decode()
    assert "+25 Demo request" in html and "Pricing page" not in html


PRINTED = (
    "pk",
    "owner_id",
    "lead_id",
    "lead_name",
    "lead_subtitle",
    "lead_url",
    "url",
    "score_text",
    "grade_text",
    "channel_label",
    "why",
    "sla_state",
    "sla_text",
    "due_title",
    "age_text",
    "owner_name",
    "wait",
    "wait_title",
)


@pytest.mark.django_db
def test_plain_rows_print_what_handoff_objects_print(sdr):
    """The queue page's plain rows and the Handoff objects of a row after a decision, the panel
    and the lead page go through one presenter: every printed string is the same."""
    from datetime import time

    from django.test import RequestFactory
    from django.utils import timezone

    from handoff.filters import HandoffFilter
    from handoff.models import Handoff, SLAPolicy
    from tests.factories import CompanyFactory, LeadFactory

    now = timezone.now()
    policy = SLAPolicy.objects.create(
        name="Around the clock",
        response_hours=2,
        workdays=[0, 1, 2, 3, 4, 5, 6],
        opens_at=time(0, 0),
        closes_at=time(23, 59),
        time_zone="Europe/Berlin",
        active=False,
    )
    company = CompanyFactory(name="Acme")
    cases = [
        dict(owner=sdr, due_at=now - timedelta(minutes=95), lead=LeadFactory(company=company, title="CTO", grade="A")),
        dict(
            owner=sdr, due_at=now + timedelta(minutes=20), lead=LeadFactory(company=None, title="", first_name="", last_name="")
        ),
        dict(owner=sdr, due_at=None, lead=LeadFactory(company=company, grade="")),
        dict(owner=None, sla_policy=policy, created_at=now - timedelta(hours=3), lead=LeadFactory(title="Buyer")),
        dict(owner=None, sla_policy=policy, created_at=now - timedelta(minutes=70), lead=LeadFactory(company=company)),
        dict(owner=None, sla_policy=None, created_at=now - timedelta(minutes=5), lead=LeadFactory()),
    ]
    for case in cases:
        HandoffFactory(**case)
    request = RequestFactory().get("/queue/")
    request.user = sdr
    form = HandoffFilter.bound_form({"assigned": "all", "sort": "due"}, request)
    assert form.is_valid(), form.errors
    plain = selectors.queue_rows(selectors.QueueQuery(form.cleaned_data, sdr.pk, now).rows(0, 100), now)
    objects = {
        h.pk: h for h in selectors.decorate(Handoff.objects.select_related("lead", "lead__company", "owner", "sla_policy"), now)
    }
    assert len(plain) == len(cases)
    assert {row.wait for row in plain} >= {"red", "amber", ""}
    for row in plain:
        assert {name: getattr(row, name) for name in PRINTED} == {name: getattr(objects[row.pk], name) for name in PRINTED}
