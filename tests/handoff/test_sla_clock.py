"""The SLA clock across claims and reassignments: the first deadline stays, the breach before a
restart still counts (rollups and raw alike), and only SDRs are routing or reassign targets."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff import reports, rollup, selectors, services
from handoff.choices import HandoffStatus
from handoff.forms import ReportFilterForm
from handoff.models import Handoff, RejectionReason
from handoff.sla import calendar_for
from leadhub.errors import ValidationFailed
from tests.handoff.factories import HandoffFactory, SDRProfileFactory, make_mql

pytestmark = pytest.mark.django_db


def open_handoff(lead):
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)


def test_the_first_assignment_sets_the_first_deadline(sdr, routing):
    handoff = open_handoff(make_mql())
    assert handoff.owner == sdr and handoff.first_due_at == handoff.due_at is not None


def test_a_reassignment_restarts_the_clock_and_keeps_the_first_deadline(sdr, other_sdr, manager, routing):
    handoff = open_handoff(make_mql())
    first = handoff.due_at
    later = first + timedelta(hours=2)
    moved = services.handoff_reassign(handoff=handoff, by=manager, to_user=other_sdr, at=later)
    assert moved.due_at == calendar_for(moved.sla_policy).add(later, timedelta(hours=4)) and moved.due_at > first
    assert moved.first_due_at == first
    handoff.refresh_from_db()
    assert (handoff.due_at, handoff.first_due_at) == (moved.due_at, first)
    assert selectors.sla_restart_text(moved).startswith(f"SLA restarted: due {timezone.localtime(moved.due_at):%a %b %-d, %H:%M}")
    # Back to the pool and claimed again: still the first deadline.
    services.handoff_reassign(handoff=handoff, by=manager, to_user=None, at=later + timedelta(minutes=1))
    claimed = services.handoff_claim(handoff=handoff, by=sdr, at=later + timedelta(hours=1))
    handoff.refresh_from_db()
    assert handoff.first_due_at == claimed.first_due_at == first
    assert handoff.due_at == claimed.due_at > first


def test_a_pool_handoff_gets_its_first_deadline_when_first_claimed(sdr):
    handoff = open_handoff(make_mql())
    assert handoff.first_due_at is None
    claimed = services.handoff_claim(handoff=handoff, by=sdr)
    handoff.refresh_from_db()
    assert handoff.first_due_at == handoff.due_at == claimed.due_at == claimed.first_due_at


def test_the_lead_page_shows_the_original_deadline_only_when_it_moved(sdr, other_sdr, manager, routing):
    handoff = open_handoff(make_mql())
    assert selectors.lead_handoff_context(handoff.lead, manager)["hs"]["original_due_at"] is None
    services.handoff_reassign(handoff=handoff, by=manager, to_user=other_sdr, at=handoff.due_at + timedelta(hours=1))
    assert selectors.lead_handoff_context(handoff.lead, manager)["hs"]["original_due_at"] == handoff.due_at


def both_ways(settings, scope):
    """(rollup answer, raw answer) of the SLA tables."""
    settings.HANDOFF_REPORTS_FROM_ROLLUP = False
    raw = reports.sla_tables(scope)
    settings.HANDOFF_REPORTS_FROM_ROLLUP = True
    return reports.sla_tables(scope), raw


def test_a_breach_before_the_reassignment_still_counts_in_the_dashboard(settings, sdr, other_sdr, manager, routing):
    handoff = open_handoff(make_mql(campaign="spring"))
    first = handoff.due_at
    services.handoff_reassign(handoff=handoff, by=manager, to_user=other_sdr, at=first + timedelta(minutes=30))
    services.handoff_accept(handoff=handoff, by=other_sdr, at=first + timedelta(minutes=45))  # well before the new deadline
    handoff.refresh_from_db()
    assert handoff.first_decision_at < handoff.due_at
    for scope in (reports.Scope(), reports.Scope(campaign="spring")):  # rollups, and the raw one-pass path
        (summary, by_sdr, by_week), raw = both_ways(settings, scope)
        assert (summary, by_sdr, by_week) == raw
        assert summary["breached"] == 1 and summary["handoffs"] == 1
        assert {row["owner_id"]: row["breached"] for row in by_sdr} == {other_sdr.pk: 1}
    assert list(Handoff.objects.filter(reports.handoff_q(reached="breached"))) == [handoff]


def test_an_open_handoff_reclaimed_after_its_deadline_counts_as_breached_now(settings, sdr, other_sdr, manager, routing):
    now = timezone.now()
    late = HandoffFactory(
        owner=other_sdr,
        created_at=now - timedelta(days=1),
        assigned_at=now - timedelta(minutes=10),
        due_at=now + timedelta(hours=3),
        first_due_at=now - timedelta(hours=2),
    )
    HandoffFactory(owner=other_sdr, created_at=now - timedelta(days=1), due_at=now + timedelta(hours=3))
    rollup.rebuild()
    (summary, by_sdr, _), raw = both_ways(settings, reports.Scope())
    assert summary == raw[0] and by_sdr == raw[1]
    assert summary["breached"] == 1 and summary["handoffs"] == 2
    assert list(Handoff.objects.filter(reports.handoff_q(reached="breached"))) == [late]


def test_the_rollups_follow_a_claim_after_the_deadline(settings, sdr, other_sdr, manager, routing):
    handoff = open_handoff(make_mql())
    first = handoff.due_at
    services.handoff_reassign(handoff=handoff, by=manager, to_user=None, at=first + timedelta(minutes=5))
    services.handoff_claim(handoff=handoff, by=other_sdr, at=first + timedelta(minutes=20))
    reason = str(RejectionReason.objects.get(label="No budget").pk)  # as the form posts it (ids differ after a flush)
    services.handoff_reject(handoff=handoff, by=other_sdr, reason=reason, at=first + timedelta(minutes=40))
    (summary, *_), raw = both_ways(settings, reports.Scope())
    assert summary == raw[0] and summary["breached"] == 1
    before = rollup.models()[0].objects.filter(n__gt=0).values_list("late", flat=True)
    rollup.rebuild()
    assert list(rollup.models()[0].objects.filter(n__gt=0).values_list("late", flat=True)) == list(before) == [1]


# --- who takes handoffs ------------------------------------------------------------------------


def test_a_manager_without_an_sdr_profile_is_never_routed_work(manager):
    for _ in range(3):
        assert open_handoff(make_mql()).owner is None  # the pool, not the manager
    SDRProfileFactory(user=manager)
    assert open_handoff(make_mql()).owner == manager  # with a profile, a manager takes leads too


def test_a_manager_without_an_sdr_profile_is_no_reassign_target(client, sdr, manager, routing):
    from django.contrib.auth import get_user_model

    other_manager = get_user_model().objects.create(username="manager-two")
    other_manager.groups.add(*manager.groups.all())
    handoff = open_handoff(make_mql())
    with pytest.raises(ValidationFailed):
        services.handoff_reassign(handoff=handoff, by=manager, to_user=other_manager)
    from handoff.filters import queue_workers

    assert set(queue_workers()) == {p.user for p in routing}
    client.force_login(manager)
    response = client.post(f"/queue/{handoff.pk}/reassign/", {"owner": other_manager.pk}, HTTP_HX_REQUEST="true")
    assert "Choose someone" in response.content.decode()
    handoff.refresh_from_db()
    assert handoff.owner == sdr


def test_the_dashboards_sdr_filter_lists_only_people_with_sdr_profiles(sdr, other_sdr, manager, routing):
    choices = [label for value, label in ReportFilterForm().fields["owner"].choices if value]
    names = {u.get_full_name() or u.username for u in (sdr, other_sdr)}
    assert set(choices) == names
    assert (manager.get_full_name() or manager.username) not in choices


def test_the_migration_backfills_the_first_deadline_from_the_earliest_clock(sdr):
    import importlib

    from django.apps import apps as django_apps

    from handoff.models import Escalation, EscalationTier

    now = timezone.now()
    plain = HandoffFactory(owner=sdr, due_at=now + timedelta(hours=1), first_due_at=None)
    moved = HandoffFactory(owner=sdr, due_at=now + timedelta(hours=3), first_due_at=None)
    Escalation.objects.create(
        handoff=moved, tier=EscalationTier.objects.first(), due_at=now - timedelta(hours=2), action="return_to_pool"
    )
    pool = HandoffFactory(owner=None, first_due_at=None)
    migration = importlib.import_module("handoff.migrations.0012_first_due_at_and_sdr_profile_history")
    migration.backfill_first_due_at(django_apps, None)
    for handoff in (plain, moved, pool):
        handoff.refresh_from_db()
    assert plain.first_due_at == plain.due_at
    assert moved.first_due_at == now - timedelta(hours=2)
    assert pool.first_due_at is None


def test_the_lead_pages_handoff_box_names_the_first_deadline_and_what_restarted_the_clock(
    client, sdr, other_sdr, manager, routing
):
    from django.contrib.auth import get_user_model

    from leadhub.formatting import moment

    get_user_model().objects.filter(pk=other_sdr.pk).update(first_name="Olga", last_name="Other")
    handoff = open_handoff(make_mql())
    first = handoff.due_at
    client.force_login(manager)
    assert b"First due" not in client.get(f"/leads/{handoff.lead_id}/").content
    services.handoff_reassign(handoff=handoff, by=manager, to_user=other_sdr, at=first + timedelta(hours=1))
    html = client.get(f"/leads/{handoff.lead_id}/").content.decode()
    assert f"First due {moment(first)} · restarted when reassigned" in html
    assert "With <strong>Olga Other</strong> since" in html and "→ Olga Other" in html  # people by full name
    assert moment(open_handoff(handoff.lead).due_at) in html  # the new deadline, zone named

    services.handoff_reassign(handoff=handoff, by=manager, to_user=None, at=first + timedelta(hours=2))
    services.handoff_claim(handoff=handoff, by=sdr, at=first + timedelta(hours=3))
    assert f"First due {moment(first)} · restarted when claimed" in client.get(f"/leads/{handoff.lead_id}/").content.decode()


def test_the_lead_pages_handoff_box_shows_the_opportunity_as_money(client, sdr, routing):
    lead = make_mql()
    services.handoff_accept(handoff=open_handoff(lead), by=sdr)
    lead.refresh_from_db()
    services.lead_qualify(
        lead=lead,
        by=sdr,
        buying_cycle=True,
        influencer=True,
        timeframe_known=True,
        permission_to_follow_up=True,
        opportunity_amount="42000",
    )
    client.force_login(sdr)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "opportunity $42,000." in html and "$42000" not in html
