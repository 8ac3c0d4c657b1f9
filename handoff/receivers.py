"""The handoff app's receivers of the lead records' hooks (leadhub.hooks), registered in apps.ready().

Each runs inside the transaction of the change that triggered it, with the lead rows locked."""

from leadhub import hooks
from leadhub.choices import Stage
from qualification import routing_impact as scoring_routing_impact

from . import routing_impact
from .models import Handoff, SLAPolicy
from .routing import handoff_create_many
from .services.merge import handoff_lead_merged


def route_new_mqls(event: hooks.StageEntered) -> None:
    """Every new MQL is handed to sales in the same transaction: a handoff, routed round-robin."""
    if event.stage == Stage.MQL:
        handoff_create_many(lead_ids=list(event.lead_ids), by=event.by, at=event.at)


def move_merged_handoffs(event: hooks.LeadsMerged) -> dict:
    """The duplicate's handoffs, events and checklists go to the survivor; returns what moved."""
    return handoff_lead_merged(survivor=event.survivor, duplicate=event.duplicate, by=event.by, at=event.at)


def channel_uses(event: hooks.ListEntryUses) -> list[tuple[int, str]]:
    """Handoffs keep the channel the lead had, SLA policies apply per channel: a channel they
    name cannot be deleted (leadhub.taxonomy.usage)."""
    if event.list_name != "channel":
        return []
    return [
        (SLAPolicy.objects.filter(channel=event.key).count(), "SLA policies"),
        (Handoff.objects.filter(channel=event.key).count(), "handoffs"),
    ]


def register() -> None:
    hooks.on_stage_entered.connect(route_new_mqls)
    hooks.on_leads_merged.connect(move_merged_handoffs)
    hooks.on_list_entry_uses.connect(channel_uses)
    # The preview and publish confirmation show what a publish does to the SDRs' queues.
    scoring_routing_impact.provide(routing_impact.routing_impact)
