"""Custom lead fields: defined in the admin and the API, values kept through renames, types
and options in use protected, deletion refused while a scoring model uses the field."""

import pytest
from django.urls import reverse

from leadhub import hooks, lead_fields, services
from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Lead, LeadField
from qualification.choices import ModelStatus
from tests.conftest import make_user, token_client
from tests.qualification.factories import ScoringModelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def band(db):
    return LeadField.objects.create(key="band", label="Employees band", type="choice", options=["1-10", "11-50"])


def test_renaming_a_label_keeps_the_values(band):
    lead, _ = services.upsert_lead(email="a@acme.com", attributes={"band": "11-50"})
    band.label = "Company size"
    lead_fields.lead_field_save(band)
    lead.refresh_from_db()
    assert lead.attributes == {"band": "11-50"}


def test_changing_the_type_of_a_field_with_values_is_refused_with_a_sentence(band):
    services.upsert_lead(email="a@acme.com", attributes={"band": "1-10"})
    band.type = "number"
    band.options = []
    with pytest.raises(ValidationFailed) as exc:
        lead_fields.lead_field_save(band)
    assert exc.value.message == (
        "1 lead holds a value of “Employees band”, so its type cannot change from Choice to Number: "
        "create a new field for the new type."
    )
    assert LeadField.objects.get().type == "choice"


def test_an_unused_field_may_change_type_and_an_option_in_use_stays(band):
    services.upsert_lead(email="a@acme.com", attributes={"band": "1-10"})
    band.options = ["11-50", "51-200"]
    with pytest.raises(ValidationFailed, match="Leads still hold “1-10”"):
        lead_fields.lead_field_save(band)
    visits = LeadField.objects.create(key="visits", label="Visits", type="text")
    visits.type = "number"
    lead_fields.lead_field_save(visits)
    assert LeadField.objects.get(key="visits").type == "number"


def test_deleting_a_field_a_scoring_model_requires_is_refused(band):
    ScoringModelFactory(status=ModelStatus.PUBLISHED, required_fields=["first_name", "attributes.band"])
    with pytest.raises(Conflict) as exc:
        lead_fields.lead_field_delete(band)
    assert "“Employees band” cannot be deleted: it is used by the MQL required fields of the published scoring model v" in (
        exc.value.message
    )
    assert LeadField.objects.exists()


def test_deleting_a_field_asks_every_registered_checker_and_removes_values(band):
    def checker(event):
        return [f"the rule “{event.key} is 1-10”"] if event.key == "band" else []

    hooks.on_lead_field_use.connect(checker)
    try:
        with pytest.raises(Conflict, match="used by the rule “band is 1-10”"):
            lead_fields.lead_field_delete(band)
    finally:
        hooks.on_lead_field_use.disconnect(checker)
    ScoringModelFactory(status=ModelStatus.ARCHIVED, required_fields=["attributes.band"])  # archived: not a use
    lead, _ = services.upsert_lead(email="a@acme.com", attributes={"band": "1-10"})
    other = LeadField.objects.create(key="city", label="City")
    services.upsert_lead(email="a@acme.com", attributes={"city": "Pune"})
    assert lead_fields.lead_field_delete(band) == 1
    lead.refresh_from_db()
    assert lead.attributes == {"city": "Pune"}
    assert list(LeadField.objects.all()) == [other]


@pytest.mark.parametrize(
    ("role", "staff", "superuser", "allowed"),
    [
        ("Marketing", False, False, True),
        (None, True, True, True),
        ("Integration", False, False, False),
        ("SDR", False, False, False),
        ("Sales manager", False, False, False),
        (None, False, False, False),
    ],
)
def test_lead_fields_api_is_for_marketing_and_admins(role, staff, superuser, allowed):
    user = make_user(role, is_staff=staff, is_superuser=superuser)
    api = token_client(user)
    response = api.post(
        "/api/lead-fields/", {"key": "city", "label": "City", "type": "text", "show_in_list": True}, format="json"
    )
    assert response.status_code == (201 if allowed else 403)
    assert api.get("/api/lead-fields/").status_code == (200 if allowed else 403)


def test_lead_fields_api_crud_with_sentences(marketer, band):
    api = token_client(marketer)
    services.upsert_lead(email="a@acme.com", attributes={"band": "1-10"})
    listed = api.get("/api/lead-fields/").json()
    assert listed[0]["key"] == "band" and listed[0]["options"] == ["1-10", "11-50"]
    response = api.patch(f"/api/lead-fields/{band.pk}/", {"label": "Size"}, format="json")
    assert response.status_code == 200 and response.json()["label"] == "Size"
    response = api.patch(f"/api/lead-fields/{band.pk}/", {"type": "text", "options": []}, format="json")
    assert response.status_code == 400
    assert "its type cannot change" in response.json()["errors"]["type"][0]
    response = api.patch(f"/api/lead-fields/{band.pk}/", {"key": "size"}, format="json")
    assert response.status_code == 400 and "key cannot change" in response.json()["errors"]["key"][0]
    response = api.post("/api/lead-fields/", {"key": "stage2", "label": "Stage", "type": "choice"}, format="json")
    assert response.status_code == 400 and "needs its options" in response.json()["errors"]["options"][0]
    ScoringModelFactory(status=ModelStatus.DRAFT, required_fields=["attributes.band"])
    response = api.delete(f"/api/lead-fields/{band.pk}/")
    assert response.status_code == 409
    assert "draft scoring model" in response.json()["detail"]


def test_admin_refuses_deleting_a_field_in_use_and_edits_lead_attributes_through_the_validator(admin_client, band):
    ScoringModelFactory(status=ModelStatus.PUBLISHED, required_fields=["attributes.band"])
    response = admin_client.post(reverse("admin:leadhub_leadfield_delete", args=[band.pk]), {"post": "yes"}, follow=True)
    assert LeadField.objects.filter(pk=band.pk).exists()
    assert "cannot be deleted" in response.content.decode()

    lead, _ = services.upsert_lead(external_ids=[("crm", "1")], first_name="Ann")
    url = reverse("admin:leadhub_lead_change", args=[lead.pk])
    form = {
        "email": "",
        "first_name": "Ann",
        "source": "other",
        "attributes": '{"band": "huge"}',
        "external_ids-TOTAL_FORMS": "1",
        "external_ids-INITIAL_FORMS": "1",
        "external_ids-0-id": lead.external_ids.get().pk,
        "external_ids-0-lead": lead.pk,
        "external_ids-0-source": "crm",
        "external_ids-0-external_id": "1",
        "outcomes-TOTAL_FORMS": "0",
        "outcomes-INITIAL_FORMS": "0",
        "stage_changes-TOTAL_FORMS": "0",
        "stage_changes-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "band: “huge” is not one of" in response.content.decode()
    response = admin_client.post(url, {**form, "attributes": '{"band": "11-50"}'})
    assert response.status_code == 302, response.content.decode()[:3000]
    lead.refresh_from_db()
    assert lead.attributes == {"band": "11-50"}
    assert lead.email is None  # an empty email is stored as NULL


def test_admin_refuses_a_type_change_of_a_field_with_values_and_keeps_a_rename(admin_client, band):
    services.upsert_lead(email="a@acme.com", attributes={"band": "1-10"})
    url = reverse("admin:leadhub_leadfield_change", args=[band.pk])
    form = {"label": "Employees band", "type": "number", "options": "[]", "help_text": "", "position": "0"}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "its type cannot change from Choice to Number" in response.content.decode()
    response = admin_client.post(url, {**form, "type": "choice", "options": '["1-10", "11-50"]', "label": "Size"})
    assert response.status_code == 302
    band.refresh_from_db()
    assert (band.label, band.type) == ("Size", "choice")
    assert Lead.objects.get().attributes == {"band": "1-10"}
