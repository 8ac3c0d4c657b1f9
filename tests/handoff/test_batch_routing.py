"""Many leads becoming MQL in one rescoring: each gets its history row and a handoff routed in
turn, in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handoff.choices import EventKind, HandoffStatus
from handoff.models import Handoff, HandoffEvent, HandoffRule
from handoff.sla import calendar_for, due_at_for
from leadhub.choices import Stage
from leadhub.lifecycle import transition_many
from leadhub.models import Lead, StageChange
from qualification import bulk, selectors
from qualification.choices import ModelStatus
from qualification.services import rescore_leads
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory
from tests.handoff.factories import SDRProfileFactory
from tests.handoff.test_rollup import assert_current
from tests.qualification.factories import simple_model

# Every test runs at each fixed instant (tests/clock.py): scores must not decay overnight, and
# deadlines are business hours from the moment of routing, at night and at the weekend too.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fixed_instant")]


@pytest.fixture
def model():
    return simple_model(status=ModelStatus.PUBLISHED)


def hot_leads(count):
    """New leads that qualify under simple_model: software company (+20) and a demo request (+40)."""
    software = CompanyFactory(industry="software")
    leads = [LeadFactory(company=software, title="Marketing Manager") for _ in range(count)]
    for lead in leads:
        ActivityFactory(lead=lead, kind="demo_request")
    bulk.rebuild_rollups(bulk.Leads(ids=tuple(lead.pk for lead in leads)))
    return leads


def owners(leads):
    by_lead = dict(Handoff.objects.filter(lead__in=leads, status=HandoffStatus.OPEN).values_list("lead_id", "owner__username"))
    return [by_lead[lead.pk] for lead in leads]


def test_one_rescoring_promotes_many_leads_and_routes_them_in_turn(model, sdr, other_sdr):
    SDRProfileFactory(user=sdr, capacity=2)
    SDRProfileFactory(user=other_sdr, capacity=10)
    leads = hot_leads(5)

    assert rescore_leads(lead_ids=[lead.pk for lead in leads]) == 5

    assert set(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("stage", flat=True)) == {Stage.MQL}
    # In turn, skipping the SDR who reached capacity.
    assert owners(leads) == ["sdr-owner", "sdr-teammate", "sdr-owner", "sdr-teammate", "sdr-teammate"]
    for lead in leads:
        history = list(StageChange.objects.filter(lead=lead).order_by("id").values_list("from_stage", "to_stage", "reason"))
        assert history[-1][:2] == ("nurture", "mql") and history[-1][2].startswith("Score 60.0 ≥ 50.0, grade B")
        handoff = Handoff.objects.get(lead=lead)
        assert handoff.assigned_at is not None and handoff.due_at > handoff.assigned_at
        assert handoff.due_at == due_at_for(handoff.sla_policy, handoff.assigned_at)
        window = calendar_for(handoff.sla_policy).window(handoff.due_at.astimezone(calendar_for(handoff.sla_policy).zone).date())
        assert window is not None and window[0] <= handoff.due_at <= window[1]  # inside business hours
        assert (handoff.score_at_handoff, handoff.grade_at_handoff, handoff.channel) == (60, "B", lead.source)
        events = list(HandoffEvent.objects.filter(handoff=handoff).order_by("id").values_list("kind", "to_owner_id"))
        assert events == [(EventKind.CREATED, None), (EventKind.ASSIGNED, handoff.owner_id)]
        # What sales saw: the rules that fired, for marketing's feedback page.
        assert sorted(HandoffRule.objects.filter(handoff=handoff).values_list("kind", "points")) == [
            ("engagement", 40),
            ("fit", 20),
        ]
    assert_current()


def test_the_next_routing_goes_on_where_the_last_one_stopped(model, sdr, other_sdr):
    SDRProfileFactory(user=sdr)
    SDRProfileFactory(user=other_sdr)
    first = hot_leads(3)
    rescore_leads(lead_ids=[lead.pk for lead in first])
    assert owners(first) == ["sdr-owner", "sdr-teammate", "sdr-owner"]
    second = hot_leads(2)
    rescore_leads(lead_ids=[lead.pk for lead in second])
    assert owners(second) == ["sdr-teammate", "sdr-owner"]


def test_leads_nobody_can_take_wait_in_the_pool(model, sdr):
    SDRProfileFactory(user=sdr, capacity=1)
    leads = hot_leads(3)
    rescore_leads(lead_ids=[lead.pk for lead in leads])
    assert owners(leads) == ["sdr-owner", None, None]
    pooled = Handoff.objects.get(lead=leads[2])
    assert pooled.due_at is None
    assert list(HandoffEvent.objects.filter(handoff=pooled).order_by("id").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.POOLED,
    ]


def test_promotion_queries_do_not_grow_with_the_number_of_leads(model, sdr, other_sdr):
    SDRProfileFactory(user=sdr)
    SDRProfileFactory(user=other_sdr)
    counts = []
    for size in (2, 12):
        leads = hot_leads(size)
        selectors._FROZEN_SPECS.clear()  # both runs read the model's rules afresh (then kept)
        with CaptureQueriesContext(connection) as queries:
            assert rescore_leads(lead_ids=[lead.pk for lead in leads]) == size
        assert Handoff.objects.filter(lead__in=leads).count() == size
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_transition_many_moves_only_leads_allowed_to_move(sdr):
    nurture, sal, new = LeadFactory(stage=Stage.NURTURE), LeadFactory(stage=Stage.SAL), LeadFactory(stage=Stage.NEW)
    moved = transition_many({nurture.pk: "Score 70 ≥ 50", sal.pk: "x", new.pk: "y"}, Stage.MQL)
    assert moved == [nurture.pk]
    assert dict(Lead.objects.filter(pk__in=[nurture.pk, sal.pk, new.pk]).values_list("pk", "stage")) == {
        nurture.pk: Stage.MQL,
        sal.pk: Stage.SAL,
        new.pk: Stage.NEW,
    }
    assert list(StageChange.objects.values_list("lead_id", "from_stage", "to_stage", "reason")) == [
        (nurture.pk, "nurture", "mql", "Score 70 ≥ 50")
    ]
    assert Handoff.objects.filter(lead=nurture, status=HandoffStatus.OPEN).count() == 1
    assert not Handoff.objects.filter(lead__in=[sal, new]).exists()
