"""A marketer merges two leads in the admin: picks them, checks the confirmation, swaps, merges."""

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leadhub.models import Activity, Lead, LeadMerge
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketer_merges_two_leads_in_the_admin(page, live_server, marketer):
    acme = CompanyFactory(name="Acme Corp", domain="acme.com")
    older = LeadFactory(
        email="ann@acme.com",
        first_name="Ann",
        last_name="Lee",
        title="",
        company=acme,
        created_at=timezone.now() - timedelta(days=20),
    )
    newer = LeadFactory(
        email="ann+webinar@acme.com", first_name="Ann", last_name="Lee", title="VP Marketing", company=acme, source="event"
    )
    ActivityFactory.create_batch(2, lead=older)
    ActivityFactory.create_batch(3, lead=newer, kind="webinar_attended")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/leadhub/lead/")
    page.get_by_label("Username").fill(marketer.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()

    page.locator(f'input[name="_selected_action"][value="{older.pk}"]').check()
    page.locator(f'input[name="_selected_action"][value="{newer.pk}"]').check()
    page.locator('select[name="action"]').select_option("merge_duplicates")
    page.locator(".actions button[name=index]").click()

    # Both the same stage: the older lead survives by default.
    expect(page.get_by_role("heading", name="Merge duplicate leads")).to_be_visible()
    survivor_box = page.locator(".merge-lead.survivor")
    expect(survivor_box).to_contain_text("ann@acme.com")
    expect(page.locator(".merge-lead.duplicate")).to_contain_text("ann+webinar@acme.com")
    expect(page.locator(".merge-lead.duplicate")).to_contain_text(re.compile(r"Activities\s*3"))
    expect(survivor_box.locator(".merge-filled")).to_have_text("VP Marketing")
    if os.environ.get("LEADHUB_MERGE_SCREENSHOT"):
        page.screenshot(path=os.environ["LEADHUB_MERGE_SCREENSHOT"], full_page=True)

    # Swap and swap back: the survivor box follows.
    page.get_by_role("link", name=re.compile("^Swap")).click()
    expect(survivor_box).to_contain_text("ann+webinar@acme.com")
    page.get_by_role("link", name=re.compile("^Swap")).click()
    expect(survivor_box).to_contain_text("ann@acme.com")

    page.get_by_role("button", name="Merge ann+webinar@acme.com into ann@acme.com").click()

    expect(page).to_have_url(re.compile(rf"/leads/{older.pk}/$"))
    expect(page.get_by_text("Merged ann+webinar@acme.com into this lead")).to_be_visible()
    assert not Lead.objects.filter(pk=newer.pk).exists()
    assert Activity.objects.filter(lead=older).count() == 5
    assert Lead.objects.get(pk=older.pk).title == "VP Marketing"
    assert LeadMerge.objects.get().by == marketer
