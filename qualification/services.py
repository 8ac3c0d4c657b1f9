"""Scoring services: drafts, and rescoring a few leads (after ingest or a profile change).

The preview is in preview.py, publishing and the runs over all leads in publishing.py; their
entry points are importable from here too.
"""

import itertools
import logging

from django.contrib.admin.models import ADDITION, LogEntry
from django.db import connection, transaction
from django.utils import timezone

from leadhub.sql import aware_datetime

from . import bulk, selectors
from .choices import ModelStatus
from .models import EngagementRule, FitRule, PendingRescore, ScoringModel
from .pending import mark_for_rescoring
from .preview import BUCKETS, Preview, preview  # noqa: F401  (entry points kept here for callers)
from .publishing import (  # noqa: F401
    CHUNK_SIZE,
    NOT_STARTED,
    publish,
    rescore_all,
    resume_run,
    run_rescore,
    stalled_after,
    stalled_since,
    sweep_runs,
    validate_model,
)

log = logging.getLogger(__name__)

LEAD_BATCH = 2_000  # leads per statement when rescoring a few after ingest


# --- drafts ---------------------------------------------------------------------------------


@transaction.atomic
def copy_as_draft(*, model, by=None, name=None):
    """A new draft with `model`'s settings and rules (any model: published, archived or draft).
    With `by`, the draft's admin history says who copied it from which version."""
    source = ScoringModel.objects.prefetch_related("fit_rules", "engagement_rules").get(pk=model.pk)
    draft = ScoringModel.objects.create(
        name=name if name is not None else source.name,
        status=ModelStatus.DRAFT,
        mql_threshold=source.mql_threshold,
        min_grade=source.min_grade,
        grade_a_min=source.grade_a_min,
        grade_b_min=source.grade_b_min,
        grade_c_min=source.grade_c_min,
        required_fields=list(source.required_fields or []),
        half_life_days=source.half_life_days,
        copied_from=source,
    )
    FitRule.objects.bulk_create(
        FitRule(model=draft, field=r.field, operator=r.operator, value=r.value, points=r.points, label=r.label)
        for r in source.fit_rules.all()
    )
    EngagementRule.objects.bulk_create(
        EngagementRule(
            model=draft,
            kind=r.kind,
            points=r.points,
            conditions=list(r.conditions or []),
            aggregate=r.aggregate,
            aggregate_property=r.aggregate_property,
            at_least=r.at_least,
            cap=r.cap,
            window_days=r.window_days,
            label=r.label,
        )
        for r in source.engagement_rules.all()
    )
    if by is not None:
        LogEntry.objects.log_actions(
            user_id=by.pk, queryset=[draft], action_flag=ADDITION, change_message=f"Copied as a new draft from v{source.version}."
        )
    return draft


# --- a few leads ----------------------------------------------------------------------------


def rescore_leads(*, lead_ids, now=None):
    """Rescore these leads with the published model (after ingest or a profile change) and
    make the stage moves that follow. Returns how many leads were scored (0 when nothing is
    published: leads keep the scores they have)."""
    return _rescore(lead_ids, now, skip_busy=False)[0]


def rescore_pending(*, wait=False):
    """Rescore the leads waiting for it (qualification.models.PendingRescore), LEAD_BATCH at a time:
    each batch is taken and scored in one transaction, so a failure leaves it waiting. Leads
    another transaction holds right now stay waiting (unless `wait`), and are not taken again in
    this call. Two workers take different batches. Returns (how many were scored, how many
    were left waiting because they were busy)."""

    table = PendingRescore._meta.db_table
    pg = connection.vendor == "postgresql"
    scored, busy = 0, set()
    while True:
        with transaction.atomic():
            skip = f" WHERE lead_id NOT IN ({', '.join(str(int(pk)) for pk in sorted(busy))})" if busy else ""
            lock = " FOR UPDATE SKIP LOCKED" if pg else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}{skip}"
                    f" ORDER BY id LIMIT {int(LEAD_BATCH)}{lock}) RETURNING lead_id, activity_at"
                )
                rows = cursor.fetchall()
                if rows:
                    # The same leads' later rows too: a lead marked by many batches while the
                    # worker was behind is scored once (this scoring sees all they recorded).
                    leads = bulk.Leads(ids=tuple(sorted({row[0] for row in rows})))
                    where = leads.where("lead_id")
                    cursor.execute(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where.text}{lock})"
                        " RETURNING lead_id, activity_at",
                        where.params,
                    )
                    rows += cursor.fetchall()
                taken = _newest_by_lead(rows)
            if not taken:
                return scored, len(busy)
            n, left = _rescore(taken, None, skip_busy=not wait)
            scored += n
            if left:
                mark_for_rescoring({pk: taken[pk] for pk in left})
                busy.update(left)


def _newest_by_lead(rows):
    """{lead id: newest activity time or None} from (lead id, activity time) rows."""
    newest = {}
    for pk, at in rows:
        at = aware_datetime(at)
        if at is not None and (newest.get(pk) is None or at > newest[pk]):
            newest[pk] = at
        else:
            newest.setdefault(pk, None)
    return newest


def _rescore(lead_ids, now, *, skip_busy):
    """Rescore these leads (ids, or {id: newest new activity} from the waiting rows), which also
    moves their last_activity_at forward. Returns (scored, ids of busy leads left)."""
    last_activity = {pk: at for pk, at in lead_ids.items() if at is not None} if isinstance(lead_ids, dict) else {}
    spec = selectors.published_spec()
    if spec is None:
        # Nothing to score with; the newest activities still count.
        bulk.touch_last_activity(last_activity)
        return 0, ()
    now = now or timezone.now()
    scored, busy = 0, []
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), LEAD_BATCH):
        chunk = tuple(itertools.islice(ids, start, start + LEAD_BATCH))
        chunk_activity = {pk: last_activity[pk] for pk in chunk if pk in last_activity}
        n, _, _, left = bulk.rescore(spec, bulk.Leads(ids=chunk), as_of=now, skip_locked=skip_busy, last_activity=chunk_activity)
        scored += n
        busy += left
    return scored, tuple(busy)
