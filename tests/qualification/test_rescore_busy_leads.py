"""Rescoring after ingest does not wait for leads another transaction holds: it scores the
others and comes back for the busy ones. Real connections, real row locks."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from leadhub.models import Lead
from qualification import bulk
from qualification.choices import ModelStatus
from qualification.models import PendingRescore
from qualification.pending import mark_for_rescoring
from qualification.services import rescore_pending
from qualification.tasks import rescore_leads
from tests.factories import ActivityFactory, CompanyFactory, LeadFactory

from .factories import simple_model

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def hot_lead():
    """Qualifies under simple_model once scored: software company (+20) and a demo request (+40)."""
    lead = LeadFactory(company=CompanyFactory(industry="software"))
    ActivityFactory(lead=lead, kind="demo_request")
    bulk.rebuild_rollups(bulk.Leads(ids=(lead.pk,)))
    return lead


class HeldLead:
    """Another connection holds the lead's row lock (as an ingest batch in progress does) until released."""

    def __init__(self, lead):
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(lead.pk,))

    def _hold(self, pk):
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=pk)
                self.locked.set()
                self.release.wait(timeout=30)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(timeout=10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(timeout=30)


def test_a_busy_lead_is_passed_over_and_the_others_are_scored():
    simple_model(status=ModelStatus.PUBLISHED)
    busy, free = hot_lead(), hot_lead()
    mark_for_rescoring([busy.pk, free.pk])
    with HeldLead(busy):
        assert rescore_pending() == (1, 1)  # one scored, one left waiting
    assert Lead.objects.get(pk=free.pk).total_score == 60 and Lead.objects.get(pk=free.pk).stage == "mql"
    assert Lead.objects.get(pk=busy.pk).scored_at is None
    assert list(PendingRescore.objects.values_list("lead_id", flat=True)) == [busy.pk]


def test_the_task_comes_back_for_a_busy_lead_until_it_is_scored():
    simple_model(status=ModelStatus.PUBLISHED)
    busy, free = hot_lead(), hot_lead()
    with HeldLead(busy) as held:
        # Tasks run eagerly here, so the follow-ups run at once; after the last one the task
        # waits for the lock, which the other transaction gives up a moment later.
        threading.Timer(0.5, held.release.set).start()
        rescore_leads.delay([busy.pk, free.pk])
    assert {lead.pk: (lead.total_score, lead.stage) for lead in Lead.objects.filter(pk__in=[busy.pk, free.pk])} == {
        busy.pk: (60, "mql"),
        free.pk: (60, "mql"),
    }


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_ingest_batches_and_rescoring_neither_deadlock_nor_miscount(attempt):
    """Batches sharing leads in opposite orders, and the rescoring of those leads, at once: every
    batch is recorded (a deadlock would fail one with an error) and the rollups add up."""
    from datetime import UTC, datetime

    from leadhub.models import Activity
    from leadhub.services import record_activities
    from qualification.models import ActivityRollup
    from qualification.services import rescore_leads as rescore
    from tests.concurrency import race

    simple_model(status=ModelStatus.PUBLISHED)
    leads = [LeadFactory() for _ in range(30)]
    day = datetime(2026, 11, 20, 9, tzinfo=UTC)

    def batch(name, order):
        return [
            {
                "email": lead.email,
                "kind": "pricing_page_view",
                "occurred_at": day + timedelta(minutes=i),
                "properties": {},
                "source": "race",
                "external_id": f"{attempt}-{name}-{i}",
            }
            for i, lead in enumerate(order)
        ]

    results = race(
        lambda: record_activities(items=batch("a", leads)),
        lambda: record_activities(items=batch("b", leads[::-1])),
        lambda: record_activities(items=batch("c", leads[10:] + leads[:10])),
        lambda: rescore(lead_ids=[lead.pk for lead in leads[::-1]]),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Activity.objects.filter(source="race").count() == 90
    kept = sorted(ActivityRollup.objects.values_list("lead_id", "kind", "day", "minutes", "n"))
    assert {row[4] for row in kept} == {3}  # one row per lead and day: three activities each
    bulk.rebuild_rollups()
    assert kept == sorted(ActivityRollup.objects.values_list("lead_id", "kind", "day", "minutes", "n"))
