"""The rescoring queue: leads waiting to be scored again (PendingRescore rows).

Writers mark leads here, in their own transaction, when what a lead is scored on changed
(leadhub.hooks.on_facts_changed, see qualification.receivers); the rescoring task
(qualification.tasks.rescore_leads) takes the rows in batches (services.rescore_pending);
the sweeper and /healthz read the backlog."""

from collections.abc import Iterable, Mapping
from datetime import datetime

from leadhub.sql import execute as sql_execute
from leadhub.sql import rows_cte

from .models import PendingRescore


def mark_for_rescoring(lead_ids: Mapping[int, datetime | None] | Iterable[int]) -> int:
    """Add these leads to those waiting for rescoring (PendingRescore); returns how many ids.
    A dict maps each lead to the time of its newest new activity (or None): rescoring moves
    the lead's last_activity_at forward to it."""
    latest: Mapping[int, datetime | None] = lead_ids if isinstance(lead_ids, Mapping) else dict.fromkeys(lead_ids)
    if latest:
        cte, params = rows_cte("v", [("lead_id", "bigint"), ("at", "timestamptz")], sorted(latest.items()))
        sql_execute(
            f"WITH {cte} INSERT INTO {PendingRescore._meta.db_table} (lead_id, activity_at) SELECT lead_id, at FROM v", params
        )
    return len(latest)


def pending_backlog(now: datetime | None = None) -> tuple[int, datetime | None]:
    """(how many leads wait for rescoring, when the oldest started waiting or None)."""
    oldest = PendingRescore.objects.order_by("id").values_list("created_at", flat=True).first()
    if oldest is None:
        return 0, None
    return PendingRescore.objects.count(), oldest
