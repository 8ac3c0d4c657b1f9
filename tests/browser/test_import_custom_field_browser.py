"""A marketer imports a CRM export keyed by the CRM's id (no e-mail), maps a new column to a
new custom field created from the mapping screen, fixes a country in the value mapping and
imports, on a desktop and on a phone."""

import re

import pytest
from playwright.sync_api import expect

from leadhub.models import LeadExternalId, LeadField, Outcome
from tests.browser.test_leads_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPORT = (
    "Prospect ID,First Name,Lead Source,Country,Specialisation,Converted\n"
    "P-1,Asha,Live chat,India,Finance,1\n"
    "P-2,Ravi,Google Ads,UK,HR,0\n"
    "P-3,Meera,Referral programme,India,Finance,1\n"
    "P-4,Karan,Live chat,Select,Marketing,0\n"
    "P-5,Priya,Google Ads,United States,HR,0\n"
    "P-6,Omar,Live chat,India,Finance,1\n"
)


def no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("width", [1440, 390])
def test_marketer_maps_a_new_column_to_a_new_custom_field_and_imports(page, live_server, marketer, settings, tmp_path, width):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path)
    upload = tmp_path / "crm-export.csv"
    upload.write_text(EXPORT, encoding="utf-8")
    page.set_viewport_size({"width": width, "height": 900})

    sign_in(page, live_server, marketer)
    page.goto(f"{live_server.url}/leads/import/")
    expect(page.get_by_role("heading", name="Import leads from a CSV file")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and map columns").click()

    # The mapping: no e-mail column, so the CRM's id is the key; the new column becomes a field.
    expect(page.get_by_role("heading", name="Map the columns to lead fields")).to_be_visible()
    expect(page.get_by_label("Field for column Lead Source")).to_have_value("channel")
    expect(page.get_by_label("Field for column Specialisation")).to_have_value("")
    expect(page.get_by_label("Type of a new field from column Specialisation")).to_have_value("choice")
    no_sideways_scroll(page)
    page.get_by_label("Field for column Prospect ID").select_option("external_id")
    page.get_by_label("Field for column Specialisation").select_option("new")
    page.get_by_label("Field for column Converted").select_option("outcome")
    page.get_by_label("Match rows to leads by").select_option("external_id")
    page.get_by_label("Source system").fill("crm")
    page.get_by_role("button", name="Preview import").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been written yet")).to_be_visible()
    expect(page.locator(".tile", has_text="New leads")).to_contain_text("6")
    expect(page.locator(".tile", has_text="Rejected rows")).to_contain_text("0")
    expect(page.locator(".tile", has_text="Outcomes to record")).to_contain_text("6")
    # "UK" is not a country pycountry can be sure of: the preview says so and offers to map it.
    expect(page.locator(".import-bad-columns")).to_contain_text("Country: 1 value left out")
    expect(page.get_by_label("UK becomes")).to_have_value("")
    expect(page.get_by_label("India becomes")).to_have_value("IN")
    expect(page.get_by_label("Live chat becomes")).to_have_value("interaction")
    no_sideways_scroll(page)
    assert LeadField.objects.get(key="specialisation").type == "choice"
    assert not LeadExternalId.objects.exists()

    page.get_by_label("UK becomes").fill("GB")
    page.get_by_role("button", name="Apply the values and check again").click()
    expect(page.get_by_role("heading", name="Preview: nothing has been written yet")).to_be_visible()
    expect(page.locator(".import-bad-columns")).to_have_count(0)
    expect(page.get_by_label("UK becomes")).to_have_value("GB")

    page.get_by_role("button", name="Import 6 leads").click()
    expect(page.get_by_role("heading", name=re.compile("^Imported"))).to_be_visible()
    expect(page.locator(".tile", has_text="Created")).to_contain_text("6")
    expect(page.locator(".tile", has_text="Outcomes recorded")).to_contain_text("6")
    expect(page.get_by_role("link", name="crm:P-2")).to_be_visible()
    no_sideways_scroll(page)
    ravi = LeadExternalId.objects.get(source="crm", external_id="P-2").lead
    assert (ravi.email, ravi.first_name, ravi.country, ravi.source, ravi.attributes) == (
        None,
        "Ravi",
        "GB",
        "paid",
        {"specialisation": "HR"},
    )
    assert sorted(Outcome.objects.values_list("result", flat=True)) == ["lost", "lost", "lost", "won", "won", "won"]
