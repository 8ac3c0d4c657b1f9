"""Preview on random leads: its counts, score distributions and sample are what scoring every
lead under the draft gives (engine.score in Python) and what publishing the draft then does."""

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leadhub.models import Lead, LeadField
from qualification import bulk, engine, selectors, services
from qualification import preview as preview_module
from qualification.choices import ModelStatus
from qualification.models import RescoreRun
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import EngagementRuleFactory, FitRuleFactory, ScoringModelFactory

pytestmark = pytest.mark.django_db

INDUSTRIES = ["software", "retail", "manufacturing", "financial_services"]
TITLES = ["VP Sales", "Head of Growth", "Marketing Manager", "Student", "", "CFO", "  "]
KINDS = ["demo_request", "pricing_page_view", "webinar_attended", "page_view", "email_open", "content_download"]
STAGES = ["new", "new", "nurture", "nurture", "nurture", "mql", "sal", "sql", "disqualified"]


def random_leads(rng, now, count, start=0):
    LeadField.objects.get_or_create(key="occupation", defaults={"label": "Occupation", "type": "text"})
    companies = [
        CompanyFactory(
            domain=f"c{start + i}.com",
            industry=rng.choice(INDUSTRIES),
            employee_count=rng.choice([20, 150, 800, 9000]),
            country=rng.choice(["US", "DE", "BR", ""]),
        )
        for i in range(6)
    ]
    for i in range(start, start + count):
        cooldown = rng.choice([None, None, now + timedelta(days=5), now - timedelta(days=5)])
        lead = LeadFactory(
            company=rng.choice([*companies, None]),
            email=f"lead{i}@{rng.choice(['acme.com', 'gmail.com', 'big.de'])}",
            title=rng.choice(TITLES),
            first_name=rng.choice(["Ann", "Bo", ""]),
            country=rng.choice(["", "US", "FR"]),
            stage=rng.choice(STAGES),
            nurture_until=cooldown,
            attributes=rng.choice([{}, {"occupation": "Student"}, {"occupation": "Working Professional"}]),
        )
        for _ in range(rng.randint(0, 12)):
            properties = {"minutes": rng.choice([10, 30, 45])} if rng.random() < 0.4 else {}
            if rng.random() < 0.5:
                properties["url"] = rng.choice(["/pricing", "/docs", "/pricing/teams"])
            ActivityFactory(
                lead=lead,
                kind=rng.choice(KINDS),
                properties=properties,
                occurred_at=now - timedelta(days=rng.randint(0, 100), hours=rng.randint(0, 23)),
            )
    bulk.rebuild_rollups()


def random_model(rng, status):
    model = ScoringModelFactory(
        status=status,
        mql_threshold=Decimal(rng.choice([20, 35, 50])),
        min_grade=rng.choice("BCD"),
        half_life_days=rng.choice([7, 21, 45]),
        required_fields=rng.choice([["title"], ["first_name", "country"], [], ["attributes.occupation", "title"]]),
    )
    FitRuleFactory(model=model, field="attributes.occupation", operator="is_empty", value="", points=Decimal("-10"))
    FitRuleFactory(
        model=model, field="attributes.occupation", operator="equals", value="working professional", points=Decimal("8")
    )
    FitRuleFactory(
        model=model, field="industry", operator="in", value="software, financial_services", points=Decimal(rng.choice([15, 25]))
    )
    FitRuleFactory(model=model, field="employee_count", operator="gte", value="500", points=Decimal("10"))
    FitRuleFactory(model=model, field="title", operator="contains", value="vp", points=Decimal("10"))
    FitRuleFactory(model=model, field="title", operator="contains", value="student", points=Decimal("-30"))
    FitRuleFactory(model=model, field="email_domain", operator="equals", value="gmail.com", points=Decimal("-15"))
    for kind in rng.sample(KINDS, 4):
        EngagementRuleFactory(
            model=model,
            kind=kind,
            points=Decimal(rng.choice(["0.5", "5", "12", "40"])),
            cap=rng.choice([None, Decimal("40"), Decimal("55")]),
            window_days=rng.choice([14, 30, 90]),
        )
    EngagementRuleFactory(
        model=model,
        kind="webinar_attended",
        points=Decimal("8"),
        conditions=[{"property": "minutes", "operator": "gte", "value": 30.0}],
        window_days=60,
    )
    # Rules that read raw activities (a text condition) and an aggregate.
    EngagementRuleFactory(
        model=model,
        kind="page_view",
        points=Decimal(rng.choice(["3", "-2"])),
        conditions=[{"property": "url", "operator": "starts_with", "value": "/pricing"}],
        window_days=30,
    )
    EngagementRuleFactory(
        model=model,
        kind="page_view",
        points=Decimal("6"),
        aggregate="sum",
        aggregate_property="minutes",
        at_least=40.0,
        window_days=45,
    )
    return model


def band(points):
    return next((label for b, label in services.BUCKETS if b < 10 and points < (b + 1) * 10), services.BUCKETS[-1][1])


def qualifies_stored(lead, facts, spec):
    allowed = bulk.grades_at_least(spec.min_grade)
    return (
        lead.score_model_version is not None
        and engine.to_tenths(lead.total_score) >= spec.threshold
        and lead.grade in allowed
        and not engine.missing_required(facts, spec)
    )


def cause(qualifies, missing_required, grade, spec):
    """The first condition of the MQL rule a lead fails (preview.REQUIRED, GRADE, THRESHOLD), 0 if none."""
    if qualifies:
        return 0
    if missing_required:
        return 1
    return 2 if grade not in bulk.grades_at_least(spec.min_grade) else 3


def edited_copy(rng, published):
    """What a marketer usually previews: the published model with a few rules and settings changed."""
    draft = services.copy_as_draft(model=published, by=None)
    draft.mql_threshold -= Decimal(rng.choice([0, 5, 10]))
    draft.save()
    rule = rng.choice(list(draft.engagement_rules.all()))
    rule.points, rule.cap = rule.points + Decimal("3"), None
    rule.save()
    raw = draft.engagement_rules.get(conditions__0__property="url")
    raw.points = raw.points * 2
    raw.save()
    rng.choice(list(draft.fit_rules.all())).delete()
    FitRuleFactory(model=draft, field="country", operator="in", value="US, DE", points=Decimal("5"))
    EngagementRuleFactory(model=draft, kind="email_open", points=Decimal("1"), cap=Decimal("4"), window_days=30)
    return draft


def make_some_leads_stale(rng, now):
    """Leads whose stored scores are not the published model's of today: scored on another day,
    with new activities or a changed profile waiting for the worker."""
    from leadhub.services import record_activities
    from qualification.pending import mark_for_rescoring

    leads = list(Lead.objects.exclude(score_model_version=None).order_by("pk"))
    yesterday, active, changed = rng.sample(leads, 3)
    Lead.objects.filter(pk=yesterday.pk).update(scored_at=now - timedelta(days=1))
    record_activities(
        items=[
            {
                "email": active.email,
                "kind": "demo_request",
                "occurred_at": now - timedelta(hours=2),
                "properties": {},
                "source": "crm",
                "external_id": f"stale-{active.pk}",
            }
        ]
    )
    Lead.objects.filter(pk=changed.pk).update(title="VP Student Affairs")
    mark_for_rescoring([changed.pk])


@pytest.mark.parametrize("edited", [False, True], ids=["new model, scored days ago", "edited copy, scored today"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_preview_equals_scoring_every_lead_under_the_draft_and_what_publish_does(
    seed, edited, marketer, django_capture_on_commit_callbacks
):
    """With the published model's scores from today, preview adds up only what the changed rules
    change for most leads (bulk.changed_scores_sql), and scores the others again by id: the
    figures must be the same."""
    check_preview(seed, edited, marketer, django_capture_on_commit_callbacks)


@pytest.mark.parametrize("edited", [False, True], ids=["new model, scored days ago", "edited copy, scored today"])
def test_many_leads_not_scored_today_are_scored_again_by_range(edited, marketer, django_capture_on_commit_callbacks, monkeypatch):
    """Past preview.STALE_BY_ID such leads, the second statement scores them by id range (as
    always on SQLite): the same figures. The first statement reads every lead once, even when
    all of them are stale (the sample that would choose the other form is set aside)."""
    monkeypatch.setattr(preview_module, "STALE_BY_ID", 0)
    monkeypatch.setattr(preview_module, "_mostly_stale", lambda fresh: False)
    check_preview(4, edited, marketer, django_capture_on_commit_callbacks)


def check_preview(seed, edited, marketer, django_capture_on_commit_callbacks):
    rng = random.Random(seed)
    now = timezone.now()
    random_leads(rng, now, 40)
    published = random_model(rng, ModelStatus.DRAFT)
    scored_at = now if edited else now - timedelta(days=3)
    services.run_rescore(run_id=services.publish(draft=published, by=marketer, enqueue=False, now=scored_at).pk)
    # Stages move on after scoring, and new leads arrive unscored.
    for lead_id in Lead.objects.values_list("pk", flat=True):
        Lead.objects.filter(pk=lead_id).update(stage=rng.choice(STAGES))
    random_leads(rng, now, 10, start=100)
    if edited:
        make_some_leads_stale(rng, now)
    draft = edited_copy(rng, published) if edited else random_model(rng, ModelStatus.DRAFT)

    preview = services.preview(draft=draft, now=now, sample_size=1000)

    # The expected figures, lead by lead in Python.
    old_spec, new_spec = selectors.snapshot(published), selectors.snapshot(draft)
    expected = Counter()
    now_dist, draft_dist, changed = Counter(), Counter(), {}
    causes = {"enter": Counter(), "leave": Counter(), "blocked": Counter()}
    missing = Counter()
    for lead in Lead.objects.select_related("company"):
        facts = selectors.lead_facts(lead)
        new = engine.score(facts, new_spec, now)
        old_q, new_q = qualifies_stored(lead, facts, old_spec), new.qualifies
        in_cooldown = lead.nurture_until is not None and lead.nurture_until > now
        now_dist[band(lead.total_score)] += 1
        draft_dist[band(new.total)] += 1
        expected["leads"] += 1
        expected["mql_now"] += lead.stage == "mql"
        expected["nurtured"] += lead.stage == "new"
        expected["qualify_now"] += old_q
        expected["qualify_draft"] += new_q
        expected["entering"] += new_q and not old_q
        expected["leaving"] += old_q and not new_q
        expected["leaving_in_mql"] += old_q and not new_q and lead.stage == "mql"
        if new_q and lead.stage in ("new", "nurture"):
            expected["held_by_cooldown" if in_cooldown else "promoted"] += 1
        elif new_q and lead.stage != "mql":
            expected["held_past_mql"] += 1
        if old_q != new_q:
            changed[lead.pk] = (new.fit, new.engagement, new.total, new.grade, lead.total_score)
        new_cause = cause(new.qualifies, new.missing_required_fields, new.grade, new_spec)
        old_cause = (
            0
            if old_q
            else 4
            if lead.score_model_version is None
            else cause(False, engine.missing_required(facts, old_spec), lead.grade, old_spec)
        )
        if new_q and not old_q:
            causes["enter"][old_cause] += 1
        if old_q and not new_q:
            causes["leave"][new_cause] += 1
        if not new_q:
            causes["blocked"][new_cause] += 1
            missing.update(new.missing_required_fields)
    for name in [
        "leads",
        "mql_now",
        "nurtured",
        "qualify_now",
        "qualify_draft",
        "entering",
        "leaving",
        "leaving_in_mql",
        "held_by_cooldown",
        "promoted",
        "held_past_mql",
    ]:
        assert getattr(preview, name) == expected[name], name
    assert preview.distribution == [(label, now_dist[label], draft_dist[label]) for _, label in services.BUCKETS]
    # The reasons: counted like this lead by lead, and each breakdown adds up to its headline figure.
    assert (preview.enter_causes, preview.leave_causes, preview.blocked_causes) == (
        dict(causes["enter"]),
        dict(causes["leave"]),
        dict(causes["blocked"]),
    )
    assert {name: n for name, n in preview.missing_fields.items() if n} == dict(missing)
    assert sum(n for _, n in preview.enter_reasons) == preview.entering
    assert sum(n for _, n in preview.leave_reasons) == preview.leaving
    assert sum(n for _, n in preview.blocked_reasons) + preview.qualify_draft == preview.leads
    assert sum(n for _, n in preview.ready_parts) == preview.qualify_draft
    assert preview.net == preview.entering - preview.leaving
    assert {
        row["id"]: (row["new_fit"], row["new_engagement"], row["new_total"], row["new_grade"], row["old_total"])
        for row in preview.sample
    } == changed
    order = [(not row["enters"], -abs(row["new_total"] - row["old_total"]), row["id"]) for row in preview.sample]
    assert order == sorted(order)

    # Publishing the draft at the same moment makes exactly the moves the preview announced.
    mql_before = Lead.objects.filter(stage="mql").count()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.publish(draft=draft, by=marketer, now=now)
    run = RescoreRun.objects.get(pk=run.pk)
    assert (run.promoted, run.nurtured) == (preview.promoted, preview.nurtured)
    assert mql_before == preview.mql_now and Lead.objects.filter(stage="mql").count() == preview.mql_after
    assert Counter(band(t) for t in Lead.objects.values_list("total_score", flat=True)) == draft_dist


@pytest.mark.parametrize(
    "points, expected",
    [
        (-0.1, "below 0"),
        (0, "0–9.9"),
        (9.9, "0–9.9"),
        (10, "10–19.9"),
        (64.9, "60–69.9"),
        (99.9, "90–99.9"),
        (100, "100 and up"),
        (250, "100 and up"),
    ],
)
def test_a_score_on_a_band_boundary_falls_in_the_band_it_starts(points, expected):
    """The distribution's bands in SQL (points and tenths) agree with the labels people read."""
    from django.db import connection

    from qualification.preview import BUCKETS, _bucket_sql

    labels = dict(BUCKETS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_bucket_sql('v.points', 1)}, {_bucket_sql('v.tenths', 10)}"
            " FROM (SELECT CAST(%s AS NUMERIC(8, 1)) AS points, %s AS tenths) v",
            [points, round(points * 10)],
        )
        in_points, in_tenths = cursor.fetchone()
    assert (labels[in_points], labels[in_tenths]) == (expected, expected)
