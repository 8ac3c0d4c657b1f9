"""A marketer edits a draft rule in the admin, previews the effect and publishes it."""

import re

import pytest
from playwright.sync_api import expect

from leadhub.models import Lead
from qualification.choices import ModelStatus
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import simple_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_edits_a_draft_rule_previews_and_publishes(page, live_server, marketer):
    software = CompanyFactory(industry="software")
    hot = LeadFactory(company=software, first_name="Grace", last_name="Hopper", title="Marketing Manager", stage="nurture")
    ActivityFactory(lead=hot, kind="pricing_page_view")
    LeadFactory(company=CompanyFactory(industry="retail"), stage="nurture")
    from qualification import bulk

    bulk.rebuild_rollups()
    published = simple_model(status=ModelStatus.PUBLISHED)
    from qualification import services

    draft = services.copy_as_draft(model=published, by=marketer)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/qualification/scoringmodel/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name=re.compile(rf"v{draft.version} .*draft")).click()

    # Software companies are worth more now: 30 fit + 10 pricing = 40 reaches a threshold of 40.
    page.locator('input[name="fit_rules-0-points"]').fill("30")
    page.locator('input[name="mql_threshold"]').fill("40")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.get_by_role("link", name="Preview").click()
    expect(page.get_by_role("heading", name=f"Preview of v{draft.version}")).to_be_visible()
    expect(page.locator("#pv-enter")).to_have_text("+1")
    expect(page.get_by_role("row", name=re.compile("Grace Hopper"))).to_contain_text("moves to MQL")

    page.get_by_role("link", name=f"Publish v{draft.version}…").click()
    page.get_by_label("Why are you publishing this version?").fill("Software companies are worth more")
    page.get_by_role("button", name=f"Publish v{draft.version}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published v{draft.version}")
    expect(page.locator("#scoring-run")).to_contain_text("Rescored all 2 leads")
    expect(page.locator("#scoring-run")).to_contain_text("1 lead became an MQL")
    assert Lead.objects.get(pk=hot.pk).stage == "mql"


def test_marketer_sees_the_validation_message_on_the_field(page, live_server, marketer):
    draft = simple_model()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/qualification/scoringmodel/{draft.pk}/change/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.locator('select[name="fit_rules-0-operator"]').select_option("between")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".errorlist").first).to_contain_text("Industry is a list of choices: use “equals”, “is not”")
