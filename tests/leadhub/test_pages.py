"""The pages around the queue: My SALs, the viewer's time zone, campaign suggestions, the
labels of linked filters, empty charts and the recycle note limit."""

import datetime
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import charts
from leadhub.choices import Stage
from leadhub.models import StageChange, UserPreference
from tests.factories import LeadFactory, UserFactory
from tests.handoff.conftest import routing  # noqa: F401 (fixture)
from tests.handoff.factories import reason

pytestmark = pytest.mark.django_db


def sal(owner, days_ago, **fields):
    lead = LeadFactory(stage=Stage.SAL, owner=owner, **fields)
    StageChange.objects.create(
        lead=lead,
        from_stage=Stage.MQL,
        to_stage=Stage.SAL,
        by=owner,
        at=timezone.now() - timedelta(days=days_ago),
        reason="Accepted by sales",
    )
    return lead


def names_listed(response):
    return re.findall(r'class="strong truncate" title="([^"]+)"', response.content.decode())


def test_my_sals_lists_the_sdrs_own_sals_the_longest_waiting_first(client, sdr, other_sdr):
    newest = sal(sdr, 1, first_name="Newest", last_name="Sal")
    oldest = sal(sdr, 9, first_name="Oldest", last_name="Sal")
    middle = sal(sdr, 4, first_name="Middle", last_name="Sal")
    sal(other_sdr, 20, first_name="Teammates", last_name="Sal")
    LeadFactory(stage=Stage.SQL, owner=sdr, first_name="Already", last_name="Qualified")

    client.force_login(sdr)
    response = client.get("/my-sals/")

    assert response.status_code == 200
    assert names_listed(response) == [oldest.full_name, middle.full_name, newest.full_name]
    assert "3 waiting" in response.content.decode()


def test_my_sals_is_in_the_sdrs_navigation_and_not_the_managers(client, sdr, manager):
    client.force_login(sdr)
    assert 'href="/my-sals/"' in client.get("/leads/").content.decode()
    client.force_login(manager)
    assert 'href="/my-sals/"' not in client.get("/leads/").content.decode()


def test_my_sals_says_so_when_there_are_none(client, sdr):
    client.force_login(sdr)
    assert "No SALs waiting for you" in client.get("/my-sals/").content.decode()


def test_the_time_zone_preference_changes_the_times_shown_and_names_the_zone(client, manager):
    lead = LeadFactory(created_at=datetime.datetime(2026, 1, 15, 13, 5, tzinfo=datetime.UTC))
    client.force_login(manager)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Jan 15, 2026 13:05 UTC" in html

    response = client.post("/account/", {"time_zone": "America/New_York"}, follow=True)
    assert "times are now shown in America/New_York" in response.content.decode()
    assert UserPreference.objects.get(user=manager).time_zone == "America/New_York"

    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Jan 15, 2026 08:05 EST" in html and "13:05 UTC" not in html


def test_the_zone_chosen_earlier_applies_from_the_next_sign_in(client, manager):
    UserPreference.objects.create(user=manager, time_zone="Asia/Tokyo")
    lead = LeadFactory(created_at=datetime.datetime(2026, 1, 15, 13, 5, tzinfo=datetime.UTC))
    client.force_login(manager)
    assert "Jan 15, 2026 22:05 JST" in client.get(f"/leads/{lead.pk}/").content.decode()


def test_an_unknown_time_zone_is_a_form_error(client, manager):
    client.force_login(manager)
    response = client.post("/account/", {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not UserPreference.objects.filter(user=manager).exclude(time_zone="").exists()


def test_campaign_suggestions_are_the_distinct_campaigns_starting_with_what_was_typed(client, sdr):
    for campaign in ["spring-webinar", "spring-webinar", "Spring-Fair", "autumn-spring", ""]:
        LeadFactory(campaign=campaign)
    client.force_login(sdr)

    html = client.get("/leads/campaigns/", {"campaign": "spr"}).content.decode()
    assert re.findall(r'<option value="([^"]*)">', html) == ["Spring-Fair", "spring-webinar"]
    assert client.get("/leads/campaigns/", {"q": "spr", "format": "json"}).json() == {
        "campaigns": ["Spring-Fair", "spring-webinar"]
    }
    assert "<option" not in client.get("/leads/campaigns/", {"q": "50%_"}).content.decode()


def test_every_page_carries_the_campaign_suggestions_list(client, manager):
    client.force_login(manager)
    assert '<datalist id="campaign-suggestions"></datalist>' in client.get("/leads/").content.decode()
    dashboard = client.get("/dashboard/").content.decode()
    assert 'list="campaign-suggestions"' in dashboard and "{#" not in dashboard


def test_a_drill_down_link_names_the_rejection_reason_and_the_owner_not_their_ids(client, manager):
    owner = UserFactory(first_name="Priya", last_name="Nair")
    client.force_login(manager)
    no_budget = reason("No budget")
    html = client.get("/leads/", {"rejection_reason": no_budget.pk, "handoff_owner": owner.pk}).content.decode()
    assert "Rejection reason: <bdi>No budget</bdi>" in html
    assert "Handoff owner: <bdi>Priya Nair</bdi>" in html
    assert "(id)" not in html


def test_an_empty_chart_says_there_is_no_data_instead_of_drawing_axes():
    empty_bars = str(charts.bar_chart("Funnel", [("MQL", 0), ("SAL", 0)]))
    empty_rates = str(charts.bar_chart("Breach rate", [("Nov 2", None)], unit="%"))
    empty_lines = str(charts.line_chart("Response", ["Nov 2"], [("Median", [None])], unit=" h"))
    for chart in (empty_bars, empty_rates, empty_lines):
        assert "No data for this period" in chart and "<svg" not in chart
    # A rate of 0 % is a figure, not an absence of data.
    assert "<svg" in str(charts.bar_chart("Breach rate", [("Nov 2", 0.0)], unit="%"))


def test_recycling_with_a_note_longer_than_the_api_allows_is_a_form_error(client, sdr, routing):  # noqa: F811
    from tests.handoff.test_queue_views import sal_for

    lead = sal_for(sdr)
    client.force_login(sdr)
    response = client.post(
        f"/leads/{lead.pk}/recycle/", {"reason": reason("Bad timing").pk, "note": "x" * 2001}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "Keep the note to 2,000 characters (it has 2,001)." in response.content.decode()
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL

    response = client.post(f"/leads/{lead.pk}/recycle/", {"reason": reason("Bad timing").pk, "note": "x" * 2000}, follow=True)
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE


def test_the_recycle_form_limits_the_note_like_the_api(client, sdr, routing):  # noqa: F811
    from tests.handoff.test_queue_views import sal_for

    lead = sal_for(sdr)
    client.force_login(sdr)
    assert 'name="note" id="id_recycle_note" maxlength="2000"' in client.get(f"/leads/{lead.pk}/").content.decode()


def test_the_top_bar_names_each_viewers_own_zone(client, manager, sdr):
    UserPreference.objects.create(user=manager, time_zone="Asia/Tokyo")
    client.force_login(sdr)
    assert '<span class="zone">UTC</span>' in client.get("/leads/").content.decode()
    client.force_login(manager)
    assert '<span class="zone">JST</span>' in client.get("/leads/").content.decode()
    client.force_login(sdr)
    assert '<span class="zone">UTC</span>' in client.get("/leads/").content.decode()
