"""Suggested weights on a data set whose true weights were planted (tests/qualification/suggest_data_set.py)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from leadhub.models import Lead, StageChange
from qualification import suggest
from qualification.choices import ModelStatus
from qualification.models import RescoreRun, ScoringModel
from tests.qualification.factories import simple_model
from tests.qualification.suggest_data_set import COUNTRIES, INDUSTRIES, START, plant

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def direct_fit_auc(planted, test_from):
    """A logistic regression fitted directly on the planted columns, on the same split."""
    X = np.column_stack(
        [planted["industry"] == i for i in range(len(INDUSTRIES))]
        + [planted["country"] == c for c in range(len(COUNTRIES))]
        + [planted["demos"], planted["views"]]
    ).astype(float)
    test = np.array([(START + timedelta(days=int(d))).date() >= test_from for d in planted["created_day"]])
    model = LogisticRegression(max_iter=500).fit(X[~test], planted["won"][~test])
    return roc_auc_score(planted["won"][test], model.decision_function(X[test]))


def test_the_suggestion_ranks_held_out_leads_as_well_as_a_direct_fit_and_recovers_the_planted_signs():
    planted = plant(n=3000)
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft, result = suggest.suggest(model=published, now=NOW)

    assert result["split"] == "time"
    test_from = datetime.fromisoformat(result["test_from"]).date()
    direct = direct_fit_auc(planted, test_from)
    assert abs(result["auc"] - direct) <= 0.01, (result["auc"], direct)
    assert result["auc"] > result["auc_published"]  # the planted truth is not the published model
    assert result["n"] == 3000 and result["test"] + result["train"] == 3000

    fit = {(r.field, r.value.lower()): r.points for r in draft.fit_rules.all()}
    assert fit[("industry", "software")] > 0
    assert fit[("industry", "retail")] < 0
    assert fit[("country", "us")] > 0
    demo = draft.engagement_rules.get(kind="demo_request")
    assert demo.points > 0
    # Every rule says which coefficient it came from.
    for rule in [*draft.fit_rules.all(), *draft.engagement_rules.all()]:
        assert rule.label.startswith("suggested: coef "), rule.label
    assert "for industry = retail" in draft.fit_rules.get(field="industry", value="retail").label


def test_the_suggestion_is_a_draft_and_never_publishes():
    plant(n=600)
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft, result = suggest.suggest(model=published, now=NOW)
    assert draft.status == ModelStatus.DRAFT and draft.published_at is None
    assert draft.copied_from_id == published.pk
    published.refresh_from_db()
    assert published.status == ModelStatus.PUBLISHED
    assert list(ScoringModel.objects.filter(status=ModelStatus.PUBLISHED)) == [published]
    assert not RescoreRun.objects.exists()
    assert not draft.publishes.exists()
    assert result["draft_id"] == draft.pk


def test_threshold_follows_the_chosen_mql_rate_or_precision():
    plant(n=1500)
    published = simple_model(status=ModelStatus.PUBLISHED)
    _, by_rate = suggest.suggest(model=published, options=suggest.Options(mql_rate=0.25), now=NOW)
    assert abs(by_rate["mql_rate"] - 0.25) < 0.05
    _, by_precision = suggest.suggest(model=published, options=suggest.Options(precision=0.85), now=NOW)
    assert by_precision["mql_precision"] >= 0.8
    assert by_precision["threshold"] > by_rate["threshold"]


def test_filters_fit_one_channel_apart_from_the_rest():
    plant(n=1200)
    Lead.objects.filter(pk__in=list(Lead.objects.order_by("id").values_list("pk", flat=True)[:500])).update(source="referral")
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft, result = suggest.suggest(model=published, options=suggest.Options(channel="referral"), now=NOW)
    assert result["n"] == 500
    assert result["filters"] == "channel referral"
    assert "channel referral" in draft.name


def test_the_acceptance_label_learns_from_sdr_decisions():
    planted = plant(n=800)
    leads = list(Lead.objects.order_by("id"))
    StageChange.objects.bulk_create(
        StageChange(
            lead=lead,
            from_stage="mql",
            to_stage="sal" if won else "nurture",
            at=START + timedelta(days=int(day) + 20, hours=12),
        )
        for lead, won, day in zip(leads, planted["won"], planted["created_day"], strict=True)
    )
    published = simple_model(status=ModelStatus.PUBLISHED)
    draft, result = suggest.suggest(model=published, options=suggest.Options(label="acceptance"), now=NOW)
    assert result["label"] == "acceptance" and result["n"] == 800
    assert result["auc"] > 0.7
    assert draft.fit_rules.get(field="industry", value="software").points > 0


def test_open_leads_are_left_out_and_old_leads_without_outcomes_are_negative():
    planted = plant(n=400)
    newest = Lead.objects.order_by("-created_at")[:50]
    ids = [lead.pk for lead in newest]
    Lead.objects.filter(pk__in=ids).update(created_at=NOW - timedelta(days=10))
    from leadhub.models import Outcome

    Outcome.objects.filter(lead_id__in=ids).delete()
    published = simple_model(status=ModelStatus.PUBLISHED)
    _, result = suggest.suggest(model=published, options=suggest.Options(horizon_days=180), now=NOW)
    assert result["n"] == 350  # 10 days old without an outcome: still open
    _, result = suggest.suggest(model=published, options=suggest.Options(horizon_days=5), now=NOW)
    assert result["n"] == 400
    assert result["positives"] == int(planted["won"].sum()) - int(planted["won"][np.isin(planted["ids"], ids)].sum())


def test_custom_choice_fields_filter_and_become_features_or_say_why_not():
    from leadhub.models import LeadField

    planted = plant(n=900)
    LeadField.objects.create(key="segment", label="Segment", type="choice", options=["smb", "enterprise"])
    ids = planted["ids"]
    enterprise = ids[planted["industry"] == 0]  # the software leads, which win more
    Lead.objects.filter(pk__in=list(ids)).update(attributes={"segment": "smb"})
    Lead.objects.filter(pk__in=list(enterprise)).update(attributes={"segment": "enterprise"})
    published = simple_model(status=ModelStatus.PUBLISHED)

    _, only = suggest.suggest(model=published, options=suggest.Options(field="segment", field_value="smb"), now=NOW)
    assert only["n"] == 900 - len(enterprise)
    assert only["filters"] == "segment = smb"

    draft, result = suggest.suggest(model=published, now=NOW)
    as_rules = [r for r in draft.fit_rules.all() if r.field == "attributes.segment"]
    said_why = [s for s in result["skipped"] if "attributes.segment" in s]
    # Until the rule language accepts custom fields the suggestion says it left them out; after, they are rules.
    assert as_rules or said_why
