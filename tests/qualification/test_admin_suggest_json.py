"""The scoring admin's JSON export and import, and "Suggest weights from outcomes"."""

import json

import pytest

from qualification import model_json
from qualification.choices import ModelStatus
from qualification.models import ScoringModel, SuggestionRun
from tests.qualification.factories import simple_model
from tests.qualification.suggest_data_set import plant

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/qualification/scoringmodel/"


def test_export_as_json_downloads_the_api_document(client, marketer):
    model = simple_model(status=ModelStatus.PUBLISHED)
    client.force_login(marketer)
    answer = client.post(CHANGELIST, {"action": "export_as_json", "_selected_action": [model.pk]})
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert f'filename="scoring-model-v{model.version}' in answer["Content-Disposition"]
    assert json.loads(answer.content) == json.loads(json.dumps(model_json.export_model(model)))


def test_import_from_json_creates_a_draft_equal_to_the_export(client, marketer):
    model = simple_model(status=ModelStatus.PUBLISHED)
    exported = model_json.export_model(model)
    client.force_login(marketer)
    answer = client.post(f"{CHANGELIST}import-json/", {"text": json.dumps(exported)})
    draft = ScoringModel.objects.exclude(pk=model.pk).get()
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{draft.pk}/change/")
    assert draft.status == ModelStatus.DRAFT
    again = model_json.export_model(draft)
    assert {k: v for k, v in again.items() if k not in ("version", "status")} == {
        k: v for k, v in exported.items() if k not in ("version", "status")
    }


def test_import_shows_every_error_and_writes_nothing(client, marketer):
    model = simple_model(status=ModelStatus.PUBLISHED)
    document = model_json.export_model(model)
    document["fit_rules"][0]["operator"] = "gte"
    document["settings"]["min_grade"] = "Z"
    client.force_login(marketer)
    answer = client.post(f"{CHANGELIST}import-json/", {"text": json.dumps(document)})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "fit_rules.0.operator" in text and "settings.min_grade" in text
    assert ScoringModel.objects.count() == 1
    assert client.post(f"{CHANGELIST}import-json/", {"text": "{not json"}).status_code == 200
    assert ScoringModel.objects.count() == 1


def test_suggest_weights_action_form_run_and_the_drafts_page(client, marketer, django_capture_on_commit_callbacks):
    plant(n=900)
    model = simple_model(status=ModelStatus.PUBLISHED)
    client.force_login(marketer)
    answer = client.post(CHANGELIST, {"action": "suggest_weights", "_selected_action": [model.pk]})
    assert answer.status_code == 302 and answer["Location"].endswith(f"/{model.pk}/suggest/")
    assert client.get(answer["Location"]).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            f"{CHANGELIST}{model.pk}/suggest/", {"label": "outcome", "horizon_days": 180, "window_days": 30, "mql_rate": "20"}
        )
    run = SuggestionRun.objects.get()
    assert answer["Location"].endswith(f"/suggestions/{run.pk}/")
    assert run.status == "done", run.error
    assert run.options["mql_rate"] == 0.2
    page = client.get(answer["Location"]).content.decode()
    assert "Held-out ranking (ROC AUC)" in page
    assert f"Published v{model.version}" in page
    assert f"{run.result['auc']:.3f}" in page
    draft_page = client.get(f"{CHANGELIST}{run.draft_id}/change/").content.decode()
    assert f"Suggested from v{model.version}" in draft_page
    assert "suggested: coef" in draft_page
    model.refresh_from_db()
    assert model.status == ModelStatus.PUBLISHED


def test_roles_that_cannot_add_models_cannot_suggest_or_import(client, sdr):
    model = simple_model(status=ModelStatus.PUBLISHED)
    client.force_login(sdr)
    assert client.get(f"{CHANGELIST}{model.pk}/suggest/").status_code in (302, 403)
    assert client.post(f"{CHANGELIST}import-json/", {"text": "{}"}).status_code in (302, 403)
    assert not SuggestionRun.objects.exists()
