import io
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F

from handoff.choices import HandoffStatus
from handoff.models import Handoff, SDRProfile
from handoff.selectors import sla_state
from handoff.sla_clock import calendar_for
from leadhub.choices import Stage
from leadhub.models import Lead, Outcome, StageChange
from tests.clock import INSTANTS, is_business_time

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("instant", INSTANTS)
def test_seed_demo_builds_a_believable_consistent_queue_history(settings, instant):
    """Seeded as of each fixed instant (seed_demo --as-of): the history ends there and the live
    queue stands there, in every SLA state the business hours allow at that moment."""
    settings.DEBUG = True
    as_of = INSTANTS[instant]
    started = time.monotonic()
    call_command("seed_demo", leads=1500, no_progress=True, as_of=as_of.isoformat(), stdout=open("/dev/null", "w"))
    # Services read a clock that started at as_of and ran on while seeding.
    latest = as_of + timedelta(seconds=time.monotonic() - started + 1)
    assert StageChange.objects.filter(at__gt=as_of - timedelta(days=1)).exists()  # history up to as_of, not up to today
    now = as_of
    assert SDRProfile.objects.filter(user__username__in=["sdr1", "sdr2", "sdr3"], capacity=40).count() == 3
    decided = Handoff.objects.exclude(status=HandoffStatus.OPEN)
    accepted = decided.filter(status=HandoffStatus.ACCEPTED).count()
    assert 0.55 < accepted / decided.count() < 0.8  # about two thirds accepted
    assert not decided.filter(first_decision_at__lt=F("assigned_at")).exists()
    assert not StageChange.objects.filter(at__gt=latest).exists()
    for handoff in decided.filter(status=HandoffStatus.ACCEPTED)[:30]:
        assert StageChange.objects.get(lead=handoff.lead, to_stage=Stage.SAL).at == handoff.first_decision_at
    states = Counter(sla_state(h, now) for h in Handoff.objects.filter(status=HandoffStatus.OPEN))
    # Only while the business day is open can a deadline fall within the hour ("due soon").
    assert set(states) == {"pool", "on_time", "overdue"} | ({"due_soon"} if is_business_time(as_of) else set())
    assert Lead.objects.filter(stage=Stage.MQL).count() == sum(states.values())
    # Every deadline, first or current, decided or open, falls inside its policy's business hours.
    deadlines = 0
    for handoff in Handoff.objects.filter(due_at__isnull=False).select_related("sla_policy"):
        calendar = calendar_for(handoff.sla_policy)
        for due in {handoff.due_at, handoff.first_due_at}:
            window = calendar.window(due.astimezone(calendar.zone).date())
            assert window is not None and window[0] <= due <= window[1], (handoff.pk, due)
            deadlines += 1
    assert deadlines > 100

    def median_hours(username):
        times = sorted(
            m / 60
            for m in decided.filter(owner__username=username, response_minutes__isnull=False).values_list(
                "response_minutes", flat=True
            )
        )
        return times[len(times) // 2]

    assert median_hours("sdr3") > 1.8 * max(median_hours("sdr1"), median_hours("sdr2"))
    paid_reasons = Counter(decided.filter(channel="paid", status="rejected").values_list("rejection_reason__label", flat=True))
    assert {label for label, _ in paid_reasons.most_common(2)} <= {"Student", "No budget", "Bad contact data"}
    assert Lead.objects.filter(stage=Stage.NURTURE, nurture_until__gt=now, recycle_count__gte=1).exists()
    assert Lead.objects.filter(stage=Stage.SQL).exists() and Lead.objects.filter(stage=Stage.WON).exists()
    # Every won or lost lead has its outcome label, from the queue, dated when it closed.
    closed = Lead.objects.filter(stage__in=[Stage.WON, Stage.LOST])
    labels = dict(Outcome.objects.values_list("lead_id", "result"))
    assert labels == dict(closed.values_list("pk", "stage"))
    assert not Outcome.objects.exclude(origin="queue").exists()


@pytest.mark.parametrize("instant", INSTANTS)
def test_seed_demo_tells_the_dashboard_story(settings, instant):
    """The default demo's dashboards have something to say: a slow SDR, breaches, a channel sales
    rejects; seeded as of each fixed instant and read as of that instant."""
    from handoff import reports

    settings.DEBUG = True
    as_of = INSTANTS[instant]
    call_command("seed_demo", leads=3000, no_progress=True, as_of=as_of.isoformat(), stdout=open("/dev/null", "w"))
    scope = reports.Scope(now=as_of)
    summary = reports.sla_summary(scope)
    assert 7 <= summary["breach_rate"] <= 17
    by_sdr = {r["name"]: r["median_minutes"] for r in reports.response_by_sdr(scope)}
    slowest = max(by_sdr, key=by_sdr.get)
    assert by_sdr[slowest] > 1.6 * max(v for k, v in by_sdr.items() if k != slowest)
    counts = {r["state"]: r["count"] for r in reports.open_by_state(scope)}
    assert all(n > 0 for state, n in counts.items() if state != "due_soon")
    assert (counts["due_soon"] > 0) == is_business_time(as_of)
    bands = [b for b in reports.conversion_by_band(scope) if b["mql"] >= 10]
    assert bands[-1]["mql_to_sql"] > bands[0]["mql_to_sql"] + 10
    acceptance = reports.acceptance_by_channel(scope)
    assert acceptance[0]["channel"] in ("paid", "import")  # the lowest acceptance
    paid = next(r for r in reports.rejections(scope)["rows"] if r["key"] == "paid")
    top_two = sorted(paid["cells"], key=lambda c: -c["n"])[:2]
    assert {c["reason"] for c in top_two} & {"Student", "No budget"}
    assert reports.recycled_leads(scope)["total"] > 0

    # The demo writes its history past the services and recounts the rollups: they match the raw rows.
    settings.HANDOFF_REPORTS_FROM_ROLLUP = False
    raw = (reports.sla_tables(scope), reports.funnel_tables(scope), reports.rejections(scope), reports.conversion_by_band(scope))
    settings.HANDOFF_REPORTS_FROM_ROLLUP = True
    assert (
        reports.sla_tables(scope),
        reports.funnel_tables(scope),
        reports.rejections(scope),
        reports.conversion_by_band(scope),
    ) == raw


def test_a_big_demo_gives_history_to_a_sample_of_its_mqls_and_leaves_the_rest_open(settings, monkeypatch):
    """A million-lead demo scores hundreds of thousands of MQLs; walking each through the
    services would take hours, so only MAX_PROMOTIONS of them, spread over the timeline, get a
    history (here the cap is lowered to 40 of the default demo's ~150 MQLs)."""
    from handoff import demo

    settings.DEBUG = True
    monkeypatch.setattr(demo, "MAX_PROMOTIONS", 40)
    out = io.StringIO()
    call_command("seed_demo", leads=1500, no_progress=True, stdout=out)
    handoffs = Handoff.objects.count()
    assert handoffs > 100  # one per MQL scoring promoted
    decided = Handoff.objects.exclude(status=HandoffStatus.OPEN)
    assert 20 <= decided.count() <= 40 - 10  # the sample's older part is history, its newest part the live queue
    assert Handoff.objects.filter(status=HandoffStatus.OPEN).count() == handoffs - decided.count()
    created = sorted(decided.values_list("created_at", flat=True))
    assert (created[-1] - created[0]).days >= 30  # spread over the timeline, not only the newest leads
    assert f"Handoff history for 40 of {handoffs:,} MQLs" in out.getvalue()
