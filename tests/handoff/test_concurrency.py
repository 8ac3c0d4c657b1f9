"""Two people decide on the same handoff at the same moment: real connections, real locks."""

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
