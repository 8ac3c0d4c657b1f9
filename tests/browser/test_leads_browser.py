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
