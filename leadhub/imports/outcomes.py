"""Historical outcomes from an import: a column mapped to `outcome` (won/lost, converted
yes/no, 1/0) with an optional date and amount records an Outcome(origin="import") for the
lead, whatever its stage, without a queue history (no StageChange, no handoff: it is
"recorded outside the queue" and stays out of the SDRs' figures).

Idempotent per lead and source system: one import outcome per (lead, source); importing the
file again changes it only when the file says something else. Written set-based, a few
statements per batch. (The API's `POST /api/outcomes/` has its own service; the two can share
one once both exist.)
"""

from collections import Counter

from ..models import Outcome, OutcomeOrigin
from .writes import insert_outcomes


def write_outcomes(items, *, source, dry_run=False, new_leads=None):
    """items: [(lead_id, {"result", "occurred_on", "amount"})]. Returns a Counter with
    "outcome" = how many outcomes were (or, dry_run, would be) recorded or changed."""
    counts = Counter()
    if not items:
        return counts
    wanted = {}
    for lead_id, outcome in items:
        wanted[lead_id] = outcome  # a lead twice in a batch (merged addresses): the later row wins
    # Leads created by this batch have no outcome yet: only the others are looked up.
    known = [i for i in wanted if i not in (new_leads or ())]
    existing = (
        {o.lead_id: o for o in Outcome.objects.filter(origin=OutcomeOrigin.IMPORT, source=source, lead_id__in=known)}
        if known
        else {}
    )
    create, update = [], []
    for lead_id, outcome in wanted.items():
        current = existing.get(lead_id)
        if current is None:
            create.append((lead_id, outcome["result"], outcome["occurred_on"], outcome["amount"]))
        elif (current.result, current.occurred_on, current.amount) != (
            outcome["result"],
            outcome["occurred_on"],
            outcome["amount"],
        ):
            current.result, current.occurred_on, current.amount = outcome["result"], outcome["occurred_on"], outcome["amount"]
            update.append(current)
    counts["outcome"] = len(create) + len(update)
    if dry_run:
        return counts
    if create:
        insert_outcomes(create, source=source, origin=OutcomeOrigin.IMPORT)
    if update:
        Outcome.objects.bulk_update(update, ["result", "occurred_on", "amount"])
    return counts
