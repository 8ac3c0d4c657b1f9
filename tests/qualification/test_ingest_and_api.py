"""Rescoring on ingest and profile change, the rollups behind it, the API explanation and the lead page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from leadhub.models import StageChange
from qualification import engine
from qualification.choices import ModelStatus
from qualification.models import ActivityRollup
from tests.factories import CompanyFactory, LeadFactory

from .factories import simple_model

pytestmark = pytest.mark.django_db


def activity(email, external_id, kind="pricing_page_view", days_ago=0, **properties):
    at = timezone.now() - timedelta(days=days_ago)
    return {
        "email": email,
        "kind": kind,
        "occurred_at": at.isoformat(),
        "source": "hubspot",
        "external_id": external_id,
        "properties": properties,
    }


def post(api, capture, *items):
    with capture(execute=True):
        response = api.post("/api/activities/", {"activities": list(items)}, format="json")
    assert response.status_code == 200, response.data
    return response


@pytest.fixture
def published():
    return simple_model(status=ModelStatus.PUBLISHED)


@pytest.fixture
def lead():
    return LeadFactory(company=CompanyFactory(industry="software"), title="Marketing Manager")


def test_activity_via_api_raises_the_score_and_can_make_the_lead_mql(
    integration_api, published, lead, django_capture_on_commit_callbacks
):
    post(integration_api, django_capture_on_commit_callbacks, activity(lead.email, "p1"))
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.total_score, lead.stage) == (
        Decimal("20.0"),
        Decimal("10.0"),
        Decimal("30.0"),
        "nurture",
    )
    assert lead.score_model_version == published.version

    post(integration_api, django_capture_on_commit_callbacks, activity(lead.email, "d1", kind="demo_request"))
    lead.refresh_from_db()
    assert lead.total_score == Decimal("70.0") and lead.stage == "mql"
    assert list(StageChange.objects.filter(lead=lead).order_by("id").values_list("to_stage", "by")) == [
        ("nurture", None),
        ("mql", None),
    ]


def test_ingest_keeps_daily_rollups_and_a_replay_does_not_double_count(
    integration_api, published, lead, django_capture_on_commit_callbacks
):
    post(
        integration_api,
        django_capture_on_commit_callbacks,
        activity(lead.email, "w1", kind="webinar_attended", minutes=45),
        activity(lead.email, "w2", kind="webinar_attended", minutes=45),
        activity(lead.email, "p1", days_ago=3),
    )
    post(
        integration_api,
        django_capture_on_commit_callbacks,
        activity(lead.email, "w1", kind="webinar_attended", minutes=45),
        activity(lead.email, "w3", kind="webinar_attended"),
    )
    rollups = sorted(ActivityRollup.objects.filter(lead=lead).values_list("kind", "day", "minutes", "n"), key=str)
    today = engine.epoch_day(timezone.now())
    assert rollups == sorted(
        [("pricing_page_view", today - 3, None, 1), ("webinar_attended", today, 45.0, 2), ("webinar_attended", today, None, 1)],
        key=str,
    )


@pytest.mark.parametrize("scoring", [False, True], ids=["nothing published", "published model"])
def test_rollups_and_last_activity_after_many_batches_equal_a_rebuild_from_the_raw_activities(
    scoring, django_capture_on_commit_callbacks
):
    """Batches over several leads and days (some at the edges of a UTC day), with items repeated
    inside a batch and replayed across batches, and minutes that are numbers, text or booleans
    (only numbers count): the rollups ingest keeps equal a recount from the raw activities."""
    import random
    from datetime import UTC, datetime

    from leadhub.models import Activity, Lead
    from leadhub.services import record_activities
    from qualification import bulk

    if scoring:
        simple_model(status=ModelStatus.PUBLISHED)
    rng = random.Random(5)
    leads = [LeadFactory() for _ in range(4)]
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    sent = []
    for _ in range(6):
        items = []
        for _ in range(25):
            if sent and rng.random() < 0.3:
                items.append(rng.choice(sent))  # a replay (or a repeat inside this batch)
                continue
            at = midnight + timedelta(days=rng.randrange(-3, 3), seconds=rng.choice([0, 1, 43200, 86399]))
            items.append(
                {
                    "email": rng.choice(leads).email,
                    "kind": rng.choice(["page_view", "webinar_attended"]),
                    "occurred_at": at,
                    # minutes is a declared number: text holding one is stored as the number; null counts as not sent.
                    "properties": rng.choice([{}, {"minutes": 10}, {"minutes": 45.5}, {"minutes": "45"}, {"minutes": None}]),
                    "source": "crm",
                    "external_id": f"x{len(sent)}",
                }
            )
            sent.append(items[-1])
        recorded = set(Activity.objects.values_list("external_id", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            outcomes = record_activities(items=items)
        ids = [item["external_id"] for item in items]
        assert [o.status for o in outcomes] == [
            "known" if key in recorded or key in ids[:index] else "created" for index, key in enumerate(ids)
        ]
    assert Activity.objects.count() == len({item["external_id"] for item in sent})
    kept = sorted(ActivityRollup.objects.values_list("lead_id", "kind", "day", "minutes", "n"), key=str)
    bulk.rebuild_rollups()
    assert kept == sorted(ActivityRollup.objects.values_list("lead_id", "kind", "day", "minutes", "n"), key=str)
    for lead in Lead.objects.all():
        latest = max(item["occurred_at"] for item in sent if item["email"] == lead.email)
        assert lead.last_activity_at == latest
        assert (lead.score_model_version is not None) == scoring


def test_profile_change_rescores_the_lead(integration_api, published, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = integration_api.post("/api/leads/", {"email": lead.email, "title": "VP Marketing"}, format="json")
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.fit_score == Decimal("30.0") and lead.grade == "A"


def test_without_a_published_model_ingest_leaves_scores_alone(integration_api, lead, django_capture_on_commit_callbacks):
    post(integration_api, django_capture_on_commit_callbacks, activity(lead.email, "d1", kind="demo_request"))
    lead.refresh_from_db()
    assert (lead.total_score, lead.stage, lead.score_model_version) == (0, "new", None)


def test_lead_api_returns_scores_and_an_explanation_that_adds_up(
    integration_api, published, lead, django_capture_on_commit_callbacks
):
    post(
        integration_api,
        django_capture_on_commit_callbacks,
        activity(lead.email, "p1", days_ago=14),
        activity(lead.email, "p2", days_ago=0),
        activity(lead.email, "p3", days_ago=7),
    )
    body = integration_api.get(f"/api/leads/{lead.pk}/").json()
    assert (body["fit_score"], body["engagement_score"], body["total_score"], body["grade"], body["score_model_version"]) == (
        "20.0",
        "22.1",
        "42.1",
        "B",
        published.version,
    )
    explanation = body["explanation"]
    assert explanation["model_version"] == published.version and explanation["total"] == 42.1
    assert [c["rule"] for c in explanation["contributions"]] == ["Industry equals software", "Pricing page view"]
    assert explanation["contributions"][1] == {
        "kind": "engagement",
        "rule": "Pricing page view",
        "points": 22.1,
        "text": "Pricing page view ×3, 10 pts each (today, 7, 14 days ago), halving every 14 days → 22.1",
    }
    assert sum(Decimal(str(c["points"])) for c in explanation["contributions"]) == Decimal(body["total_score"])
    assert explanation["missing_required_fields"] == [] and explanation["qualifies"] is False


def test_lead_api_explanation_of_an_unscored_lead_is_empty(integration_api, lead):
    explanation = integration_api.get(f"/api/leads/{lead.pk}/").json()["explanation"]
    assert explanation["model_version"] is None and explanation["contributions"] == []


def test_lead_page_explains_the_score_and_the_missing_required_fields(
    client, manager, published, django_capture_on_commit_callbacks, integration_api
):
    lead = LeadFactory(company=CompanyFactory(industry="software"), title="", email="nobody@gmail.com")
    post(
        integration_api,
        django_capture_on_commit_callbacks,
        activity(lead.email, "d1", kind="demo_request"),
        activity(lead.email, "p1", days_ago=14),
    )
    client.force_login(manager)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Why this score" in html
    assert (
        '<bdi>Email domain is one of gmail.com, yahoo.com</bdi> <span class="muted">· <bdi>gmail.com</bdi></span>' in html
        and ">-25.0<" in html
    )
    assert "Demo request ×1, 40 pts each → 40" in html
    assert "Pricing page view ×1, 10 pts each (14 days ago), halving every 14 days → 5" in html
    assert "Missing required field: <strong>Title</strong>" in html
    lead.refresh_from_db()
    assert lead.total_score == Decimal("40.0") and f'<td class="num">{lead.total_score}</td>' in html


def test_top_reasons_name_the_three_biggest_contributions_in_constant_queries(
    integration_api, published, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    from qualification.selectors import lead_top_reasons

    hot = LeadFactory(company=CompanyFactory(industry="software"), title="VP Marketing")
    other = LeadFactory(company=CompanyFactory(industry="retail"), title="Analyst")
    post(
        integration_api,
        django_capture_on_commit_callbacks,
        activity(hot.email, "d1", kind="demo_request"),
        *[activity(hot.email, f"p{n}") for n in range(3)],
        activity(other.email, "o1"),
    )
    with django_assert_max_num_queries(6):
        reasons = lead_top_reasons([hot.pk, other.pk])
    # The published model's rules are kept once read: leads, model versions, rollups.
    with django_assert_max_num_queries(3):
        assert lead_top_reasons([hot.pk, other.pk]) == reasons
    # Demo 40, pricing 3 x 10 = 30, industry 20; the title's 10 is the fourth and left out.
    assert reasons[hot.pk] == [
        {"rule": "Demo request", "points": Decimal("40.0")},
        {"rule": "Pricing page view", "points": Decimal("30.0")},
        {"rule": "Industry equals software", "points": Decimal("20.0")},
    ]
    assert reasons[other.pk] == [{"rule": "Pricing page view", "points": Decimal("10.0")}]


def test_top_reasons_follow_the_lead_when_it_is_rescored(integration_api, published, django_capture_on_commit_callbacks):
    from qualification.selectors import lead_top_reasons

    lead = LeadFactory(company=CompanyFactory(industry="retail"), title="Analyst")
    post(integration_api, django_capture_on_commit_callbacks, activity(lead.email, "a1"))
    assert lead_top_reasons([lead.pk])[lead.pk] == [{"rule": "Pricing page view", "points": Decimal("10.0")}]
    post(integration_api, django_capture_on_commit_callbacks, activity(lead.email, "a2", kind="demo_request"))
    assert lead_top_reasons([lead.pk])[lead.pk] == [
        {"rule": "Demo request", "points": Decimal("40.0")},
        {"rule": "Pricing page view", "points": Decimal("10.0")},
    ]


def test_profile_edits_in_the_admin_rescore_and_activities_there_are_read_only(
    client, published, lead, django_capture_on_commit_callbacks
):
    from django.contrib.auth import get_user_model

    admin_user = get_user_model().objects.create_superuser("admin-editor", password="x")
    client.force_login(admin_user)
    form = client.get(f"/admin/leadhub/lead/{lead.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update({"title": "VP Marketing", "stage_changes-TOTAL_FORMS": 0, "stage_changes-INITIAL_FORMS": 0})
    for inline in ("external_ids", "outcomes"):  # the lead's other inlines
        data.update({f"{inline}-TOTAL_FORMS": 0, f"{inline}-INITIAL_FORMS": 0})
    data = {k: ("" if v is None else v) for k, v in data.items()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/leadhub/lead/{lead.pk}/change/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [(f.formset.prefix, f.formset.errors, f.formset.non_form_errors()) for f in response.context["inline_admin_formsets"]],
    )
    lead.refresh_from_db()
    assert lead.title == "VP Marketing" and lead.fit_score == Decimal("30.0") and lead.grade == "A"
    assert client.get("/admin/leadhub/activity/add/").status_code == 403


def test_leads_waiting_for_rescoring_are_scored_once_however_often_they_changed(published, monkeypatch):
    from qualification import bulk, services
    from qualification.models import PendingRescore
    from qualification.pending import mark_for_rescoring

    first, second = LeadFactory(company=CompanyFactory(industry="software")), LeadFactory()
    for _ in range(3):
        mark_for_rescoring([first.pk, second.pk])
    mark_for_rescoring([first.pk])
    assert PendingRescore.objects.count() == 7

    # A rescoring that fails leaves them waiting (taking and scoring are one transaction).
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(bulk, "rescore", broken)
    with pytest.raises(RuntimeError):
        services.rescore_pending()
    assert PendingRescore.objects.count() == 7
    monkeypatch.undo()

    assert services.rescore_pending() == (2, 0)
    assert not PendingRescore.objects.exists()
    first.refresh_from_db()
    assert first.scored_at is not None and first.fit_score == Decimal("20.0")


def test_a_lead_marked_by_many_batches_while_the_worker_was_behind_is_scored_once(published, monkeypatch):
    """The worker takes the oldest waiting rows a few at a time, and with them the later rows
    of the same leads: each lead is scored once, however far apart its marks are."""
    from datetime import UTC, datetime

    from qualification import bulk, services
    from qualification.models import PendingRescore
    from qualification.pending import mark_for_rescoring

    a, b, c = LeadFactory(), LeadFactory(), LeadFactory()
    early, late = datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 21, 9, tzinfo=UTC)
    mark_for_rescoring({a.pk: early, b.pk: early})
    mark_for_rescoring({c.pk: early})
    mark_for_rescoring({a.pk: late})
    scored = []
    rescore = bulk.rescore

    def counting(spec, leads, **kwargs):
        scored.extend(leads.ids)
        return rescore(spec, leads, **kwargs)

    monkeypatch.setattr(bulk, "rescore", counting)
    monkeypatch.setattr(services, "LEAD_BATCH", 2)
    assert services.rescore_pending() == (3, 0)
    assert sorted(scored) == sorted([a.pk, b.pk, c.pk])
    assert not PendingRescore.objects.exists()
    a.refresh_from_db()
    assert a.last_activity_at == late  # the newest of its marks
