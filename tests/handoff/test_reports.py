"""Report functions on a small data set whose figures are worked out by hand below.

Now is Wednesday 2026-03-11 12:00 UTC; the scope is MQL days March 1–11.

| handoff | SDR | MQL (created = assigned) | due | decision | minutes | status | channel/campaign | score, grade | SQL / won |
| h1 | A | Mon Mar 2 10:00 | 14:00 | 11:00 | 60 | accepted | paid/c1 | 72 B | SQL Mar 4 10:00, won Mar 6 10:00 |
| h2 | A | Tue Mar 3 10:00 | 14:00 | 15:00 (late) | 300 | rejected No budget | paid/c1 | 85 A | |
| h3 | A | Mon Mar 9 10:00 | 14:00 | 12:00 | 120 | accepted | event/c2 | 95 A | SQL Mar 10 10:00 |
| h4 | B | Mon Mar 2 09:00 | 13:00 | 10:00 | 60 | rejected Student | paid/c1 | 68 B | |
| h5 | B | Mon Mar 9 09:00 | 13:00 | 09:30 | 30 | accepted | event/c2 | 75 A | |
| h6 | B | Wed Mar 11 08:00 | 11:00 | — (overdue) | | open | event/c2 | 80 C | |
| h7 | pool | Wed Mar 11 11:00 | — | — | | open | paid/c1 | 100 – | |
Outside the dates: h8 (Feb 1, accepted), h9 (open, due 12:30 today: due soon), h10 (open, due tomorrow).
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from handoff import reports, rollup
from handoff.choices import HandoffStatus
from handoff.models import Handoff, HandoffEvent, HandoffRule, Qualification
from leadhub.choices import Stage
from tests.factories import LeadFactory
from tests.handoff.factories import HandoffFactory, reason

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


def at(day, hour, minute=0, month=3):
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def data(sdr, other_sdr):
    def make(
        owner,
        created,
        due=None,
        decided=None,
        minutes=None,
        status=HandoffStatus.OPEN,
        channel="paid",
        campaign="c1",
        score=70,
        grade="",
        why=None,
    ):
        lead = LeadFactory(source=channel, campaign=campaign, stage=Stage.MQL)
        return HandoffFactory(
            lead=lead,
            owner=owner,
            created_at=created,
            assigned_at=created if owner else None,
            due_at=due,
            first_decision_at=decided,
            response_minutes=minutes,
            status=status,
            channel=channel,
            campaign=campaign,
            score_at_handoff=Decimal(score),
            grade_at_handoff=grade,
            decided_by=owner if decided else None,
            rejection_reason=reason(why) if why else None,
            closed_at=decided,
        )

    h = {}
    h[1] = make(sdr, at(2, 10), at(2, 14), at(2, 11), 60, HandoffStatus.ACCEPTED, score=72, grade="B")
    h[2] = make(sdr, at(3, 10), at(3, 14), at(3, 15), 300, HandoffStatus.REJECTED, score=85, grade="A", why="No budget")
    h[3] = make(
        sdr, at(9, 10), at(9, 14), at(9, 12), 120, HandoffStatus.ACCEPTED, channel="event", campaign="c2", score=95, grade="A"
    )
    h[4] = make(other_sdr, at(2, 9), at(2, 13), at(2, 10), 60, HandoffStatus.REJECTED, score=68, grade="B", why="Student")
    h[5] = make(
        other_sdr,
        at(9, 9),
        at(9, 13),
        at(9, 9, 30),
        30,
        HandoffStatus.ACCEPTED,
        channel="event",
        campaign="c2",
        score=75,
        grade="A",
    )
    h[6] = make(other_sdr, at(11, 8), at(11, 11), channel="event", campaign="c2", score=80, grade="C")
    h[7] = make(None, at(11, 11), score=100)
    h[8] = make(sdr, at(1, 10, month=2), at(1, 14, month=2), at(1, 11, month=2), 60, HandoffStatus.ACCEPTED)
    h[9] = make(sdr, at(20, 10, month=2), at(11, 12, 30))
    h[10] = make(other_sdr, at(21, 10, month=2), at(12, 10))
    Qualification.objects.create(handoff=h[1], lead=h[1].lead, qualified_at=at(4, 10), outcome="won", outcome_at=at(6, 10))
    Qualification.objects.create(handoff=h[3], lead=h[3].lead, qualified_at=at(10, 10))
    # The services copy the milestones onto the handoff (lead_qualify, lead_record_outcome).
    Handoff.objects.filter(pk=h[1].pk).update(sql_at=at(4, 10), won_at=at(6, 10))
    Handoff.objects.filter(pk=h[3].pk).update(sql_at=at(10, 10))
    Qualification.objects.create(handoff=h[5], lead=h[5].lead)  # accepted, not qualified
    for number, kind, rule_id, label, points in [
        (1, "fit", 1, "Target industry", 15),
        (1, "engagement", 2, "Demo request", 40),
        (2, "fit", 1, "Target industry", 15),
        (4, "fit", 1, "Target industry", 15),
        (4, "engagement", 3, "Content download", 8),
        (3, "engagement", 2, "Demo request", 40),
    ]:
        HandoffRule.objects.create(handoff=h[number], kind=kind, rule_id=rule_id, label=label, points=points)
    rollup.rebuild()  # rows written directly, as the bench does
    return h


@pytest.fixture
def scope():
    return reports.Scope(date_from=date(2026, 3, 1), date_to=date(2026, 3, 11), now=NOW)


def pick(row, *keys):
    return {k: row[k] for k in keys}


SLA_KEYS = ("handoffs", "decided", "median_minutes", "p90_minutes", "breached", "breach_rate")


def test_percentile_interpolates_like_percentile_cont():
    assert reports.percentile([60, 120, 300], 0.5) == 120
    assert reports.percentile([60, 120, 300], 0.9) == pytest.approx(264)  # k = 1.8: 120 + 0.8 × 180
    assert reports.percentile([30, 60], 0.9) == pytest.approx(57)
    assert reports.percentile([], 0.5) is None


def test_response_by_sdr_median_p90_and_breaches(data, scope, sdr, other_sdr):
    rows = {r["owner_id"]: r for r in reports.response_by_sdr(scope)}
    # A: h1, h2, h3 decided in 60, 300, 120 min; h2 decided after its deadline.
    assert pick(rows[sdr.pk], *SLA_KEYS) == dict(
        handoffs=3, decided=3, median_minutes=120, p90_minutes=264, breached=1, breach_rate=33.3
    )
    # B: h4, h5 decided in 60, 30 min; h6 is open past its deadline (a breach); h7 is in the pool (no SDR).
    assert pick(rows[other_sdr.pk], *SLA_KEYS) == dict(
        handoffs=3, decided=2, median_minutes=45, p90_minutes=57, breached=1, breach_rate=33.3
    )


def test_sla_summary_and_weeks(data, scope):
    # Decisions 30, 60, 60, 120, 300: median 60; p90 at k = 3.6: 120 + 0.6 × 180 = 228.
    assert pick(reports.sla_summary(scope), *SLA_KEYS) == dict(
        handoffs=6, decided=5, median_minutes=60, p90_minutes=228, breached=2, breach_rate=33.3
    )
    weeks = reports.response_by_week(scope)
    assert [w["week"] for w in weeks] == [date(2026, 3, 2), date(2026, 3, 9)]
    # Week of Mar 2: h1, h2, h4 = 60, 300, 60 → median 60, p90 60 + 0.8 × 240 = 252.
    assert pick(weeks[0], *SLA_KEYS) == dict(
        handoffs=3, decided=3, median_minutes=60, p90_minutes=252, breached=1, breach_rate=33.3
    )
    # Week of Mar 9: h3, h5 = 120, 30 → median 75, p90 30 + 0.9 × 90 = 111; h6 overdue.
    assert pick(weeks[1], *SLA_KEYS) == dict(
        handoffs=3, decided=2, median_minutes=75, p90_minutes=111, breached=1, breach_rate=33.3
    )


def test_owner_and_channel_filters_narrow_every_figure(data, scope, sdr):
    from dataclasses import replace

    only_a = reports.sla_summary(replace(scope, owner_id=sdr.pk))
    assert pick(only_a, "handoffs", "decided", "median_minutes", "breached") == dict(
        handoffs=3, decided=3, median_minutes=120, breached=1
    )
    event = reports.funnel(replace(scope, channel="event"))
    assert pick(event, "mql", "sal", "sql", "won") == dict(mql=3, sal=2, sql=1, won=0)


def test_open_by_state_is_the_live_queue(data, scope):
    # Dates do not apply: h6 overdue, h7 pool, h9 due at 12:30 (within the hour), h10 due tomorrow.
    assert {r["state"]: r["count"] for r in reports.open_by_state(scope)} == {
        "on_time": 1,
        "due_soon": 1,
        "overdue": 1,
        "pool": 1,
    }


def test_funnel_counts_rates_and_time_in_stage(data, scope):
    total = reports.funnel(scope)
    # MQL h1–h7; SAL h1, h3, h5; SQL h1, h3; won h1.
    assert pick(total, "mql", "sal", "sql", "won", "sal_rate", "sql_rate", "won_rate", "mql_to_sql") == dict(
        mql=7, sal=3, sql=2, won=1, sal_rate=42.9, sql_rate=66.7, won_rate=50.0, mql_to_sql=28.6
    )
    # MQL→SAL: 60, 120, 30 min → 70 min = 0.05 d; SAL→SQL: 47 h and 22 h → 34.5 h = 1.44 d; SQL→won: 2 d.
    assert pick(total, "mql_to_sal", "sal_to_sql", "sql_to_won") == dict(mql_to_sal=0.05, sal_to_sql=1.44, sql_to_won=2.0)


def test_funnel_by_channel_campaign_and_week(data, scope):
    by_channel = {r["channel"]: pick(r, "mql", "sal", "sql", "won") for r in reports.funnel(scope, by="channel")}
    assert by_channel == {"paid": dict(mql=4, sal=1, sql=1, won=1), "event": dict(mql=3, sal=2, sql=1, won=0)}
    by_campaign = {r["campaign"]: r["mql"] for r in reports.funnel(scope, by="campaign")}
    assert by_campaign == {"c1": 4, "c2": 3}
    weeks = reports.funnel(scope, by="week")
    assert [(w["week"], w["mql"], w["sal"], w["sql"], w["won"]) for w in weeks] == [
        (date(2026, 3, 2), 3, 1, 1, 1),
        (date(2026, 3, 9), 4, 2, 1, 0),
    ]


def test_acceptance_by_channel(data, scope):
    rows = {r["channel"]: pick(r, "mql", "decided", "accepted", "rejected", "rate") for r in reports.acceptance_by_channel(scope)}
    assert rows == {
        "paid": dict(mql=4, decided=3, accepted=1, rejected=2, rate=33.3),
        "event": dict(mql=3, decided=2, accepted=2, rejected=0, rate=100.0),
    }


def test_rejection_reasons_by_channel_and_campaign(data, scope):
    pivot = reports.rejections(scope, by="channel")
    assert pivot["reasons"] == ["No budget", "Student"]
    assert [(r["key"], r["rejected"], [(c["reason"], c["n"], c["share"]) for c in r["cells"]]) for r in pivot["rows"]] == [
        ("paid", 2, [("No budget", 1, 50.0), ("Student", 1, 50.0)])
    ]
    assert [(r["key"], r["rejected"]) for r in reports.rejections(scope, by="campaign")["rows"]] == [("c1", 2)]


def test_rejections_by_rule(data, scope):
    rows = {
        r["rule"]: pick(r, "handoffs", "rejected", "rejection_rate", "sql", "sql_rate", "top_reason")
        for r in reports.rejections_by_rule(scope)
    }
    assert rows == {
        # h1, h2, h4: h2 and h4 rejected (one each: the tie goes to the later label); h1 became an SQL.
        "fit:1": dict(handoffs=3, rejected=2, rejection_rate=66.7, sql=1, sql_rate=33.3, top_reason="Student"),
        "engagement:2": dict(handoffs=2, rejected=0, rejection_rate=0.0, sql=2, sql_rate=100.0, top_reason=""),
        "engagement:3": dict(handoffs=1, rejected=1, rejection_rate=100.0, sql=0, sql_rate=0.0, top_reason="Student"),
    }


def test_conversion_by_score_band_and_grade(data, scope):
    bands = [(b["band"], b["mql"], b["sal"], b["sql"], b["mql_to_sql"]) for b in reports.conversion_by_band(scope)]
    assert bands == [
        ("under 70", 1, 0, 0, 0.0),
        ("70–79", 2, 2, 1, 50.0),
        ("80–89", 2, 0, 0, 0.0),
        ("90–99", 1, 1, 1, 100.0),
        ("100+", 1, 0, 0, 0.0),
    ]
    grades = {g["grade"]: (g["mql"], g["sal"], g["sql"], g["won"]) for g in reports.conversion_by_grade(scope)}
    assert grades == {"A": (3, 2, 1, 0), "B": (2, 1, 1, 1), "C": (1, 0, 0, 0), "–": (1, 0, 0, 0)}


def test_recycled_leads_in_cooldown_with_their_reason(db, scope):
    cooling = LeadFactory(stage=Stage.NURTURE, recycle_count=1, nurture_until=at(1, 0, month=5), source="paid")
    HandoffEvent.objects.create(lead=cooling, kind="rejected", at=at(5, 10), reason="No budget")
    HandoffEvent.objects.create(lead=cooling, kind="created", at=at(6, 10))
    LeadFactory(stage=Stage.NURTURE, recycle_count=1, nurture_until=at(1, 0))  # cooldown over
    LeadFactory(stage=Stage.NURTURE, recycle_count=0, nurture_until=at(1, 0, month=5))  # never recycled
    result = reports.recycled_leads(scope)
    assert result["total"] == 1
    assert [(lead.pk, lead.last_reason) for lead in result["rows"]] == [(cooling.pk, "No budget")]
    assert reports.recycled_leads(reports.Scope(channel="event", now=NOW))["total"] == 0


def test_every_number_links_to_the_same_leads(data, scope, sdr, client, manager):
    """The lead list with a report cell's filters lists exactly the leads behind the number."""
    client.force_login(manager)

    def leads_at(url):
        response = client.get(url)
        assert response.status_code == 200
        return {lead.pk for lead in response.context["page"].rows}

    a = next(r for r in reports.response_by_sdr(scope) if r["owner_id"] == sdr.pk)
    assert leads_at(a["breached_url"]) == {data[2].lead_id}
    assert leads_at(a["url"]) == {data[1].lead_id, data[2].lead_id, data[3].lead_id}
    paid = next(r for r in reports.funnel(scope, by="channel") if r["channel"] == "paid")
    assert leads_at(paid["urls"]["mql"]) == {data[n].lead_id for n in (1, 2, 4, 7)}
    assert leads_at(paid["urls"]["won"]) == {data[1].lead_id}
    rule = next(r for r in reports.rejections_by_rule(scope) if r["rule"] == "fit:1")
    assert leads_at(rule["rejected_url"]) == {data[2].lead_id, data[4].lead_id}
    overdue = next(r for r in reports.open_by_state(reports.Scope(now=NOW)) if r["state"] == "pool")
    assert leads_at(overdue["url"]) == {data[7].lead_id}


def test_qualifying_and_winning_copy_the_milestones_onto_the_handoff(sdr):
    from handoff import services
    from tests.handoff.factories import SDRProfileFactory, make_mql

    SDRProfileFactory(user=sdr)
    lead = make_mql()
    handoff = services.handoff_accept(handoff=Handoff.objects.get(lead=lead), by=sdr)
    services.lead_qualify(
        lead=lead,
        by=sdr,
        buying_cycle=True,
        influencer=True,
        timeframe_known=True,
        permission_to_follow_up=True,
        opportunity_amount="1000",
    )
    services.lead_record_outcome(lead=lead, by=sdr, outcome="won")
    handoff.refresh_from_db()
    qualification = Qualification.objects.get(handoff=handoff)
    assert (handoff.sql_at, handoff.won_at) == (qualification.qualified_at, qualification.outcome_at)
    assert pick(reports.funnel(reports.Scope()), "mql", "sal", "sql", "won") == dict(mql=1, sal=1, sql=1, won=1)
