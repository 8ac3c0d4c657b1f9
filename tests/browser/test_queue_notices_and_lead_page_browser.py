"""SLA notices above the queue, and the lead page's handoff actions, in Chromium with DEBUG on
(django-htmx's debug error script loaded, as `make run` serves)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import Handoff, Notification
from leadhub.choices import Stage
from leadhub.models import Lead
from tests.browser.support import wait_for_queue_script
from tests.browser.test_queue_actions_browser import PASSWORD, handoff
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import SDRProfileFactory, make_mql

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


def sign_in(page, live_server, user, path):
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_for_queue_script(page)


def assert_page_intact(page):
    expect(page.locator("nav.mainnav")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
    assert page.evaluate("document.querySelectorAll('link[rel=stylesheet]').length") == 1


def luminance(rgb):
    def channel(value):
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(v)) for v in re.findall(r"\d+", rgb)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground, background):
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_notices_show_one_per_open_handoff_link_to_the_lead_and_go_when_it_is_decided(
    page, live_server, debug_on, sdr, other_sdr
):
    now = timezone.now()
    late = handoff(sdr, "Lena", "Late", hours_ago=6)
    returned = handoff(None, "Rita", "Returned", hours_ago=8)
    reclaimed = handoff(sdr, "Remy", "Reclaimed", hours_ago=1)
    moved = handoff(other_sdr, "Mo", "Moved", hours_ago=7)
    earlier = now - timedelta(hours=2)
    Notification.objects.create(
        recipient=sdr, handoff=late, text="Lena Late is past its SLA deadline: accept or reject it now.", created_at=earlier
    )
    Notification.objects.create(
        recipient=sdr, handoff=late, text="Lena Late is still waiting: second reminder.", created_at=now - timedelta(minutes=30)
    )
    Notification.objects.create(
        recipient=sdr, handoff=returned, text="Rita Returned was overdue and went back to the pool.", created_at=earlier
    )
    Notification.objects.create(
        recipient=sdr, handoff=reclaimed, text="Remy Reclaimed is past its SLA deadline.", created_at=now - timedelta(hours=3)
    )  # before the claim that restarted its clock
    Notification.objects.create(
        recipient=sdr, handoff=moved, text="Mo Moved was overdue and went to someone else.", created_at=earlier
    )

    sign_in(page, live_server, sdr, "/queue/")
    notices = page.locator("#queue-notices .notice")
    expect(notices).to_have_count(1)
    expect(notices.first).to_contain_text("Lena Late is still waiting: second reminder.")
    expect(notices.first.get_by_role("link")).to_have_attribute("href", f"/leads/{late.lead_id}/")
    dismiss = notices.first.get_by_role("button", name="Dismiss notice")
    colors = dismiss.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert contrast(*colors) >= 4.5, colors

    page.locator(f"#handoff-{late.pk}").get_by_role("button", name="Accept").click()
    expect(page.locator(f"#handoff-{late.pk}")).to_contain_text("Accepted Lena Late")
    expect(page.locator("#queue-notices")).to_be_hidden()
    expect(page.locator("#queue-notices .notice")).to_have_count(0)
    page.reload()
    expect(page.locator("#queue-notices .notice")).to_have_count(0)


def test_lead_page_refusals_render_in_the_section_with_the_page_intact(page, live_server, debug_on, sdr, other_sdr):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Sal", last_name="Ready")
    handoff_id = Handoff.objects.get(lead=lead).pk
    from handoff.services import handoff_accept

    handoff_accept(handoff=Handoff(pk=handoff_id), by=sdr)
    sign_in(page, live_server, sdr, f"/leads/{lead.pk}/")
    section = page.locator("#lead-handoff")

    # 400: qualify with the checklist incomplete.
    section.get_by_label("Talking to an influencer").check()
    section.get_by_role("button", name="Qualify to SQL").click()
    expect(section.get_by_role("alert")).to_contain_text("Confirm every required checklist item")
    expect(section.get_by_label("Talking to an influencer")).to_be_checked()  # what was ticked stays ticked
    expect(page.locator("h1")).to_contain_text("Sal Ready")
    assert_page_intact(page)

    # Complete it: the lead becomes an SQL and the page reloads with its new stage.
    for box in section.locator(".checks input[type=checkbox]").all():
        box.check()
    section.get_by_label(re.compile("Opportunity size")).fill("42000")
    section.get_by_role("button", name="Qualify to SQL").click()
    expect(page.locator("#lead-handoff")).to_contain_text("Qualified")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL

    # 400: "Lost" without a reason.
    page.locator("#lead-handoff").get_by_label("Lost", exact=True).check()
    page.locator("#lead-handoff").get_by_role("button", name="Record outcome").click()
    expect(page.locator("#lead-handoff").get_by_role("alert")).to_contain_text("Say why it was lost")
    expect(page.locator("#lead-handoff .errorlist")).to_contain_text("Say why it was lost")
    assert_page_intact(page)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL
