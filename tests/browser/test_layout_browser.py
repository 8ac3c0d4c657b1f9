"""Every page but the queue fits a phone and a laptop, whatever text leads carry."""

import re

import pytest
from playwright.sync_api import expect

from handoff.models import Handoff
from handoff.services import handoff_accept
from leadhub.choices import Stage
from leadhub.lifecycle import transition
from qualification.choices import ModelStatus
from qualification.services import rescore_leads
from tests.browser.test_dashboard_browser import handoffs  # noqa: F401 (fixture)
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory, UserFactory
from tests.handoff.conftest import routing, seeded_transactional_db  # noqa: F401 (fixtures)
from tests.qualification.factories import simple_model

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1024, "height": 768}
LONG_LAST_NAME = ("Wolfeschlegelsteinhausenbergerdorff" * 3)[:100]  # the longest a last name can be, no break
LONG_URL = "https://example.com/" + "a" * 10_000
RTL_OVERRIDE = "\u202e"


def page_width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(leads|queue)/"))


@pytest.fixture
def hostile_sal(routing):  # noqa: F811
    """A SAL (so the page shows the checklist and the recycle form) whose name, company and
    activity carry a 100-character last name, a right-to-left override and a 10k-character URL."""
    simple_model(status=ModelStatus.PUBLISHED)
    lead = LeadFactory(
        first_name="Ada",
        last_name=LONG_LAST_NAME,
        title="VP Sales",
        campaign="spring-" + "x" * 90,
        company=CompanyFactory(
            name=f"Acme {RTL_OVERRIDE}gnp.exe", industry="software", employee_count=1200, annual_revenue=42_000_000
        ),
    )
    ActivityFactory(lead=lead, kind="demo_request", properties={"url": LONG_URL})
    ActivityFactory(lead=lead, kind="pricing_page_view", properties={"url": "/pricing"})
    rescore_leads(lead_ids=[lead.pk])  # scored (the page explains the score), in nurture
    lead.refresh_from_db()
    if lead.stage != Stage.MQL:
        transition(lead, Stage.MQL, by=None, reason="Score reached the threshold")
    handoff = Handoff.objects.get(lead=lead)
    handoff_accept(handoff=handoff, by=handoff.owner)
    return lead


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-user", first_name="Ida", last_name="Admin", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1024"])
def test_pages_fit_the_screen_without_sideways_scrolling(page, live_server, admin_user, hostile_sal, handoffs, viewport):  # noqa: F811
    page.set_viewport_size(viewport)
    sign_in(page, live_server, admin_user)
    for path, heading in [
        (f"/leads/{hostile_sal.pk}/", "Ada"),
        ("/dashboard/", "Sales dashboard"),
        ("/feedback/", "Sales feedback for marketing"),
        ("/leads/import/", "Import leads from a CSV file"),
        ("/leads/", "Leads"),
        ("/my-sals/", "My SALs"),
        ("/account/", "Your settings"),
    ]:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        assert page_width(page) <= viewport["width"] + 1, f"{path} is {page_width(page)} px wide at {viewport['width']} px"
        # The navigation wraps instead of running off the screen: its last link is inside the viewport.
        last_link = page.get_by_role("navigation", name="Main").get_by_role("link").last.bounding_box()
        assert last_link["x"] + last_link["width"] <= viewport["width"]


def test_hostile_text_wraps_or_truncates_and_stays_isolated_on_the_lead_page(page, live_server, admin_user, hostile_sal):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/leads/{hostile_sal.pk}/")

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(LONG_LAST_NAME)
    assert heading.bounding_box()["width"] <= 390
    url = page.locator(".activity-url", has_text="example.com")
    expect(url).to_have_attribute("title", re.compile(r"^https://example\.com/a+…$"))
    assert url.bounding_box()["width"] <= 390
    # The right-to-left override is taken out and the name sits in its own <bdi>: "gnp.exe" is not disguised as "exe.png".
    company = page.locator("bdi", has_text="gnp.exe").first
    assert company.text_content() == "Acme gnp.exe"
    expect(page.get_by_role("button", name="Qualify to SQL")).to_be_visible()
    expect(page.locator("#id_recycle_note")).to_have_attribute("maxlength", "2000")
    assert page_width(page) <= 391

    page.goto(f"{live_server.url}/leads/")
    name = page.get_by_role("link", name=re.compile(LONG_LAST_NAME))
    expect(name).to_have_attribute("title", f"Ada {LONG_LAST_NAME}")
    assert name.bounding_box()["width"] <= 240
    assert page_width(page) <= 391


def test_a_chosen_time_zone_changes_the_times_on_the_lead_page_and_names_the_zone(page, live_server, admin_user):
    import datetime

    lead = LeadFactory(first_name="Zoe", last_name="Zone", created_at=datetime.datetime(2026, 1, 15, 13, 5, tzinfo=datetime.UTC))
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(page.locator(".facts").first).to_contain_text("Jan 15, 2026 13:05 UTC")
    expect(page.locator(".account-link")).to_contain_text("UTC")

    page.locator(".account-link").click()
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("times are now shown in Europe/Berlin")
    expect(page.locator(".account-link")).to_contain_text("CET")

    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(page.locator(".facts").first).to_contain_text("Jan 15, 2026 14:05 CET")


def test_the_campaign_field_suggests_existing_campaigns_as_one_types(page, live_server, admin_user):
    for campaign in ["spring-webinar", "spring-fair", "autumn-expo"]:
        LeadFactory(campaign=campaign)
    sign_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_role("combobox", name="Campaign").press_sequentially("spr")
    options = page.locator("#campaign-suggestions option")
    expect(options).to_have_count(2)
    assert sorted(options.evaluate_all("els => els.map(e => e.value)")) == ["spring-fair", "spring-webinar"]
    assert "/leads/campaigns/" not in page.url  # the suggestions do not take over the address bar
