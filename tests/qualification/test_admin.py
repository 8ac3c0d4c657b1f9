"""Admin: published models are read-only, drafts are copied, previewed and published by marketers only."""

import pytest

from leadhub.models import Lead
from qualification.choices import ModelStatus
from qualification.models import RescoreRun, ScoringModel
from tests.factories import CompanyFactory, LeadFactory

from .factories import simple_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, marketer):
    client.force_login(marketer)
    client.marketer = marketer
    return client


def test_published_model_is_read_only_in_the_admin(admin_client):
    published = simple_model(status=ModelStatus.PUBLISHED)
    html = admin_client.get(f"/admin/qualification/scoringmodel/{published.pk}/change/").content.decode()
    assert 'name="mql_threshold"' not in html and 'name="fit_rules-0-points"' not in html
    assert "cannot be changed" in html and "Copy as new draft" in html and "Publish…" not in html
    response = admin_client.post(f"/admin/qualification/scoringmodel/{published.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and ScoringModel.objects.filter(pk=published.pk).exists()


def test_draft_is_editable_with_its_rules_inline(admin_client):
    draft = simple_model()
    html = admin_client.get(f"/admin/qualification/scoringmodel/{draft.pk}/change/").content.decode()
    assert 'name="mql_threshold"' in html and 'name="fit_rules-0-points"' in html and 'name="engagement_rules-0-cap"' in html
    assert ">Publish…<" in html and ">Preview<" in html


def test_copy_as_new_draft_button_creates_a_draft(admin_client):
    published = simple_model(status=ModelStatus.PUBLISHED)
    response = admin_client.post(f"/admin/qualification/scoringmodel/{published.pk}/copy/")
    draft = ScoringModel.objects.get(status="draft")
    assert response.status_code == 302 and response.url.endswith(f"/{draft.pk}/change/")
    assert draft.fit_rules.count() == 3 and draft.copied_from == published


def test_preview_page_shows_what_publish_would_do(admin_client):
    LeadFactory(company=CompanyFactory(industry="software"), title="VP Sales")
    draft = simple_model(threshold="25")
    response = admin_client.get(f"/admin/qualification/scoringmodel/{draft.pk}/preview/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="pv-enter">+1<' in html and 'id="pv-new-mqls">1<' in html and "moves to MQL" in html
    assert "Score distribution" in html
    assert Lead.objects.get().stage == "new"  # preview writes nothing


def test_publish_button_publishes_and_shows_the_run(admin_client, django_capture_on_commit_callbacks):
    LeadFactory.create_batch(3)
    draft = simple_model()
    confirm = admin_client.get(f"/admin/qualification/scoringmodel/{draft.pk}/publish/").content.decode()
    assert "Publish v" in confirm and "Why are you publishing" in confirm and RescoreRun.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/qualification/scoringmodel/{draft.pk}/publish/", {"note": "First model", "mode": "all"}
        )
    run = RescoreRun.objects.get()
    record = draft.publishes.get()
    assert (record.note, record.by, record.daily_cap, record.run) == ("First model", admin_client.marketer, None, run)
    assert response.status_code == 302 and response.url.endswith(f"/rescorerun/{run.pk}/change/")
    html = admin_client.get(response.url).content.decode()
    assert "Rescored all 3 leads" in html and "Rescoring" not in html
    progress = admin_client.get("/admin/qualification/scoringmodel/progress/").content.decode()
    assert "Rescored all 3 leads" in progress and "hx-trigger" not in progress  # finished: no more polling


def test_running_publish_progress_polls(admin_client):
    LeadFactory.create_batch(2)
    from qualification import services

    services.publish(draft=simple_model(), by=None, enqueue=False)
    progress = admin_client.get("/admin/qualification/scoringmodel/progress/").content.decode()
    assert "Waiting to start: rescoring 2 leads" in progress and 'hx-trigger="every 2s"' in progress


def test_sdr_cannot_publish_or_edit(client, sdr):
    draft = simple_model()
    client.force_login(sdr)
    assert client.post(f"/admin/qualification/scoringmodel/{draft.pk}/publish/").status_code in (302, 403)
    draft.refresh_from_db()
    assert draft.status == "draft"
