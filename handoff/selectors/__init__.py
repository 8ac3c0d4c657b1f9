"""Reads for the sales-acceptance queue, its side panel and the lead page's handoff section.

Where a rule lives:
- `queue_sql`: the queue page's counts and rows in plain SQL (`QueueQuery`, `queue_summary`,
  `queue_summary_and_rows`), prepared on PostgreSQL, in one round trip.
- `rows`: what a row prints (SLA state and text, waits, names, links), one presenter for the
  page's plain rows (`queue_rows`) and for Handoff objects (`decorate`, `queue_row`).
- `why`: "why it scored" labels from scoring's answer, kept in this process.
- `pages`: the side panel, the lead page's handoff section, notices, the last decision.
- `querysets`: the queue as ORM querysets for the API and the CSV export.
"""

from .pages import (
    checklist_items,
    handoff_panel,
    last_decision,
    lead_handoff_context,
    original_due_at,
    rejection_reasons,
    sla_restart_text,
    unread_notices,
)
from .querysets import QUEUE_FIELDS, queue_csv_rows, queue_handoffs
from .queue_sql import QUEUE_COUNT_CAP, QUEUE_ORDER_SQL, QueueQuery, queue_summary, queue_summary_and_rows
from .rows import QueueRow, decorate, format_duration, pool_wait, pool_wait_title, queue_row, queue_rows, sla_state, sla_text
from .why import top_reasons

__all__ = [
    "QUEUE_COUNT_CAP",
    "QUEUE_FIELDS",
    "QUEUE_ORDER_SQL",
    "QueueQuery",
    "QueueRow",
    "checklist_items",
    "decorate",
    "format_duration",
    "handoff_panel",
    "last_decision",
    "lead_handoff_context",
    "original_due_at",
    "pool_wait",
    "pool_wait_title",
    "queue_csv_rows",
    "queue_handoffs",
    "queue_row",
    "queue_rows",
    "queue_summary",
    "queue_summary_and_rows",
    "rejection_reasons",
    "sla_restart_text",
    "sla_state",
    "sla_text",
    "top_reasons",
    "unread_notices",
]
