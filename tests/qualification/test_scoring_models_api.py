"""/api/scoring-models/: who may use it, documents in and out, preview, suggest, publish."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from leadhub import roles
from qualification import model_json
from qualification.choices import ModelStatus
from qualification.models import EngagementRule, FitRule, RescoreRun, ScoringModel, SuggestionRun
from tests.conftest import make_user, token_client
from tests.qualification.factories import simple_model
from tests.qualification.suggest_data_set import plant

pytestmark = pytest.mark.django_db

URL = "/api/scoring-models/"


def document(**settings):
    return {
        "format": model_json.FORMAT,
        "name": "From git",
        "settings": {
            "mql_threshold": 50,
            "min_grade": "C",
            "grade_a_min": 30,
            "grade_b_min": 20,
            "grade_c_min": 10,
            "required_fields": ["first_name"],
            "half_life_days": 14,
            **settings,
        },
        "fit_rules": [
            {"field": "industry", "operator": "equals", "value": "software", "points": 25, "label": ""},
            {"field": "employee_count", "operator": "between", "value": "50, 500", "points": 10, "label": "mid-size"},
        ],
        "engagement_rules": [{"kind": "demo_request", "points": 30, "window_days": 60, "cap": 60}],
    }


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@leadhub.example", "pw-boss-123")


@pytest.mark.parametrize(
    "role, allowed",
    [(roles.MARKETING, True), ("admin", True), (roles.SDR, False), (roles.SALES_MANAGER, False), (roles.INTEGRATION, False)],
)
def test_only_marketing_and_admins_may_use_the_scoring_models_api(role, allowed, admin_user):
    model = simple_model(status=ModelStatus.PUBLISHED)
    user = admin_user if role == "admin" else make_user(role, username=f"api-{role}")
    api = token_client(user)
    before = ScoringModel.objects.count()
    answers = [
        api.get(URL),
        api.get(f"{URL}{model.pk}/"),
        api.post(URL, document(), format="json"),
        api.post(f"{URL}{model.pk}/preview/"),
        api.post(f"{URL}{model.pk}/suggest/", {}, format="json"),
        api.post(f"{URL}{model.pk}/publish/", {"note": "try"}, format="json"),
    ]
    codes = [a.status_code for a in answers]
    if allowed:
        assert codes[:2] == [200, 200]
        assert codes[2] == 201
        assert codes[3] == 200
        assert codes[4] == 202
        assert codes[5] == 409  # the published model is not a draft: a sentence says so
        assert "only a draft can be published" in answers[5].json()["detail"]
        run = SuggestionRun.objects.get()
        assert api.get(f"/api/scoring-suggestions/{run.pk}/").json()["id"] == run.pk
    else:
        assert codes == [403] * 6, codes
        assert ScoringModel.objects.count() == before
        assert not SuggestionRun.objects.exists()
        run = SuggestionRun.objects.create(model=model)
        assert api.get(f"/api/scoring-suggestions/{run.pk}/").status_code == 403


def test_signed_out_is_401():
    assert APIClient().get(URL).status_code == 401


def test_create_reads_back_the_same_document(marketer):
    api = token_client(marketer)
    created = api.post(URL, document(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft"
    model = ScoringModel.objects.get(pk=body["id"])
    assert model.fit_rules.count() == 2 and model.engagement_rules.count() == 1
    read = api.get(f"{URL}{model.pk}/").json()
    sent = document()
    assert read["settings"] == sent["settings"]
    assert [{k: r[k] for k in ("field", "operator", "value", "points")} for r in read["fit_rules"]] == [
        {k: r[k] for k in ("field", "operator", "value", "points")} for r in sent["fit_rules"]
    ]
    assert read["engagement_rules"][0]["cap"] == 60 and read["engagement_rules"][0]["window_days"] == 60
    listed = api.get(URL).json()["results"]
    assert listed[0]["id"] == model.pk and listed[0]["fit_rules"] == 2 and listed[0]["engagement_rules"] == 1


@pytest.mark.parametrize(
    "change, key, words",
    [
        (lambda d: d["fit_rules"][0].update(field="shoe_size"), "fit_rules.0.field", "There is no field “shoe_size”"),
        (lambda d: d["fit_rules"][1].update(operator="contains"), "fit_rules.1.operator", "is a number"),
        (lambda d: d["settings"].update(mql_threshold=500), "settings.mql_threshold", "No lead could reach 500"),
    ],
    ids=["bad field", "bad operator", "threshold unreachable"],
)
def test_invalid_documents_are_typed_400s_and_write_nothing(marketer, change, key, words):
    api = token_client(marketer)
    sent = document()
    change(sent)
    counts = (ScoringModel.objects.count(), FitRule.objects.count(), EngagementRule.objects.count())
    answer = api.post(URL, sent, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid"
    assert body["detail"].startswith("The scoring model was not created")
    assert key in body["errors"], body["errors"]
    assert words in " ".join(body["errors"][key])
    assert (ScoringModel.objects.count(), FitRule.objects.count(), EngagementRule.objects.count()) == counts


def test_every_error_at_once_and_wrong_json_types(marketer):
    api = token_client(marketer)
    sent = document(mql_threshold="50", half_life_days=0)
    sent["fit_rules"][0]["points"] = 0
    sent["engagement_rules"][0]["surprise"] = 1
    answer = api.post(URL, sent, format="json")
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert errors["settings.mql_threshold"] == ["Give a number."]
    assert "settings.half_life_days" in errors
    assert "fit_rules.0.points" in errors
    assert "engagement_rules.0.surprise" in errors
    assert not ScoringModel.objects.exists()


def test_json_export_then_import_is_the_same_model():
    model = simple_model(status=ModelStatus.PUBLISHED, threshold="45")
    exported = model_json.export_model(model)
    copy = model_json.import_model(exported)
    again = model_json.export_model(copy)
    assert copy.status == ModelStatus.DRAFT and copy.pk != model.pk
    strip = lambda d: {k: v for k, v in d.items() if k not in ("version", "status")}  # noqa: E731
    assert strip(again) == strip(exported)


def test_preview_answers_a_json_summary(marketer):
    simple_model(status=ModelStatus.PUBLISHED)
    draft = simple_model(threshold="20")
    answer = token_client(marketer).post(f"{URL}{draft.pk}/preview/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["draft_version"] == draft.version
    assert {"leads", "mql_now", "promoted", "entering", "leaving", "rule_changes", "setting_changes"} <= set(body)
    assert "MQL threshold: 50.0 → 20.0" in body["setting_changes"]


def test_publish_needs_a_note_and_follows_the_publishing_rules(marketer):
    simple_model(status=ModelStatus.PUBLISHED)
    draft = simple_model(threshold="40")
    api = token_client(marketer)
    assert api.post(f"{URL}{draft.pk}/publish/", {}, format="json").status_code == 400
    answer = api.post(f"{URL}{draft.pk}/publish/", {"note": "Lower threshold after review", "daily_cap": 5}, format="json")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "published" and body["daily_cap"] == 5
    draft.refresh_from_db()
    assert draft.status == ModelStatus.PUBLISHED
    record = draft.publishes.get()
    assert (record.note, record.daily_cap, record.by) == ("Lower threshold after review", 5, marketer)
    again = api.post(f"{URL}{draft.pk}/publish/", {"note": "again"}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == f"v{draft.version} is published; only a draft can be published."


def test_suggest_answers_202_and_the_url_names_the_draft_and_its_auc(marketer, django_capture_on_commit_callbacks):
    plant(n=800)
    model = simple_model(status=ModelStatus.PUBLISHED)
    api = token_client(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"{URL}{model.pk}/suggest/", {"label": "outcome", "mql_rate": 0.2}, format="json")
    assert answer.status_code == 202, answer.json()
    url = answer.json()["url"]
    assert answer["Location"] == url
    polled = api.get(url).json()  # the task ran eagerly in the test
    assert polled["status"] == "done", polled
    draft = ScoringModel.objects.get(pk=polled["draft_id"])
    assert draft.status == ModelStatus.DRAFT
    assert 0.5 < polled["auc"] <= 1
    assert polled["auc_published"] is not None
    model.refresh_from_db()
    assert model.status == ModelStatus.PUBLISHED
    assert not RescoreRun.objects.exists()


def test_suggest_refuses_bad_options(marketer):
    model = simple_model(status=ModelStatus.PUBLISHED)
    api = token_client(marketer)
    answer = api.post(f"{URL}{model.pk}/suggest/", {"mql_rate": 0.2, "precision": 0.5}, format="json")
    assert answer.status_code == 400
    assert "precision" in answer.json()["errors"]
    answer = api.post(f"{URL}{model.pk}/suggest/", {"horizon_days": "90"}, format="json")
    assert answer.status_code == 400
    assert not SuggestionRun.objects.exists()


def test_a_suggestion_without_enough_outcomes_fails_with_a_sentence(marketer, django_capture_on_commit_callbacks):
    model = simple_model(status=ModelStatus.PUBLISHED)
    api = token_client(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        url = api.post(f"{URL}{model.pk}/suggest/", {}, format="json").json()["url"]
    polled = api.get(url).json()
    assert polled["status"] == "failed"
    assert polled["error"].startswith("Not enough labelled leads to learn from (0 leads")
    assert polled["draft_id"] is None
