"""Leads known by e-mail or by another system's id: upsert, match, activities and merges."""

import pytest
from django.db import IntegrityError, transaction

from leadhub import services
from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Activity, Lead, LeadAlias, LeadExternalId, LeadMerge, Outcome
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_an_id_only_lead_is_created_with_no_email_and_updated_by_its_id():
    lead, created = services.upsert_lead(external_ids=[("CRM", "00Q5e01")], first_name="Asha", phone="+91 98")
    assert created
    assert lead.email is None  # NULL, never ""
    assert Lead.objects.filter(email__isnull=True).count() == 1
    assert list(lead.external_ids.values_list("source", "external_id")) == [("crm", "00Q5e01")]

    again, created = services.upsert_lead(external_ids=[("crm", " 00Q5e01 ")], title="Doctor")
    assert not created and again.pk == lead.pk
    lead.refresh_from_db()
    assert (lead.first_name, lead.title, lead.email) == ("Asha", "Doctor", None)


def test_many_leads_without_email_coexist_but_an_email_stays_unique():
    services.upsert_lead(external_ids=[("crm", "1")])
    services.upsert_lead(external_ids=[("crm", "2")])
    services.upsert_lead(phone="+44 1", external_ids=[("erp", "9")])
    assert Lead.objects.filter(email__isnull=True).count() == 3
    LeadFactory(email="ann@acme.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(email="ANN@acme.com")


def test_an_id_matched_lead_gets_the_email_when_it_had_none_and_is_then_found_by_either():
    lead, _ = services.upsert_lead(external_ids=[("crm", "7")])
    services.upsert_lead(external_ids=[("crm", "7")], email="Ravi@Clinic.in")
    lead.refresh_from_db()
    assert lead.email == "ravi@clinic.in"
    by_email, created = services.upsert_lead(email="ravi@clinic.in", external_ids=[("erp", "E-1")])
    assert not created and by_email.pk == lead.pk
    assert sorted(lead.external_ids.values_list("source", flat=True)) == ["crm", "erp"]


def test_an_email_of_one_lead_and_an_id_of_another_is_refused_with_a_sentence():
    a, _ = services.upsert_lead(email="a@acme.com")
    b, _ = services.upsert_lead(external_ids=[("crm", "B")])
    with pytest.raises(Conflict) as exc:
        services.upsert_lead(email="a@acme.com", external_ids=[("crm", "B")])
    assert f"lead {a.pk}" in exc.value.message and f"lead {b.pk}" in exc.value.message
    assert "merge" in exc.value.message


def test_a_second_id_of_the_same_source_for_one_lead_is_refused():
    services.upsert_lead(email="a@acme.com", external_ids=[("crm", "A")])
    with pytest.raises(Conflict) as exc:
        services.upsert_lead(email="a@acme.com", external_ids=[("crm", "A2")])
    assert "one id per source" in exc.value.message
    assert LeadExternalId.objects.count() == 1


def test_a_lead_needs_an_email_or_an_id():
    with pytest.raises(ValidationFailed):
        services.upsert_lead(first_name="Nobody")
    assert not Lead.objects.exists()


def test_activities_reach_a_lead_by_its_external_id():
    lead, _ = services.upsert_lead(external_ids=[("crm", "X1")])
    services.record_activities(
        items=[
            {
                "lead_key": ("crm", "X1"),
                "kind": "page_view",
                "occurred_at": lead.created_at,
                "properties": {},
                "source": "web",
                "external_id": "pv-1",
            }
        ]
    )
    assert Activity.objects.get().lead_id == lead.pk
    with pytest.raises(ValidationFailed) as exc:
        services.record_activities(
            items=[
                {
                    "lead_key": ("crm", "nope"),
                    "kind": "page_view",
                    "occurred_at": lead.created_at,
                    "source": "web",
                    "external_id": "pv-2",
                }
            ]
        )
    assert "lead_external_id" in exc.value.field_errors[0]


def test_merge_moves_external_ids_outcomes_and_fills_the_email(marketer):
    survivor, _ = services.upsert_lead(external_ids=[("crm", "S")], first_name="Ann")
    survivor.stage = "nurture"
    survivor.save()
    duplicate, _ = services.upsert_lead(email="ann@acme.com", external_ids=[("erp", "D")])
    Outcome.objects.create(lead=duplicate, result="won", origin="api", source="crm", external_id="o1")
    merge = services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    survivor.refresh_from_db()
    assert sorted(survivor.external_ids.values_list("source", "external_id")) == [("crm", "S"), ("erp", "D")]
    assert survivor.email == "ann@acme.com"  # the id-only survivor takes the address
    assert not LeadAlias.objects.exists()
    assert Outcome.objects.get().lead_id == survivor.pk
    assert merge.moved["external_ids"] == 1 and merge.moved["outcomes"] == 1
    assert services.upsert_lead(external_ids=[("erp", "D")])[0].pk == survivor.pk


def test_merge_of_two_leads_with_different_ids_in_one_system_is_refused_with_a_sentence(marketer):
    a, _ = services.upsert_lead(email="a@acme.com", external_ids=[("crm", "A")])
    b, _ = services.upsert_lead(email="b@acme.com", external_ids=[("crm", "B")])
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=a, duplicate=b, by=marketer)
    assert "crm: A on a@acme.com, B on b@acme.com" in exc.value.message
    assert Lead.objects.count() == 2 and not LeadMerge.objects.exists()


def test_merging_an_id_only_duplicate_records_the_merge_without_an_alias(marketer):
    a, _ = services.upsert_lead(email="a@acme.com")
    b, _ = services.upsert_lead(external_ids=[("crm", "B")], phone="+1 555")
    merge = services.lead_merge(survivor=a, duplicate=b, by=marketer)
    assert merge.duplicate_email == ""
    assert not LeadAlias.objects.exists()
    a.refresh_from_db()
    assert a.phone == "+1 555"
    assert list(a.external_ids.values_list("external_id", flat=True)) == ["B"]


def test_a_lead_without_email_is_found_by_name_and_phone_search(client, marketer):
    lead, _ = services.upsert_lead(external_ids=[("crm", "S1")], first_name="Zoë", last_name="Quist", phone="+91 5550")
    services.upsert_lead(email="other@acme.com", first_name="Ann")
    client.force_login(marketer)
    for words in ("zoe quist", "5550"):
        listed = client.get("/leads/", {"q": words}).context["page"]
        assert [row.pk for row in listed] == [lead.pk]
    assert not list(client.get("/leads/", {"q": "none"}).context["page"])
