from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leadhub import lifecycle
from leadhub.models import Lead
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


def names(response):
    return [lead.email for lead in response.context["page"]]


@pytest.mark.parametrize("url", ["/", "/leads/", "/leads/1/", "/api/docs/"])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


def test_login_page_signs_in_and_lands_on_leads(client, manager):
    response = client.post("/login/", {"username": manager.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get(response.url, follow=True).request["PATH_INFO"] == "/leads/"


def test_wrong_password_shows_an_error(client, manager):
    response = client.post("/login/", {"username": manager.username, "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_user_without_a_role_cannot_see_leads(client, outsider):
    client.force_login(outsider)
    assert client.get("/leads/").status_code == 403


def test_lead_list_filters_by_stage_channel_owner_score_and_date(client, manager, sdr):
    client.force_login(manager)
    old = LeadFactory(email="old@a.com", source="event", created_at=timezone.now() - timedelta(days=40))
    hot = LeadFactory(email="hot@a.com", source="paid", total_score=75, owner=sdr)
    Lead.objects.filter(pk=hot.pk).update(stage="mql")
    LeadFactory(email="cold@a.com", source="paid", total_score=5)

    assert names(client.get("/leads/", {"stage": "mql"})) == ["hot@a.com"]
    assert set(names(client.get("/leads/", {"source": "paid"}))) == {"hot@a.com", "cold@a.com"}
    assert names(client.get("/leads/", {"owner": sdr.pk})) == ["hot@a.com"]
    assert names(client.get("/leads/", {"score_min": 50, "score_max": 80})) == ["hot@a.com"]
    before = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert names(client.get("/leads/", {"created_before": before})) == [old.email]


def test_lead_list_searches_name_email_and_company(client, manager):
    client.force_login(manager)
    LeadFactory(
        email="ada@x.com", first_name="Ada", last_name="Lovelace", company=CompanyFactory(name="Engines Ltd", domain="x.com")
    )
    LeadFactory(email="bob@y.com", first_name="Bob", last_name="Stone")
    assert names(client.get("/leads/", {"q": "lovelace"})) == ["ada@x.com"]
    assert names(client.get("/leads/", {"q": "engines"})) == ["ada@x.com"]
    assert names(client.get("/leads/", {"q": "bob@"})) == ["bob@y.com"]


def test_lead_list_sorts_and_paginates(client, manager):
    client.force_login(manager)
    for score in range(55):
        LeadFactory(total_score=score)
    first = client.get("/leads/", {"ordering": "-score"})
    assert [float(lead.total_score) for lead in first.context["page"]][:3] == [54, 53, 52]
    assert b"1\xe2\x80\x9350 of 55" in first.content
    second = client.get("/leads/", {"ordering": "-score", "cursor": first.context["page"].next_cursor})
    assert [float(lead.total_score) for lead in second.context["page"]] == [4, 3, 2, 1, 0]
    assert second.context["page"].next_cursor is None and b'rel="prev"' in second.content


def test_invalid_filter_values_show_a_form_error_not_500(client, manager):
    client.force_login(manager)
    response = client.get("/leads/", {"score_min": "many", "created_after": "someday", "stage": "hot"})
    assert response.status_code == 200
    assert b"Some filters are not valid" in response.content


def test_lead_list_query_count_does_not_grow_with_rows(client, manager, sdr):
    client.force_login(manager)
    LeadFactory.create_batch(3, owner=sdr)
    client.get("/leads/")  # the process reads the channel labels once, then keeps them a few seconds
    with CaptureQueriesContext(connection) as few:
        client.get("/leads/")
    LeadFactory.create_batch(30, owner=sdr)
    with CaptureQueriesContext(connection) as many:
        client.get("/leads/")
    assert len(many) == len(few)


def test_lead_page_shows_profile_company_timeline_and_history(client, manager):
    client.force_login(manager)
    lead = LeadFactory(first_name="Ada", last_name="Lovelace", company=CompanyFactory(name="Engines Ltd"))
    ActivityFactory(lead=lead, kind="pricing_page_view", properties={"url": "/pricing"})
    lifecycle.transition(lead, "nurture", by=manager, reason="Scored below threshold")
    response = client.get(f"/leads/{lead.pk}/")
    content = response.content.decode()
    assert response.status_code == 200
    for text in [
        "Ada Lovelace",
        "Engines Ltd",
        "Pricing page view",
        "/pricing",
        "Scored below threshold",
        manager.get_full_name(),
    ]:
        assert text in content


def test_missing_lead_is_404(client, manager):
    client.force_login(manager)
    assert client.get("/leads/999999/").status_code == 404


def test_blank_filter_fields_mean_any(client, manager):
    client.force_login(manager)
    LeadFactory(email="a@a.com", source="event")
    response = client.get("/leads/", {"q": "", "stage": "", "source": "event", "owner": "", "score_min": ""})
    assert names(response) == ["a@a.com"]


def test_navigation_shows_the_pages_of_the_users_role_and_marks_the_current_one(client, marketer, sdr):
    client.force_login(marketer)
    nav = client.get("/leads/import/").context["nav_items"]
    assert [(item["label"], item["active"]) for item in nav if item["label"] in ("Leads", "Import")] == [
        ("Leads", False),
        ("Import", True),
    ]
    client.force_login(sdr)
    labels = [item["label"] for item in client.get("/leads/").context["nav_items"]]
    assert "Queue" in labels and "Import" not in labels


def test_filters_from_a_dashboard_link_are_named_and_kept_when_the_form_is_applied(client, manager):
    import re

    client.force_login(manager)
    LeadFactory(email="tagged@a.com", source="paid", campaign="spring")
    LeadFactory(email="other@a.com", source="paid", campaign="autumn")
    response = client.get("/leads/", {"campaign": "spring", "source": "paid"})
    html = response.content.decode()
    assert names(response) == ["tagged@a.com"]
    assert "Also filtered by" in html and "spring" in html
    # What "Apply" submits: every input of the filter form, the link's campaign among them.
    start = html.index('<form method="get" class="filterbar')
    form = html[start : html.index("</form>", start)]
    assert re.search(r'<input type="hidden" name="campaign" value="spring">', form)
    assert 'name="source"' in form  # a visible field, not repeated as a hidden one
    assert form.count('name="source"') == 1
    assert "Also filtered by" not in client.get("/leads/", {"source": "paid"}).content.decode()
