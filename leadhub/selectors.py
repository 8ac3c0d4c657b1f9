"""Read queries for lead records, shared by views, the API and dashboards."""

from django.db.models import Prefetch

from .models import Activity, Lead, StageChange

TIMELINE_LIMIT = 200


def lead_list():
    return Lead.objects.select_related("company", "owner")


def lead_detail(pk):
    """A lead with its company, owner, recent activities and whole stage history."""
    return (
        Lead.objects.select_related("company", "owner")
        .prefetch_related(
            Prefetch("stage_changes", queryset=StageChange.objects.select_related("by")),
        )
        .get(pk=pk)
    )


def lead_timeline(lead, limit=TIMELINE_LIMIT):
    return list(Activity.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:limit])
