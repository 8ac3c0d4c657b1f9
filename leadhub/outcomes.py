"""Outcomes: a lead's result (won or lost), the labels that measure scoring.

Two ways in:
- the queue: an SQL closed as won or lost (handoff.services.sal.lead_record_outcome) writes an
  Outcome(origin="queue") in the same transaction as its stage change (`record_queue_outcome`);
- history from elsewhere (the API, imports): `record_outcomes(rows, origin=...)`, set-based and
  idempotent by (source, external_id). Such an outcome is "recorded outside the queue": it
  never moves the lead's stage, writes no StageChange and touches no handoff, so SLA and queue
  figures never see it.

Readers take a lead's latest outcome by occurred_on (unknown dates last), then id.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypedDict

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from .db import retry_on_conflict
from .errors import ValidationFailed
from .models import Lead, Outcome, OutcomeOrigin, OutcomeResult
from .sql import db_datetime, rows_cte
from .sql import execute as sql_execute

BATCH_LIMIT = 1000
OUTCOMES_SHOWN = 20
RESULT_WORDS = {
    "won": OutcomeResult.WON,
    "win": OutcomeResult.WON,
    "converted": OutcomeResult.WON,
    "lost": OutcomeResult.LOST,
    "loss": OutcomeResult.LOST,
    "not converted": OutcomeResult.LOST,
}
YES_WORDS = {"yes", "y", "true", "1", "t"}
NO_WORDS = {"no", "n", "false", "0", "f"}


class OutcomeRow(TypedDict):
    """One outcome to record (already checked): the lead, won or lost, when and how much, and
    its key in the system it came from (empty external_id: a key is derived from the content)."""

    lead_id: int
    result: str
    occurred_on: date | None
    amount: Decimal | None
    source: str
    external_id: str


@dataclass(frozen=True)
class OutcomeStatus:
    index: int
    lead_id: int
    source: str
    external_id: str
    status: str  # "created" or "known"


def parse_result(value: object) -> str:
    """ "won"/"lost" from a result word or a converted yes/no; ValueError with a sentence."""
    if isinstance(value, bool):
        return OutcomeResult.WON if value else OutcomeResult.LOST
    word = str(value if value is not None else "").strip().lower()
    if word in RESULT_WORDS:
        return RESULT_WORDS[word]
    if word in YES_WORDS:
        return OutcomeResult.WON
    if word in NO_WORDS:
        return OutcomeResult.LOST
    raise ValueError(f"“{value}” is not an outcome: give won or lost (or converted yes or no).")


def derived_key(row: OutcomeRow) -> str:
    """The key of an outcome sent without one: the same content is the same outcome."""
    content = f"{row['lead_id']}|{row['result']}|{row['occurred_on'] or ''}|{row['amount'] if row['amount'] is not None else ''}"
    return "auto:" + hashlib.sha256(content.encode()).hexdigest()[:40]


@retry_on_conflict
@transaction.atomic
def record_outcomes(
    rows: Sequence[OutcomeRow], *, origin: str, by: User | None = None, at: datetime | None = None
) -> list[OutcomeStatus]:
    """Record outcomes recorded outside the queue (origin "api" or "import"), all or nothing,
    in one INSERT. Idempotent: a (source, external_id) recorded before, or earlier in the same
    batch, is "known" and not written again. Never changes a lead's stage or its handoffs.
    Returns one OutcomeStatus per row, in order."""
    if origin not in (OutcomeOrigin.API, OutcomeOrigin.IMPORT):
        raise ValidationFailed("Outcomes from the queue are recorded by closing the SQL, not here.")
    if len(rows) > BATCH_LIMIT:
        raise ValidationFailed(f"A batch holds at most {BATCH_LIMIT:,} outcomes; this one has {len(rows):,}.")
    at = at or timezone.now()
    keys = [(row["source"] or origin, row["external_id"] or derived_key(row)) for row in rows]
    first: dict[tuple[str, str], int] = {}
    inserts = []
    for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
        if key in first:
            continue
        first[key] = index
        inserts.append(
            [
                row["lead_id"],
                row["result"],
                row["occurred_on"].isoformat() if row["occurred_on"] else None,
                str(row["amount"]) if row["amount"] is not None else None,
                *key,
            ]
        )
    # Key order: two batches with the same keys never wait for each other in a cycle.
    inserts.sort(key=lambda r: (r[4], r[5]))
    created: set[tuple[str, str]] = set()
    if inserts:
        cte, params = rows_cte(
            "v",
            [
                ("lead_id", "bigint"),
                ("result", "text"),
                ("occurred_on", "date"),
                ("amount", "numeric"),
                ("source", "text"),
                ("external_id", "text"),
            ],
            inserts,
        )
        table = Outcome._meta.db_table
        # "WHERE true": SQLite needs it to tell the upsert's ON CONFLICT from a join's ON. The
        # conflict target names the partial unique index (outcome_source_external_id).
        sql = (
            f"WITH {cte} INSERT INTO {table} (lead_id, result, occurred_on, amount, origin, source, external_id,"
            " recorded_by_id, created_at)"
            " SELECT v.lead_id, v.result, v.occurred_on, v.amount, %s, v.source, v.external_id, %s, %s FROM v WHERE true"
            " ORDER BY v.source, v.external_id"
            " ON CONFLICT (source, external_id) WHERE NOT (external_id = '') DO NOTHING RETURNING source, external_id"
        )
        returned = sql_execute(sql, [*params, origin, by.pk if by else None, db_datetime(at)]) or ()
        created = {(source, external_id) for source, external_id in returned}
    return [
        OutcomeStatus(index, row["lead_id"], *key, "created" if key in created and first[key] == index else "known")
        for index, (row, key) in enumerate(zip(rows, keys, strict=True))
    ]


def record_queue_outcome(*, lead_id: int, result: str, by: User | None, at: datetime) -> Outcome:
    """The queue closed an SQL as won or lost: its Outcome, in the caller's transaction."""
    return Outcome.objects.create(
        lead_id=lead_id,
        result=result,
        occurred_on=timezone.localdate(at),
        origin=OutcomeOrigin.QUEUE,
        recorded_by=by,
        created_at=at,
    )


def backfill_queue_outcomes(*, at: datetime | None = None) -> int:
    """Outcome(origin="queue") rows for won or lost leads that have none (demo data and leads
    closed before outcomes were recorded), in one INSERT … SELECT. Returns how many."""
    at = at or timezone.now()
    outcome, lead = Outcome._meta.db_table, Lead._meta.db_table
    sql = (
        f"INSERT INTO {outcome} (lead_id, result, occurred_on, amount, origin, source, external_id, recorded_by_id, created_at)"
        f" SELECT l.id, l.stage, NULL, NULL, %s, '', '', NULL, %s FROM {lead} l"
        f" WHERE l.stage IN (%s, %s) AND NOT EXISTS (SELECT 1 FROM {outcome} o WHERE o.lead_id = l.id)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [OutcomeOrigin.QUEUE, db_datetime(at), OutcomeResult.WON, OutcomeResult.LOST])
        return cursor.rowcount


def latest_outcomes(lead: Lead) -> list[Outcome]:
    """A lead's outcomes, latest first (for the lead page)."""
    return list(lead.outcomes.select_related("recorded_by").order_by("-occurred_on", "-id")[:OUTCOMES_SHOWN])
