"""Every write of the sales-acceptance queue, one module per idea:

- handoff.routing: a new MQL's handoff and who gets it (round-robin), pool assignment;
- decisions: claim, reassign, accept, reject;
- sal: the SQL checklist, qualifying, the outcome, recycling;
- profiles: SDR availability and capacity, with their history;
- merge: moving a merged-away lead's handoffs (a receiver of leadhub.hooks.on_leads_merged);
- notifications: dismissing a notice.

Each service takes keyword-only arguments and the acting user (`by`, None for the system),
runs in one transaction and locks what it changes in the one documented order (lead, handoff,
SDR profile, rollup rows; each set in id/key order; never auth_user: docs/locking.md).
Services that open their own transaction are wrapped in leadhub.db.retry_on_conflict.
The names below are the package's public API (views, the API, the admin and tests use them).
"""

from ..permissions import ACT_PERMISSION, MANAGE_PERMISSION, can_act, display_name, is_manager
from ..routing import handoff_assign, handoff_create, handoff_create_many, sla_policy_for
from ..sla_clock import due_at_for
from .decisions import NOTE_MAX_LENGTH, handoff_accept, handoff_claim, handoff_reassign, handoff_reject
from .merge import handoff_lead_merged
from .notifications import notification_dismiss
from .profiles import MAX_CAPACITY, PROFILE_LABELS, PROFILE_PERMISSION, sdr_profile_update
from .sal import (
    CHECKLIST_FIELDS,
    CHECKLIST_FLAGS,
    CHECKLIST_NOTES,
    current_qualification,
    lead_qualify,
    lead_record_outcome,
    lead_recycle,
    missing_checklist_items,
    qualification_save,
)

__all__ = [
    "ACT_PERMISSION",
    "CHECKLIST_FIELDS",
    "CHECKLIST_FLAGS",
    "CHECKLIST_NOTES",
    "MANAGE_PERMISSION",
    "MAX_CAPACITY",
    "NOTE_MAX_LENGTH",
    "PROFILE_LABELS",
    "PROFILE_PERMISSION",
    "can_act",
    "current_qualification",
    "display_name",
    "due_at_for",
    "handoff_accept",
    "handoff_assign",
    "handoff_claim",
    "handoff_create",
    "handoff_create_many",
    "handoff_lead_merged",
    "handoff_reassign",
    "handoff_reject",
    "is_manager",
    "lead_qualify",
    "lead_record_outcome",
    "lead_recycle",
    "missing_checklist_items",
    "notification_dismiss",
    "qualification_save",
    "sdr_profile_update",
    "sla_policy_for",
]
