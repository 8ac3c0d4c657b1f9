"""The queue as ORM querysets, for the API and the CSV export (the page reads plain SQL:
queue_sql)."""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ..models import Handoff
from .rows import sla_state

# Only what a queue row shows: the queue is read all day, keep rows narrow.
# Only what a queue row shows: the queue is read all day, keep rows narrow.
QUEUE_FIELDS = (
    "id",
    "status",
    "owner_id",
    "channel",
    "campaign",
    "created_at",
    "assigned_at",
    "due_at",
    "first_decision_at",
    "lead__id",
    "lead__first_name",
    "lead__last_name",
    "lead__email",
    "lead__title",
    "lead__stage",
    "lead__fit_score",
    "lead__engagement_score",
    "lead__total_score",
    "lead__grade",
    "lead__company_id",
    "lead__company__id",
    "lead__company__name",
    "lead__company__domain",
    # What scoring needs to say why each lead scored (qualification.selectors.lead_top_reasons).
    "lead__score_model_version",
    "lead__scored_at",
    "lead__country",
    "lead__phone",
    "lead__company__industry",
    "lead__company__employee_count",
    "lead__company__annual_revenue",
    "lead__company__country",
    "owner__id",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
)


def queue_handoffs() -> QuerySet[Handoff]:
    return Handoff.objects.select_related("lead", "lead__company", "owner").only(*QUEUE_FIELDS)


def queue_csv_rows(handoffs: QuerySet[Handoff]) -> Iterator[list[Any]]:
    """Rows of the queue's CSV export, streamed from the database in chunks."""
    now = timezone.now()
    for handoff in handoffs.defer(None).iterator(chunk_size=2000):
        lead = handoff.lead
        yield [
            handoff.pk,
            lead.pk,
            lead.full_name,
            lead.email,
            lead.title,
            lead.company.name if lead.company is not None else "",
            handoff.channel,
            handoff.campaign,
            handoff.score_at_handoff,
            handoff.grade_at_handoff,
            handoff.owner.username if handoff.owner is not None else "",
            handoff.created_at,
            handoff.assigned_at,
            handoff.due_at,
            sla_state(handoff, now),
        ]
