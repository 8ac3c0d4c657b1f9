import re

import pytest
from playwright.sync_api import expect

from handoff import services
from handoff.models import Handoff
from leadhub.choices import Stage
from leadhub.models import Lead
from tests.browser.support import wait_for_queue_script
from tests.factories import ActivityFactory, CompanyFactory
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import SDRProfileFactory, make_mql, reason

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Acceptance queue")).to_be_visible()
    wait_for_queue_script(page)  # the deferred keyboard script is ready


def row(page, lead):
    # Ids are looked up once per lead: a query from the test thread while the live server
    # handles a request can hit SQLite's shared-cache table lock.
    if not hasattr(lead, "handoff_id"):
        lead.handoff_id = Handoff.objects.get(lead=lead).pk
    return page.locator(f"#handoff-{lead.handoff_id}")


def test_sdr_accepts_a_lead_in_place(page, live_server, sdr):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Ada", last_name="Lovelace", company=CompanyFactory(name="Engines Ltd"))
    row(page, lead)
    sign_in(page, live_server, sdr)
    expect(row(page, lead)).to_contain_text("Engines Ltd")
    row(page, lead).get_by_role("button", name="Accept").click()
    expect(row(page, lead)).to_contain_text("Accepted Ada Lovelace: now a SAL owned by")
    expect(page.locator("#queue-status")).to_contain_text("Accepted Ada Lovelace")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL


def test_sdr_rejects_with_a_reason_and_marketing_sees_it_on_the_lead_page(page, live_server, sdr):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Bob", last_name="Stone")
    row(page, lead)
    sign_in(page, live_server, sdr)
    row(page, lead).get_by_role("button", name="Reject…").click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", name=re.compile("Bob Stone"))).to_be_visible()
    panel.get_by_role("button", name="Reject lead").click()  # no reason: the browser refuses (required)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    panel.get_by_label("Reject: reason").select_option(label="No budget (90 days)")
    panel.get_by_label("Note for marketing (optional)").fill("Budget frozen until Q3")
    panel.get_by_role("button", name="Reject lead").click()
    expect(row(page, lead)).to_contain_text("Rejected Bob Stone (No budget): back to nurture for 90 days.")

    page.reload()
    expect(page.get_by_text("Bob Stone")).to_have_count(0)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(page.locator("h1 .badge")).to_have_text("Nurture")
    expect(page.get_by_text("Reason: No budget — Budget frozen until Q3")).to_be_visible()


def test_keyboard_flow_moves_opens_accepts_and_rejects(page, live_server, sdr):
    SDRProfileFactory(user=sdr)
    first = make_mql(first_name="Ann", last_name="First")
    second = make_mql(first_name="Ben", last_name="Second")
    third = make_mql(first_name="Cy", last_name="Third")
    ActivityFactory(lead=first, kind="pricing_page_view")
    for lead in (first, second, third):
        row(page, lead)
    sign_in(page, live_server, sdr)
    panel_title = page.locator("#panel-title")

    page.keyboard.press("j")
    expect(row(page, first)).to_have_class(re.compile("is-selected"))
    expect(panel_title).to_contain_text("Ann First")
    expect(page.locator("#panel")).to_contain_text("Pricing page view")
    page.keyboard.press("j")
    expect(panel_title).to_contain_text("Ben Second")
    page.keyboard.press("k")
    expect(panel_title).to_contain_text("Ann First")
    page.keyboard.press("a")
    expect(row(page, first)).to_contain_text("Accepted Ann First")

    # The selection has moved on to the next open row by itself: r rejects Ben.
    expect(row(page, second)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("r")
    expect(panel_title).to_contain_text("Ben Second")
    reason_select = page.locator("#panel").get_by_label("Reject: reason")
    expect(reason_select).to_be_focused()
    reason_select.select_option(label="Student")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(row(page, second)).to_contain_text("Rejected Ben Second (Student): disqualified.")
    page.keyboard.press("j")
    expect(row(page, third)).to_have_class(re.compile("is-selected"))
    assert Lead.objects.get(pk=first.pk).stage == Stage.SAL
    assert Lead.objects.get(pk=second.pk).stage == Stage.DISQUALIFIED
    assert Lead.objects.get(pk=third.pk).stage == Stage.MQL


def test_sdr_claims_from_the_pool(page, live_server, sdr):
    lead = make_mql(first_name="Pia", last_name="Pool")  # no SDR profiles: it waits in the pool
    row(page, lead)
    sign_in(page, live_server, sdr)
    expect(row(page, lead)).to_contain_text("Unassigned")
    row(page, lead).get_by_role("button", name="Claim").click()
    expect(row(page, lead)).to_contain_text("Claimed Pia Pool")
    # The SLA clock runs in business hours: over a weekend "2 d left", on a weekday "3 h 40 min left".
    expect(row(page, lead)).to_contain_text(re.compile(r"\d+ (d|h|min)( \d+ (h|min))? left"))
    assert Handoff.objects.get(lead=lead).owner == sdr


def test_a_decision_someone_else_made_first_shows_a_notice_and_refreshes_the_row(page, live_server, sdr, manager):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Cleo", last_name="Clash")
    row(page, lead)
    sign_in(page, live_server, sdr)
    expect(row(page, lead)).to_contain_text("Cleo Clash")
    services.handoff_reject(handoff=Handoff(pk=lead.handoff_id), by=manager, reason=reason("No need"))
    row(page, lead).get_by_role("button", name="Accept").click()
    expect(row(page, lead).get_by_role("alert")).to_contain_text("already rejected this lead")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NURTURE


def test_the_campaign_filter_suggests_existing_campaigns_and_choosing_one_filters_the_queue(page, live_server, sdr):
    SDRProfileFactory(user=sdr)
    fair = make_mql(first_name="Fay", last_name="Fair", campaign="spring-fair")
    webinar = make_mql(first_name="Wes", last_name="Webinar", campaign="spring-webinar")
    expo = make_mql(first_name="Eve", last_name="Expo", campaign="autumn-expo")
    for lead in (fair, webinar, expo):
        row(page, lead)
    sign_in(page, live_server, sdr)
    campaign = page.get_by_role("combobox", name="Campaign")
    campaign.press_sequentially("spr")
    options = page.locator("#campaign-suggestions option")
    expect(options).to_have_count(2)
    assert sorted(options.evaluate_all("els => els.map(e => e.value)")) == ["spring-fair", "spring-webinar"]
    # Typing asks for suggestions only: the queue and the address stay as they were.
    expect(row(page, expo)).to_be_visible()
    assert "/leads/campaigns/" not in page.url and "campaign=" not in page.url

    campaign.fill("spring-fair")  # what choosing the suggestion puts in the field
    campaign.press("Tab")
    expect(row(page, expo)).to_have_count(0)
    expect(row(page, webinar)).to_have_count(0)
    expect(row(page, fair)).to_contain_text("Fay Fair")
    expect(page).to_have_url(re.compile(r"campaign=spring-fair"))
    expect(page.locator("link[rel=stylesheet]").first).to_be_attached()
    expect(page.get_by_role("heading", name="Acceptance queue")).to_be_visible()
