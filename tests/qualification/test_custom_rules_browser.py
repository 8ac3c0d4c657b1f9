"""A marketer writes a fit rule on a custom field and an aggregate engagement rule in the
editor, sees the sentences for what is wrong, previews and publishes (issue #15)."""

import re

import pytest
from playwright.sync_api import expect

from leadhub.models import Lead, LeadField
from qualification import bulk, selectors, services
from qualification.choices import ModelStatus
from tests.browser.support import sign_in_and_open as sign_in
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import simple_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_row(page, group):
    """Click the group's “Add another …” and return the new row."""
    page.locator(f"#{group}-group .add-row a").click()
    return page.locator(f"#{group}-group .rule-row:not(.empty-form)").last


def test_marketer_writes_a_custom_field_rule_and_an_aggregate_previews_and_publishes(page, live_server, marketer):
    LeadField.objects.create(key="occupation", label="Occupation", type="text")
    software = CompanyFactory(industry="software")
    pro = LeadFactory(
        company=software,
        first_name="Ada",
        last_name="Lovelace",
        title="Analyst",
        stage="nurture",
        attributes={"occupation": "Working Professional"},
    )
    for minutes in (5, 7):
        ActivityFactory(lead=pro, kind="page_view", properties={"url": "/product", "minutes": minutes})
    student = LeadFactory(company=CompanyFactory(industry="software"), title="Analyst", stage="nurture")
    ActivityFactory(lead=student, kind="page_view", properties={"minutes": 3})
    bulk.rebuild_rollups()
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft = services.copy_as_draft(model=published, by=marketer)

    sign_in(page, live_server, marketer, f"/admin/qualification/scoringmodel/{draft.pk}/change/")

    fit = add_row(page, "fit_rules")
    fit.locator("select[name$='-field']").select_option(label="Occupation (custom)")
    fit.locator("select[name$='-operator']").select_option(label="equals")
    fit.locator("input[name$='-value']").fill("Working Professional")
    fit.locator("input[name$='-points']").fill("15")

    engaged = add_row(page, "engagement_rules")
    engaged.locator("select[name$='-kind']").select_option(label="Page view")
    engaged.locator("input[name$='-points']").fill("20")
    engaged.locator("input[name$='-window_days']").fill("30")
    engaged.locator("select[name$='-aggregate']").select_option("sum")
    engaged.locator("input[name$='-aggregate_property']").fill("url")
    engaged.locator("input[name$='-conditions']").fill("url has /product")
    page.get_by_role("button", name="Save and continue editing").click()

    # What is wrong is said on the fields, in sentences.
    errors = page.locator("#engagement_rules-group .errorlist")
    expect(errors).to_contain_text(["“url has /product”: write a condition as property, operator, value"])
    expect(errors).to_contain_text(["An aggregate rule needs a number above 0 to reach"])

    engaged = page.locator("#engagement_rules-group .rule-row-errors")
    engaged.locator("input[name$='-conditions']").fill("")
    engaged.locator("input[name$='-aggregate_property']").fill("minutes")
    engaged.locator("input[name$='-at_least']").fill("10")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("#fit_rules-group")).to_contain_text("Occupation equals Working Professional: +15")
    expect(page.locator("#engagement_rules-group")).to_contain_text("Page view: total minutes ≥ 10 in 30 days: +20")

    # Software +20, Occupation +15, 12 minutes on the site ≥ 10: +20 → 55 reaches 50.
    page.get_by_role("link", name="Preview").click()
    expect(page.locator("#pv-enter")).to_have_text("+1")
    expect(page.get_by_role("row", name=re.compile("Ada Lovelace"))).to_contain_text("moves to MQL")

    page.get_by_role("link", name=f"Publish v{draft.version}…").click()
    page.get_by_label("Why are you publishing this version?").fill("Working professionals who read the site")
    page.get_by_role("button", name=f"Publish v{draft.version}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published v{draft.version}")
    expect(page.locator("#scoring-run")).to_contain_text("1 lead became an MQL")
    lead = Lead.objects.select_related("company").get(pk=pro.pk)
    assert lead.stage == "mql" and Lead.objects.get(pk=student.pk).stage == "nurture"
    texts = [c["text"] for c in selectors.lead_explanation(lead)["contributions"]]
    assert "Occupation equals Working Professional (Working Professional): +15" in texts
    assert "Page view: total minutes in 30 days: 12 ≥ 10 → +20" in texts
