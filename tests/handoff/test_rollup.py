"""The dashboards' rollups: reports read from them equal the raw computation, and the services
keep them equal to a rebuild after every kind of change."""

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from handoff import reports, rollup, services
from handoff.choices import HandoffStatus
from handoff.models import (
    EscalationTier,
    Handoff,
    HandoffDailyRollup,
    HandoffResponseRollup,
    HandoffRule,
    HandoffRuleCampaignRollup,
)
from handoff.sla import check_sla
from leadhub.choices import Stage
from leadhub.lifecycle import transition
from leadhub.services import lead_merge
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, make_mql, reason

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)
REASONS = ["No budget", "Student", "No need", "Bad timing"]
FULL_CHECKLIST = dict(
    buying_cycle=True, influencer=True, timeframe_known=True, opportunity_amount="25000", permission_to_follow_up=True
)


def random_handoffs(rng, owners, count=160):
    """Handoffs over 45 days before NOW in every state, with repeated response times (ties are
    where percentiles go wrong) and a few scoring rules each."""
    for _ in range(count):
        created = NOW - timedelta(days=45) + timedelta(seconds=rng.randrange(45 * 86400))
        owner = rng.choice([*owners, None])
        status = rng.choice(
            [HandoffStatus.OPEN, HandoffStatus.ACCEPTED, HandoffStatus.ACCEPTED, HandoffStatus.REJECTED, HandoffStatus.CLOSED]
        )
        decided = status in (HandoffStatus.ACCEPTED, HandoffStatus.REJECTED)
        if decided and owner is None:
            owner = rng.choice(owners)
        due = created + timedelta(hours=4) if owner else None
        minutes = rng.choice([5, 30, 30, 60, 61, 120, 240, 241, 300, 1000]) + rng.randrange(3) if decided else None
        first = created + timedelta(minutes=minutes, seconds=rng.randrange(60)) if decided else None
        if status == HandoffStatus.OPEN and owner and rng.random() < 0.5:
            due = NOW - timedelta(minutes=rng.randrange(1, 600))  # overdue now
        sql_at = (
            first + timedelta(hours=rng.randrange(1, 200), seconds=rng.randrange(3600))
            if status == HandoffStatus.ACCEPTED and rng.random() < 0.5
            else None
        )
        won_at = (
            sql_at + timedelta(days=rng.randrange(1, 20), seconds=rng.randrange(3600)) if sql_at and rng.random() < 0.4 else None
        )
        channel = rng.choice(["paid", "event", "inbound_form"])
        lead = LeadFactory(source=channel, stage=Stage.MQL)
        handoff = HandoffFactory(
            lead=lead,
            owner=owner,
            status=status,
            channel=channel,
            campaign=rng.choice(["", "spring", "webinar-7"]),
            score_at_handoff=Decimal(rng.randrange(550, 1250)) / 10,
            grade_at_handoff=rng.choice(["A", "B", "C", ""]),
            created_at=created,
            assigned_at=created if owner else None,
            due_at=due,
            first_decision_at=first,
            response_minutes=minutes,
            decided_by=owner if decided else None,
            closed_at=first,
            rejection_reason=reason(rng.choice(REASONS)) if status == HandoffStatus.REJECTED else None,
            sql_at=sql_at,
            won_at=won_at,
        )
        for kind, rule_id, label, points in rng.sample(
            [
                ("fit", 1, "Target industry", 15),
                ("fit", 2, "Senior title", 10),
                ("engagement", 3, "Demo request", 40),
                ("engagement", 4, "Download", 5),
            ],
            rng.randrange(0, 4),
        ):
            HandoffRule.objects.create(handoff=handoff, kind=kind, rule_id=rule_id, label=label, points=points)


REPORTS = {
    "sla_summary": reports.sla_summary,
    "response_by_sdr": reports.response_by_sdr,
    "response_by_week": reports.response_by_week,
    "funnel": reports.funnel,
    "funnel_channel": lambda s: reports.funnel(s, by="channel"),
    "funnel_campaign": lambda s: reports.funnel(s, by="campaign"),
    "funnel_week": lambda s: reports.funnel(s, by="week"),
    "acceptance_by_channel": reports.acceptance_by_channel,
    "rejections_channel": lambda s: reports.rejections(s, by="channel"),
    "rejections_campaign": lambda s: reports.rejections(s, by="campaign"),
    "rejections_by_rule": reports.rejections_by_rule,
    "conversion_by_band": reports.conversion_by_band,
    "conversion_by_grade": reports.conversion_by_grade,
    # What the dashboard calls: the same tables from one pass over each rollup.
    "sla_tables": lambda s: list(reports.sla_tables(s)),
    "funnel_tables": lambda s: {str(by): rows for by, rows in reports.funnel_tables(s).items()},
}


def normalized(value):
    """Rows in a canonical order: ties in a report's sort may come out in either order."""
    if isinstance(value, list):
        return sorted((normalized(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    return value


def both_ways(settings, scope):
    settings.HANDOFF_REPORTS_FROM_ROLLUP = False
    raw = {name: normalized(build(scope)) for name, build in REPORTS.items()}
    settings.HANDOFF_REPORTS_FROM_ROLLUP = True
    return raw, {name: normalized(build(scope)) for name, build in REPORTS.items()}


@pytest.mark.parametrize("seed, zone", [(1, "UTC"), (2, "UTC"), (3, "America/New_York"), (4, "Asia/Kolkata")])
def test_rollup_reports_equal_the_raw_computation_on_random_data(settings, sdr, other_sdr, seed, zone):
    settings.TIME_ZONE = zone
    rng = random.Random(seed)
    random_handoffs(rng, [sdr, other_sdr])
    rollup.rebuild()
    base = reports.Scope(date_from=date(2026, 3, 4), date_to=date(2026, 3, 31), now=NOW)
    scopes = [
        base,
        replace(base, date_from=date(2026, 2, 10)),  # everything
        replace(base, date_from=date(2026, 3, 9), date_to=date(2026, 3, 17)),
        replace(base, channel="paid"),
        replace(base, owner_id=sdr.pk),
        replace(base, owner_id=other_sdr.pk, channel="event"),
        replace(base, campaign="spring"),  # the SLA tables fall back to the raw queries
        replace(base, campaign="spring", channel="paid"),
        replace(base, date_from=None, date_to=None),
    ]
    for scope in scopes:
        raw, from_rollup = both_ways(settings, scope)
        for name in REPORTS:
            assert from_rollup[name] == raw[name], (name, scope)
        assert raw["sla_tables"] == normalized([raw["sla_summary"], raw["response_by_sdr"], raw["response_by_week"]])
        assert raw["funnel_tables"]["channel"] == raw["funnel_channel"]
    # The data has something in it: breaches live and late, percentiles between distinct values.
    summary = reports.sla_summary(scopes[1])
    assert summary["breached"] > 0 and summary["decided"] > 10 and summary["median_minutes"] is not None
    # And the figures did come from the rollups.
    HandoffDailyRollup.objects.all().delete()
    assert reports.funnel(scopes[1])["mql"] == 0
    spring = replace(scopes[1], campaign="spring")
    assert reports.rejections_by_rule(spring)
    HandoffRuleCampaignRollup.objects.all().delete()
    assert reports.rejections_by_rule(spring) == []


def test_percentile_of_counts_is_percentile_cont():
    rng = random.Random(5)
    for _ in range(200):
        values = sorted(rng.choice([1, 2, 2, 3, 10, 60, 61, 500]) for _ in range(rng.randrange(1, 30)))
        counts = sorted({v: values.count(v) for v in values}.items())
        for fraction in (0, 0.1, 0.5, 0.9, 1):
            assert reports.percentile_of_counts(counts, fraction) == pytest.approx(reports.percentile(values, fraction))
    assert reports.percentile_of_counts([], 0.5) is None


# --- the services keep the rollups current ------------------------------------------------


def snapshot():
    """Every rollup row with something in it, in a comparable form."""
    rows = {}
    for model in rollup.models():
        for row in model.objects.filter(n__gt=0).values():
            row.pop("id")
            for key, value in row.items():
                if isinstance(value, float):
                    row[key] = round(value, 6)
            rows.setdefault(model.__name__, []).append(row)
    return {name: sorted(values, key=repr) for name, values in rows.items()}


def assert_current():
    kept = snapshot()
    rollup.rebuild()
    assert kept == snapshot()


def open_of(lead):
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)


def test_services_keep_the_rollups_equal_to_a_rebuild(sdr, other_sdr, manager, routing):
    a, b, c, d = make_mql(source="paid"), make_mql(source="event"), make_mql(source="paid"), make_mql(source="event")
    assert HandoffDailyRollup.objects.filter(n__gt=0).exists()
    assert_current()  # create + assign

    handoff = open_of(a)
    services.handoff_reassign(handoff=handoff, by=manager, to_user=None)  # to the pool
    assert_current()
    services.handoff_claim(handoff=handoff, by=other_sdr)
    assert_current()
    services.handoff_reassign(handoff=handoff, by=manager, to_user=sdr)
    assert_current()
    services.handoff_accept(handoff=handoff, by=sdr)
    assert_current()

    services.handoff_reject(handoff=open_of(b), by=manager, reason=reason("No budget"))
    assert_current()

    a.refresh_from_db()
    services.lead_qualify(lead=a, by=sdr, **FULL_CHECKLIST)
    assert_current()
    services.lead_record_outcome(lead=a, by=sdr, outcome="won")
    assert_current()

    handoff = open_of(c)
    services.handoff_accept(handoff=handoff, by=manager)
    c.refresh_from_db()
    services.lead_recycle(lead=c, by=manager, reason=reason("Bad timing"))
    assert_current()

    transition(d, Stage.DISQUALIFIED, reason="Competitor")  # closes the open handoff
    assert_current()


def test_merge_and_escalation_keep_the_rollups_current(sdr, other_sdr, manager, marketer, routing):
    survivor, duplicate = make_mql(email="ann@acme.com"), make_mql(email="ann+x@acme.com")
    lead_merge(survivor=survivor, duplicate=duplicate, by=marketer)  # the duplicate's open handoff is closed
    assert_current()

    overdue = open_of(survivor)
    EscalationTier.objects.filter(action="return_to_pool").update(action="reassign")
    check_sla(now=overdue.due_at + timedelta(days=3))
    assert Handoff.objects.get(pk=overdue.pk).owner_id != overdue.owner_id
    assert_current()


def test_a_decision_moves_the_handoff_between_rollup_rows(sdr, routing):
    lead = make_mql(source="paid")
    handoff = open_of(lead)
    day = timezone.localdate(handoff.created_at)
    row = dict(day=day, owner=sdr.pk, channel="paid")
    assert HandoffDailyRollup.objects.get(**row, status="open").n == 1
    services.handoff_reject(handoff=handoff, by=sdr, reason=reason("Student"))
    assert HandoffDailyRollup.objects.get(**row, status="open").n == 0
    rejected = HandoffDailyRollup.objects.get(**row, status="rejected")
    assert (rejected.n, rejected.decided, rejected.reason) == (1, 1, reason("Student").pk)
    assert HandoffResponseRollup.objects.get(day=day, owner=sdr.pk).n == 1


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_kept_statements_read_what_the_orm_reads(settings, sdr, other_sdr, zone):
    """Decisions read their handoffs' contributions through statements compiled once per table,
    id count, database and time zone; they must read exactly what the ORM's statements read
    (keys converted alike: days, weeks, bands), for one handoff and for several."""
    settings.TIME_ZONE = zone
    random_handoffs(random.Random(7), [sdr, other_sdr], count=40)
    ids = list(Handoff.objects.order_by("pk").values_list("pk", flat=True))
    for chosen in ([ids[0]], [ids[3]], ids[5:9], ids[: rollup.COMPILED_MAX_IDS]):
        fast, slow = rollup.contributions(chosen), rollup.contributions(chosen, compiled=False)
        assert fast == slow
        assert any(fast), chosen  # the handoffs contribute something: the comparison means something
    # The kept statement follows a change of time zone: the same handoff lands on another day.
    settings.TIME_ZONE = "Pacific/Kiritimati" if zone != "Pacific/Kiritimati" else "UTC"
    assert rollup.contributions(ids[:4]) == rollup.contributions(ids[:4], compiled=False)
