"""Two people decide on the same handoff at the same moment, and decisions race routing: real
connections, real locks."""

import logging
from functools import partial

import pytest

from handoff import services
from handoff.choices import EventKind, HandoffStatus
from handoff.models import Handoff, HandoffEvent
from leadhub.choices import Stage
from leadhub.errors import Conflict
from leadhub.models import StageChange
from tests.concurrency import race
from tests.handoff.factories import make_mql, reason

pytestmark = [pytest.mark.usefixtures("seeded_transactional_db"), pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("attempt", range(3))
def test_two_sdrs_deciding_on_a_pool_handoff_at_once_record_exactly_one_decision(sdr, other_sdr, attempt):
    lead = make_mql()
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    assert handoff.owner is None  # in the pool: both SDRs may act on it
    no_budget = reason("No budget")

    results = race(
        lambda: services.handoff_accept(handoff=Handoff(pk=handoff.pk), by=sdr),
        lambda: services.handoff_reject(handoff=Handoff(pk=handoff.pk), by=other_sdr, reason=no_budget),
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict), results
    assert "already" in errors[0].message
    handoff.refresh_from_db()
    lead.refresh_from_db()
    assert handoff.status in (HandoffStatus.ACCEPTED, HandoffStatus.REJECTED)
    assert lead.stage == (Stage.SAL if handoff.status == HandoffStatus.ACCEPTED else Stage.NURTURE)
    assert StageChange.objects.filter(lead=lead, from_stage=Stage.MQL).count() == 1
    assert HandoffEvent.objects.filter(handoff=handoff, kind__in=[EventKind.ACCEPTED, EventKind.REJECTED]).count() == 1


def test_two_sdrs_claiming_the_same_pool_handoff_one_gets_it(sdr, other_sdr):
    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)
    results = race(
        lambda: services.handoff_claim(handoff=Handoff(pk=handoff.pk), by=sdr),
        lambda: services.handoff_claim(handoff=Handoff(pk=handoff.pk), by=other_sdr),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict), results
    handoff.refresh_from_db()
    assert handoff.owner in (sdr, other_sdr)
    assert HandoffEvent.objects.filter(handoff=handoff, kind=EventKind.CLAIMED).count() == 1


def test_owner_and_manager_at_once_over_the_api_one_gets_409(sdr, manager):
    from tests.conftest import token_client

    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)
    Handoff.objects.filter(pk=handoff.pk).update(owner=sdr)
    sdr_api, manager_api = token_client(sdr), token_client(manager)
    no_need = reason("No need").pk
    results = race(
        lambda: sdr_api.post(f"/api/handoffs/{handoff.pk}/accept/", {}, format="json").status_code,
        lambda: manager_api.post(f"/api/handoffs/{handoff.pk}/reject/", {"reason": no_need}, format="json").status_code,
    )
    assert sorted(results) == [200, 409], results
    assert StageChange.objects.filter(lead_id=handoff.lead_id, from_stage=Stage.MQL).count() == 1


# --- decisions racing routing: the lock order (docs/locking.md) ---------------------------


def _hot_leads(count, company):
    """Leads that simple_model makes MQL (software company +20, demo request +40), not yet scored."""
    from qualification import bulk
    from tests.factories import ActivityFactory, LeadFactory

    leads = [LeadFactory(company=company, title="Marketing Manager") for _ in range(count)]
    for lead in leads:
        ActivityFactory(lead=lead, kind="demo_request")
    bulk.rebuild_rollups(bulk.Leads(ids=tuple(lead.pk for lead in leads)))
    return [lead.pk for lead in leads]


def test_decisions_and_mql_routing_to_the_same_sdr_at_once_never_fail_and_keep_the_counts(sdr, manager, caplog):
    """Rescoring promotes MQLs that all route to one SDR while that SDR and a manager accept and
    reject the SDR's earlier handoffs (they share the SDR, today's rollup rows and the rules'
    rollup rows): no error reaches anyone, each handoff is decided once, the rollups equal a
    rebuild. Before the lock order, routing locked the SDR's auth_user row with the profile
    and the rollup rows were met in any order: these deadlocked."""
    from qualification.choices import ModelStatus
    from qualification.services import rescore_leads
    from tests.factories import CompanyFactory
    from tests.handoff.factories import SDRProfileFactory
    from tests.handoff.test_rollup import assert_current
    from tests.qualification.factories import simple_model

    caplog.set_level(logging.WARNING, logger="leadhub.db")
    simple_model(status=ModelStatus.PUBLISHED)
    SDRProfileFactory(user=sdr, capacity=500)
    software = CompanyFactory(industry="software")
    rescore_leads(lead_ids=_hot_leads(4, software))
    no_budget, student = reason("No budget"), reason("Student")
    decided = 0
    for _round in range(8):
        mine = list(Handoff.objects.filter(owner=sdr, status=HandoffStatus.OPEN).order_by("pk").values_list("pk", flat=True))
        assert len(mine) >= 4
        batch_a, batch_b = _hot_leads(3, software), _hot_leads(3, software)
        results = race(
            partial(services.handoff_accept, handoff=Handoff(pk=mine[0]), by=sdr),
            partial(rescore_leads, lead_ids=batch_a),
            partial(services.handoff_reject, handoff=Handoff(pk=mine[1]), by=manager, reason=no_budget),
            partial(services.handoff_reject, handoff=Handoff(pk=mine[2]), by=sdr, reason=student),
            partial(rescore_leads, lead_ids=batch_b),
            partial(services.handoff_accept, handoff=Handoff(pk=mine[3]), by=manager),
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        # Not even a retry was needed: the lock order leaves no cycle to break.
        assert not [r.getMessage() for r in caplog.records if r.name == "leadhub.db"]
        decided += 4
        assert results[1] == 3 and results[4] == 3
        assert Handoff.objects.filter(lead_id__in=batch_a + batch_b, owner=sdr, status=HandoffStatus.OPEN).count() == 6

    assert Handoff.objects.filter(owner=sdr).exclude(status=HandoffStatus.OPEN).count() == decided
    assert StageChange.objects.filter(from_stage=Stage.MQL).count() == decided
    assert HandoffEvent.objects.filter(kind__in=[EventKind.ACCEPTED, EventKind.REJECTED]).count() == decided
    assert_current()
