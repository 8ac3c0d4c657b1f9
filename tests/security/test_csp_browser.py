"""Under the Content-Security-Policy, our pages, the admin and the API docs load and work in
Chromium with no violation in the console."""

import os

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.browser.support import wait_for_queue_script
from tests.factories import ActivityFactory, LeadFactory
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import SDRProfileFactory, make_mql
from tests.qualification.factories import ScoringModelFactory

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("LEADHUB_CSP_SCREENSHOTS")  # a folder: screenshots of each page, to look at


@pytest.fixture
def console(page):
    problems = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type in ("error", "warning") and ("Content Security Policy" in m.text or "Refused to" in m.text)
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def visit(page, live_server, path, name, check):
    page.goto(f"{live_server.url}{path}")
    check()
    page.wait_for_load_state("networkidle")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"csp-{name}.png"), full_page=True)


def test_pages_admin_and_api_docs_load_without_csp_violations(page, live_server, console):
    root = get_user_model().objects.create_superuser("root", "root@leadhub.example", "root-password-1")
    SDRProfileFactory(user=root)
    mql = make_mql(first_name="Ada", last_name="Lovelace")
    ActivityFactory.create_batch(2, lead=mql)
    twin = LeadFactory(email=mql.email.replace("@", "+x@"), first_name="Ada")
    draft = ScoringModelFactory()

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("root-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    page.goto(f"{live_server.url}/queue/?assigned=all")
    expect(page.get_by_role("heading", name="Acceptance queue")).to_be_visible()
    wait_for_queue_script(page)  # the queue's script ran
    # htmx works: opening a row loads its panel.
    page.locator(".queue-row, [id^=handoff-]").first.click()
    expect(page.locator("#panel, .panel").first).to_contain_text("Lovelace")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "csp-queue.png"), full_page=True)

    visit(page, live_server, "/leads/", "leads", lambda: expect(page.get_by_role("heading", name="Leads").first).to_be_visible())
    visit(page, live_server, f"/leads/{mql.pk}/", "lead", lambda: expect(page.locator("main")).to_contain_text("Lovelace"))
    visit(page, live_server, "/dashboard/", "dashboard", lambda: expect(page.locator("main")).to_contain_text("SDR"))
    visit(page, live_server, "/feedback/", "feedback", lambda: expect(page.locator("main")).to_contain_text("Acceptance"))
    visit(page, live_server, "/admin/", "admin", lambda: expect(page.locator("#site-name")).to_be_visible())
    visit(
        page,
        live_server,
        f"/admin/leadhub/lead/{mql.pk}/change/",
        "admin-lead",
        lambda: expect(page.locator("#lead_form")).to_be_visible(),
    )
    visit(
        page,
        live_server,
        f"/admin/leadhub/lead/merge/?survivor={mql.pk}&duplicate={twin.pk}",
        "admin-merge",
        lambda: expect(page.locator(".merge-lead.survivor")).to_have_css("border-top-style", "solid"),
    )
    # The scoring admin loads htmx too, and its styles from a file.
    visit(
        page,
        live_server,
        f"/admin/qualification/scoringmodel/{draft.pk}/change/",
        "admin-scoring",
        lambda: expect(page.locator(".object-tools form button").first).to_have_css("border-top-left-radius", "15px"),
    )
    visit(
        page,
        live_server,
        "/api/docs/",
        "api-docs",
        lambda: expect(page.locator(".swagger-ui .info .title")).to_contain_text("leadhub API"),
    )

    assert console == []


def test_an_inline_script_is_blocked_and_reported(page, live_server, console):
    """The policy is really enforced: a script injected inline does not run."""
    page.goto(f"{live_server.url}/login/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.injected = true';
                            document.body.appendChild(s); }""")
    assert page.evaluate("window.injected === undefined")
    assert any("Content Security Policy" in line for line in console)
