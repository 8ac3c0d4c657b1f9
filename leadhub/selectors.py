"""Read queries for lead records, shared by views, the API and dashboards."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Prefetch, QuerySet

from . import outcomes
from .identity import external_ids_of
from .models import Activity, Lead, LeadField, LeadFieldType, LeadMerge, Outcome, StageChange
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
            "external_ids",
        )
        .get(pk=pk)
    )
    lead.possible_duplicates = possible_duplicates(lead) if lead.email else []
    return lead


def lead_timeline(lead: Lead, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    return list(Activity.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:limit])


def field_value_text(field: LeadField, value: Any) -> str:
    """A custom field value as the pages print it ("Yes"/"No", numbers with separators)."""
    if value is None or value == "":
        return "—"
    if field.type == LeadFieldType.BOOLEAN:
        return "Yes" if value else "No"
    if field.type == LeadFieldType.NUMBER and isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def lead_custom_fields(
    lead: Lead, *, definitions: Iterable[LeadField] | None = None, panel_only: bool = False
) -> list[tuple[str, str, str]]:
    """[(label, value as text, help text)] of the custom fields, in their order: all that hold a
    value on the lead page; those marked "show in the queue panel" (empty ones too) for the panel."""
    definitions = LeadField.objects.all() if definitions is None else definitions
    attributes = lead.attributes or {}
    shown = []
    for field in definitions:
        if panel_only and not field.show_in_panel:
            continue
        if not panel_only and field.key not in attributes:
            continue
        shown.append((field.label, field_value_text(field, attributes.get(field.key)), field.help_text))
    return shown


def decorate_lead_rows(leads: Iterable[Lead], list_fields: Sequence[LeadField]) -> None:
    """Give each lead of a list page `shown_ids` ("crm:00Q5e…", one query for the page) and
    `list_values` (the show-in-list fields' values, in the columns' order)."""
    leads = list(leads)
    ids = external_ids_of(lead.pk for lead in leads)
    for lead in leads:
        lead.shown_ids = ids.get(lead.pk, [])
        attributes = lead.attributes or {}
        lead.list_values = [field_value_text(field, attributes.get(field.key)) for field in list_fields]


def lead_outcomes(lead: Lead) -> list[Outcome]:
    return outcomes.latest_outcomes(lead)
