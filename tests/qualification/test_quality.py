"""The model quality report and the preview's backtest on a small world of leads with outcomes:
labels as documented, the report's AUC equal to scikit-learn's from the stored scores, per-rule
firing equal to the engine's contributions, and the backtest equal to publishing the draft and
measuring."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadhub.models import Lead, Outcome, StageChange
from qualification import backtest, bulk, engine, quality, selectors
from qualification.choices import ModelStatus
from qualification.quality_labels import ACCEPTANCE, OUTCOME, Period, labels
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import EngagementRuleFactory, FitRuleFactory, ScoringModelFactory, simple_model

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PERIOD = Period(date_from=date(2026, 1, 1), date_to=date(2026, 11, 24), label=OUTCOME, horizon_days=90)


def _lead(rng, i, **kwargs):
    software = rng.random() < 0.5
    company = CompanyFactory(domain=f"q{i}.com", industry="software" if software else "retail", employee_count=100)
    created = NOW - timedelta(days=rng.randint(100, 300))
    lead = LeadFactory(
        company=company,
        email=f"lead{i}@{'gmail.com' if rng.random() < 0.2 else company.domain}",
        title=rng.choice(["VP Sales", "Intern", "Manager"]),
        created_at=created,
        stage="nurture",
        **kwargs,
    )
    demos = rng.random() < 0.4
    if demos:
        ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - timedelta(days=rng.randint(1, 40)))
    # Converters lean towards software companies with demo requests.
    p = 0.15 + 0.35 * software + 0.35 * demos
    return lead, rng.random() < p


@pytest.fixture
def world():
    rng = random.Random(16)
    model = simple_model(status=ModelStatus.PUBLISHED, threshold="50")
    leads = []
    for i in range(80):
        lead, won = _lead(rng, i)
        leads.append(lead)
        day = (lead.created_at + timedelta(days=rng.randint(5, 60))).date()
        if i % 10 == 9:
            continue  # no outcome: created more than 90 days ago, so negative
        Outcome.objects.create(lead=lead, result="won" if won else "lost", occurred_on=day)
    bulk.rebuild_rollups()
    return model, leads


def test_labels_follow_the_documented_rules(world):
    _, leads = world
    a, b, c, d, e = (LeadFactory(created_at=NOW - timedelta(days=d)) for d in (200, 200, 200, 200, 10))
    StageChange.objects.create(lead=a, from_stage="nurture", to_stage="mql", at=NOW - timedelta(days=150))
    Outcome.objects.create(lead=a, result="lost", occurred_on=date(2026, 5, 1))
    Outcome.objects.create(lead=a, result="won", occurred_on=date(2026, 7, 1))  # latest: won, within 90 days of MQL
    Outcome.objects.create(lead=b, result="won", occurred_on=(NOW - timedelta(days=20)).date())  # won, after the horizon
    StageChange.objects.create(lead=c, from_stage="mql", to_stage="disqualified", at=NOW - timedelta(days=190))
    StageChange.objects.create(lead=d, from_stage="sql", to_stage="won", at=NOW - timedelta(days=180))  # no Outcome row
    # e: created 10 days ago, nothing yet: still open, left out.
    got = labels(PERIOD, NOW)
    by_id = dict(zip(got.ids.tolist(), got.y.tolist(), strict=True))
    assert by_id[a.pk] == 1 and by_id[b.pk] == 0 and by_id[c.pk] == 0 and by_id[d.pk] == 1
    assert e.pk not in by_id
    assert got.left_out == 1
    assert got.n == 84


def test_acceptance_label_is_the_first_decision_after_mql(world):
    a, b, c = (LeadFactory(created_at=NOW - timedelta(days=30)) for _ in range(3))
    StageChange.objects.create(lead=a, from_stage="mql", to_stage="sal", at=NOW - timedelta(days=20))
    StageChange.objects.create(lead=b, from_stage="mql", to_stage="nurture", at=NOW - timedelta(days=20))
    StageChange.objects.create(lead=b, from_stage="mql", to_stage="sal", at=NOW - timedelta(days=10))
    got = labels(Period(date_from=date(2026, 10, 1), date_to=date(2026, 11, 24), label=ACCEPTANCE), NOW)
    assert dict(zip(got.ids.tolist(), got.y.tolist(), strict=True)) == {a.pk: 1, b.pk: 0}
    assert c.pk not in got.ids and got.left_out == 1


def test_report_auc_equals_scikit_learn_on_the_stored_scores(world):
    model, _ = world
    as_of = PERIOD.as_of(NOW)
    bulk.write_scores(selectors.snapshot(model), as_of, bulk.ALL)
    got = labels(PERIOD, NOW)
    stored = dict(Lead.objects.filter(pk__in=got.ids.tolist()).values_list("pk", "total_score"))
    expected = roc_auc_score(got.y, [float(stored[pk]) for pk in got.ids.tolist()])
    out = quality.report(model, PERIOD, now=NOW)
    assert out["n"] == got.n == 80 and out["positives"] == got.positives > 10
    assert out["auc"] == pytest.approx(expected, abs=1e-4)
    assert out["auc_low"] < out["auc"] < out["auc_high"]
    assert sum(d["n"] for d in out["deciles"]) == 80 and len(out["deciles"]) == 10
    assert out["deciles"][-1]["gain"] == 100.0
    assert sum(b["n"] for b in out["bands"]) == 80 and sum(g["n"] for g in out["grades"]) == 80
    # Precision and recall of the MQL rule, from the stored scores and the rule itself.
    promotable = {
        pk
        for pk, total, grade, first, last, title in Lead.objects.filter(pk__in=got.ids.tolist()).values_list(
            "pk", "total_score", "grade", "first_name", "last_name", "title"
        )
        if total >= 50 and grade in ("A", "B") and first.strip() and last.strip() and title.strip()
    }
    positives = {pk for pk, y in zip(got.ids.tolist(), got.y.tolist(), strict=True) if y}
    assert out["mql"]["selected"] == len(promotable)
    assert out["mql"]["missed"] == len(positives - promotable)
    assert out["mql"]["recall"] == round(100 * len(positives & promotable) / len(positives), 1)
    assert "missed_for=" in out["mql"]["missed_url"]


def test_rule_firing_equals_the_engines_contributions(world):
    model, leads = world
    spec = selectors.snapshot(model)
    got = labels(PERIOD, NOW)
    scored = quality.score(spec, got.ids, PERIOD.as_of(NOW))
    for index, pk in enumerate(got.ids.tolist()):
        result = engine.score(selectors.lead_facts(Lead.objects.get(pk=pk)), spec, PERIOD.as_of(NOW))
        gave = {(c.kind, c.rule_id) for c in result.contributions if c.points != 0}
        for key, fired in scored.fired.items():
            assert bool(fired[index]) == (key in gave), (pk, key)


def test_backtest_equals_publishing_the_draft_and_measuring(world):
    model, _ = world
    draft = ScoringModelFactory(mql_threshold=Decimal("20"), min_grade="D", required_fields=[])
    FitRuleFactory(model=draft, field="industry", operator="equals", value="retail", points=Decimal("30"))
    EngagementRuleFactory(model=draft, kind="demo_request", points=Decimal("5"))
    out = backtest.backtest(draft, PERIOD, now=NOW)
    assert out["published"]["version"] == model.version and out["draft"]["version"] == draft.version
    # Publish the draft's scores (written, as publishing does) and measure from the stored scores.
    bulk.write_scores(selectors.snapshot(draft), PERIOD.as_of(NOW), bulk.ALL)
    got = labels(PERIOD, NOW)
    rows = dict(
        (pk, (float(t), g)) for pk, t, g in Lead.objects.filter(pk__in=got.ids.tolist()).values_list("pk", "total_score", "grade")
    )
    totals = np.array([rows[pk][0] for pk in got.ids.tolist()])
    assert out["draft"]["auc"] == pytest.approx(roc_auc_score(got.y, totals), abs=1e-4)
    selected = totals >= 20
    positives = got.y.astype(bool)
    assert out["draft"]["mql"]["precision"] == round(100 * (selected & positives).sum() / selected.sum(), 1)
    assert out["draft"]["mql"]["recall"] == round(100 * (selected & positives).sum() / positives.sum(), 1)
    assert out["draft"]["mql"]["missed"] == int((~selected & positives).sum())
    assert out["worse"] is True and "worse than the published model" in out["verdict"]


def test_rule_firing_on_a_fixed_sample_when_there_are_many_leads(world, monkeypatch):
    model, _ = world
    monkeypatch.setattr(quality, "RULE_SAMPLE", 25)
    spec = selectors.snapshot(model)
    got = labels(PERIOD, NOW)
    scored = quality.score(spec, got.ids, PERIOD.as_of(NOW))
    assert len(scored.sample) == 25 and list(scored.sample) == sorted(scored.sample)
    for index, pk in enumerate(got.ids[scored.sample].tolist()):
        result = engine.score(selectors.lead_facts(Lead.objects.get(pk=pk)), spec, PERIOD.as_of(NOW))
        gave = {(c.kind, c.rule_id) for c in result.contributions if c.points != 0}
        for key, fired in scored.fired.items():
            assert bool(fired[index]) == (key in gave), (pk, key)
    out = quality.report(model, PERIOD, now=NOW)
    assert out["rules_n"] == 25 and out["n"] == 80
    assert sum(r["fired"] for r in out["rules"][:1]) <= 25


def test_a_period_without_labelled_leads_reports_nothing_to_measure(db):
    model = simple_model(status=ModelStatus.PUBLISHED)
    out = quality.report(model, PERIOD, now=NOW)
    assert (out["n"], out["positives"], out["auc"]) == (0, 0, None)
    assert "Not enough labelled leads" in out["verdict"]
    assert backtest.backtest(model, PERIOD, now=NOW)["draft"]["auc"] is None


def test_the_published_models_stored_scores_give_the_same_report_as_scoring_again(world):
    """The report of the published model reads the leads' stored scores in the labels' pass when
    they are its scores of the report's day, and scores only the others: the figures are those
    of scoring every lead again."""
    from qualification.models import PendingRescore

    model, leads = world
    spec = selectors.snapshot(model)
    as_of = PERIOD.as_of(NOW)
    bulk.write_scores(spec, as_of, bulk.Leads())
    labelled_ids = labels(PERIOD, NOW).ids.tolist()
    stale = Lead.objects.filter(pk__in=labelled_ids).order_by("-total_score", "pk").first()
    assert stale.total_score > 0
    Lead.objects.filter(pk=stale.pk).update(fit_score=Decimal("99"), total_score=Decimal("99"))
    PendingRescore.objects.create(lead=stale)  # its profile changed since: its stored scores are not used

    got = labels(PERIOD, NOW, quality.stored_columns(model, as_of))
    fresh = got.extra["fresh"].astype(bool)
    assert stale.pk in got.ids and not fresh[list(got.ids).index(stale.pk)]
    assert fresh.sum() == len(got.ids) - 1
    from_stored = quality.score(spec, got.ids, as_of, read=got.extra)
    again = quality.score(spec, got.ids, as_of)
    for name in ("total", "fit", "grade", "qualifies"):
        assert getattr(from_stored, name).tolist() == getattr(again, name).tolist(), name
    assert quality.report(model, PERIOD, now=NOW)["auc"] == round(roc_auc_score(got.y, again.total), 4)

    draft = ScoringModelFactory(mql_threshold=Decimal("20"), min_grade="D", required_fields=[])
    assert quality.stored_columns(draft, as_of) == ()  # a draft's scores are never stored
    FitRuleFactory(model=draft, field="industry", operator="equals", value="software", points=Decimal("40"))
    EngagementRuleFactory(model=draft, kind="demo_request", points=Decimal("25"))
    draft_spec = selectors.snapshot(draft)
    # A draft starts from the published model's stored scores where labels read them fresh.
    from_stored = quality.score(draft_spec, got.ids, as_of, with_rules=False, read=got.extra)
    again = quality.score(draft_spec, got.ids, as_of, with_rules=False)
    for name in ("total", "fit", "grade", "qualifies"):
        assert getattr(from_stored, name).tolist() == getattr(again, name).tolist(), name
