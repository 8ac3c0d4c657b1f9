"""The queue as SDRs and managers use it, at the screen sizes people have, with DEBUG on (as
`make run` serves it, with django-htmx's debug error script): every decision leaves a correct
page, every refusal stays in the page, every row's actions are on screen."""

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff import services
from handoff.models import Handoff
from leadhub.choices import Stage
from tests.browser.support import wait_for_queue_script
from tests.factories import CompanyFactory, LeadFactory
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import HandoffFactory, SDRProfileFactory

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"1440": (1440, 900), "1280": (1280, 800), "1024": (1024, 768), "390": (390, 844)}
PASSWORD = "correct-horse-battery"
# Screenshots of each state, for people to look at: SCREENSHOTS=/tmp/somewhere pytest ...
SHOTS = os.environ.get("SCREENSHOTS")


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def shot(page, name):
    if SHOTS:
        # The whole page side by side; what the screen shows where the panel is an overlay.
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=page.viewport_size["width"] >= 1200)


def lead(first, last, **fields):
    return LeadFactory(first_name=first, last_name=last, stage=Stage.MQL, company=CompanyFactory(name=f"{last} Ltd"), **fields)


def handoff(owner, first, last, hours_ago=1, **fields):
    created = timezone.now() - timedelta(hours=hours_ago)
    return HandoffFactory(lead=lead(first, last, **fields), owner=owner, created_at=created)


def sign_in(context, live_server, user, path="/queue/"):
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_for_queue_script(page)  # the deferred keyboard script is ready
    return page


def counts(page):
    text = page.locator("#queue-summary").inner_text()
    found = {
        label: int(n.replace(",", "")) for n, label in re.findall(r"([\d,]+)\+? (yours|overdue(?! \(team\))|in the pool)", text)
    }
    return found


def row(page, h):
    return page.locator(f"#handoff-{h.pk}")


def assert_page_intact(page):
    """Styles, navigation and the queue table as they should be: only queue rows in the table."""
    expect(page.locator("nav.mainnav")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # app.css applies
    assert page.locator("#queue-rows #panel, #queue-rows aside, #queue-rows .panel-section, #queue-rows template").count() == 0
    assert page.locator("#panel").count() == 1
    # Every row of the table is a queue row; the panel's score table has its rows still.
    assert page.locator("table.queue-table tbody > tr:not(.qrow)").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def assert_actions_on_screen(page):
    """Every row's buttons lie inside the viewport and inside the table's card (which would
    otherwise clip them behind a horizontal scroll)."""
    width = page.viewport_size["width"]
    card = page.locator(".queue-results .table-card").bounding_box()
    buttons = page.locator("#queue-rows tr.qrow:not(.done) .row-actions button")
    assert buttons.count() > 0
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box and box["x"] >= max(0, card["x"]), (buttons.nth(i).inner_text(), box, card)
        assert box["x"] + box["width"] <= min(width, card["x"] + card["width"]), (buttons.nth(i).inner_text(), box, card, width)


def open_rows(page):
    return page.locator("#queue-rows tr.qrow:not(.done)")


def close_panel_if_overlay(page):
    """Below the side-by-side width the panel is an overlay: close it to reach the rows again."""
    if page.evaluate("getComputedStyle(document.getElementById('panel')).position") == "fixed":
        close = page.locator("#panel [data-close-panel]")
        if close.is_visible():
            close.click()


@pytest.fixture
def team(sdr, other_sdr, manager):
    """sdr owns three leads (one overdue), other_sdr two; two wait in the pool. Both SDRs have
    an SDR profile, so they are reassignment targets."""
    SDRProfileFactory(user=sdr), SDRProfileFactory(user=other_sdr)
    data = {
        "accept": handoff(sdr, "Ada", "Accepted", hours_ago=6),
        "reject": handoff(sdr, "Bob", "Rejected", hours_ago=2),
        "clash": handoff(sdr, "Cleo", "Clash", hours_ago=1),
        "theirs": handoff(other_sdr, "Xavier", "Theirs", hours_ago=1),
        "claim": handoff(None, "Pia", "Pool", hours_ago=3),
        "taken": handoff(None, "Quinn", "Taken", hours_ago=1),
        # A 100-character unbroken name and a right-to-left one must not push the actions off screen.
        "long": handoff(other_sdr, "W" * 100, "عبد الله", hours_ago=1),
    }
    for h in data.values():
        h.lead_url = f"/leads/{h.lead_id}/"
    return data


@pytest.mark.parametrize("size", VIEWPORTS)
def test_sdr_decides_from_the_queue_and_the_page_stays_whole(browser, live_server, debug_on, sdr, other_sdr, manager, team, size):
    width, height = VIEWPORTS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = sign_in(context, live_server, sdr)
    expect(page.get_by_role("heading", name="Acceptance queue")).to_be_visible()
    assert counts(page) == {"yours": 3, "overdue": 1, "in the pool": 2}
    expect(open_rows(page)).to_have_count(5)
    assert_page_intact(page)
    assert_actions_on_screen(page)
    shot(page, f"queue-sdr-{size}")

    # Accept from the row: a confirmation line, the panel shows the SAL, one fewer "yours".
    row(page, team["accept"]).get_by_role("button", name="Accept").click()
    expect(row(page, team["accept"])).to_contain_text("Accepted Ada Accepted: now a SAL owned by")
    expect(page.locator("#panel")).to_contain_text("Accepted by")
    expect(page.locator("#queue-summary")).to_contain_text("2 yours")
    assert counts(page) == {"yours": 2, "overdue": 0, "in the pool": 2}
    expect(open_rows(page)).to_have_count(4)
    expect(page.locator("#queue-rows tr.done")).to_have_count(1)
    assert_page_intact(page)
    expect(row(page, team["reject"])).to_have_class(re.compile("is-selected"))  # the selection moved on
    shot(page, f"queue-sdr-{size}-after-accept")
    close_panel_if_overlay(page)

    # Reject with a reason from the panel.
    row(page, team["reject"]).get_by_role("button", name="Reject…").click()
    panel = page.locator("#panel")
    panel.get_by_label("Reject: reason").select_option(label="No budget (90 days)")
    panel.get_by_role("button", name="Reject lead").click()
    expect(row(page, team["reject"])).to_contain_text("Rejected Bob Rejected (No budget): back to nurture for 90 days.")
    expect(panel).to_contain_text("Rejected by")
    expect(page.locator("#queue-summary")).to_contain_text("1 yours")
    expect(open_rows(page)).to_have_count(3)
    assert_page_intact(page)
    close_panel_if_overlay(page)

    # Claim from the pool: the confirmation names the new deadline the service set.
    row(page, team["claim"]).get_by_role("button", name="Claim").click()
    expect(row(page, team["claim"])).to_contain_text("Claimed Pia Pool: it is yours now.")
    due = timezone.localtime(Handoff.objects.get(pk=team["claim"].pk).due_at)
    expect(row(page, team["claim"])).to_contain_text(f"SLA restarted: due {due:%a %b} {due.day}, {due:%H:%M}")
    expect(page.locator("#queue-summary")).to_contain_text("2 yours")
    assert counts(page)["in the pool"] == 1
    expect(page.locator("#panel")).to_contain_text("Assigned to")
    expect(open_rows(page)).to_have_count(3)
    assert_page_intact(page)
    close_panel_if_overlay(page)

    # A conflict: the same SDR rejected the lead in another tab first.
    other_tab = browser.new_context(viewport={"width": width, "height": height}, storage_state=context.storage_state())
    other = other_tab.new_page()
    other.goto(f"{live_server.url}/queue/")
    wait_for_queue_script(other)
    row(other, team["clash"]).get_by_role("button", name="Reject…").click()
    other.locator("#panel").get_by_label("Reject: reason").select_option(label="Student")
    other.locator("#panel").get_by_role("button", name="Reject lead").click()
    expect(row(other, team["clash"])).to_contain_text("Rejected Cleo Clash")
    other_tab.close()
    row(page, team["clash"]).get_by_role("button", name="Accept").click()
    expect(row(page, team["clash"]).get_by_role("alert")).to_contain_text("already rejected this lead")
    expect(page.locator("#panel")).to_contain_text("Rejected by")
    expect(page.locator("#queue-status")).to_contain_text("already rejected")
    expect(page.locator("#queue-summary")).to_contain_text("1 yours")
    expect(open_rows(page)).to_have_count(2)
    assert_page_intact(page)
    shot(page, f"queue-sdr-{size}-after-conflict")
    close_panel_if_overlay(page)

    # 403: a teammate claimed the pool lead after this page loaded.
    services.handoff_claim(handoff=Handoff(pk=team["taken"].pk), by=other_sdr)
    row(page, team["taken"]).get_by_role("button", name="Accept").click()
    expect(row(page, team["taken"]).get_by_role("alert")).to_contain_text("This lead is assigned to")
    expect(row(page, team["taken"])).to_contain_text("Not yours")
    expect(page.locator("#panel")).to_contain_text("This lead is assigned to")
    expect(page.locator("#queue-summary")).to_contain_text("0 in the pool")
    assert_page_intact(page)
    assert Handoff.objects.get(pk=team["taken"].pk).status == "open"
    close_panel_if_overlay(page)

    # A filter that matches nothing says so, with the way back.
    page.get_by_label("Campaign").fill("no-such-campaign")
    page.get_by_label("Campaign").press("Enter")
    empty = page.locator(".queue-empty")
    expect(empty).to_contain_text("No open handoffs match these filters")
    expect(empty).to_contain_text("(0 matching)")
    shot(page, f"queue-sdr-{size}-empty-filter")
    # The campaign box's suggestions arrive 200 ms after typing, and leaving the box may send
    # the form again: let both land before leaving. The test server shares one in-memory SQLite
    # connection between its request threads, and a late answer's history entry would cancel
    # the link's navigation.
    page.get_by_label("Campaign").blur()
    page.wait_for_load_state("networkidle")
    empty.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url(re.compile(r"/queue/$"))
    expect(page.locator("#queue-rows tr.qrow")).to_have_count(1)  # mine and the pool: only Pia is left
    context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_manager_decides_and_reassigns_from_everyones_queue(browser, live_server, debug_on, sdr, other_sdr, manager, team, size):
    width, height = VIEWPORTS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = sign_in(context, live_server, manager)
    expect(page.locator("table.queue-table th", has_text="Owner")).to_have_count(1)
    long_name = page.locator(f"#handoff-{team['long'].pk} .lead-name")
    expect(long_name).to_have_attribute("title", re.compile("^W{100} عبد الله$"))
    expect(long_name.locator("bdi")).to_have_count(1)
    assert counts(page) == {"yours": 0, "overdue": 0, "in the pool": 2}
    expect(open_rows(page)).to_have_count(7)
    assert_page_intact(page)
    assert_actions_on_screen(page)
    shot(page, f"queue-manager-{size}")

    row(page, team["accept"]).get_by_role("button", name="Accept").click()
    expect(row(page, team["accept"])).to_contain_text("Accepted Ada Accepted: now a SAL owned by")
    expect(page.locator("#panel")).to_contain_text("Accepted by")
    expect(open_rows(page)).to_have_count(6)
    assert_page_intact(page)
    close_panel_if_overlay(page)

    row(page, team["reject"]).get_by_role("button", name="Reject…").click()
    page.locator("#panel").get_by_label("Reject: reason").select_option(label="Student")
    page.locator("#panel").get_by_role("button", name="Reject lead").click()
    expect(row(page, team["reject"])).to_contain_text("Rejected Bob Rejected (Student): disqualified.")
    expect(open_rows(page)).to_have_count(5)
    assert_page_intact(page)
    close_panel_if_overlay(page)

    row(page, team["claim"]).get_by_role("button", name="Claim").click()
    expect(row(page, team["claim"])).to_contain_text("SLA restarted: due")
    expect(page.locator("#queue-summary")).to_contain_text("1 yours")
    expect(page.locator("#queue-summary")).to_contain_text("1 in the pool")
    assert_page_intact(page)
    close_panel_if_overlay(page)

    # A conflict: the owner accepted in their own browser first.
    sdr_context = browser.new_context(viewport={"width": width, "height": height})
    sdr_page = sign_in(sdr_context, live_server, sdr)
    row(sdr_page, team["clash"]).get_by_role("button", name="Accept").click()
    expect(row(sdr_page, team["clash"])).to_contain_text("Accepted Cleo Clash")
    sdr_context.close()
    row(page, team["clash"]).get_by_role("button", name="Accept").click()
    expect(row(page, team["clash"]).get_by_role("alert")).to_contain_text("already accepted this lead")
    expect(page.locator("#panel")).to_contain_text("Accepted by")
    expect(open_rows(page)).to_have_count(4)
    assert_page_intact(page)
    shot(page, f"queue-manager-{size}-after-conflict")
    close_panel_if_overlay(page)

    # 400: the person chosen to reassign to left the team while the panel was open.
    row(page, team["theirs"]).locator("a[data-open]").click()
    panel = page.locator("#panel")
    panel.get_by_label("Reassign to").select_option(label=sdr.get_full_name() or sdr.username)
    type(sdr).objects.filter(pk=sdr.pk).update(is_active=False)
    panel.get_by_role("button", name="Reassign").click()
    expect(panel.locator(".errorlist")).to_contain_text("Choose someone from the list.")
    expect(row(page, team["theirs"]).get_by_role("alert")).to_contain_text("Choose someone who works the queue.")
    assert_page_intact(page)
    close_panel_if_overlay(page)

    page.get_by_label("Campaign").fill("no-such-campaign")
    page.get_by_label("Campaign").press("Enter")
    expect(page.locator(".queue-empty")).to_contain_text("No open handoffs match these filters")
    expect(page.locator(".queue-empty").get_by_role("link", name="Clear the filters")).to_be_visible()
    context.close()
