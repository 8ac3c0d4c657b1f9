"""The dashboards in Chromium: open them, change a filter, see chart and table follow, download CSV."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff import rollup
from handoff.choices import HandoffStatus
from handoff.models import HandoffRule
from tests.browser.support import sign_in_and_open as sign_in
from tests.handoff.conftest import seeded_transactional_db  # noqa: F401 (fixture)
from tests.handoff.factories import HandoffFactory, reason

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def handoffs(sdr, other_sdr):
    now = timezone.now()
    rows = []
    for i, (owner, channel, status) in enumerate(
        [
            (sdr, "paid", HandoffStatus.REJECTED),
            (sdr, "paid", HandoffStatus.REJECTED),
            (other_sdr, "event", HandoffStatus.ACCEPTED),
            (other_sdr, "event", HandoffStatus.ACCEPTED),
            (sdr, "event", HandoffStatus.REJECTED),
        ]
    ):
        created = now - timedelta(days=3, hours=i)
        handoff = HandoffFactory(
            owner=owner,
            channel=channel,
            created_at=created,
            assigned_at=created,
            due_at=created + timedelta(hours=2),
            first_decision_at=created + timedelta(minutes=40 * (i + 1)),
            response_minutes=40 * (i + 1),
            status=status,
            rejection_reason=reason("Student" if channel == "paid" else "No need") if status == HandoffStatus.REJECTED else None,
            score_at_handoff=70 + 10 * i,
        )
        HandoffRule.objects.create(handoff=handoff, kind="fit", rule_id=1, label="Target industry", points=15)
        rows.append(handoff)
    rollup.rebuild()  # rows written directly, as the bench does
    return rows


def test_manager_filters_the_dashboard_and_downloads_csv(page, live_server, manager, handoffs):
    sign_in(page, live_server, manager, "/dashboard/")
    expect(page.get_by_role("heading", name="Sales dashboard")).to_be_visible()
    funnel = page.locator("#table-funnel_channel tbody")
    expect(funnel).to_contain_text("Paid")
    expect(funnel).to_contain_text("Event")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("#h-funnel").locator("..")).to_contain_text("MQL 5")

    page.get_by_label("Channel", exact=True).select_option("paid")  # htmx swaps the results, the URL follows
    expect(funnel).not_to_contain_text("Event")
    expect(page.locator("#h-funnel").locator("..")).to_contain_text("MQL 2")
    expect(page.locator("svg.chart[aria-label^='Funnel'] rect").first).to_be_visible()
    assert "channel=paid" in page.url

    with page.expect_download() as info:
        page.locator("#table-funnel_channel").locator("..").get_by_role("link", name="CSV").click()
    text = open(info.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("Channel,MQL,SAL,SQL,Won")
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["Paid"]


def test_manager_sees_a_form_error_for_a_backwards_range(page, live_server, manager, handoffs):
    sign_in(page, live_server, manager, "/dashboard/")
    page.get_by_label("MQL from").fill("2026-06-10")
    page.get_by_label("to", exact=True).fill("2026-06-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("The end date is before the start date.")


def test_marketer_filters_feedback_and_downloads_csv(page, live_server, marketer, handoffs):
    sign_in(page, live_server, marketer, "/feedback/")
    expect(page.get_by_role("heading", name="Sales feedback for marketing")).to_be_visible()
    pivot = page.locator("#table-rejections_channel tbody")
    expect(pivot).to_contain_text("Paid")
    expect(pivot).to_contain_text("Event")
    expect(page.locator("svg.chart[aria-label^='MQL to SAL'] rect")).to_have_count(2)

    page.get_by_label("Channel", exact=True).select_option("event")
    expect(pivot).not_to_contain_text("Paid")
    expect(page.locator("svg.chart[aria-label^='MQL to SAL'] rect")).to_have_count(1)
    expect(page.locator("#table-acceptance tbody")).to_contain_text("66.7%")  # 2 of 3 event MQLs accepted

    with page.expect_download() as info:
        page.locator("#table-acceptance").locator("..").get_by_role("link", name="CSV").click()
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0] == "Channel,MQL,Decided,Accepted,Rejected,Acceptance %"
    assert lines[1:] == ["Event,3,3,2,1,66.7"]

    page.locator("#table-rejections_channel tbody a").first.click()  # the number opens the leads behind it
    page.wait_for_url("**/leads/**")
    assert "handoff_channel=event" in page.url and "reached=rejected" in page.url
