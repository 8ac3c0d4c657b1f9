"""The marketer's day in Chromium at 1280 and 1440 px: the scoring editor fits the screen, the
preview's numbers reconcile and match what publish then does, publish asks for confirmation,
and /feedback/ shows one line per rule with its version and the SDRs' notes."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff import rollup
from handoff.choices import HandoffStatus
from handoff.models import Handoff, HandoffRule
from leadhub.choices import Stage
from qualification import services
from qualification.choices import ModelStatus
from qualification.models import PublishRecord
from tests.browser.support import sign_in_and_open as sign_in
from tests.factories import LeadFactory
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import HandoffFactory, SDRProfileFactory, reason
from tests.handoff.test_batch_routing import hot_leads
from tests.qualification.factories import FitRuleFactory, simple_model

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 1440]


def number(page, selector):
    return int(re.sub(r"[^\d]", "", page.locator(selector).inner_text()))


def counts(page, selector):
    return [int(re.sub(r"[^\d]", "", b)) for b in page.locator(f"{selector} li b").all_inner_texts()]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_editor_fits_the_screen_with_its_rules_and_controls(page, live_server, marketer, width):
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft = services.copy_as_draft(model=published, by=marketer)
    FitRuleFactory(model=draft, field="title", operator="contains", value="Consultant", points=Decimal("-10"))
    for i in range(12):  # a long model
        FitRuleFactory(model=draft, field="country", operator="in", value=f"C{i}, D{i}", points=Decimal("2"), label=f"Region {i}")
    page.set_viewport_size({"width": width, "height": 900})
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    sign_in(page, live_server, marketer, f"/admin/qualification/scoringmodel/{draft.pk}/change/")

    expect(page.locator("#site-name")).to_contain_text("leadhub")
    page.wait_for_load_state("networkidle")
    assert missing == []  # the favicon among them
    expect(page.locator("#fit_rules-2-group")).to_contain_text("Title contains Consultant: −10")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    controls = page.locator(".rule-row:not(.empty-form) input:not([type=hidden]), .rule-row:not(.empty-form) select")
    assert controls.count() > 16 * 4
    rights = page.evaluate(
        """sel => [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect().right)""",
        ".rule-row:not(.empty-form) input:not([type=hidden]), .rule-row:not(.empty-form) select",
    )
    assert max(rights) <= width, max(rights)
    for name in ("Save and continue editing", "Save"):
        box = page.get_by_role("button", name=name, exact=True).bounding_box()
        assert box["x"] + box["width"] <= width
    expect(page.get_by_role("link", name="Publish…")).to_be_visible()

    page.goto(f"{live_server.url}/admin/qualification/scoringmodel/{published.pk}/change/")
    expect(page.get_by_role("button", name="Copy as new draft")).to_be_visible()
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.locator(".field-required_fields_labels")).to_contain_text("First name, Last name, Title")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_previewed_draft_reconciles_and_publish_does_what_it_said(page, live_server, marketer, sdr, other_sdr, width):
    SDRProfileFactory(user=sdr, capacity=3)
    SDRProfileFactory(user=other_sdr, capacity=2)
    hot = hot_leads(7)
    LeadFactory.create_batch(3, stage=Stage.NURTURE)  # nothing qualifies them
    draft = simple_model()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, marketer, f"/admin/qualification/scoringmodel/{draft.pk}/preview/")

    expect(page.locator("#pv-headline")).to_contain_text("After publishing")
    ready, enter, leave = number(page, "#pv-ready"), number(page, "#pv-enter"), number(page, "#pv-leave")
    assert (ready, enter, leave) == (7, 7, 0)
    assert sum(counts(page, "#pv-enter-reasons")) == enter
    assert sum(counts(page, "#pv-ready-parts")) == ready
    assert sum(counts(page, "#pv-blocked-reasons")) == 3
    # The sample names each entering lead (read by id after the counts) and links to it.
    sample = page.locator("#pv-sample-enter-table tbody tr")
    expect(sample).to_have_count(7)
    assert sorted(sample.locator("td:first-child a").all_inner_texts()) == sorted(lead.full_name or lead.email for lead in hot)
    expect(sample.first).to_contain_text("moves to MQL")
    new_mqls, routed, pool = number(page, "#pv-new-mqls"), number(page, "#pv-routed"), number(page, "#pv-pool")
    assert (new_mqls, number(page, "#pv-free"), routed, pool) == (7, 5, 5, 2)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.get_by_role("link", name=f"Publish v{draft.version}…").click()
    expect(page.get_by_role("heading", name=f"Publish v{draft.version}?")).to_be_visible()
    expect(page.locator("#pv-headline")).to_contain_text("7 MQL-ready")
    expect(page.locator("#pv-routing")).to_contain_text("5 go to SDRs now")
    assert not PublishRecord.objects.exists()  # nothing yet: it asks first
    page.get_by_role("button", name=f"Publish v{draft.version}").click()
    expect(page.locator(".errorlist")).to_contain_text("Say why you publish")
    page.get_by_label("Why are you publishing this version?").fill("Demo requests from software companies are MQLs")
    page.get_by_label("Open them all at once").check()
    page.get_by_role("button", name=f"Publish v{draft.version}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Published v{draft.version}")
    expect(page.locator("#scoring-run")).to_contain_text("Rescored all 10 leads")
    expect(page.locator("#scoring-run")).to_contain_text("7 leads became MQLs")

    opened = Handoff.objects.filter(status=HandoffStatus.OPEN)
    assert opened.count() == new_mqls and opened.filter(owner__isnull=False).count() == routed
    assert opened.filter(owner__isnull=True).count() == pool
    record = PublishRecord.objects.get()
    assert (record.by, record.note, record.daily_cap) == (marketer, "Demo requests from software companies are MQLs", None)


@pytest.mark.parametrize("width", WIDTHS)
def test_feedback_shows_one_line_per_rule_with_its_version_and_the_sdrs_notes(page, live_server, marketer, sdr, width):
    v1 = simple_model(status=ModelStatus.PUBLISHED)
    v2 = services.copy_as_draft(model=v1)
    v1.status, v2.status = ModelStatus.ARCHIVED, ModelStatus.PUBLISHED
    v1.save()
    v2.save()
    now = timezone.now()
    for i, model in enumerate([v1, v1, v2]):
        rule = model.fit_rules.get(field="industry")
        handoff = HandoffFactory(
            owner=sdr,
            created_at=now,
            assigned_at=now,
            channel="paid",
            status=HandoffStatus.REJECTED,
            rejection_reason=reason("No budget"),
            decided_by=sdr,
            first_decision_at=now,
            note=f"Note {i}: no budget this year",
        )
        HandoffRule.objects.create(handoff=handoff, kind="fit", rule_id=rule.pk, label=rule.describe(), points=rule.points)
    rollup.rebuild()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, marketer, "/feedback/")

    rows = page.locator("#table-rules tbody tr")
    expect(rows.filter(has_text="Industry equals software")).to_have_count(1)
    expect(rows.first).to_contain_text(f"v{v2.version}")
    expect(rows.first).to_contain_text(f"v{v1.version}: 20 pts")
    expect(page.locator("#table-rejections_channel")).to_contain_text("no budget this year")
    page.get_by_role("link", name=f"v{v1.version}", exact=True).click()
    expect(page.locator("#h-rules")).to_contain_text(f"v{v1.version}")
    expect(page.locator("#table-rules tbody tr").first).to_contain_text("2 of 2")
