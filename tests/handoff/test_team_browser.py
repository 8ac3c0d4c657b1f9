"""The team page in Chromium with DEBUG on (as `make run` serves it, django-htmx's debug
error handler loaded): edits and refusals stay in place, at a desktop and a phone width."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import SDRProfile
from tests.browser.support import sign_in_and_open as sign_in
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import HandoffFactory, SDRProfileFactory

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def page_is_intact(page):
    """Styles, navigation and the page's heading survived the swap."""
    expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Team")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
    # Nothing of the page's content reaches past the viewport (the top bar is the layout's own).
    wide = page.evaluate("""() => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    assert wide == []


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_manager_edits_the_team_in_place_and_refusals_stay_in_the_row(
    page, live_server, settings, manager, sdr, other_sdr, width, height, tmp_path
):
    settings.DEBUG = True
    page.set_viewport_size({"width": width, "height": height})
    profile = SDRProfileFactory(user=sdr, capacity=10)
    SDRProfileFactory(user=other_sdr, capacity=40)
    now = timezone.now()
    HandoffFactory(owner=sdr, assigned_at=now - timedelta(hours=6), due_at=now - timedelta(minutes=5))
    HandoffFactory(owner=sdr, assigned_at=now - timedelta(hours=1), due_at=now + timedelta(hours=3))
    name = sdr.get_full_name()
    sign_in(page, live_server, manager, "/team/")
    assert page.locator("script[src*='django-htmx']").count() == 1  # the debug error handler is on
    row = page.get_by_role("row", name=name)
    expect(row.locator("[data-col=open]")).to_contain_text("2")
    expect(row.locator("[data-col=overdue]")).to_contain_text("1")
    expect(row).to_contain_text("Taking leads")
    page_is_intact(page)
    page.screenshot(path=tmp_path / f"team-sla-team-{width}.png", full_page=True)

    # Capacity 25: the row says so, the history lists it, the page stays.
    row.get_by_label("Capacity").fill("25")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".team-notice")).to_have_text(f"Saved {name}: capacity 25.")
    expect(page.locator("#team-history")).to_contain_text(f"changed {name}’s capacity from 10 to 25")
    page_is_intact(page)

    # A negative capacity is refused in the row, with a sentence; nothing changes.
    row.get_by_label("Capacity").fill("-3")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("alert")).to_contain_text("Capacity is a whole number of open handoffs from 0 to 500.")
    expect(row.get_by_label("Capacity")).to_have_value("-3")
    page_is_intact(page)
    page.screenshot(path=tmp_path / f"team-sla-team-{width}-refused.png", full_page=True)

    # An out-of-office end in the past is refused too.
    row.get_by_label("Capacity").fill("25")
    row.get_by_label("Out of office until").fill("2020-01-06T09:00")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("alert")).to_contain_text("is in the past")
    page_is_intact(page)

    # Unavailable: the status follows, routing skips them.
    row.get_by_label("Out of office until").fill("")
    row.get_by_label("Available").uncheck()
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".team-notice")).to_have_text(f"Saved {name}: availability unavailable.")
    expect(row).to_contain_text("Unavailable")
    expect(page.locator("#team-history li")).to_have_count(2)
    page_is_intact(page)
    page.screenshot(path=tmp_path / f"team-sla-team-{width}-after.png", full_page=True)
    profile.refresh_from_db()
    assert (profile.capacity, profile.available, profile.out_of_office_until) == (25, False, None)
    assert SDRProfile.objects.get(user=other_sdr).capacity == 40
