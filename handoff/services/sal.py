"""Working a SAL: the SQL checklist, qualifying (SAL -> SQL), the outcome (won or lost), recycling."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.db import retry_on_conflict
from leadhub.errors import Conflict, ValidationFailed
from leadhub.lifecycle import transition
from leadhub.models import Lead
from leadhub.outcomes import record_queue_outcome

from .. import rollup
from ..choices import REQUIRED_CHECKLIST, EventKind, Outcome
from ..models import Handoff, Qualification, RejectionReason
from ..permissions import check_can_work_lead
from ..records import record_event
from .decisions import check_note, resolve_reason, send_back

CHECKLIST_FLAGS = ("buying_cycle", "influencer", "timeframe_known", "permission_to_follow_up")
CHECKLIST_NOTES = ("budget_note", "authority_note", "need_note", "timeline_note")
CHECKLIST_FIELDS = (*CHECKLIST_FLAGS, "opportunity_amount", *CHECKLIST_NOTES)

# Checklist values by field, typed: bool flags, the amount (Decimal or None), note text.
Checklist = dict[str, bool | Decimal | str | None]


def _lock_lead(lead: Lead, stage: str, verb: str) -> Lead:
    locked = Lead.objects.select_for_update(no_key=True).filter(pk=lead.pk).first()
    if locked is None:
        raise Conflict("This lead was merged into another one a moment ago. Reload and try again.")
    if locked.stage != stage:
        raise Conflict(f"Only a {Stage(stage).label} can be {verb}; this lead is {locked.get_stage_display()}.")
    return locked


def current_qualification(lead: Lead) -> Qualification | None:
    """The checklist of the lead's latest acceptance, or None."""
    return Qualification.objects.filter(lead_id=lead.pk).order_by("-created_at", "-id").first()


def _clean_checklist(values: Mapping[str, Any]) -> Checklist:
    """Typed checklist values from loosely typed input; unknown keys are refused."""
    unknown = set(values) - set(CHECKLIST_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown checklist fields: {', '.join(sorted(unknown))}.")
    cleaned: Checklist = {}
    for key, value in values.items():
        if key in CHECKLIST_FLAGS:
            cleaned[key] = bool(value)
        elif key == "opportunity_amount":
            if value in (None, ""):
                cleaned[key] = None
            else:
                try:
                    amount = Decimal(str(value))
                except InvalidOperation:
                    raise ValidationFailed("Enter the opportunity size as a number.", field_errors={key: ["Enter a number."]})
                if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
                    raise ValidationFailed("Enter a positive opportunity size.", field_errors={key: ["Enter a positive amount."]})
                cleaned[key] = amount.quantize(Decimal("0.01"))
        else:
            cleaned[key] = (value or "").strip()
    return cleaned


def _save_checklist(lead: Lead, cleaned: Checklist, at: datetime) -> Qualification:
    qualification = current_qualification(lead)
    if qualification is None:
        # A SAL made outside the queue (e.g. imported) still gets a checklist.
        qualification = Qualification(lead_id=lead.pk, created_at=at)
    for key, value in cleaned.items():
        setattr(qualification, key, value)
    return qualification


def missing_checklist_items(qualification: Qualification) -> dict[str, list[str]]:
    labels = {f.name: str(f.verbose_name) for f in Qualification._meta.concrete_fields}
    missing: dict[str, list[str]] = {}
    for key in REQUIRED_CHECKLIST:
        value = getattr(qualification, key)
        if key == "opportunity_amount":
            if not value or value <= 0:
                missing[key] = ["Enter the opportunity size."]
        elif not value:
            missing[key] = [f"Confirm “{labels[key]}”."]
    return missing


@retry_on_conflict
@transaction.atomic
def qualification_save(*, lead: Lead, by: User, at: datetime | None = None, **checklist: Any) -> Qualification:
    """Save the SQL checklist of a SAL without qualifying it yet."""
    at = at or timezone.now()
    cleaned = _clean_checklist(checklist)
    locked = _lock_lead(lead, Stage.SAL, "worked on")
    check_can_work_lead(locked, by)
    qualification = _save_checklist(locked, cleaned, at)
    qualification.save()
    record_event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.CHECKLIST, by=by, at=at)
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_qualify(*, lead: Lead, by: User, note: str = "", at: datetime | None = None, **checklist: Any) -> Qualification:
    """SAL → SQL once every required checklist item is confirmed; the checklist is saved with it.

    When items are missing nothing is written and ValidationFailed lists them by field.
    """
    at = at or timezone.now()
    cleaned = _clean_checklist(checklist)
    locked = _lock_lead(lead, Stage.SAL, "qualified")
    check_can_work_lead(locked, by)
    qualification = _save_checklist(locked, cleaned, at)
    missing = missing_checklist_items(qualification)
    if missing:
        raise ValidationFailed("Confirm every required checklist item before qualifying.", field_errors=missing)
    qualification.qualified_at, qualification.qualified_by = at, by
    qualification.save()
    with rollup.tracking([qualification.handoff_id]):
        if qualification.handoff_id:
            Handoff.objects.filter(pk=qualification.handoff_id).update(sql_at=at)
    summary = f"Opportunity ${qualification.opportunity_amount:,.0f}"
    transition(locked, Stage.SQL, by=by, reason="Qualified: checklist complete", note=note or summary, at=at)
    record_event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.QUALIFIED, by=by, at=at, note=note or summary)
    lead.stage = locked.stage
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_record_outcome(
    *, lead: Lead, by: User, outcome: str, lost_reason: str = "", note: str = "", at: datetime | None = None
) -> Qualification:
    """SQL → won or lost; a loss needs its reason."""
    at = at or timezone.now()
    if outcome not in Outcome.values:
        raise ValidationFailed("Choose won or lost.", field_errors={"outcome": ["Choose won or lost."]})
    lost_reason = (lost_reason or "").strip()
    if outcome == Outcome.LOST and not lost_reason:
        raise ValidationFailed("Say why it was lost.", field_errors={"lost_reason": ["Say why it was lost."]})
    if outcome == Outcome.WON:
        lost_reason = ""
    locked = _lock_lead(lead, Stage.SQL, "closed as won or lost")
    check_can_work_lead(locked, by)
    qualification = current_qualification(locked) or Qualification(lead_id=locked.pk, created_at=at)
    qualification.outcome, qualification.lost_reason = outcome, lost_reason
    qualification.outcome_at, qualification.outcome_by = at, by
    qualification.save()
    with rollup.tracking([qualification.handoff_id]):
        if qualification.handoff_id:
            Handoff.objects.filter(pk=qualification.handoff_id).update(won_at=at if outcome == Outcome.WON else None)
    reason = "Won" if outcome == Outcome.WON else f"Lost: {lost_reason}"
    transition(locked, Stage(outcome), by=by, reason=reason, note=note, at=at)
    # The label scoring is measured by (leadhub Outcome), in the same transaction as the move.
    record_queue_outcome(lead_id=locked.pk, result=outcome, by=by, at=at)
    record_event(handoff=qualification.handoff_id, lead=locked, kind=EventKind.OUTCOME, by=by, at=at, reason=reason, note=note)
    lead.stage = locked.stage
    return qualification


@retry_on_conflict
@transaction.atomic
def lead_recycle(
    *, lead: Lead, by: User, reason: RejectionReason | int | str | None, note: str = "", at: datetime | None = None
) -> Lead:
    """A SAL goes back to marketing: to nurture with the reason's cooldown, or disqualified."""
    check_note(note)
    at = at or timezone.now()
    chosen = resolve_reason(reason)
    locked = _lock_lead(lead, Stage.SAL, "recycled")
    check_can_work_lead(locked, by)
    moved = send_back(lead=locked, by=by, reason=chosen, note=note, at=at)
    qualification = current_qualification(locked)
    record_event(
        handoff=qualification.handoff_id if qualification else None,
        lead=locked,
        kind=EventKind.RECYCLED,
        by=by,
        at=at,
        reason=chosen.label,
        note=note,
    )
    lead.stage = moved.stage
    return moved
