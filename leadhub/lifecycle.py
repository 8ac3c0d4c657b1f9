"""The lead lifecycle: Lead.stage and every move of it.

The allowed moves (ALLOWED_TRANSITIONS), `transition` for one lead, `transition_many` for
many in a constant number of queries, and `nurture_new_leads`, the set-based new -> nurture
move that rescoring makes for a whole chunk in one statement. Nothing else writes Lead.stage.

Each move writes its StageChange row in the same transaction, then sends
hooks.on_stage_entered (transition, transition_many): the handoff app routes new MQLs to
sales from there. The bulk new -> nurture move sends no hook (no receiver acts on nurture
entries from scoring; docs/architecture.md lists the receivers).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from . import hooks
from .choices import Stage
from .db import retry_on_conflict
from .errors import InvalidTransition, ValidationFailed
from .models import Lead, StageChange
from .sql import SQL, Leads, db_datetime, is_postgresql, rowcount

# The only stage moves leads may make (see docs/architecture.md). Any stage may also go to
# DISQUALIFIED; a disqualified lead is closed.
ALLOWED_TRANSITIONS: dict[Stage, set[Stage]] = {
    Stage.NEW: {Stage.NURTURE},
    Stage.NURTURE: {Stage.MQL},
    Stage.MQL: {Stage.SAL, Stage.NURTURE},
    Stage.SAL: {Stage.SQL, Stage.NURTURE},
    Stage.SQL: {Stage.WON, Stage.LOST},
    Stage.WON: set(),
    Stage.LOST: set(),
    Stage.DISQUALIFIED: set(),
}
for _stage, _targets in ALLOWED_TRANSITIONS.items():
    if _stage != Stage.DISQUALIFIED:
        _targets.add(Stage.DISQUALIFIED)

# The bulk new -> nurture move below is only valid while the lifecycle allows it.
assert Stage.NURTURE in ALLOWED_TRANSITIONS[Stage.NEW]

LEAD = Lead._meta.db_table
STAGECHANGE = StageChange._meta.db_table


@retry_on_conflict
def transition(
    lead: Lead,
    to_stage: str,
    *,
    by: User | None = None,
    reason: str = "",
    note: str = "",
    updates: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Lead:
    """Move `lead` to `to_stage`.

    Locks the lead row, checks the move against ALLOWED_TRANSITIONS using the stage in the
    database (not the caller's possibly stale copy), applies `updates` (other lead fields that
    change with the move, e.g. owner or nurture_until), writes the StageChange row and sends
    on_stage_entered, all in one transaction. Raises InvalidTransition when the move is not
    allowed. `by` is the acting user, None for the system. Returns the updated lead.
    """
    if to_stage not in Stage.values:
        raise ValidationFailed(f"Unknown stage “{to_stage}”.", field_errors={"stage": [f"Unknown stage “{to_stage}”."]})
    to_stage = Stage(to_stage)
    at = at or timezone.now()
    with transaction.atomic():
        locked = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)
        from_stage = Stage(locked.stage)
        if to_stage not in ALLOWED_TRANSITIONS[from_stage]:
            raise InvalidTransition(f"A lead in {from_stage.label} cannot move to {to_stage.label}.")
        fields = {"stage": to_stage, **(updates or {})}
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.save(update_fields=[*fields, "updated_at"])
        StageChange.objects.create(
            lead=locked,
            from_stage=from_stage,
            to_stage=to_stage,
            at=at,
            by=by,
            reason=reason or "",
            note=note or "",
        )
        hooks.on_stage_entered.send(hooks.StageEntered(lead_ids=(locked.pk,), stage=to_stage, by=by, at=at))
    for key in (*fields, "updated_at"):
        setattr(lead, key, getattr(locked, key))
    return locked


@retry_on_conflict
def transition_many(
    reasons: Mapping[int, str], to_stage: str, *, by: User | None = None, at: datetime | None = None
) -> list[int]:
    """transition() for many leads at once, in a constant number of queries: `reasons` maps
    lead id -> the reason recorded for its move. The same rules: the leads are locked (in id
    order, as every writer of many leads does), each move is checked against
    ALLOWED_TRANSITIONS using the stage in the database, and each lead that moves gets its
    StageChange row in the same transaction, then one on_stage_entered for all of them. Leads
    that may not make the move are left alone (someone moved them since the caller looked).
    Returns the ids that moved."""
    to_stage = Stage(to_stage)
    at = at or timezone.now()
    allowed_from = [stage for stage, targets in ALLOWED_TRANSITIONS.items() if to_stage in targets]
    with transaction.atomic():
        # no_key: the lock rescoring already holds (qualification's lock_leads), which ingest's
        # key-share locks do not block; a full FOR UPDATE here could wait on an ingest that waits on us.
        current = (
            Lead.objects.select_for_update(no_key=True).filter(pk__in=list(reasons)).order_by("pk").values_list("pk", "stage")
        )
        moving = {pk: stage for pk, stage in current if stage in allowed_from}
        if not moving:
            return []
        Lead.objects.filter(pk__in=list(moving)).update(stage=to_stage, updated_at=at)
        StageChange.objects.bulk_create(
            [
                StageChange(lead_id=pk, from_stage=stage, to_stage=to_stage, at=at, by=by, reason=reasons[pk] or "", note="")
                for pk, stage in moving.items()
            ]
        )
        hooks.on_stage_entered.send(hooks.StageEntered(lead_ids=tuple(moving), stage=to_stage, by=by, at=at))
    return list(moving)


def nurture_new_leads(leads: Leads, *, reason: str, at: datetime) -> int:
    """new -> nurture for `leads` that are new, with their StageChange rows (by = the system),
    in the caller's transaction: the set-based twin of transition(lead, "nurture") that
    rescoring makes for a whole chunk, with the same check (the stage in the database, in the
    UPDATE's WHERE). Returns how many moved."""
    at = db_datetime(at)
    where = leads.where("id")
    with connection.cursor() as cursor:
        if is_postgresql():
            # One statement: the conditional UPDATE locks the rows it moves and feeds the history.
            sql = SQL().add(f"WITH moved AS (UPDATE {LEAD} SET stage = 'nurture', updated_at = %s WHERE ", at).extend(where)
            sql.add(
                f" AND stage = 'new' RETURNING id) INSERT INTO {STAGECHANGE} (lead_id, from_stage, to_stage, at, by_id, reason, note)"
                " SELECT id, 'new', 'nurture', %s, NULL, %s, '' FROM moved",
                at,
                reason,
            )
            cursor.execute(sql.text, sql.params)
            return rowcount(cursor)
        # SQLite has one writer at a time (transactions are IMMEDIATE), so the INSERT and the
        # UPDATE below see the same rows.
        sql = (
            SQL()
            .add(
                f"INSERT INTO {STAGECHANGE} (lead_id, from_stage, to_stage, at, by_id, reason, note)"
                f" SELECT id, 'new', 'nurture', %s, NULL, %s, '' FROM {LEAD} WHERE ",
                at,
                reason,
            )
            .extend(where)
            .add(" AND stage = 'new'")
        )
        cursor.execute(sql.text, sql.params)
        moved = cursor.rowcount
        sql = (
            SQL().add(f"UPDATE {LEAD} SET stage = 'nurture', updated_at = %s WHERE ", at).extend(where).add(" AND stage = 'new'")
        )
        cursor.execute(sql.text, sql.params)
        return moved
