"""Scoring's receivers of the lead records' hooks (leadhub.hooks), registered in apps.ready().

Each runs inside the transaction of the change that triggered it."""

from collections import Counter

from leadhub import hooks
from leadhub.sql import Leads

from . import engine
from .rollups import add_to_rollups, rebuild_rollups
from .tasks import enqueue_rescore


def mark_changed_leads(event: hooks.FactsChanged) -> None:
    """A lead's facts changed: it waits for rescoring, and the task is woken after commit."""
    enqueue_rescore(dict(event.newest_activity))


def roll_up_activities(event: hooks.ActivitiesRecorded) -> None:
    """New activities join the daily rollups rescoring reads, by an upsert that needs no lock on the leads."""
    add_to_rollups(
        Counter(
            (row.lead_id, row.kind, engine.epoch_day(row.occurred_at), engine.numeric_property(row.properties, "minutes"))
            for row in event.rows
        )
    )


def rebuild_merged_rollups(event: hooks.LeadsMerged) -> dict:
    """Two leads merged: recount the survivor's rollups from its activities (now including the
    duplicate's), drop the duplicate's."""
    rebuild_rollups(Leads(ids=(event.survivor.pk, event.duplicate.pk)))
    return {}


def lead_field_uses(event: hooks.LeadFieldUse) -> list[str]:
    """The draft or published scoring models that use the custom field (a fit rule on
    "attributes.<key>", or a required field of the MQL profile): deleting it would break them."""
    from .choices import ModelStatus
    from .models import FitRule, ScoringModel

    name = f"attributes.{event.key}"
    live = [ModelStatus.DRAFT, ModelStatus.PUBLISHED]
    uses = []
    for version, status, label in (
        FitRule.objects.filter(field=name, model__status__in=live)
        .order_by("model__version", "id")
        .values_list("model__version", "model__status", "label")
    ):
        uses.append(f"a fit rule{f' ({label})' if label else ''} of the {status} scoring model v{version}")
    # required_fields is a JSON list: checked by value (a few draft and published models).
    for model in ScoringModel.objects.filter(status__in=live).only("version", "status", "required_fields"):
        if name in (model.required_fields or []):
            uses.append(f"the MQL required fields of the {model.status} scoring model v{model.version}")
    return uses


def list_entry_uses(event: hooks.ListEntryUses) -> list[tuple[int, str]]:
    """Scoring rules that name a list entry: engagement rules of an activity kind, fit rules
    testing a channel or industry with it among their values (leadhub.taxonomy.usage refuses
    to delete an entry in use)."""
    from .models import EngagementRule, FitRule

    if event.list_name == "activity_kind":
        return [(EngagementRule.objects.filter(kind=event.key).count(), "engagement rules")]
    field = {"channel": "channel", "industry": "industry"}[event.list_name]
    values = FitRule.objects.filter(field=field, value__icontains=event.key).values_list("value", flat=True)
    used = sum(1 for value in values if event.key in {v.strip().lower() for v in value.split(",")})
    return [(used, "fit rules")]


def register() -> None:
    hooks.on_facts_changed.connect(mark_changed_leads)
    hooks.on_activities_recorded.connect(roll_up_activities)
    hooks.on_leads_merged.connect(rebuild_merged_rollups)
    hooks.on_lead_field_use.connect(lead_field_uses)
    hooks.on_list_entry_uses.connect(list_entry_uses)
