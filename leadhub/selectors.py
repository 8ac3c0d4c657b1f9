"""Read queries for lead records, shared by views, the API and dashboards."""

from django.db.models import Prefetch, QuerySet

from .models import Activity, Lead, LeadMerge, StageChange
from .services import possible_duplicates

TIMELINE_LIMIT = 200


def lead_list() -> QuerySet[Lead]:
    return Lead.objects.select_related("company", "owner")


def campaigns_starting_with(typed: str, *, limit: int) -> QuerySet[Lead, str]:
    """Distinct campaigns that start with `typed` (case-insensitive), alphabetically."""
    from .search import campaigns_starting_with as indexed

    return indexed(typed, limit=limit)


def lead_detail(pk: int) -> Lead:
    """A lead with its company, owner, recent activities, whole stage history, the merges into
    it (lead.merges) and the leads that are possibly the same person (lead.possible_duplicates)."""
    lead = (
        Lead.objects.select_related("company", "owner")
        .prefetch_related(
            Prefetch("stage_changes", queryset=StageChange.objects.select_related("by")),
            Prefetch("merges", queryset=LeadMerge.objects.select_related("by")),
        )
        .get(pk=pk)
    )
    lead.possible_duplicates = possible_duplicates(lead)
    return lead


def lead_timeline(lead: Lead, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    return list(Activity.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:limit])
