from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff import services
from handoff.business_hours import BusinessCalendar
from handoff.choices import EventKind, HandoffStatus
from handoff.models import Handoff, HandoffEvent, Qualification, SLAPolicy
from leadhub.choices import Stage
from leadhub.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from leadhub.lifecycle import transition
from leadhub.models import Outcome, StageChange
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, SDRProfileFactory, make_mql, reason

pytestmark = pytest.mark.django_db

NINE_TO_SIX = BusinessCalendar(opens=time(9), closes=time(18))


def business_add(start, hours):
    return NINE_TO_SIX.add(start, timedelta(hours=hours))


FULL_CHECKLIST = dict(
    buying_cycle=True,
    influencer=True,
    timeframe_known=True,
    opportunity_amount="25000",
    permission_to_follow_up=True,
    budget_note="Approved for Q1",
)


def open_handoff(lead):
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)


def accepted_sal(sdr):
    lead = make_mql()
    handoff = open_handoff(lead)
    Handoff.objects.filter(pk=handoff.pk).update(owner=sdr)  # whoever round-robin picked, make it this SDR's
    services.handoff_accept(handoff=handoff, by=sdr)
    lead.refresh_from_db()
    return lead


# --- routing ---------------------------------------------------------------------------


def test_becoming_mql_opens_a_handoff_assigned_round_robin(sdr, other_sdr, routing):
    first, second, third = make_mql(), make_mql(), make_mql()
    owners = [open_handoff(lead).owner for lead in (first, second, third)]
    assert owners == [sdr, other_sdr, sdr]
    handoff = open_handoff(first)
    assert handoff.assigned_at is not None
    assert handoff.due_at == business_add(handoff.assigned_at, 4)  # the seeded "Standard" policy, Mon–Fri 9–18 UTC
    assert handoff.channel == first.source and handoff.campaign == first.campaign
    kinds = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id").values_list("kind", flat=True))
    assert kinds == [EventKind.CREATED, EventKind.ASSIGNED]


def test_routing_skips_unavailable_out_of_office_and_full_sdrs(sdr, other_sdr, third_sdr):
    SDRProfileFactory(user=sdr, available=False)
    SDRProfileFactory(user=other_sdr, out_of_office_until=timezone.now() + timedelta(days=2))
    SDRProfileFactory(user=third_sdr, capacity=1)
    assert open_handoff(make_mql()).owner == third_sdr
    # third_sdr is now at capacity: the next one waits in the pool.
    pooled = open_handoff(make_mql())
    assert pooled.owner is None and pooled.due_at is None
    assert HandoffEvent.objects.filter(handoff=pooled, kind=EventKind.POOLED).exists()


def test_an_sdr_back_from_out_of_office_gets_work_again(sdr):
    SDRProfileFactory(user=sdr, out_of_office_until=timezone.now() - timedelta(minutes=1))
    assert open_handoff(make_mql()).owner == sdr


def test_no_sdr_profiles_means_the_pool(sdr):
    assert open_handoff(make_mql()).owner is None


def test_channel_policy_sets_a_faster_due_time(sdr, routing):
    SLAPolicy.objects.create(name="Referrals", channel="referral", response_hours=1)
    handoff = open_handoff(make_mql(source="referral"))
    assert handoff.due_at == business_add(handoff.assigned_at, 1)
    other = open_handoff(make_mql(source="paid"))
    assert other.due_at == business_add(other.assigned_at, 4)


def test_database_allows_only_one_open_handoff_per_lead(sdr):
    lead = make_mql()
    with pytest.raises(IntegrityError), transaction.atomic():
        Handoff.objects.create(lead=lead, channel=lead.source)
    # Closed ones do not count.
    Handoff.objects.create(lead=lead, channel=lead.source, status=HandoffStatus.CLOSED)


def test_a_stale_open_handoff_is_closed_when_the_lead_becomes_mql_again(sdr, routing):
    lead = make_mql()
    stale = open_handoff(lead)
    # The lead left MQL without a decision (e.g. scoring demoted it), then came back.
    transition(lead, Stage.NURTURE)
    transition(lead, Stage.MQL)
    stale.refresh_from_db()
    assert stale.status == HandoffStatus.CLOSED
    assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() == 1


# --- claim and reassign ----------------------------------------------------------------


def test_sdr_claims_a_pool_handoff_and_the_clock_starts(sdr):
    handoff = open_handoff(make_mql())
    claimed = services.handoff_claim(handoff=handoff, by=sdr)
    handoff.refresh_from_db()
    assert handoff.owner == sdr and claimed.owner == sdr
    assert handoff.due_at == business_add(handoff.assigned_at, 4)
    assert HandoffEvent.objects.filter(handoff=handoff, kind=EventKind.CLAIMED, by=sdr).exists()


def test_claiming_someone_elses_handoff_is_a_conflict(sdr, other_sdr):
    handoff = open_handoff(make_mql())
    services.handoff_claim(handoff=handoff, by=sdr)
    with pytest.raises(Conflict, match="already has this lead"):
        services.handoff_claim(handoff=handoff, by=other_sdr)
    handoff.refresh_from_db()
    assert handoff.owner == sdr
    assert HandoffEvent.objects.filter(kind=EventKind.CLAIMED).count() == 1


def test_marketer_cannot_claim(marketer):
    handoff = open_handoff(make_mql())
    with pytest.raises(NotAllowed):
        services.handoff_claim(handoff=handoff, by=marketer)
    assert Handoff.objects.get(pk=handoff.pk).owner is None


def test_manager_reassigns_and_the_event_says_from_whom_to_whom(sdr, other_sdr, manager, routing):
    handoff = open_handoff(make_mql())
    assert handoff.owner == sdr
    services.handoff_reassign(handoff=handoff, by=manager, to_user=other_sdr, note="Sam is at the summit")
    handoff.refresh_from_db()
    assert handoff.owner == other_sdr
    event = HandoffEvent.objects.get(kind=EventKind.REASSIGNED)
    assert (event.by, event.from_owner, event.to_owner, event.note) == (manager, sdr, other_sdr, "Sam is at the summit")
    services.handoff_reassign(handoff=handoff, by=manager, to_user=None)
    handoff.refresh_from_db()
    assert handoff.owner is None and handoff.due_at is None


def test_sdr_cannot_reassign(sdr, other_sdr, routing):
    handoff = open_handoff(make_mql())
    with pytest.raises(NotAllowed):
        services.handoff_reassign(handoff=handoff, by=sdr, to_user=other_sdr)
    assert Handoff.objects.get(pk=handoff.pk).owner == sdr


def test_reassigning_to_someone_outside_the_queue_is_refused(manager, marketer, sdr, routing):
    handoff = open_handoff(make_mql())
    with pytest.raises(ValidationFailed) as exc:
        services.handoff_reassign(handoff=handoff, by=manager, to_user=marketer)
    assert "owner" in exc.value.field_errors
    assert not HandoffEvent.objects.filter(kind=EventKind.REASSIGNED).exists()


# --- accept ------------------------------------------------------------------------------


def test_accept_makes_the_lead_a_sal_owned_by_the_sdr(sdr, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    services.handoff_accept(handoff=handoff, by=sdr, note="Strong fit")
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert lead.stage == Stage.SAL and lead.owner == sdr
    assert handoff.status == HandoffStatus.ACCEPTED and handoff.decided_by == sdr
    assert handoff.first_decision_at >= handoff.assigned_at
    change = StageChange.objects.filter(lead=lead).first()
    assert (change.from_stage, change.to_stage, change.by, change.note) == (Stage.MQL, Stage.SAL, sdr, "Strong fit")
    assert Qualification.objects.filter(handoff=handoff, lead=lead).exists()


def test_sdr_accepts_from_the_pool_and_becomes_the_owner(sdr):
    lead = make_mql()
    services.handoff_accept(handoff=open_handoff(lead), by=sdr)
    handoff = Handoff.objects.get(lead=lead)
    assert handoff.owner == sdr and handoff.assigned_at is not None
    lead.refresh_from_db()
    assert lead.owner == sdr


def test_other_sdr_cannot_decide_on_my_handoff(sdr, other_sdr, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    assert handoff.owner == sdr
    with pytest.raises(NotAllowed, match="assigned to"):
        services.handoff_accept(handoff=handoff, by=other_sdr)
    with pytest.raises(NotAllowed):
        services.handoff_reject(handoff=handoff, by=other_sdr, reason=reason("No budget"))
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


def test_marketer_cannot_decide(marketer, sdr, routing):
    handoff = open_handoff(make_mql())
    with pytest.raises(NotAllowed, match="view the queue"):
        services.handoff_accept(handoff=handoff, by=marketer)


def test_manager_may_decide_on_anyones_handoff(manager, sdr, routing):
    lead = make_mql()
    services.handoff_accept(handoff=open_handoff(lead), by=manager)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL and lead.owner == sdr  # the handoff's SDR keeps the lead


def test_second_decision_is_a_conflict_naming_the_first(sdr, manager, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    services.handoff_accept(handoff=handoff, by=sdr)
    with pytest.raises(Conflict, match="already accepted"):
        services.handoff_reject(handoff=handoff, by=manager, reason=reason("No budget"))
    with pytest.raises(Conflict):
        services.handoff_accept(handoff=handoff, by=sdr)
    assert StageChange.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1
    assert not StageChange.objects.filter(lead=lead, to_stage=Stage.NURTURE, from_stage=Stage.MQL).exists()


def test_decision_on_a_closed_handoff_is_a_conflict(sdr, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    # The lead leaves MQL by another path and comes back: its new handoff supersedes (closes) the old one.
    transition(lead, Stage.NURTURE, reason="Back to marketing")
    transition(lead, Stage.MQL, reason="Score 72 ≥ 60")
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.CLOSED
    with pytest.raises(Conflict, match="closed"):
        services.handoff_accept(handoff=handoff, by=sdr)


def test_accept_on_a_lead_that_left_mql_is_a_conflict(sdr, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    transition(lead, Stage.DISQUALIFIED, reason="Spam")
    with pytest.raises(Conflict, match="no longer an MQL"):
        services.handoff_accept(handoff=handoff, by=sdr)
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


# --- reject ------------------------------------------------------------------------------


def test_rejected_lead_returns_to_nurture_with_cooldown_and_recycle_count(sdr, routing):
    lead = make_mql()
    handoff = open_handoff(lead)
    services.handoff_reject(handoff=handoff, by=sdr, reason=reason("No budget"), note="Budget frozen until Q3")
    lead.refresh_from_db()
    handoff.refresh_from_db()
    assert lead.stage == Stage.NURTURE and lead.recycle_count == 1
    assert lead.nurture_until - handoff.first_decision_at == timedelta(days=90)
    assert handoff.status == HandoffStatus.REJECTED and handoff.rejection_reason.label == "No budget"
    change = StageChange.objects.filter(lead=lead).first()
    assert (change.to_stage, change.reason, change.note, change.by) == (Stage.NURTURE, "No budget", "Budget frozen until Q3", sdr)


def test_rejected_student_is_disqualified_without_cooldown(sdr, routing):
    lead = make_mql()
    services.handoff_reject(handoff=open_handoff(lead), by=sdr, reason=reason("Student"))
    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED and lead.nurture_until is None and lead.recycle_count == 0
    assert StageChange.objects.filter(lead=lead).first().reason == "Student"


def test_reject_by_reason_id_works_like_the_form_posts_it(sdr, routing):
    lead = make_mql()
    services.handoff_reject(handoff=open_handoff(lead), by=sdr, reason=str(reason("Bad timing").pk))
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE


@pytest.mark.parametrize("bad", [None, "", "999999", "abc"])
def test_reject_without_a_valid_reason_writes_nothing(sdr, routing, bad):
    lead = make_mql()
    handoff = open_handoff(lead)
    before = StageChange.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        services.handoff_reject(handoff=handoff, by=sdr, reason=bad)
    assert "reason" in exc.value.field_errors
    assert StageChange.objects.count() == before
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


def test_reject_with_an_inactive_reason_writes_nothing(sdr, routing):
    retired = reason("Bad timing")
    retired.active = False
    retired.save()
    lead = make_mql()
    with pytest.raises(ValidationFailed, match="no longer in use"):
        services.handoff_reject(handoff=open_handoff(lead), by=sdr, reason=retired)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


# --- SAL work ----------------------------------------------------------------------------


def test_qualify_moves_a_sal_to_sql_with_the_checklist(sdr, routing):
    lead = accepted_sal(sdr)
    qualification = services.lead_qualify(lead=lead, by=sdr, **FULL_CHECKLIST)
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert qualification.opportunity_amount == Decimal("25000.00") and qualification.qualified_by == sdr
    assert qualification.budget_note == "Approved for Q1"
    change = StageChange.objects.filter(lead=lead).first()
    assert change.to_stage == Stage.SQL and change.reason.startswith("Qualified")
    assert HandoffEvent.objects.filter(lead=lead, kind=EventKind.QUALIFIED).exists()


def test_qualify_with_missing_items_lists_them_and_writes_nothing(sdr, routing):
    lead = accepted_sal(sdr)
    with pytest.raises(ValidationFailed) as exc:
        services.lead_qualify(lead=lead, by=sdr, buying_cycle=True, influencer=False, opportunity_amount="", budget_note="x")
    assert {"influencer", "timeframe_known", "opportunity_amount", "permission_to_follow_up"} <= set(exc.value.field_errors)
    assert "buying_cycle" not in exc.value.field_errors
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert Qualification.objects.get(lead=lead).budget_note == ""  # rolled back


def test_checklist_can_be_saved_before_qualifying(sdr, routing):
    lead = accepted_sal(sdr)
    services.qualification_save(lead=lead, by=sdr, buying_cycle=True, opportunity_amount="1200.5")
    qualification = Qualification.objects.get(lead=lead)
    assert qualification.buying_cycle and qualification.opportunity_amount == Decimal("1200.50")
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_checklist_refuses_a_negative_or_nonsense_amount(sdr, routing):
    lead = accepted_sal(sdr)
    for bad in ("-5", "lots", "NaN"):
        with pytest.raises(ValidationFailed):
            services.qualification_save(lead=lead, by=sdr, opportunity_amount=bad)


def test_only_the_owner_or_a_manager_works_a_sal(sdr, other_sdr, manager, marketer, routing):
    lead = accepted_sal(sdr)
    with pytest.raises(NotAllowed, match="belongs to"):
        services.lead_qualify(lead=lead, by=other_sdr, **FULL_CHECKLIST)
    with pytest.raises(NotAllowed):
        services.lead_qualify(lead=lead, by=marketer, **FULL_CHECKLIST)
    services.lead_qualify(lead=lead, by=manager, **FULL_CHECKLIST)
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL


def test_qualifying_a_lead_that_is_not_a_sal_is_a_conflict(sdr, routing):
    lead = make_mql()
    with pytest.raises(Conflict, match="Only a SAL"):
        services.lead_qualify(lead=lead, by=sdr, **FULL_CHECKLIST)


def test_outcome_won_and_lost_with_reason(sdr, routing):
    won = accepted_sal(sdr)
    services.lead_qualify(lead=won, by=sdr, **FULL_CHECKLIST)
    services.lead_record_outcome(lead=won, by=sdr, outcome="won")
    won.refresh_from_db()
    assert won.stage == Stage.WON
    assert Qualification.objects.get(lead=won).outcome == "won"

    lost = accepted_sal(sdr)
    services.lead_qualify(lead=lost, by=sdr, **FULL_CHECKLIST)
    with pytest.raises(ValidationFailed, match="why it was lost"):
        services.lead_record_outcome(lead=lost, by=sdr, outcome="lost")
    services.lead_record_outcome(lead=lost, by=sdr, outcome="lost", lost_reason="Chose a competitor")
    lost.refresh_from_db()
    assert lost.stage == Stage.LOST
    assert StageChange.objects.filter(lead=lost).first().reason == "Lost: Chose a competitor"
    # Each close writes the lead's Outcome (the scoring label), recorded by the queue.
    outcomes = {o.lead_id: (o.result, o.origin, o.recorded_by_id) for o in Outcome.objects.all()}
    assert outcomes == {won.pk: ("won", "queue", sdr.pk), lost.pk: ("lost", "queue", sdr.pk)}


def test_an_outcome_that_fails_records_no_outcome_row(sdr, routing):
    lead = accepted_sal(sdr)
    with pytest.raises(Conflict):
        services.lead_record_outcome(lead=lead, by=sdr, outcome="won")
    assert not Outcome.objects.exists()


def test_outcome_needs_an_sql(sdr, routing):
    lead = accepted_sal(sdr)
    with pytest.raises(Conflict):
        services.lead_record_outcome(lead=lead, by=sdr, outcome="won")
    with pytest.raises(ValidationFailed):
        services.lead_record_outcome(lead=lead, by=sdr, outcome="maybe")


def test_recycle_sends_a_sal_back_to_nurture_with_the_reason(sdr, routing):
    lead = accepted_sal(sdr)
    services.lead_recycle(lead=lead, by=sdr, reason=reason("Bad timing"), note="Call back after the merger")
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE and lead.owner is None and lead.recycle_count == 1
    assert lead.nurture_until > timezone.now() + timedelta(days=59)
    change = StageChange.objects.filter(lead=lead).first()
    assert (change.from_stage, change.reason, change.note) == (Stage.SAL, "Bad timing", "Call back after the merger")
    assert HandoffEvent.objects.filter(lead=lead, kind=EventKind.RECYCLED, reason="Bad timing").exists()


def test_recycle_needs_a_reason(sdr, routing):
    lead = accepted_sal(sdr)
    with pytest.raises(ValidationFailed):
        services.lead_recycle(lead=lead, by=sdr, reason=None)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL


def test_recycled_lead_can_come_back_and_is_handed_off_again(sdr, routing):
    lead = accepted_sal(sdr)
    services.lead_recycle(lead=lead, by=sdr, reason=reason("Bad timing"))
    transition(lead, Stage.MQL)
    assert Handoff.objects.filter(lead=lead).count() == 2
    assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() == 1


def test_handoff_factory_rows_are_valid_for_queue_tests(sdr):
    handoff = HandoffFactory(owner=sdr)
    assert handoff.lead.stage == Stage.MQL and handoff.due_at > handoff.assigned_at
    with pytest.raises(InvalidTransition):
        transition(LeadFactory(), Stage.SQL)
