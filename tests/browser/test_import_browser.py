import re

import pytest
from playwright.sync_api import expect

from leadhub.models import Lead
from tests.browser.test_leads_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# A trade-show export as Excel writes it on a German Windows: cp1252, semicolons.
TRADE_SHOW = (
    "Mail;Vorname;Nachname;Firma;Funktion\r\n"
    "hans@kranzler.de;Hans;Müller;Café Kranzler;Einkauf\r\n"
    "ann@acme.com;Ann;Lee;Acme;CMO\r\n"
    "kaputt;Jörg;X;;\r\n"
).encode("cp1252")


def test_marketer_uploads_fixes_a_mapping_previews_and_commits(page, live_server, marketer, settings, tmp_path):
    settings.LEADHUB_IMPORT_DIR = str(tmp_path)
    upload = tmp_path / "messe.csv"
    upload.write_bytes(TRADE_SHOW)

    sign_in(page, live_server, marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import leads from a CSV file")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_label("Channel of new leads").select_option("event")
    page.get_by_label("Campaign").fill("messe-berlin-2026")
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Map the columns to lead fields")).to_be_visible()
    expect(page.get_by_text("Müller")).to_be_visible()
    # "Mail" is guessed as email; "Funktion" is not recognised: fix it by hand.
    expect(page.get_by_label("Field for column Mail")).to_have_value("email")
    expect(page.get_by_label("Field for column Funktion")).to_have_value("")
    page.get_by_label("Field for column Funktion").select_option("title")
    page.get_by_role("button", name="Preview import").click()

    expect(page.get_by_role("heading", name="Preview: nothing has been written yet")).to_be_visible()
    expect(page.locator(".tile", has_text="New leads")).to_contain_text("2")
    expect(page.locator(".tile", has_text="Rejected rows")).to_contain_text("1")
    expect(page.get_by_role("cell", name="“kaputt” is not an email address.")).to_be_visible()
    assert Lead.objects.count() == 0

    page.get_by_role("button", name="Import 2 leads").click()
    expect(page.get_by_role("heading", name=re.compile("^Imported"))).to_be_visible()
    expect(page.locator(".tile", has_text="Created")).to_contain_text("2")
    expect(page.get_by_role("link", name="Download 1 rejected row (CSV)")).to_be_visible()
    hans = Lead.objects.get(email="hans@kranzler.de")
    assert (hans.last_name, hans.title, hans.source, hans.campaign, hans.company.name) == (
        "Müller",
        "Einkauf",
        "event",
        "messe-berlin-2026",
        "Café Kranzler",
    )

    with page.expect_download() as download:
        page.get_by_role("link", name="Download 1 rejected row (CSV)").click()
    rejected = download.value.path().read_text(encoding="utf-8-sig")
    assert rejected.splitlines()[1] == "kaputt,Jörg,X,,,“kaputt” is not an email address."

    page.get_by_role("link", name="hans@kranzler.de").click()
    expect(page.get_by_role("heading", name=re.compile("Hans Müller"))).to_be_visible()
