"""Publish, preview, rescoring runs and the stage moves they make."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Lead, StageChange
from qualification import bulk, services
from qualification.choices import ModelStatus, RunStatus
from qualification.models import RescoreRun, ScoringModel
from qualification.tasks import nightly_rescore
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import EngagementRuleFactory, FitRuleFactory, simple_model

pytestmark = pytest.mark.django_db


def with_activity(lead, kind, days_ago=0, **properties):
    ActivityFactory(lead=lead, kind=kind, occurred_at=timezone.now() - timedelta(days=days_ago), properties=properties)
    bulk.rebuild_rollups(bulk.Leads(ids=(lead.pk,)))
    return lead


@pytest.fixture
def leads():
    software = CompanyFactory(industry="software")
    retail = CompanyFactory(industry="retail")
    return {
        # 20 fit + 40 demo = 60 >= 50, grade B: MQL
        "hot": with_activity(LeadFactory(company=software, title="Marketing Manager"), "demo_request"),
        # 20 fit, no engagement: stays in nurture
        "cold": LeadFactory(company=software),
        # interested but wrong company: 40 total, grade D
        "wrong_company": with_activity(LeadFactory(company=retail), "demo_request"),
        # would qualify, but no title (required)
        "no_title": with_activity(LeadFactory(company=software, title=""), "demo_request"),
        # qualifies but in cooldown
        "cooling": with_activity(
            LeadFactory(company=software, stage="nurture", nurture_until=timezone.now() + timedelta(days=10)), "demo_request"
        ),
        # already SAL: never moved by rescoring
        "accepted": with_activity(LeadFactory(company=software, stage="sal"), "demo_request"),
    }


def run_publish(model, by, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.publish(draft=model, by=by)
    return RescoreRun.objects.get(pk=run.pk)


def test_publish_archives_the_old_model_scores_everyone_and_promotes_through_transition(
    leads, marketer, django_capture_on_commit_callbacks
):
    old = simple_model(status=ModelStatus.PUBLISHED)
    draft = simple_model()
    run = run_publish(draft, marketer, django_capture_on_commit_callbacks)

    old.refresh_from_db()
    draft.refresh_from_db()
    assert (old.status, draft.status) == ("archived", "published")
    assert draft.published_by == marketer
    assert ScoringModel.objects.filter(status="published").count() == 1
    assert run.status == RunStatus.DONE and run.done == run.total == 6 and run.active is None
    stages = {name: Lead.objects.get(pk=lead.pk).stage for name, lead in leads.items()}
    assert stages == {
        "hot": "mql",
        "cold": "nurture",
        "wrong_company": "nurture",
        "no_title": "nurture",
        "cooling": "nurture",
        "accepted": "sal",
    }
    hot = Lead.objects.get(pk=leads["hot"].pk)
    assert (hot.fit_score, hot.engagement_score, hot.total_score, hot.grade, hot.score_model_version) == (
        Decimal("20.0"),
        Decimal("40.0"),
        Decimal("60.0"),
        "B",
        draft.version,
    )
    history = list(StageChange.objects.filter(lead=hot).order_by("id").values_list("from_stage", "to_stage", "by"))
    assert history == [("new", "nurture", None), ("nurture", "mql", None)]
    assert "Score 60.0 ≥ 50.0" in StageChange.objects.get(lead=hot, to_stage="mql").reason
    assert not StageChange.objects.filter(lead=leads["accepted"]).exists()
    assert run.promoted == 1 and run.nurtured == 4


def test_preview_numbers_equal_what_publish_then_does(leads, marketer, django_capture_on_commit_callbacks):
    simple_model(status=ModelStatus.PUBLISHED, threshold="90")
    draft = simple_model()
    mql_before = Lead.objects.filter(stage="mql").count()
    writes_before = list(Lead.objects.order_by("pk").values_list("total_score", "stage", "updated_at"))

    preview = services.preview(draft=draft)

    assert list(Lead.objects.order_by("pk").values_list("total_score", "stage", "updated_at")) == writes_before
    assert preview.leads == 6 and preview.mql_now == mql_before == 0
    assert (preview.promoted, preview.held_by_cooldown, preview.held_past_mql) == (1, 1, 1)
    assert preview.entering == 3 and preview.leaving == 0  # stored scores are all 0 before the first scoring
    assert preview.nurtured == 4
    changed = {row["id"]: row for row in preview.sample}
    assert changed[leads["hot"].pk]["moves_to_mql"] and changed[leads["hot"].pk]["new_total"] == Decimal("60.0")
    assert sum(now for _, now, _ in preview.distribution) == sum(new for _, _, new in preview.distribution) == 6

    run = run_publish(draft, marketer, django_capture_on_commit_callbacks)
    assert run.promoted == preview.promoted
    assert run.nurtured == preview.nurtured
    assert Lead.objects.filter(stage="mql").count() == preview.mql_after
    assert {r["id"] for r in preview.sample if r["moves_to_mql"]} == set(
        Lead.objects.filter(stage="mql").values_list("pk", flat=True)
    )


def test_preview_reports_leads_that_stop_qualifying_but_stay_mql(leads, marketer, django_capture_on_commit_callbacks):
    run_publish(simple_model(), marketer, django_capture_on_commit_callbacks)
    stricter = services.copy_as_draft(model=ScoringModel.objects.get(status="published"), by=marketer)
    stricter.mql_threshold = Decimal("61")
    stricter.save()
    preview = services.preview(draft=stricter)
    assert (preview.leaving, preview.leaving_in_mql, preview.promoted, preview.mql_now, preview.mql_after) == (
        3,
        1,
        0,
        1,
        1,
    )  # hot (MQL), cooling, accepted
    assert preview.sample[0]["note"] == "stays MQL: rescoring never demotes"
    run_publish(stricter, marketer, django_capture_on_commit_callbacks)
    assert Lead.objects.get(pk=leads["hot"].pk).stage == "mql"


def test_two_publishes_cannot_run_at_once(leads, marketer):
    first = simple_model()
    services.publish(draft=first, by=marketer, enqueue=False)  # its run is pending: not started yet
    with pytest.raises(Conflict, match="in progress"):
        services.publish(draft=simple_model(), by=marketer, enqueue=False)
    assert ScoringModel.objects.get(status="published") == first


def test_only_a_draft_can_be_published(marketer):
    published = simple_model(status=ModelStatus.PUBLISHED)
    with pytest.raises(Conflict, match="only a draft"):
        services.publish(draft=published, by=marketer)


def test_publish_refuses_an_invalid_draft(marketer):
    draft = simple_model(threshold="500")
    draft.engagement_rules.update(cap=Decimal("50"))
    with pytest.raises(ValidationFailed, match="No lead could reach 500"):
        services.publish(draft=draft, by=marketer)
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_run_that_dies_midway_resumes_and_converges(marketer, django_capture_on_commit_callbacks):
    company = CompanyFactory()
    leads = [with_activity(LeadFactory(company=company, title=""), "pricing_page_view", days_ago=i) for i in range(7)]
    draft = simple_model()
    run = services.publish(draft=draft, by=marketer, enqueue=False)

    calls = {"n": 0}
    real = bulk.rescore

    def dies_on_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    bulk.rescore = dies_on_third_chunk
    try:
        with pytest.raises(RuntimeError):
            services.run_rescore(run_id=run.pk, chunk_size=2)
    finally:
        bulk.rescore = real
    run.refresh_from_db()
    # It stays active, with the error, for a retry or the sweeper to resume; nobody has to.
    assert run.status == RunStatus.RUNNING and run.done == 4 and "worker lost" in run.error
    with pytest.raises(Conflict, match="not stopped"):  # still presumed alive: its heartbeat is fresh
        services.resume_run(run=run, by=marketer)
    RescoreRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=2))
    with pytest.raises(Conflict, match="no progress since"):  # publishing says why it cannot start
        services.publish(draft=simple_model(), by=marketer, enqueue=False)
    with django_capture_on_commit_callbacks() as queued:
        assert services.sweep_runs() == ([run.pk], [])
    assert len(queued) == 1  # the run's task, queued again
    assert services.sweep_runs() == ([], [])  # claimed once: the next sweep leaves it to that task
    services.run_rescore(run_id=run.pk, chunk_size=2)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.done == 7
    resumed = list(Lead.objects.order_by("pk").values_list("total_score", flat=True))
    expected = bulk.scores(services.selectors.snapshot(draft), run.as_of)
    assert resumed == [Decimal(expected[lead.pk][2]) / 10 for lead in leads]


def test_nightly_rescore_applies_decay(leads, marketer, django_capture_on_commit_callbacks):
    draft = simple_model()
    draft.half_life_days = 1
    draft.save()
    run_publish(draft, marketer, django_capture_on_commit_callbacks)
    lead = leads["cold"]
    ActivityFactory(lead=lead, kind="pricing_page_view", occurred_at=timezone.now() - timedelta(days=1))
    bulk.rebuild_rollups()
    with django_capture_on_commit_callbacks(execute=True):
        run_id = nightly_rescore()
    run = RescoreRun.objects.get(pk=run_id)
    assert run.kind == "nightly" and run.status == "done"
    assert Lead.objects.get(pk=lead.pk).engagement_score == Decimal("5.0")  # 10 × 0.5^(1/1)


def test_nightly_rescore_that_cannot_start_says_why_in_the_admin_and_the_log(marketer, caplog):
    publishing = services.publish(draft=simple_model(), by=marketer, enqueue=False)
    assert nightly_rescore() is None
    refused = RescoreRun.objects.exclude(pk=publishing.pk).get()
    assert refused.kind == "nightly" and refused.status == RunStatus.FAILED
    assert refused.error.startswith("Nightly decay rescoring did not start: Another rescoring run is in progress")
    assert refused.error in caplog.text
    with pytest.raises(Conflict, match="never started"):
        services.resume_run(run=refused, by=marketer)
    assert RescoreRun.objects.get(pk=publishing.pk).active  # the publish run is untouched


def test_a_run_that_keeps_stalling_is_failed_with_a_sentence(marketer, settings):
    run = services.publish(draft=simple_model(), by=marketer, enqueue=False)
    RescoreRun.objects.filter(pk=run.pk).update(
        attempts=settings.LEADHUB_MAX_RESUMES,
        error="OperationalError: deadlock detected",
        heartbeat_at=timezone.now() - timedelta(minutes=3),
    )
    assert services.sweep_runs() == ([], [run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.active is None
    assert run.error.startswith(f"Stopped after {settings.LEADHUB_MAX_RESUMES} automatic resumes: it made no progress since")
    assert "last error: OperationalError: deadlock detected" in run.error
    services.resume_run(run=run, by=marketer)  # a person can still resume it
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING and run.attempts == 0


def test_copy_as_draft_copies_settings_and_rules(marketer):
    source = simple_model(status=ModelStatus.PUBLISHED)
    FitRuleFactory(model=source, field="annual_revenue", operator="between", value="1m, 5m", points=Decimal("4"))
    EngagementRuleFactory(
        model=source,
        kind="webinar_attended",
        points=Decimal("5"),
        conditions=[{"property": "minutes", "operator": "gte", "value": 30.0}],
    )
    draft = services.copy_as_draft(model=source, by=marketer)
    assert draft.status == "draft" and draft.version > source.version and draft.copied_from == source
    assert draft.fit_rules.count() == source.fit_rules.count() == 4
    assert draft.engagement_rules.filter(conditions=[{"property": "minutes", "operator": "gte", "value": 30.0}]).exists()
    assert services.selectors.snapshot(draft).fit_rules[-1].values == (1_000_000.0, 5_000_000.0)
    # The draft's admin history says who copied it, and from which version.
    from django.contrib.admin.models import LogEntry

    entry = LogEntry.objects.get(object_id=str(draft.pk), content_type__model="scoringmodel")
    assert entry.user == marketer and entry.get_change_message() == f"Copied as a new draft from v{source.version}."
