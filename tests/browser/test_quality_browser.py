"""A marketer in Chromium at 1440 and 390 px: the feedback page's model quality section shows the
AUC with the leads it rests on, and previewing a draft that ranks past leads worse warns before
Publish. Screenshots go to $QUALITY_SHOTS when set (for people to look at)."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leadhub.models import Outcome
from qualification import bulk
from qualification.choices import ModelStatus
from tests.browser.support import sign_in_and_open as sign_in
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.qualification.factories import FitRuleFactory, ScoringModelFactory, simple_model

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("QUALITY_SHOTS", "")


def shot(locator, name):
    if SHOTS:
        locator.screenshot(path=os.path.join(SHOTS, name))


def _world():
    model = simple_model(status=ModelStatus.PUBLISHED, threshold="50")
    created = timezone.now() - timedelta(days=120)
    for i in range(30):
        software = i % 3 != 0
        lead = LeadFactory(
            company=CompanyFactory(domain=f"b{i}.com", industry="software" if software else "retail"),
            title="VP Sales",
            created_at=created,
        )
        won = (software and i % 4 != 1) or i == 3
        if won != (i % 7 == 0):  # converters mostly asked for a demo
            ActivityFactory(lead=lead, kind="demo_request", occurred_at=timezone.now() - timedelta(days=3))
        Outcome.objects.create(lead=lead, result="won" if won else "lost", occurred_on=(created + timedelta(days=15)).date())
    bulk.rebuild_rollups()
    return model


@pytest.mark.parametrize("width", [1440, 390])
def test_marketer_sees_model_quality_and_the_backtest_warning(page, live_server, marketer, width):
    _world()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, marketer, "/feedback/")
    section = page.locator("#model-quality")
    expect(section.locator(".quality-auc-value")).to_be_visible(timeout=15_000)
    expect(section.locator("#quality-basis")).to_contain_text("n = 30 leads")
    auc = float(section.locator(".quality-auc-value").inner_text())
    assert 0.5 < auc <= 1
    expect(section.locator("svg.chart").first).to_be_visible()
    # Switching the label reloads the section in place.
    section.get_by_label("Label", exact=True).select_option("acceptance")
    expect(page.locator("#model-quality .quality-summary, #model-quality .empty").first).to_be_visible()
    # The section's old summary satisfies that at once: let the reload land before leaving, as
    # the test server shares one in-memory SQLite connection between its request threads.
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/feedback/")
    page.locator("#model-quality .quality-auc-value").wait_for()
    page.locator("#model-quality").scroll_into_view_if_needed()
    shot(page.locator("#model-quality"), f"feedback-quality-{width}.png")
    # No part of the section is wider than the screen.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, overflow

    draft = ScoringModelFactory(mql_threshold=Decimal("10"), min_grade="D", required_fields=[])
    FitRuleFactory(model=draft, field="industry", operator="equals", value="retail", points=Decimal("30"))
    page.goto(f"{live_server.url}/admin/qualification/scoringmodel/{draft.pk}/preview/")
    verdict = page.locator("#bt-verdict")
    expect(verdict).to_contain_text("ranks past leads worse than the published model")
    expect(page.locator("#pv-backtest")).to_contain_text("n = 30 leads")
    # The warning comes before the Publish button.
    assert verdict.bounding_box()["y"] < page.locator(".pv-publish").bounding_box()["y"]
    page.locator("#pv-backtest").scroll_into_view_if_needed()
    shot(page.locator("#pv-backtest"), f"preview-backtest-{width}.png")
