"""The lead records' extension points: what the apps above leadhub (qualification, handoff)
do when something happens to a lead, without leadhub importing them.

Each hook has a typed payload. The apps register their receivers from AppConfig.ready()
(see docs/architecture.md for every hook and its receivers). `send` calls the receivers in
the order they registered (INSTALLED_APPS order), synchronously, inside the sender's
transaction: a receiver's writes commit or roll back with the change that triggered them, and
a receiver that raises undoes the whole change. Receivers take the locks of the project's lock
order (docs/locking.md) after the lead rows the sender already holds.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the models need the app registry, which is not ready when this module loads
    from django.contrib.auth.models import User

    from .models import Lead


@dataclass(frozen=True)
class StageEntered:
    """Leads moved into `stage` (leadhub.lifecycle.transition / transition_many), their rows
    locked by the sender. `lead_ids` in id order."""

    lead_ids: tuple[int, ...]
    stage: str
    by: "User | None"  # the acting user, None for the system
    at: datetime


@dataclass(frozen=True)
class LeadsMerged:
    """`duplicate` is being merged into `survivor` (leadhub.merge.lead_merge): both rows are
    locked, the duplicate still exists. A receiver moves what its app keeps about the duplicate
    and returns {what: how many moved}, recorded on the LeadMerge."""

    survivor: "Lead"
    duplicate: "Lead"
    by: "User | None"
    at: datetime


@dataclass(frozen=True)
class FactsChanged:
    """What these leads are scored on changed (profile, company, activities, a merge).
    `newest_activity` maps each lead id to the time of its newest new activity, or None."""

    newest_activity: Mapping[int, datetime | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ActivityRow:
    lead_id: int
    kind: str
    occurred_at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class ActivitiesRecorded:
    """Activities newly inserted by leadhub.services.record_activities (replays excluded)."""

    rows: tuple[ActivityRow, ...]


@dataclass(frozen=True)
class LeadFieldUse:
    """Is the custom lead field `key` (LeadField.key, values in Lead.attributes) used? Asked
    before a field is deleted (leadhub.lead_fields.lead_field_delete). Each receiver returns a
    list of sentences naming what uses it (e.g. a published scoring rule), empty when nothing."""

    key: str


@dataclass(frozen=True)
class ListEntryUses:
    """Who uses the entry `key` of an edited list (`list_name`: channel, industry or
    activity_kind; leadhub.taxonomy.usage), asked before it is deleted or its key changes.
    A receiver returns [(how many, what)] of its app's uses, e.g. [(2, "engagement rules")],
    or nothing."""

    list_name: str
    key: str


class Hook[Payload]:
    """A named list of receivers of one payload type."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[[Payload], Any]] = []

    def connect(self, receiver: Callable[[Payload], Any]) -> Callable[[Payload], Any]:
        """Register `receiver` (once: registering it again is a no-op). Returns it."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[[Payload], Any]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def receivers(self) -> tuple[Callable[[Payload], Any], ...]:
        return tuple(self._receivers)

    def send(self, payload: Payload) -> list[Any]:
        """Call every receiver with `payload`, in the caller's transaction; their results in order."""
        return [receiver(payload) for receiver in self._receivers]

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._receivers)} receivers>"


on_stage_entered: Hook[StageEntered] = Hook("on_stage_entered")
on_leads_merged: Hook[LeadsMerged] = Hook("on_leads_merged")
on_facts_changed: Hook[FactsChanged] = Hook("on_facts_changed")
on_activities_recorded: Hook[ActivitiesRecorded] = Hook("on_activities_recorded")
on_lead_field_use: Hook[LeadFieldUse] = Hook("on_lead_field_use")
on_list_entry_uses: Hook[ListEntryUses] = Hook("on_list_entry_uses")


def lead_field_uses(key: str) -> list[str]:
    """Sentences naming what uses the custom field `key` in the apps above (empty: unused)."""
    return [sentence for found in on_lead_field_use.send(LeadFieldUse(key)) for sentence in (found or ())]


def facts_changed(lead_ids: Mapping[int, datetime | None] | Iterable[int]) -> None:
    """Announce that these leads' scoring facts changed (scoring marks them for rescoring).
    `lead_ids`: ids, or a map of id to the newest new activity's time."""
    newest = dict(lead_ids) if isinstance(lead_ids, Mapping) else dict.fromkeys(lead_ids)
    if newest:
        on_facts_changed.send(FactsChanged(newest))
