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
            assert selectors._due_title(due, tz) == f"Due {moment(due)}"


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
