"""The SLA clock in business time per policy, validation of policies, and the escalation ladder."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command

from handoff import services, sla, sla_clock
from handoff.choices import EventKind, HandoffStatus
from handoff.models import Escalation, EscalationTier, Handoff, HandoffEvent, Notification, SLAPolicy
from tests.concurrency import race
from tests.handoff.factories import HandoffFactory, SDRProfileFactory, make_mql

pytestmark = pytest.mark.django_db

FRIDAY_1730 = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)


def policy(**fields):
    values = dict(
        name="Test",
        channel="",
        response_hours=4,
        workdays=[0, 1, 2, 3, 4],
        opens_at=time(9),
        closes_at=time(18),
        time_zone="UTC",
        holidays="",
    )
    values.update(fields)
    return SLAPolicy(**values)


def test_friday_evening_assignment_is_due_monday_midday():
    assert sla_clock.due_at_for(policy(), FRIDAY_1730) == datetime(2026, 3, 9, 12, 30, tzinfo=UTC)


def test_a_holiday_monday_moves_the_deadline_to_tuesday():
    assert sla_clock.due_at_for(policy(holidays="2026-03-09"), FRIDAY_1730) == datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def test_deadline_in_the_policy_time_zone_across_a_dst_change():
    # Berlin: Friday 2026-03-27 16:30 CET (15:30 UTC): 1.5 h left that day; clocks go forward on
    # Sunday; Monday 9:00 CEST + 2.5 h = 11:30 CEST = 09:30 UTC.
    berlin = policy(time_zone="Europe/Berlin")
    assert sla_clock.due_at_for(berlin, datetime(2026, 3, 27, 15, 30, tzinfo=UTC)) == datetime(2026, 3, 30, 9, 30, tzinfo=UTC)


def test_channel_policies_are_faster_or_slower_than_the_default(db):
    SLAPolicy.objects.create(name="Demo and contact requests", channel="inbound_form", response_hours=1)
    SLAPolicy.objects.create(name="Content leads", channel="interaction", response_hours=8)
    assert services.due_at_for(services.sla_policy_for("inbound_form"), FRIDAY_1730) == datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    # 8 business hours from Friday 17:30: 0.5 h Friday, 7.5 h Monday → 16:30 Monday.
    assert services.due_at_for(services.sla_policy_for("interaction"), FRIDAY_1730) == datetime(2026, 3, 9, 16, 30, tzinfo=UTC)
    assert services.due_at_for(services.sla_policy_for("paid"), FRIDAY_1730) == datetime(2026, 3, 9, 12, 30, tzinfo=UTC)


def test_the_decision_stops_the_clock_in_business_minutes(sdr):
    SDRProfileFactory(user=sdr)
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead)
    Handoff.objects.filter(pk=handoff.pk).update(assigned_at=FRIDAY_1730, due_at=sla_clock.due_at_for(None, FRIDAY_1730))
    decided = services.handoff_accept(handoff=handoff, by=sdr, at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    # 30 minutes on Friday and 60 on Monday morning; the weekend does not count.
    assert decided.response_minutes == 90
    assert Handoff.objects.get(pk=handoff.pk).response_minutes == 90


@pytest.mark.parametrize(
    "fields, field, words",
    [
        (dict(workdays=[]), "workdays", "no business hours"),
        (dict(opens_at=time(18), closes_at=time(9)), "closes_at", "no business hours"),
        (dict(time_zone="Mars/Olympus"), "time_zone", "not a time zone"),
        (dict(holidays="next tuesday"), "holidays", "dates like"),
        (dict(workdays=[7]), "workdays", "weekday numbers"),
    ],
)
def test_policy_validation_refuses_a_calendar_without_business_hours(db, fields, field, words):
    with pytest.raises(ValidationError) as error:
        policy(**fields).full_clean()
    assert words in " ".join(error.value.message_dict[field])


def test_policy_validation_refuses_overlapping_channel_policies(db):
    SLAPolicy.objects.create(name="Paid fast lane", channel="paid", response_hours=2)
    with pytest.raises(ValidationError) as error:
        policy(name="Paid again", channel="paid").full_clean()
    assert "“Paid fast lane” already applies to the Paid channel" in error.value.message_dict["channel"][0]
    policy(name="Paid, retired", channel="paid", active=False).full_clean()  # inactive ones do not overlap


def test_admin_refuses_a_policy_with_no_business_days(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/handoff/slapolicy/add/",
        {
            "name": "Weekend only",
            "channel": "event",
            "response_hours": "2",
            "opens_at": "09:00",
            "closes_at": "18:00",
            "time_zone": "UTC",
            "holidays": "",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "a policy with no business hours never comes due" in response.content.decode()
    assert not SLAPolicy.objects.filter(name="Weekend only").exists()


# --- escalation ---------------------------------------------------------------------------


@pytest.fixture
def overdue(sdr, manager):
    manager.email = "boss@example.com"
    manager.save()
    sdr.email = "sdr@example.com"
    sdr.save()
    return HandoffFactory(
        owner=sdr, created_at=FRIDAY_1730 - timedelta(hours=4), assigned_at=FRIDAY_1730 - timedelta(hours=4), due_at=FRIDAY_1730
    )


@pytest.fixture
def check(django_capture_on_commit_callbacks):
    """check_sla with the after-commit mail sent (the test's transaction never commits)."""

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return sla.check_sla(**kwargs)

    return run


def actions(handoff):
    return list(Escalation.objects.filter(handoff=handoff).order_by("tier__delay_minutes").values_list("action", flat=True))


def test_nothing_happens_before_the_deadline(overdue, check):
    result = check(now=FRIDAY_1730 - timedelta(minutes=1))
    assert (result.breached, result.escalations) == (0, 0)
    assert not Escalation.objects.exists() and not mail.outbox


def test_at_the_deadline_the_owner_is_notified_once(overdue, sdr, check):
    result = check(now=FRIDAY_1730 + timedelta(minutes=1))
    assert (result.breached, result.escalations) == (1, 1)
    assert actions(overdue) == ["notify_owner"]
    assert Handoff.objects.get(pk=overdue.pk).breached_at == FRIDAY_1730
    assert [m.to for m in mail.outbox] == [["sdr@example.com"]]
    assert Notification.objects.get(recipient=sdr).handoff_id == overdue.pk
    assert HandoffEvent.objects.filter(handoff=overdue, kind=EventKind.ESCALATED).count() == 1
    again = check(now=FRIDAY_1730 + timedelta(minutes=2))
    assert (again.breached, again.escalations) == (0, 0)
    assert len(mail.outbox) == 1 and Escalation.objects.count() == 1


def test_the_manager_tier_waits_for_business_time(overdue, manager, check):
    check(now=FRIDAY_1730 + timedelta(hours=3))  # Friday night: 30 business minutes after the deadline
    assert actions(overdue) == ["notify_owner"]
    check(now=datetime(2026, 3, 9, 9, 31, tzinfo=UTC))  # Monday 9:31: 61 business minutes
    assert actions(overdue) == ["notify_owner", "notify_manager"]
    assert mail.outbox[-1].to == ["boss@example.com"]
    assert Notification.objects.filter(recipient=manager).count() == 1


def test_the_last_tier_returns_the_handoff_to_the_pool(overdue, sdr, check):
    check(now=datetime(2026, 3, 9, 13, 0, tzinfo=UTC))  # 4.5 business hours late: every tier at once
    assert actions(overdue) == ["notify_owner", "notify_manager", "return_to_pool"]
    handoff = Handoff.objects.get(pk=overdue.pk)
    assert handoff.owner is None and handoff.due_at is None and handoff.status == HandoffStatus.OPEN
    event = HandoffEvent.objects.filter(handoff=overdue, kind=EventKind.ESCALATED).order_by("-id").first()
    assert event.from_owner == sdr and "back to the pool" in event.note


def test_a_reassign_tier_gives_it_to_another_sdr_with_a_new_clock(overdue, sdr, other_sdr, check):
    SDRProfileFactory(user=sdr)
    SDRProfileFactory(user=other_sdr)
    EscalationTier.objects.filter(action="return_to_pool").update(action="reassign")
    now = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    check(now=now)
    handoff = Handoff.objects.get(pk=overdue.pk)
    assert handoff.owner == other_sdr and handoff.assigned_at == now and handoff.due_at == sla_clock.due_at_for(None, now)
    assert Notification.objects.filter(recipient=other_sdr, text__contains="now yours").exists()
    # The new owner's clock has its own steps later; the old ones are not repeated.
    check(now=now + timedelta(minutes=1))
    assert Escalation.objects.filter(handoff=overdue).count() == 3


def test_decided_handoffs_are_not_escalated(overdue, sdr, check):
    Handoff.objects.filter(pk=overdue.pk).update(
        status=HandoffStatus.ACCEPTED, first_decision_at=FRIDAY_1730 + timedelta(hours=1)
    )
    assert check(now=datetime(2026, 3, 10, 9, 0, tzinfo=UTC)).escalations == 0
    assert not Escalation.objects.exists()


def test_check_sla_command_and_task(overdue, capsys):
    from handoff import tasks

    call_command("check_sla")
    assert "1 newly breached, 3 escalation steps taken" in capsys.readouterr().out
    assert Escalation.objects.filter(handoff=overdue).count() == 3  # the real now is long after March 2026
    assert tasks.check_sla.delay().get()["escalations"] == 0


def test_the_escalation_row_is_unique_per_tier_and_clock(overdue):
    from django.db import IntegrityError, transaction

    tier = EscalationTier.objects.first()
    Escalation.objects.create(handoff=overdue, tier=tier, due_at=overdue.due_at, action=tier.action)
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(handoff=overdue, tier=tier, due_at=overdue.due_at, action=tier.action)


def test_queue_shows_my_notices_and_i_can_dismiss_them(client, overdue, sdr, other_sdr, check):
    check(now=FRIDAY_1730 + timedelta(minutes=1))
    client.force_login(sdr)
    page = client.get("/queue/").content.decode()
    assert "is past its SLA deadline" in page
    notice = Notification.objects.get(recipient=sdr)
    client.force_login(other_sdr)
    assert "is past its SLA deadline" not in client.get("/queue/").content.decode()
    client.post(f"/queue/notices/{notice.pk}/dismiss/")  # not theirs: nothing happens
    assert Notification.objects.get(pk=notice.pk).read_at is None
    client.force_login(sdr)
    client.post(f"/queue/notices/{notice.pk}/dismiss/")
    assert Notification.objects.get(pk=notice.pk).read_at is not None
    assert "is past its SLA deadline" not in client.get("/queue/").content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_checks_at_once_take_each_step_once(seeded_transactional_db):
    """Two beat workers: real threads with their own PostgreSQL connections, started together."""
    from leadhub import roles
    from tests.conftest import make_user

    owner = make_user(roles.SDR, username="racer", email="racer@example.com")
    boss = make_user(roles.SALES_MANAGER, username="boss", email="boss@example.com")
    handoffs = [
        HandoffFactory(
            owner=owner,
            created_at=FRIDAY_1730 - timedelta(hours=4),
            assigned_at=FRIDAY_1730 - timedelta(hours=4),
            due_at=FRIDAY_1730,
        )
        for _ in range(5)
    ]
    now = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # owner and manager tiers due, the pool tier not yet
    results = race(lambda: sla.check_sla(now=now), lambda: sla.check_sla(now=now))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors
    assert sum(r.escalations for r in results) == 10  # 5 handoffs × 2 tiers, whoever took them
    assert Escalation.objects.count() == 10
    assert Notification.objects.filter(recipient=owner).count() == 5
    assert Notification.objects.filter(recipient=boss).count() == 5
    assert len([m for m in mail.outbox if m.to == ["boss@example.com"]]) == 5
    assert {h.pk for h in handoffs} == set(Escalation.objects.values_list("handoff_id", flat=True))
