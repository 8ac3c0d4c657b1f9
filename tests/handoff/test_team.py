"""/team/: each SDR's numbers, edits through sdr_profile_update with history, refusals in place,
and who may reach it."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from handoff import reports, routing, services
from handoff.choices import HandoffStatus
from handoff.models import SDRProfile, SDRProfileChange
from leadhub.errors import NotAllowed, ValidationFailed
from tests.conftest import make_user
from tests.handoff.factories import HandoffFactory, SDRProfileFactory, reason

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def row_html(html, profile):
    match = re.search(rf'<form class="team-row[^"]*"[^>]*id="sdr-{profile.pk}".*?</form>', html, re.S)
    assert match, f"no row for {profile}"
    return match.group(0)


def cell(html, col):
    match = re.search(rf'data-col="{col}"><span class="team-label">[^<]*</span>\s*(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


@pytest.fixture
def team(sdr, other_sdr):
    return SDRProfileFactory(user=sdr, capacity=10), SDRProfileFactory(user=other_sdr, capacity=40)


@pytest.fixture
def workload(team, sdr, other_sdr):
    """sdr: 3 open (1 overdue), 2 decided today (30 and 90 business min), 1 decided last week (600).
    other_sdr: 1 open on time, nothing decided."""
    now = timezone.now()
    today = reports.day_start(timezone.localdate())
    for due in (now - timedelta(minutes=5), now + timedelta(hours=2), now + timedelta(hours=3)):
        HandoffFactory(owner=sdr, assigned_at=now - timedelta(hours=6), due_at=due)
    for minutes in (30, 90):
        HandoffFactory(
            owner=sdr,
            status=HandoffStatus.ACCEPTED,
            assigned_at=today - timedelta(hours=2),
            first_decision_at=today,
            response_minutes=minutes,
        )
    HandoffFactory(
        owner=sdr,
        status=HandoffStatus.REJECTED,
        rejection_reason=reason("No need"),
        response_minutes=600,
        assigned_at=today - timedelta(days=8),
        first_decision_at=today - timedelta(days=8),
    )
    HandoffFactory(owner=other_sdr, due_at=now + timedelta(hours=1))


def test_team_page_shows_each_sdrs_open_overdue_decided_today_median_and_capacity(client, manager, team, workload):
    client.force_login(manager)
    response = client.get("/team/")
    assert response.status_code == 200
    html = response.content.decode()
    mine, theirs = (row_html(html, profile) for profile in team)
    assert cell(mine, "open") == "3 / 10"
    assert cell(mine, "overdue") == "1"
    assert cell(mine, "decided_today") == "2"
    assert cell(mine, "median") == "1 h of 2"  # median of 30 and 90 business minutes; last week's 600 left out
    assert cell(theirs, "open") == "1 / 40"
    assert cell(theirs, "overdue") == "0"
    assert cell(theirs, "median") == "–"
    assert 'value="10"' in mine and "Taking leads" in mine
    assert "manager-user" not in html  # a manager without an SDR profile is no row


def test_team_page_reads_a_constant_number_of_queries_whatever_the_team_size(client, manager, team, workload):
    client.force_login(manager)
    client.get("/team/")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/team/").status_code == 200
    for i in range(4):
        user = make_user("SDR", username=f"sdr-more-{i}")
        SDRProfileFactory(user=user)
        HandoffFactory(owner=user)
        services.sdr_profile_update(profile=user.sdr_profile, by=manager, capacity=20 + i)
    with CaptureQueriesContext(connection) as large:
        assert client.get("/team/").status_code == 200
    assert len(large) == len(small)


def test_manager_changes_capacity_in_place_and_the_history_says_who_changed_what(client, manager, team):
    profile = team[0]
    client.force_login(manager)
    data = {f"p{profile.pk}-capacity": "25", f"p{profile.pk}-available": "on", f"p{profile.pk}-out_of_office_until": ""}
    response = client.post(reverse("handoff:team-profile", args=[profile.pk]), data, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="25"' in row_html(html, profile)
    name = profile.user.get_full_name() or profile.user.username
    assert f"Saved {name}: capacity 25." in html  # the row's sentence names what changed
    profile.refresh_from_db()
    assert profile.capacity == 25
    change = SDRProfileChange.objects.get()
    assert (change.profile, change.field, change.old_value, change.new_value, change.by) == (
        profile,
        "capacity",
        "10",
        "25",
        manager,
    )
    assert 'id="team-history" class="card team-history" hx-swap-oob="true"' in html
    assert "changed" in html and "capacity from <strong>10</strong> to <strong>25</strong>" in html


def test_manager_marks_an_sdr_unavailable_and_out_of_office_and_routing_skips_them(client, manager, team, sdr, other_sdr):
    profile = team[0]
    client.force_login(manager)
    until = timezone.localtime() + timedelta(days=3)
    data = {f"p{profile.pk}-capacity": "10", f"p{profile.pk}-out_of_office_until": until.strftime("%Y-%m-%dT%H:%M")}
    response = client.post(reverse("handoff:team-profile", args=[profile.pk]), data, **HTMX)
    assert response.status_code == 200
    profile.refresh_from_db()
    assert profile.available is False and profile.out_of_office_until is not None
    assert set(SDRProfileChange.objects.values_list("field", flat=True)) == {"available", "out_of_office_until"}
    assert "Out of office" in row_html(response.content.decode(), profile)
    assert routing.next_sdr(timezone.now()).user == other_sdr


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("capacity", "-3", "Capacity is a whole number of open handoffs from 0 to 500."),
        ("capacity", "100000", "Capacity is a whole number of open handoffs from 0 to 500."),
        ("capacity", "many", "Enter a whole number."),
        ("out_of_office_until", "2020-01-06T09:00", "is in the past: choose a later time, or clear it."),
    ],
)
def test_a_refused_edit_answers_in_place_with_a_sentence_and_changes_nothing(client, manager, team, field, value, sentence):
    profile = team[0]
    client.force_login(manager)
    data = {f"p{profile.pk}-capacity": "10", f"p{profile.pk}-available": "on", f"p{profile.pk}-{field}": value}
    response = client.post(reverse("handoff:team-profile", args=[profile.pk]), data, **HTMX)
    assert response.status_code == 200  # django-htmx's DEBUG handler would swap a 4xx into the whole page
    html = response.content.decode()
    assert sentence in row_html(html, profile)
    assert 'role="alert"' in row_html(html, profile)
    assert f'value="{value}"' in row_html(html, profile)  # what was typed stays there to correct
    profile.refresh_from_db()
    assert profile.capacity == 10 and profile.out_of_office_until is None
    assert not SDRProfileChange.objects.exists()


def test_a_plain_post_redirects_back_to_the_team_with_a_message(client, manager, team):
    profile = team[1]
    client.force_login(manager)
    response = client.post(
        reverse("handoff:team-profile", args=[profile.pk]),
        {f"p{profile.pk}-capacity": "12", f"p{profile.pk}-available": "on"},
        follow=True,
    )
    assert response.redirect_chain == [("/team/", 302)]
    assert "capacity 12" in response.content.decode()


@pytest.mark.parametrize("who", ["sdr", "other_sdr", "marketer", "outsider"])
def test_only_sales_managers_and_admins_reach_the_team_page_and_its_edits(client, request, team, who):
    user = request.getfixturevalue(who)
    profile = team[0]
    client.force_login(user)
    assert client.get("/team/").status_code == 403
    response = client.post(reverse("handoff:team-profile", args=[profile.pk]), {f"p{profile.pk}-capacity": "1"}, **HTMX)
    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.capacity == 10 and not SDRProfileChange.objects.exists()
    if who != "outsider":
        assert 'href="/team/"' not in client.get("/leads/").content.decode()


def test_managers_and_admins_see_the_team_in_the_navigation(client, manager, admin_user, team):
    for user in (manager, admin_user):
        client.force_login(user)
        assert client.get("/team/").status_code == 200
        assert 'href="/team/"' in client.get("/dashboard/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, team):
    response = client.get("/team/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_service_refuses_people_who_may_not_change_profiles(sdr, team):
    with pytest.raises(NotAllowed):
        services.sdr_profile_update(profile=team[0], by=sdr, capacity=5)


def test_the_service_writes_nothing_when_nothing_changed(manager, team):
    profile, written = services.sdr_profile_update(profile=team[0], by=manager, capacity=10, available=True)
    assert written == [] and not SDRProfileChange.objects.exists()


def test_the_service_refuses_unknown_fields(manager, team):
    with pytest.raises(ValidationFailed):
        services.sdr_profile_update(profile=team[0], by=manager, last_assigned_at=timezone.now())


def test_team_overdue_count_counts_every_owners_open_handoffs_past_their_deadline(sdr, other_sdr, team):
    now = timezone.now()
    HandoffFactory(owner=sdr, due_at=now - timedelta(minutes=1))
    HandoffFactory(owner=other_sdr, due_at=now - timedelta(hours=5))
    HandoffFactory(owner=other_sdr, due_at=now + timedelta(hours=1))
    HandoffFactory(owner=None)  # the pool has no deadline
    HandoffFactory(owner=sdr, due_at=now - timedelta(hours=1), status=HandoffStatus.ACCEPTED, first_decision_at=now)
    assert reports.team_overdue_count(now) == 2
    sql, params = reports.team_overdue_sql(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchone()[0] == 2


def test_a_profile_lists_its_changes_newest_first(manager, team):
    services.sdr_profile_update(profile=team[0], by=manager, capacity=11)
    services.sdr_profile_update(profile=team[0], by=manager, capacity=12)
    assert list(SDRProfile.objects.get(pk=team[0].pk).changes.values_list("new_value", flat=True)) == ["12", "11"]
