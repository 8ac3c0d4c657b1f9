from datetime import timedelta

import factory
from django.utils import timezone

from handoff.choices import HandoffStatus
from handoff.models import Handoff, RejectionReason, SDRProfile
from leadhub.choices import Stage
from leadhub.lifecycle import transition
from tests.factories import LeadFactory


class SDRProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SDRProfile
        django_get_or_create = ["user"]

    available = True
    capacity = 40


class RejectionReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RejectionReason
        django_get_or_create = ["label"]

    label = factory.Sequence(lambda n: f"Reason {n}")
    destination = "nurture"
    cooldown_days = 30


class HandoffFactory(factory.django.DjangoModelFactory):
    """A handoff row written directly (queue reads); the lead is put in MQL to match."""

    class Meta:
        model = Handoff

    lead = factory.SubFactory(LeadFactory, stage=Stage.MQL)
    status = HandoffStatus.OPEN
    owner = None
    channel = factory.LazyAttribute(lambda h: h.lead.source)
    campaign = factory.LazyAttribute(lambda h: h.lead.campaign)
    score_at_handoff = factory.LazyAttribute(lambda h: h.lead.total_score)
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    assigned_at = factory.LazyAttribute(lambda h: h.created_at if h.owner else None)
    due_at = factory.LazyAttribute(lambda h: h.assigned_at + timedelta(hours=4) if h.assigned_at else None)
    first_due_at = factory.LazyAttribute(lambda h: h.due_at)


def reason(label):
    return RejectionReason.objects.get(label=label)


def make_mql(by=None, **lead_fields):
    """A lead made MQL the way scoring does it: new → nurture → mql through transition (the hook opens its handoff)."""
    lead = LeadFactory(**lead_fields)
    transition(lead, Stage.NURTURE, by=by)
    transition(lead, Stage.MQL, by=by, reason="Score 72 ≥ 60")
    lead.refresh_from_db()
    return lead
