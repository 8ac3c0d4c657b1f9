"""Merging two lead records of one person (the admin's merge action and its API).

Locks follow the project's one order (docs/locking.md): both leads first, in id order."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from . import hooks
from .choices import Stage
from .db import retry_on_conflict
from .errors import Conflict, NotAllowed, ValidationFailed
from .models import Activity, ImportRow, Lead, LeadAlias, LeadExternalId, LeadMerge, Outcome, StageChange
from .search import refresh_search_text

MERGE_PERMISSION = "leadhub.merge_leads"
# How far along the funnel a stage is, to keep the lead sales already works on. Disqualified
# ranks lowest: merging a live lead into a disqualified one would hide live pipeline.
FUNNEL_RANK = {
    Stage.DISQUALIFIED: -1,
    Stage.NEW: 0,
    Stage.NURTURE: 1,
    Stage.MQL: 2,
    Stage.SAL: 3,
    Stage.SQL: 4,
    Stage.WON: 5,
    Stage.LOST: 5,
}
MERGE_FILL_FIELDS = ("first_name", "last_name", "title", "phone", "country", "campaign")


def merge_order(a: Lead, b: Lead) -> tuple[Lead, Lead]:
    """(survivor, duplicate) for two leads: the one further along the funnel survives, then the older."""

    def key(lead: Lead) -> tuple[int, datetime, int]:
        return (-FUNNEL_RANK[Stage(lead.stage)], lead.created_at, lead.pk)

    return (a, b) if key(a) <= key(b) else (b, a)


def _named(lead: Lead) -> str:
    return lead.email or str(lead)


def _merge_snapshot(lead: Lead) -> dict[str, Any]:
    return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}


@retry_on_conflict
@transaction.atomic
def lead_merge(*, survivor: Lead, duplicate: Lead, by: User | None, at: datetime | None = None) -> LeadMerge:
    """Merge `duplicate` into `survivor`: nothing about the person is lost, the duplicate goes.

    1. Locks both lead rows in id order (two merges never deadlock) and re-reads them, so a
       second merge of the same duplicate finds it gone and raises Conflict.
    2. Refuses the same lead twice and a duplicate further along the funnel than the survivor.
    3. Fills the survivor's blank profile fields from the duplicate (never overwrites); keeps
       the earliest created_at, latest last_activity_at and nurture_until, highest recycle_count.
    4. Moves activities, stage history, outcomes, external ids, import rows and aliases in bulk
       UPDATEs (two different ids of one source system are refused before anything moves), and sends
       hooks.on_leads_merged: the handoff app moves handoffs, their events and checklists,
       scoring rebuilds both leads' rollups; what each moved is recorded on the LeadMerge.
    5. Records a LeadMerge (with a snapshot of the duplicate) and a LeadAlias for its email, so
       later ingest or imports of that address reach the survivor; deletes the duplicate and
       rescores the survivor after commit. Returns the LeadMerge.
    """
    if by is not None and not by.has_perm(MERGE_PERMISSION):
        raise NotAllowed("Your role cannot merge leads.")
    at = at or timezone.now()
    if survivor.pk == duplicate.pk:
        raise ValidationFailed("A lead cannot be merged into itself; choose two different leads.")
    locked = {
        lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk]).order_by("pk")
    }
    if len(locked) < 2:
        raise Conflict(
            "One of these leads no longer exists: it was probably merged or deleted a moment ago. Reload and try again."
        )
    keep, dup = locked[survivor.pk], locked[duplicate.pk]
    if FUNNEL_RANK[Stage(dup.stage)] > FUNNEL_RANK[Stage(keep.stage)]:
        raise ValidationFailed(
            f"{_named(dup)} is further along the funnel ({dup.get_stage_display()}) than {_named(keep)} "
            f"({keep.get_stage_display()}); swap them so the lead sales works on survives."
        )
    # External ids: one per lead and source system. Two different ids of the same system mean
    # two records there too; the merge would have to drop one, so it asks a person first.
    keep_ids = dict(LeadExternalId.objects.filter(lead=keep).values_list("source", "external_id"))
    dup_ids = dict(LeadExternalId.objects.filter(lead=dup).values_list("source", "external_id"))
    clashes = sorted(source for source in keep_ids.keys() & dup_ids.keys() if keep_ids[source] != dup_ids[source])
    if clashes:
        shown = "; ".join(f"{s}: {keep_ids[s]} on {_named(keep)}, {dup_ids[s]} on {_named(dup)}" for s in clashes)
        raise ValidationFailed(
            f"Both leads have an id in the same system ({shown}); a lead keeps one id per system. "
            "Remove the wrong one in the lead's admin page, then merge."
        )
    snapshot = _merge_snapshot(dup)
    snapshot["external_ids"] = [f"{s}:{e}" for s, e in sorted(dup_ids.items())]

    # Profile: fill blanks only, so nothing the survivor knows is overwritten.
    changed = [f for f in MERGE_FILL_FIELDS if not getattr(keep, f) and getattr(dup, f)]
    for f in changed:
        setattr(keep, f, getattr(dup, f))
    if dup.attributes and any(k not in keep.attributes for k in dup.attributes):
        # Custom field values: the survivor's win, the duplicate's fill the gaps (both were
        # validated when written).
        keep.attributes = {**dup.attributes, **keep.attributes}
        changed.append("attributes")
    if keep.company_id is None and dup.company_id is not None:
        keep.company_id = dup.company_id
        changed.append("company")
    for f, pick in (("created_at", min), ("last_activity_at", max), ("nurture_until", max), ("recycle_count", max)):
        values = [v for v in (getattr(keep, f), getattr(dup, f)) if v is not None]
        value = pick(values) if values else None
        if value != getattr(keep, f):
            setattr(keep, f, value)
            changed.append(f)

    # Everything that hangs off the duplicate moves in set-based UPDATEs. (source, external_id)
    # is unique across all leads, so moved activities cannot collide with the survivor's.
    moved = {
        "activities": Activity.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk),
        "stage_changes": StageChange.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk),
        "outcomes": Outcome.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk),
        # Same-source ids were refused above, so the moved ones never collide with the survivor's.
        "external_ids": LeadExternalId.objects.filter(lead_id=dup.pk).exclude(source__in=keep_ids).update(lead_id=keep.pk),
        "import_rows": ImportRow.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk)
        + ImportRow.objects.filter(possible_duplicate_of_id=dup.pk).update(possible_duplicate_of_id=keep.pk),
    }
    # The apps above move what they keep about the duplicate (handoffs, scoring rollups).
    for moved_by_app in hooks.on_leads_merged.send(hooks.LeadsMerged(survivor=keep, duplicate=dup, by=by, at=at)):
        moved.update(moved_by_app or {})

    LeadAlias.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk)
    LeadMerge.objects.filter(survivor_id=dup.pk).update(survivor_id=keep.pk)
    merge = LeadMerge.objects.create(
        survivor=keep,
        duplicate_id=dup.pk,
        duplicate_email=dup.email or "",
        snapshot=snapshot,
        moved=moved,
        by=by,
        at=at,
    )
    dup.delete()
    if dup.email and keep.email is None:
        # A survivor known only by phone or id takes the duplicate's address (freed by the delete).
        keep.email = dup.email
        changed.append("email")
    elif dup.email:
        # After the delete: the alias takes over the freed address.
        LeadAlias.objects.update_or_create(email=dup.email, defaults={"lead": keep, "created_at": at})
    if changed:
        keep.save(update_fields=[*changed, "updated_at"])
    hooks.facts_changed([keep.pk])
    refresh_search_text([keep.pk])
    survivor.__dict__.update({k: v for k, v in keep.__dict__.items() if k != "_state"})
    return merge
