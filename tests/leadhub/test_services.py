from datetime import timedelta

import pytest
from django.utils import timezone

from leadhub import lifecycle, services
from leadhub.choices import Stage
from leadhub.errors import InvalidTransition, ValidationFailed
from leadhub.lifecycle import ALLOWED_TRANSITIONS
from leadhub.models import Activity, Company, Lead, StageChange
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def activity(email, external_id, kind="page_view", **extra):
    return {
        "email": email,
        "kind": kind,
        "occurred_at": timezone.now() - timedelta(minutes=5),
        "properties": {},
        "source": "hubspot",
        "external_id": external_id,
        **extra,
    }


# Upsert and normalisation


def test_upsert_creates_lead_with_lowercase_email_and_company_from_domain():
    lead, created = services.upsert_lead(email="  Ada.Lovelace@Analytical.IO ", first_name="Ada")
    assert created
    assert lead.email == "ada.lovelace@analytical.io"
    assert lead.company.domain == "analytical.io"
    assert lead.stage == Stage.NEW


def test_upsert_by_email_in_other_case_updates_the_same_lead():
    services.upsert_lead(email="ada@analytical.io", first_name="Ada", title="Engineer")
    lead, created = services.upsert_lead(email="ADA@analytical.io", title="VP Engineering")
    assert not created
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.title == "VP Engineering"
    assert lead.first_name == "Ada", "fields not given are kept"


def test_free_mail_lead_gets_no_company():
    lead, _ = services.upsert_lead(email="someone@gmail.com")
    assert lead.company is None
    assert not Company.objects.exists()


def test_leads_of_one_domain_share_a_company_and_company_facts_update_it():
    services.upsert_lead(email="a@acme.com")
    lead, _ = services.upsert_lead(email="b@acme.com", company={"name": "Acme Corp", "employee_count": 500})
    assert Company.objects.count() == 1
    assert lead.company.name == "Acme Corp"
    assert lead.company.employee_count == 500


def test_upsert_rejects_invalid_email_and_writes_nothing():
    with pytest.raises(ValidationFailed) as err:
        services.upsert_lead(email="not-an-email")
    assert "email" in err.value.field_errors
    assert not Lead.objects.exists()


# Activities


def test_record_activities_writes_batch_and_moves_last_activity_forward(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = services.record_activities(items=[activity(lead.email, "1"), activity(lead.email.upper(), "2")])
    assert [o.status for o in outcomes] == ["created", "created"]
    assert lead.activities.count() == 2
    lead.refresh_from_db()
    assert lead.last_activity_at is not None


def test_replaying_a_batch_changes_nothing_and_reports_known_items():
    lead = LeadFactory()
    batch = [activity(lead.email, "1"), activity(lead.email, "2")]
    services.record_activities(items=batch)
    outcomes = services.record_activities(items=[*batch, activity(lead.email, "3")])
    assert [o.status for o in outcomes] == ["known", "known", "created"]
    assert Activity.objects.count() == 3


def test_same_item_twice_in_one_batch_is_recorded_once():
    lead = LeadFactory()
    outcomes = services.record_activities(items=[activity(lead.email, "1"), activity(lead.email, "1")])
    assert [o.status for o in outcomes] == ["created", "known"]
    assert Activity.objects.count() == 1


def test_batch_with_an_unknown_lead_writes_nothing():
    lead = LeadFactory()
    with pytest.raises(ValidationFailed) as err:
        services.record_activities(items=[activity(lead.email, "1"), activity("ghost@nowhere.com", "2")])
    assert list(err.value.field_errors) == [1]
    assert not Activity.objects.exists()


def test_older_activity_does_not_move_last_activity_back(django_capture_on_commit_callbacks):
    lead = LeadFactory()
    recent = timezone.now() - timedelta(minutes=1)
    for n, at in (("1", recent), ("2", recent - timedelta(days=3))):
        with django_capture_on_commit_callbacks(execute=True):
            services.record_activities(items=[activity(lead.email, n, occurred_at=at)])
    lead.refresh_from_db()
    assert lead.last_activity_at == recent


# Transitions

ALLOWED = sorted((f, t) for f, targets in ALLOWED_TRANSITIONS.items() for t in targets)  # sets: one order in every xdist worker


def lead_in(stage):
    lead = LeadFactory()
    Lead.objects.filter(pk=lead.pk).update(stage=stage)
    lead.refresh_from_db()
    return lead


@pytest.mark.parametrize(("from_stage", "to_stage"), ALLOWED)
def test_every_allowed_move_changes_stage_and_writes_history(from_stage, to_stage, sdr):
    lead = lead_in(from_stage)
    lifecycle.transition(lead, to_stage, by=sdr, reason="because", note="n")
    lead.refresh_from_db()
    assert lead.stage == to_stage
    change = StageChange.objects.get(lead=lead)
    assert (change.from_stage, change.to_stage, change.by, change.reason, change.note) == (
        from_stage,
        to_stage,
        sdr,
        "because",
        "n",
    )


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        ("new", "mql"),
        ("new", "sal"),
        ("nurture", "sal"),
        ("mql", "sql"),
        ("sal", "won"),
        ("won", "nurture"),
        ("lost", "mql"),
        ("disqualified", "nurture"),
        ("mql", "mql"),
    ],
)
def test_forbidden_moves_raise_and_write_nothing(from_stage, to_stage):
    lead = lead_in(from_stage)
    with pytest.raises(InvalidTransition):
        lifecycle.transition(lead, to_stage)
    lead.refresh_from_db()
    assert lead.stage == from_stage
    assert not StageChange.objects.exists()


def test_unknown_stage_is_a_validation_error():
    lead = lead_in("new")
    with pytest.raises(ValidationFailed):
        lifecycle.transition(lead, "hot")


def test_transition_checks_the_stage_in_the_database_not_a_stale_copy():
    lead = lead_in("mql")
    stale = Lead.objects.get(pk=lead.pk)
    lifecycle.transition(lead, "sal")
    with pytest.raises(InvalidTransition):
        lifecycle.transition(stale, "sal")  # the copy still says MQL
    assert StageChange.objects.filter(lead=lead).count() == 1


def test_system_moves_record_no_user_and_updates_go_with_the_move():
    lead = lead_in("mql")
    until = timezone.now() + timedelta(days=30)
    lifecycle.transition(lead, "nurture", reason="No budget", updates={"nurture_until": until, "recycle_count": 1})
    lead.refresh_from_db()
    assert (lead.stage, lead.nurture_until, lead.recycle_count) == ("nurture", until, 1)
    assert StageChange.objects.get(lead=lead).by is None


def test_same_external_id_from_another_source_is_a_new_activity():
    lead = LeadFactory()
    ActivityFactory(lead=lead, source="marketo", external_id="42")
    outcomes = services.record_activities(items=[activity(lead.email, "42")])
    assert outcomes[0].status == "created"
