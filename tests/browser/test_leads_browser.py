import re

import pytest
from playwright.sync_api import expect

from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user, password="correct-horse-battery"):
    page.goto(f"{live_server.url}/leads/")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_manager_signs_in_filters_leads_and_opens_a_lead_page(page, live_server, manager):
    lead = LeadFactory(first_name="Ada", last_name="Lovelace", source="event", company=CompanyFactory(name="Engines Ltd"))
    LeadFactory(first_name="Bob", last_name="Stone", source="paid")
    ActivityFactory(lead=lead, kind="webinar_attended", properties={"minutes": 45})

    sign_in(page, live_server, manager)
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect(page.get_by_text("Bob Stone")).to_be_visible()

    page.get_by_label("Channel").select_option("event")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"source=event"))
    expect(page.get_by_text("Bob Stone")).to_have_count(0)

    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", name=re.compile("Ada Lovelace"))).to_be_visible()
    expect(page.get_by_text("Engines Ltd").first).to_be_visible()
    expect(page.get_by_text("Webinar attended")).to_be_visible()
    expect(page.get_by_text("45 min")).to_be_visible()


def test_manager_searches_and_pages_with_next_and_previous(page, live_server, manager, monkeypatch):
    from leadhub import views

    monkeypatch.setattr(views, "LEADS_PER_PAGE", 2)
    for i in range(3):
        LeadFactory(first_name="Joanna", last_name=f"Berg{i}", email=f"joanna{i}@x.example")
    LeadFactory(first_name="Anna", last_name="Berg", email="anna@y.example")  # the exact match, oldest
    LeadFactory(first_name="Bob", last_name="Stone")

    sign_in(page, live_server, manager)
    page.get_by_label("Search").fill("anna BERG")
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.lead-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_role("link", name="Anna Berg", exact=True)).to_be_visible()  # exact first, though the oldest
    expect(page.get_by_text("4 matching")).to_be_visible()
    expect(page.get_by_text("1–2 of 4")).to_be_visible()
    expect(page.get_by_role("link", name="← Previous")).to_have_count(0)

    page.get_by_role("link", name="Next →").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("link", name="Anna Berg", exact=True)).to_have_count(0)
    expect(page.get_by_label("Search")).to_have_value("anna BERG")  # the search stays with the page
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)

    page.get_by_role("link", name="← Previous").click()
    expect(rows.first.get_by_role("link", name="Anna Berg", exact=True)).to_be_visible()
    expect(page.get_by_text("1–2 of 4")).to_be_visible()
