"""The low-level writes every handoff service shares: locking a handoff with its lead (the
lock order), recording a HandoffEvent, and (re)starting an SLA clock's first deadline."""

from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce

from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Lead

from .models import Handoff, HandoffEvent


def record_event(
    *,
    handoff: Handoff | int | None = None,
    lead: Lead | int,
    kind: str,
    by: User | None,
    at: datetime,
    reason: str = "",
    note: str = "",
    from_owner: int | None = None,
    to_owner: int | None = None,
) -> HandoffEvent:
    return HandoffEvent.objects.create(
        handoff_id=handoff.pk if isinstance(handoff, Handoff) else handoff,
        lead_id=lead.pk if isinstance(lead, Lead) else lead,
        kind=kind,
        by=by,
        at=at,
        reason=reason or "",
        note=note or "",
        from_owner_id=from_owner,
        to_owner_id=to_owner,
    )


def lock_handoff(handoff: Handoff | int) -> tuple[Lead, Handoff]:
    """Lock the handoff's lead, then the handoff; returns fresh copies of both.

    The project's one lock order (docs/locking.md): leads → handoffs → SDR profiles → rollup
    rows, each set in id/key order, auth_user never. A transaction may skip a level but never
    goes back up, so no two transactions wait for each other in a cycle: decisions lock lead,
    handoff, then (rollup.Change, last) the rollup rows; routing locks the promoted leads, their
    stale handoffs, the profiles (only their rows: `of=self`), then the rollup rows.

    FOR NO KEY UPDATE: it excludes every other writer of these rows, but not the key-share
    locks that inserting rows pointing at them takes (activities, events), so ingest goes on.
    If a merge moved the handoff to another lead while we waited, the new lead is locked."""
    handoff_id = handoff.pk if isinstance(handoff, Handoff) else handoff
    for _ in range(3):
        lead_id = Handoff.objects.filter(pk=handoff_id).values_list("lead_id", flat=True).first()
        if lead_id is None:
            raise ValidationFailed("This handoff does not exist.")
        lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()
        locked = Handoff.objects.select_for_update(no_key=True).filter(pk=handoff_id).first()
        if locked is None:
            raise ValidationFailed("This handoff does not exist.")
        if lead is not None and locked.lead_id == lead.pk:
            return lead, locked
    raise Conflict("This lead was merged into another one a moment ago. Reload and try again.")


def first_due(due: datetime | None) -> F | Coalesce:
    """first_due_at for an UPDATE that (re)starts the clock: set once, at the first deadline, never moved."""
    return Coalesce(F("first_due_at"), Value(due, output_field=DateTimeField())) if due else F("first_due_at")
