"""Merging duplicate leads: nothing is lost, the merged address keeps reaching the survivor."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from handoff.choices import EventKind, HandoffStatus
from handoff.models import Handoff, HandoffEvent
from leadhub import lifecycle, services
from leadhub.choices import Stage
from leadhub.errors import Conflict, NotAllowed, ValidationFailed
from leadhub.models import Activity, ImportRow, Lead, LeadAlias, LeadMerge, StageChange
from qualification.choices import ModelStatus
from qualification.models import ActivityRollup
from tests.concurrency import race
from tests.conftest import token_client
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory
from tests.handoff.factories import make_mql
from tests.qualification.factories import simple_model

pytestmark = pytest.mark.django_db


def counts(*leads):
    ids = [lead.pk for lead in leads]
    return {
        "activities": Activity.objects.filter(lead_id__in=ids).count(),
        "stage_changes": StageChange.objects.filter(lead_id__in=ids).count(),
        "handoff_events": HandoffEvent.objects.filter(lead_id__in=ids).count(),
        "handoffs": Handoff.objects.filter(lead_id__in=ids).count(),
    }


def test_merge_moves_activities_history_and_handoffs_to_the_survivor_and_deletes_the_duplicate(marketer):
    survivor = make_mql(email="ann@acme.com")
    duplicate = LeadFactory(email="ann+webinar@acme.com")
    ActivityFactory.create_batch(3, lead=survivor)
    ActivityFactory.create_batch(2, lead=duplicate, kind="demo_request")
    lifecycle.transition(duplicate, Stage.NURTURE)
    before = counts(survivor, duplicate)

    merge = services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)

    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    assert counts(survivor) == before
    assert before["activities"] == 5 and before["stage_changes"] == 3
    assert merge.survivor == survivor and merge.by == marketer
    assert merge.duplicate_email == "ann+webinar@acme.com" and merge.snapshot["email"] == "ann+webinar@acme.com"
    assert merge.moved["activities"] == 2 and merge.moved["stage_changes"] == 1


def test_merge_fills_blank_profile_fields_and_never_overwrites(marketer):
    old = timezone.now() - timedelta(days=30)
    survivor = LeadFactory(
        email="bo@gmail.com",
        company=None,
        first_name="Bo",
        last_name="",
        title="",
        phone="",
        recycle_count=1,
        last_activity_at=old,
    )
    company = CompanyFactory(name="Acme")
    duplicate = LeadFactory(
        email="bo@acme.com",
        company=company,
        first_name="Robert",
        last_name="Stone",
        title="VP Sales",
        phone="+1 555",
        created_at=old,
        recycle_count=3,
        last_activity_at=old - timedelta(days=1),
        nurture_until=timezone.now() + timedelta(days=9),
    )

    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)

    survivor.refresh_from_db()
    assert (survivor.first_name, survivor.last_name, survivor.title, survivor.phone) == ("Bo", "Stone", "VP Sales", "+1 555")
    assert survivor.email == "bo@gmail.com"
    assert survivor.company == company
    assert survivor.created_at == old
    assert survivor.last_activity_at == old
    assert survivor.recycle_count == 3
    assert survivor.nurture_until == duplicate.nurture_until


def test_survivor_keeps_its_own_company(marketer):
    mine, theirs = CompanyFactory(), CompanyFactory()
    survivor = LeadFactory(company=mine)
    services.lead_merge(survivor=survivor, duplicate=LeadFactory(company=theirs), by=marketer)
    survivor.refresh_from_db()
    assert survivor.company == mine


def test_a_lead_cannot_be_merged_into_itself(marketer):
    lead = LeadFactory()
    with pytest.raises(ValidationFailed, match="cannot be merged into itself"):
        services.lead_merge(survivor=lead, duplicate=Lead.objects.get(pk=lead.pk), by=marketer)


def test_merging_a_lead_that_is_already_gone_is_a_conflict(marketer):
    survivor, duplicate = LeadFactory(), LeadFactory()
    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    with pytest.raises(Conflict, match="no longer exists"):
        services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)


def test_a_duplicate_further_along_the_funnel_is_refused_with_a_swap_hint(marketer):
    survivor = LeadFactory(email="new@acme.com")
    duplicate = make_mql(email="mql@acme.com")
    with pytest.raises(ValidationFailed, match=r"mql@acme.com is further along the funnel \(MQL\).*swap them"):
        services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    assert Lead.objects.filter(pk=duplicate.pk).exists()


def test_a_disqualified_lead_does_not_absorb_a_live_one(marketer):
    disqualified = LeadFactory(stage=Stage.DISQUALIFIED)
    live = LeadFactory(stage=Stage.NURTURE)
    with pytest.raises(ValidationFailed, match="further along"):
        services.lead_merge(survivor=disqualified, duplicate=live, by=marketer)
    services.lead_merge(survivor=live, duplicate=disqualified, by=marketer)
    assert not Lead.objects.filter(pk=disqualified.pk).exists()


def test_merge_order_prefers_the_lead_further_along_then_the_older():
    now = timezone.now()
    older = LeadFactory(created_at=now - timedelta(days=3))
    newer = LeadFactory(created_at=now)
    assert services.merge_order(newer, older) == (older, newer)
    newer.stage = Stage.MQL
    assert services.merge_order(older, newer) == (newer, older)


def test_an_sdr_cannot_merge(sdr):
    survivor, duplicate = LeadFactory(), LeadFactory()
    with pytest.raises(NotAllowed):
        services.lead_merge(survivor=survivor, duplicate=duplicate, by=sdr)
    assert Lead.objects.filter(pk=duplicate.pk).exists()


def test_when_both_leads_have_an_open_handoff_the_duplicates_is_closed_as_duplicate(marketer):
    survivor = make_mql(email="ann@acme.com")
    duplicate = make_mql(email="ann+2@acme.com")
    dup_handoff = Handoff.objects.get(lead=duplicate)
    before = counts(survivor, duplicate)

    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)

    dup_handoff.refresh_from_db()
    assert dup_handoff.lead_id == survivor.pk
    assert dup_handoff.status == HandoffStatus.CLOSED and dup_handoff.closed_at
    assert Handoff.objects.filter(lead=survivor, status=HandoffStatus.OPEN).count() == 1
    closed = HandoffEvent.objects.get(handoff=dup_handoff, kind=EventKind.CLOSED)
    assert closed.reason == "Duplicate" and closed.by == marketer
    after = counts(survivor)
    assert after == {**before, "handoff_events": before["handoff_events"] + 1}


def test_the_duplicates_open_handoff_is_closed_when_the_survivor_is_already_sal(marketer, sdr):
    survivor = LeadFactory(stage=Stage.SAL, owner=sdr)
    duplicate = make_mql()
    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    assert not Handoff.objects.filter(lead=survivor, status=HandoffStatus.OPEN).exists()
    assert Handoff.objects.filter(lead=survivor, status=HandoffStatus.CLOSED).count() == 1


def test_an_mql_survivor_without_an_open_handoff_takes_the_duplicates_over(marketer):
    survivor = LeadFactory(stage=Stage.MQL)
    duplicate = make_mql()
    handoff = Handoff.objects.get(lead=duplicate)
    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    handoff.refresh_from_db()
    assert handoff.lead_id == survivor.pk and handoff.status == HandoffStatus.OPEN


def test_later_upserts_and_activities_for_the_merged_email_reach_the_survivor(marketer):
    survivor = LeadFactory(email="ann@acme.com", title="")
    duplicate = LeadFactory(email="ann+webinar@acme.com")
    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    assert LeadAlias.objects.get(email="ann+webinar@acme.com").lead == survivor

    lead, created = services.upsert_lead(email="Ann+Webinar@ACME.com", title="CTO")
    assert not created and lead.pk == survivor.pk
    assert Lead.objects.get(pk=survivor.pk).title == "CTO"
    assert not Lead.objects.filter(email="ann+webinar@acme.com").exists()

    services.record_activities(
        items=[
            {
                "email": "ann+webinar@acme.com",
                "kind": "page_view",
                "occurred_at": timezone.now(),
                "properties": {},
                "source": "web",
                "external_id": "pv-1",
            }
        ]
    )
    assert Activity.objects.get(external_id="pv-1").lead_id == survivor.pk


def test_merging_into_a_lead_that_absorbed_others_keeps_their_aliases_and_merges(marketer):
    first, second, third = LeadFactory(), LeadFactory(), LeadFactory()
    services.lead_merge(survivor=second, duplicate=third, by=marketer)
    services.lead_merge(survivor=first, duplicate=second, by=marketer)
    assert set(LeadAlias.objects.values_list("lead_id", flat=True)) == {first.pk}
    assert LeadAlias.objects.count() == 2
    assert LeadMerge.objects.filter(survivor=first).count() == 2


def test_a_csv_import_of_the_merged_email_updates_the_survivor(marketer, settings, tmp_path, django_capture_on_commit_callbacks):
    from leadhub import imports

    settings.LEADHUB_IMPORT_DIR = str(tmp_path)
    survivor = LeadFactory(email="ann@acme.com", title="")
    duplicate = LeadFactory(email="ann+webinar@acme.com")
    services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)
    path = tmp_path / "fair.csv"
    path.write_text("email,title\nann+webinar@acme.com,Head of IT\nann@acme.com,\nbob@acme.com,CFO\n")

    with django_capture_on_commit_callbacks(execute=True):
        _header, _fields, job = imports.import_local_file(path=str(path), channel="event", mapping=())

    assert Lead.objects.get(pk=survivor.pk).title == "Head of IT"
    assert not Lead.objects.filter(email="ann+webinar@acme.com").exists()
    assert Lead.objects.filter(email="bob@acme.com").exists()
    assert (job.created_count, job.rejected_count) == (1, 0)
    # Both lines name the survivor; the second is not written twice in one statement.
    assert ImportRow.objects.filter(job=job, lead=survivor).count() == 2


def test_scoring_rollups_follow_the_activities_and_the_score_is_recomputed(marketer, django_capture_on_commit_callbacks):
    simple_model(status=ModelStatus.PUBLISHED)
    company = CompanyFactory(industry="software")
    survivor = LeadFactory(company=company, title="Engineer")
    duplicate = LeadFactory(company=company)
    ActivityFactory(lead=duplicate, kind="demo_request")
    from qualification.bulk import rebuild_rollups

    rebuild_rollups()
    assert ActivityRollup.objects.filter(lead_id=duplicate.pk).exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)

    assert not ActivityRollup.objects.filter(lead_id=duplicate.pk).exists()
    assert ActivityRollup.objects.filter(lead_id=survivor.pk, kind="demo_request").exists()
    survivor.refresh_from_db()
    assert survivor.engagement_score == Decimal("40.0")  # the duplicate's demo request now counts
    assert survivor.score_model_version is not None


def test_the_lead_page_shows_possible_duplicates_and_the_merge_in_its_history(client, marketer, manager):
    survivor = LeadFactory(email="ann@acme.com")
    twin = LeadFactory(email="ann+2@acme.com")
    client.force_login(marketer)
    page = client.get(reverse("leads:detail", args=[survivor.pk])).content.decode()
    assert "Possible duplicate of" in page and f"/leads/{twin.pk}/" in page
    assert "Merge" in page and "admin/leadhub/lead/merge/" in page

    client.force_login(manager)
    page = client.get(reverse("leads:detail", args=[survivor.pk])).content.decode()
    assert "Possible duplicate of" in page and "admin/leadhub/lead/merge/" not in page

    services.lead_merge(survivor=survivor, duplicate=twin, by=marketer)
    page = client.get(reverse("leads:detail", args=[survivor.pk])).content.decode()
    assert "Merged ann+2@acme.com into this lead" in page
    assert "Possible duplicate of" not in page


def test_api_reports_possible_duplicate_ids_for_a_new_lead(integration_user):
    twin = LeadFactory(email="ann@acme.com")
    api = token_client(integration_user)
    response = api.post("/api/leads/", {"email": "ann+ads@acme.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["possible_duplicate_ids"] == [twin.pk]
    response = api.post("/api/leads/", {"email": "ann+ads@acme.com", "title": "CTO"}, format="json")
    assert response.status_code == 200 and response.json()["possible_duplicate_ids"] == []


# --- admin ---------------------------------------------------------------------------------

MERGE_URL = "/admin/leadhub/lead/merge/"


def test_admin_confirmation_shows_both_leads_and_merge_happens_on_post(client, marketer):
    older = LeadFactory(email="ann@acme.com", created_at=timezone.now() - timedelta(days=2))
    newer = LeadFactory(email="ann+2@acme.com")
    ActivityFactory.create_batch(2, lead=newer)
    client.force_login(marketer)

    page = client.get(MERGE_URL, {"survivor": older.pk, "duplicate": newer.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "ann@acme.com" in html and "ann+2@acme.com" in html and "Swap" in html

    response = client.post(MERGE_URL, {"survivor": older.pk, "duplicate": newer.pk})
    assert response.status_code == 302
    assert not Lead.objects.filter(pk=newer.pk).exists()
    assert Activity.objects.filter(lead=older).count() == 2


def test_admin_action_with_two_leads_opens_the_confirmation_with_the_default_survivor(client, marketer):
    older = LeadFactory(created_at=timezone.now() - timedelta(days=2))
    mql = make_mql()
    client.force_login(marketer)
    response = client.post("/admin/leadhub/lead/", {"action": "merge_duplicates", "_selected_action": [older.pk, mql.pk]})
    assert response.status_code == 302
    assert response["Location"] == f"{MERGE_URL}?survivor={mql.pk}&duplicate={older.pk}"


def test_admin_action_needs_exactly_two_leads(client, marketer):
    leads = LeadFactory.create_batch(3)
    client.force_login(marketer)
    response = client.post(
        "/admin/leadhub/lead/", {"action": "merge_duplicates", "_selected_action": [lead.pk for lead in leads]}, follow=True
    )
    assert "Select exactly two leads to merge" in response.content.decode()
    assert Lead.objects.count() == 3


def test_admin_refusal_is_shown_on_the_confirmation_page(client, marketer):
    new = LeadFactory()
    mql = make_mql()
    client.force_login(marketer)
    response = client.post(MERGE_URL, {"survivor": new.pk, "duplicate": mql.pk})
    assert response.status_code == 200
    assert "further along the funnel" in response.content.decode()
    assert Lead.objects.filter(pk=mql.pk).exists()


def test_staff_without_the_merge_permission_gets_403(client, sdr):
    sdr.is_staff = True
    sdr.save()
    survivor, duplicate = LeadFactory(), LeadFactory()
    client.force_login(sdr)
    assert client.get(MERGE_URL, {"survivor": survivor.pk, "duplicate": duplicate.pk}).status_code == 403
    assert client.post(MERGE_URL, {"survivor": survivor.pk, "duplicate": duplicate.pk}).status_code == 403
    assert Lead.objects.filter(pk=duplicate.pk).exists()


# --- concurrency (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_merges_of_the_same_duplicate_at_once_exactly_one_wins(marketer, attempt):
    first, second = LeadFactory(), LeadFactory()
    duplicate = LeadFactory()
    ActivityFactory.create_batch(3, lead=duplicate)

    results = race(
        lambda: services.lead_merge(survivor=Lead(pk=first.pk), duplicate=Lead(pk=duplicate.pk), by=marketer),
        lambda: services.lead_merge(survivor=Lead(pk=second.pk), duplicate=Lead(pk=duplicate.pk), by=marketer),
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict), results
    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    assert LeadMerge.objects.count() == 1
    winner = LeadMerge.objects.get().survivor_id
    assert Activity.objects.filter(lead_id=winner).count() == 3
