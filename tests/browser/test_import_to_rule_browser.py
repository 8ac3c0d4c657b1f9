"""The marketer's whole path with a real export: import it, mapping a new column to a new custom
field; write a fit rule on that field; preview; publish; the leads it names become MQLs."""

import re

import pytest
from playwright.sync_api import expect

from leadhub.models import Lead, LeadExternalId
from qualification import services
from qualification.choices import ModelStatus
from tests.browser.test_import_custom_field_browser import EXPORT
from tests.browser.test_leads_browser import sign_in
from tests.qualification.factories import simple_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1440, 1024])
def test_marketer_imports_a_new_field_scores_it_previews_and_publishes(page, live_server, marketer, settings, tmp_path, width):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path)
    upload = tmp_path / "crm-export.csv"
    upload.write_text(EXPORT, encoding="utf-8")
    published = simple_model(status=ModelStatus.PUBLISHED, required_fields=["first_name"])
    page.set_viewport_size({"width": width, "height": 900})

    sign_in(page, live_server, marketer)
    page.goto(f"{live_server.url}/leads/import/")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and map columns").click()
    page.get_by_label("Field for column Prospect ID").select_option("external_id")
    page.get_by_label("Field for column Specialisation").select_option("new")
    page.get_by_label("Match rows to leads by").select_option("external_id")
    page.get_by_label("Source system").fill("crm")
    page.get_by_role("button", name="Preview import").click()
    expect(page.locator(".tile", has_text="New leads")).to_contain_text("6")
    page.get_by_role("button", name="Import 6 leads").click()
    expect(page.get_by_role("heading", name=re.compile("^Imported"))).to_be_visible()
    expect(page.locator(".tile", has_text="Created")).to_contain_text("6")

    # A draft rewarding the new field: Finance +60 reaches the threshold (50) and grade A.
    draft = services.copy_as_draft(model=published, by=marketer)
    page.goto(f"{live_server.url}/admin/qualification/scoringmodel/{draft.pk}/change/")
    page.locator("#fit_rules-group .add-row a").click()
    rule = page.locator("#fit_rules-group .rule-row:not(.empty-form)").last
    rule.locator("select[name$='-field']").select_option(label="Specialisation (custom)")
    rule.locator("select[name$='-operator']").select_option(label="equals")
    rule.locator("input[name$='-value']").fill("Finance")
    rule.locator("input[name$='-points']").fill("60")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("#fit_rules-group")).to_contain_text("Specialisation equals Finance: +60")

    page.get_by_role("link", name="Preview").click()
    expect(page.locator("#pv-enter")).to_have_text("+3")
    expect(page.get_by_role("row", name=re.compile("Asha"))).to_contain_text("moves to MQL")

    page.get_by_role("link", name=f"Publish v{draft.version}…").click()
    page.get_by_label("Why are you publishing this version?").fill("Finance specialists convert")
    page.get_by_role("button", name=f"Publish v{draft.version}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published v{draft.version}")
    expect(page.locator("#scoring-run")).to_contain_text("3 leads became MQLs")
    finance = {x.lead.first_name for x in LeadExternalId.objects.select_related("lead") if x.lead.stage == "mql"}
    assert finance == {"Asha", "Meera", "Omar"}
    assert Lead.objects.filter(stage="mql").count() == 3
