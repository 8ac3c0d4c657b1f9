"""What the handoff app keeps about a lead, moved when two leads merge (a receiver of
leadhub.hooks.on_leads_merged, see handoff.receivers)."""

from datetime import datetime

from django.contrib.auth.models import User

from leadhub.choices import Stage
from leadhub.models import Lead

from .. import rollup
from ..choices import EventKind, HandoffStatus
from ..models import Handoff, HandoffEvent, Qualification
from ..records import record_event


def handoff_lead_merged(*, survivor: Lead, duplicate: Lead, by: User | None, at: datetime) -> dict[str, int]:
    """Move the duplicate's handoffs, events and checklists to the survivor when two leads merge.

    The caller holds both lead rows locked in one transaction. A lead has at most one open
    handoff, so the duplicate's open one is closed (not rejected: no SDR decided, and rejection
    reports stay about sales' decisions) unless the survivor is an MQL without one, which then
    takes it over. Returns {"handoffs": n, "handoff_events": n, "qualifications": n, "closed": 0|1}.
    """
    closed = 0
    open_duplicate = Handoff.objects.select_for_update().filter(lead_id=duplicate.pk, status=HandoffStatus.OPEN).first()
    if open_duplicate is not None:
        survivor_has_open = Handoff.objects.filter(lead_id=survivor.pk, status=HandoffStatus.OPEN).exists()
        if survivor_has_open or survivor.stage != Stage.MQL:
            with rollup.tracking([open_duplicate.pk]):
                closed = Handoff.objects.filter(pk=open_duplicate.pk, status=HandoffStatus.OPEN).update(
                    status=HandoffStatus.CLOSED, closed_at=at
                )
            record_event(
                handoff=open_duplicate,
                lead=duplicate,
                kind=EventKind.CLOSED,
                by=by,
                at=at,
                reason="Duplicate",
                note=f"Lead {duplicate.email or duplicate} was merged into {survivor.email or survivor}.",
            )
    moved = {
        "handoffs": Handoff.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
        "handoff_events": HandoffEvent.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
        "qualifications": Qualification.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk),
    }
    return {**moved, "closed": closed}
