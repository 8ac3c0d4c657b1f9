"""A database still busy after the server's retries (503, Retry-After) answered to a queue or
lead-page action: its sentence shows where the action was taken, the page stays as it was, and
the same click works once the database is free again."""

import pytest
from playwright.sync_api import expect

from handoff import services
from handoff.choices import HandoffStatus
from handoff.models import Handoff
from handoff.services import decisions, sal
from leadhub.choices import Stage
from leadhub.models import Lead
from tests.browser.support import wait_for_queue_script
from tests.browser.test_queue_browser import sign_in
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import SDRProfileFactory, make_mql
from tests.handoff.test_deadlock_retries import deadlock_error

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUSY = "The database is busy with other changes to the same records. Nothing was saved; try again in a moment."


def deadlocking(monkeypatch, module, name):
    """Every call of module.name meets a deadlock inside its transaction (a real retryable
    error: psycopg's DeadlockDetected under Django's OperationalError), so the service's
    retries run out and the page answers 503."""
    attempts = []

    def deadlocked(*args, **kwargs):
        attempts.append(1)
        raise deadlock_error()

    monkeypatch.setattr(module, name, deadlocked)
    return attempts


def assert_styles_and_navigation(page):
    expect(page.locator("nav.mainnav")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # app.css applies
    expect(page.get_by_text("Busy for a moment")).to_have_count(0)  # the 503 page was not swapped in


def test_a_busy_database_answer_to_accept_shows_its_sentence_in_the_row_and_status_line(page, live_server, sdr, monkeypatch):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Ada", last_name="Busy")
    other = make_mql(first_name="Ben", last_name="Waiting")
    handoff = Handoff.objects.get(lead=lead)
    sign_in(page, live_server, sdr)
    attempts = deadlocking(monkeypatch, decisions, "_decide")
    row = page.locator(f"#handoff-{handoff.pk}")

    row.get_by_role("button", name="Accept").click()

    expect(row.get_by_role("alert")).to_have_text(BUSY)
    expect(page.locator("#queue-status")).to_have_text(BUSY)
    assert attempts and Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    expect(row.get_by_role("button", name="Accept")).to_be_enabled()
    expect(page.locator(f"#handoff-{Handoff.objects.get(lead=other).pk}")).to_contain_text("Ben Waiting")
    assert_styles_and_navigation(page)

    monkeypatch.undo()  # the database is free again: the same button works
    row.get_by_role("button", name="Accept").click()
    expect(row).to_contain_text("Accepted Ada Busy")
    expect(page.locator("#queue-status")).to_contain_text("Accepted Ada Busy")
    expect(row.get_by_role("alert")).to_have_count(0)


def test_a_busy_database_answer_to_a_panel_action_shows_its_sentence_in_the_panel(page, live_server, sdr, monkeypatch):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Cy", last_name="Panel")
    handoff = Handoff.objects.get(lead=lead)
    sign_in(page, live_server, sdr)
    deadlocking(monkeypatch, decisions, "_decide")
    page.locator(f"#handoff-{handoff.pk} a.lead-name").click()
    panel = page.locator("#panel")
    panel.get_by_role("button", name="Accept").click()

    expect(panel.get_by_role("alert")).to_have_text(BUSY)
    expect(page.locator(f"#handoff-{handoff.pk}").get_by_role("alert")).to_have_text(BUSY)
    expect(panel.get_by_role("heading", name="Cy Panel")).to_be_visible()
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN
    assert_styles_and_navigation(page)


def test_a_busy_database_answer_to_a_lead_page_action_shows_its_sentence_in_the_handoff_box(page, live_server, sdr, monkeypatch):
    SDRProfileFactory(user=sdr)
    lead = make_mql(first_name="Dee", last_name="Outcome")
    services.handoff_accept(handoff=Handoff.objects.get(lead=lead), by=sdr)
    services.lead_qualify(
        lead=Lead.objects.get(pk=lead.pk),
        by=sdr,
        buying_cycle=True,
        influencer=True,
        timeframe_known=True,
        permission_to_follow_up=True,
        opportunity_amount="42000",
    )
    sign_in(page, live_server, sdr)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    wait_for_queue_script(page)
    deadlocking(monkeypatch, sal, "_lock_lead")
    box = page.locator("#lead-handoff")
    box.get_by_label("Won").check()
    box.get_by_role("button", name="Record outcome").click()

    expect(box.get_by_role("alert")).to_have_text(BUSY)
    expect(box.get_by_label("Won")).to_be_checked()  # what was chosen is still there to send again
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL
    assert_styles_and_navigation(page)
    expect(page.locator("h1")).to_contain_text("Dee Outcome")

    monkeypatch.undo()
    box.get_by_role("button", name="Record outcome").click()
    expect(page.locator("h1 .badge")).to_have_text("Won")
