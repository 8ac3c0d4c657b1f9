"""Feedback by scoring model version: a rule keeps one line with its version and history, SDRs'
notes sit beside each rejection reason, every rate says "n of N", chips say labels."""

from decimal import Decimal

import pytest
from django.utils import timezone

from handoff import feedback_versions, reports, rollup
from handoff.choices import HandoffStatus
from handoff.models import HandoffRule
from leadhub.choices import Stage
from qualification import services
from qualification.choices import ModelStatus
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, reason
from tests.qualification.factories import simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(sdr):
    """v1 (archived) and v2 (published) share "Industry equals software", worth 20 then 30.
    Under v1: 4 handoffs with it, 3 rejected for No budget; under v2: 2 handoffs, none rejected."""
    v1 = simple_model(status=ModelStatus.PUBLISHED)
    v2 = services.copy_as_draft(model=v1)
    v1.status = ModelStatus.ARCHIVED
    v1.save()
    v2.status = ModelStatus.PUBLISHED
    v2.save()
    software_v2 = v2.fit_rules.get(field="industry")
    software_v2.points = Decimal("30")
    software_v2.save()
    software_v1 = v1.fit_rules.get(field="industry")
    now = timezone.now()
    notes = ["No budget until next year", "Student project", "They use a competitor, no budget"]
    for i in range(6):
        rejected = i < 3
        lead = LeadFactory(stage=Stage.NURTURE if rejected else Stage.MQL, source="paid", campaign="spring")
        handoff = HandoffFactory(
            lead=lead,
            owner=sdr,
            created_at=now,
            assigned_at=now,
            channel="paid",
            campaign="spring",
            status=HandoffStatus.REJECTED if rejected else HandoffStatus.OPEN,
            rejection_reason=reason("No budget") if rejected else None,
            decided_by=sdr if rejected else None,
            first_decision_at=now.replace(microsecond=i) if rejected else None,
            note=notes[i] if rejected else "",
        )
        rule = software_v1 if i < 4 else software_v2
        HandoffRule.objects.create(handoff=handoff, kind="fit", rule_id=rule.pk, label=rule.describe(), points=rule.points)
    rollup.rebuild()
    return v1, v2


def test_one_line_per_rule_for_the_published_version_with_the_history_of_the_others(two_versions):
    v1, v2 = two_versions
    table = feedback_versions.rules_by_version(reports.Scope())
    assert table["version"] == v2.version and [c["label"] for c in table["versions"]] == [
        f"v{v2.version} (published)",
        f"v{v1.version}",
    ]
    (row,) = table["rows"]
    assert (row["label"], row["version"], row["points"], row["handoffs"], row["rejected"]) == (
        "Industry equals software",
        v2.version,
        30,
        2,
        0,
    )
    assert [(h["version"], h["points"], h["handoffs"], h["rejected"]) for h in row["history"]] == [(v1.version, 20, 4, 3)]

    earlier = feedback_versions.rules_by_version(reports.Scope(), version=v1.version)
    (row,) = earlier["rows"]
    assert (row["version"], row["handoffs"], row["rejected"], row["rejection_rate"]) == (v1.version, 4, 3, 75.0)


def test_feedback_page_shows_versions_n_of_n_and_the_sdrs_notes(client, marketer, two_versions):
    v1, v2 = two_versions
    client.force_login(marketer)
    page = client.get("/feedback/").content.decode()
    rules = page[page.index('id="table-rules"') : page.index("</table>", page.index('id="table-rules"'))]
    assert rules.count("Industry equals software") == 1 and f"v{v2.version}" in rules and f"v{v1.version}: 20 pts" in rules
    assert "0 of 2" in rules and "3 of 4" in rules
    assert "They use a competitor, no budget" in page  # the latest note under No budget / Paid
    assert "all 3 notes" in page and "Student project" in page
    assert "of 3 · 100%" in page  # the pivot: No budget is 3 of Paid's 3 rejections
    older = client.get(f"/feedback/?version={v1.version}").content.decode()
    assert f"Scoring rules on handed-off leads: v{v1.version}" in older


def test_drill_down_chips_say_labels_not_ids(client, marketer, two_versions):
    v1, v2 = two_versions
    client.force_login(marketer)
    no_budget = reason("No budget")
    page = client.get(f"/leads/?rejection_reason={no_budget.pk}").content.decode()
    assert "Rejection reason: <bdi>No budget</bdi>" in page and "(id)" not in page
    rule = v1.fit_rules.get(field="industry")
    page = client.get(f"/leads/?rule=fit:{rule.pk}").content.decode()
    assert f"<bdi>Industry equals software (fit, v{v1.version})</bdi>" in page
