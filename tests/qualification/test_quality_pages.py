"""The quality report's surfaces: the API (who may read it, what it says), the feedback page's
section, the lead list's "missed" link, the preview's backtest, and feedback score bands that
follow the published model."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from handoff import reports
from leadhub.models import Outcome
from qualification.choices import ModelStatus
from tests.conftest import make_user, token_client
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import FitRuleFactory, ScoringModelFactory, simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Twelve leads created 120 days ago: software companies win, retail ones lose; one won
    retail lead the model never makes MQL."""
    model = simple_model(status=ModelStatus.PUBLISHED, threshold="50")
    created = timezone.now() - timedelta(days=120)
    leads = []
    for i in range(12):
        software = i < 6
        lead = LeadFactory(
            company=CompanyFactory(domain=f"w{i}.com", industry="software" if software else "retail"),
            title="VP Sales",
            created_at=created,
        )
        ActivityFactory(lead=lead, kind="demo_request", occurred_at=timezone.now() - timedelta(days=2))
        won = software or i == 11
        Outcome.objects.create(lead=lead, result="won" if won else "lost", occurred_on=(created + timedelta(days=10)).date())
        leads.append(lead)
    from qualification import bulk

    bulk.rebuild_rollups()
    return model, leads


@pytest.mark.parametrize(
    ("role", "status"),
    [("Marketing", 200), ("admin", 200), ("SDR", 403), ("Sales manager", 403), ("Integration", 403), (None, 403)],
)
def test_quality_api_is_for_marketers_and_admins(world, role, status):
    model, _ = world
    if role == "admin":
        user = make_user(None, username="root", is_superuser=True, is_staff=True)
    else:
        user = make_user(role, username=f"user-{role}")
    response = token_client(user).get(f"/api/scoring-models/{model.pk}/quality/")
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert {"auc", "auc_low", "auc_high", "n", "positives", "deciles", "label", "period"} <= set(body)
        assert body["n"] == 12 and body["positives"] == 7 and body["label"] == "outcome"
        assert body["auc"] > 0.8


def test_quality_api_signed_out_is_401_and_bad_choices_are_400(world, client):
    model, _ = world
    assert client.get(f"/api/scoring-models/{model.pk}/quality/").status_code == 401
    api = token_client(make_user("Marketing", username="m2"))
    assert api.get(f"/api/scoring-models/{model.pk}/quality/?label=nonsense").status_code == 400
    assert api.get("/api/scoring-models/999999/quality/").status_code == 404
    assert "/api/scoring-models/{id}/quality/" in api.get("/api/schema/?format=json").json()["paths"]


def test_feedback_section_shows_auc_with_n_and_links_to_the_missed_converters(world, client):
    model, leads = world
    client.force_login(make_user("Marketing", username="m3"))
    page = client.get("/feedback/")
    assert 'hx-get="/feedback/quality/"' in page.content.decode()
    section = client.get("/feedback/quality/", HTTP_HX_REQUEST="true").content.decode()
    assert "ROC AUC of v" in section and "n = 12 leads, 7 won" in section
    assert "Missed:" in section and "missed_for=" in section
    # The link lists exactly the won lead the model never qualifies (retail: fit 10 < grade B).
    start = section.index('href="', section.index('id="quality-missed"') - 300)
    url = section[start + 6 : section.index('"', start + 6)].replace("&amp;", "&")
    listed = client.get(url).content.decode()
    assert f"/leads/{leads[11].pk}/" in listed
    assert f"/leads/{leads[0].pk}/" not in listed and f"/leads/{leads[10].pk}/" not in listed


def test_feedback_section_is_refused_to_sdrs(world, client):
    client.force_login(make_user("SDR", username="s4"))
    assert client.get("/feedback/quality/").status_code == 403


def test_preview_backtest_warns_when_the_draft_ranks_worse(world, admin_client):
    model, _ = world
    draft = ScoringModelFactory(mql_threshold=Decimal("10"), min_grade="D", required_fields=[])
    FitRuleFactory(model=draft, field="industry", operator="equals", value="retail", points=Decimal("30"))
    page = admin_client.get(f"/admin/qualification/scoringmodel/{draft.pk}/preview/").content.decode()
    assert 'id="pv-backtest"' in page
    assert "This draft ranks past leads worse than the published model" in page
    assert "n = 12 leads, 7 won" in page
    # A better draft says so, with the chosen label.
    better = ScoringModelFactory(mql_threshold=Decimal("10"), min_grade="D", required_fields=[])
    FitRuleFactory(model=better, field="industry", operator="equals", value="software", points=Decimal("30"))
    page = admin_client.get(f"/admin/qualification/scoringmodel/{better.pk}/preview/").content.decode()
    assert "worse than" not in page and ("as well as" in page or "better than" in page)


def test_feedback_score_bands_follow_the_published_models_threshold(db):
    assert [b[0] for b in reports.feedback.score_bands()] == ["under 70", "70–79", "80–89", "90–99", "100+"]
    ScoringModelFactory(status=ModelStatus.PUBLISHED, mql_threshold=Decimal("50"))
    bands = reports.feedback.score_bands()
    assert [(low, high) for _, low, high in bands] == [(None, 50), (50, 60), (60, 70), (70, 80), (80, None)]
    assert bands[0][0] == "under 50" and "MQL threshold" in bands[1][0]
