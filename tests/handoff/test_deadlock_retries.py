"""When the database says "try again" (a deadlock, a serialization failure), the transaction is
run again; when it keeps saying so, the client gets 503 with Retry-After, never a 500."""

import logging
import threading
from functools import partial

import psycopg
import pytest
from django.db import OperationalError, transaction

from handoff import services
from handoff.choices import HandoffStatus
from handoff.models import Handoff
from handoff.services import decisions
from leadhub import db
from leadhub.choices import Stage
from leadhub.models import Lead
from tests.concurrency import race
from tests.conftest import token_client
from tests.factories import LeadFactory
from tests.handoff.factories import make_mql

pytestmark = pytest.mark.usefixtures("seeded_transactional_db")


def deadlock_error():
    """What Django raises when PostgreSQL breaks a deadlock: an OperationalError whose cause is
    psycopg's DeadlockDetected (SQLSTATE 40P01)."""
    try:
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.Error as exc:
            raise OperationalError(*exc.args) from exc
    except OperationalError as exc:
        return exc


@pytest.fixture
def deadlocking_decisions(monkeypatch):
    """Every decision meets a deadlock inside its transaction; returns the list of attempts."""
    attempts = []

    def decide(*args, **kwargs):
        attempts.append(1)
        raise deadlock_error()

    monkeypatch.setattr(decisions, "_decide", decide)
    return attempts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_deadlock_is_retried_and_both_transactions_succeed(caplog):
    caplog.set_level(logging.WARNING, logger="leadhub.db")
    first, second = LeadFactory(), LeadFactory()
    both_hold_one = threading.Barrier(2)
    runs = []

    def lock_both(a, b):
        """Lock a, wait until the other thread holds b, lock b: opposite orders deadlock."""

        @db.retry_on_conflict
        @transaction.atomic
        def work():
            runs.append(a)
            Lead.objects.select_for_update().get(pk=a)
            if runs.count(a) == 1:
                both_hold_one.wait(timeout=10)
            Lead.objects.select_for_update().get(pk=b)
            Lead.objects.filter(pk=a).update(title=f"locked {b} after {a}")
            return "done"

        return work()

    results = race(partial(lock_both, first.pk, second.pk), partial(lock_both, second.pk, first.pk))

    assert results == ["done", "done"]
    assert len(runs) == 3  # PostgreSQL rolled one back (the deadlock victim); it ran again and succeeded
    assert set(Lead.objects.filter(pk__in=[first.pk, second.pk]).values_list("title", flat=True)) == {
        f"locked {second.pk} after {first.pk}",
        f"locked {first.pk} after {second.pk}",
    }
    assert [r.getMessage() for r in caplog.records if "40P01" in r.getMessage()], "the retry is logged with its SQLSTATE"


def test_the_api_answers_503_with_retry_after_when_the_deadlock_persists(sdr, routing, deadlocking_decisions):
    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)

    response = token_client(sdr).post(f"/api/handoffs/{handoff.pk}/accept/", {}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == str(db.RETRY_AFTER_SECONDS)
    assert response.json() == {"detail": db.BUSY_MESSAGE, "code": "busy"}
    assert len(deadlocking_decisions) == db.ATTEMPTS  # the whole transaction was run again each time
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.OPEN and handoff.lead.stage == Stage.MQL  # nothing half-done


def test_a_page_action_answers_a_503_page_with_retry_after_when_the_deadlock_persists(
    client, sdr, routing, deadlocking_decisions
):
    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)
    client.force_login(sdr)

    response = client.post(f"/queue/{handoff.pk}/accept/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(db.RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Busy for a moment" in page and "Nothing was saved; try again in a moment." in page
    assert len(deadlocking_decisions) == db.ATTEMPTS
    assert Handoff.objects.get(pk=handoff.pk).status == HandoffStatus.OPEN


def test_a_deadlock_that_clears_on_the_retry_is_invisible_to_the_client(sdr, routing, monkeypatch):
    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)
    real_decide, attempts = decisions._decide, []

    def decide_after_one_deadlock(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise deadlock_error()
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(decisions, "_decide", decide_after_one_deadlock)

    response = token_client(sdr).post(f"/api/handoffs/{handoff.pk}/accept/", {}, format="json")

    assert response.status_code == 200, response.content
    assert len(attempts) == 2
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED and handoff.lead.stage == Stage.SAL


def test_other_database_errors_are_not_retried(sdr, routing, monkeypatch):
    attempts = []

    def broken(*args, **kwargs):
        attempts.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(decisions, "_decide", broken)
    handoff = Handoff.objects.get(lead=make_mql(), status=HandoffStatus.OPEN)
    with pytest.raises(OperationalError):
        services.handoff_accept(handoff=handoff, by=sdr)
    assert len(attempts) == 1


def test_a_task_that_meets_a_deadlock_runs_again_and_finishes(monkeypatch):
    """Celery tasks use leadhub.db.ConflictRetryTask: the body runs again after a deadlock."""
    import qualification.services
    from qualification.tasks import rescore_leads

    real, attempts = qualification.services.rescore_pending, []

    def pending_after_one_deadlock(**kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise deadlock_error()
        return real(**kwargs)

    monkeypatch.setattr(qualification.services, "rescore_pending", pending_after_one_deadlock)
    lead = LeadFactory()

    result = rescore_leads.apply(kwargs={"lead_ids": [lead.pk]})

    assert result.successful(), result.traceback
    assert len(attempts) == 2
