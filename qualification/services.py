"""Scoring services: drafts, preview, publish, and rescoring (one lead, all leads, resumable)."""

import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from leadhub.choices import Stage
from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Lead
from leadhub.sql import aware_datetime, db_datetime

from . import bulk, engine, selectors
from .choices import ModelStatus, RunKind, RunStatus
from .models import EngagementRule, FitRule, PendingRescore, RescoreRun, ScoringModel
from .pending import mark_for_rescoring

log = logging.getLogger(__name__)

CHUNK_SIZE = 10_000  # leads per statement when rescoring everything
LEAD_BATCH = 2_000  # leads per statement when rescoring a few after ingest


def stalled_after():
    """A run without a heartbeat this long is presumed dead (its worker was killed): the
    sweeper resumes it, and so may a person. A chunk takes seconds, so this is many beats."""
    return timedelta(seconds=settings.LEADHUB_STALLED_AFTER_SECONDS)


def stalled_since(run, now=None):
    """When a pending or running run last showed progress, if that is longer ago than
    stalled_after(); else None (finished, failed, or making progress)."""
    if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return None
    last = run.heartbeat_at or run.created_at
    return last if last < (now or timezone.now()) - stalled_after() else None


# --- drafts ---------------------------------------------------------------------------------


@transaction.atomic
def copy_as_draft(*, model, by=None, name=None):
    """A new draft with `model`'s settings and rules (any model: published, archived or draft)."""
    source = ScoringModel.objects.prefetch_related("fit_rules", "engagement_rules").get(pk=model.pk)
    draft = ScoringModel.objects.create(
        name=name if name is not None else source.name, status=ModelStatus.DRAFT,
        mql_threshold=source.mql_threshold, min_grade=source.min_grade, grade_a_min=source.grade_a_min,
        grade_b_min=source.grade_b_min, grade_c_min=source.grade_c_min,
        required_fields=list(source.required_fields or []), half_life_days=source.half_life_days, copied_from=source,
    )
    FitRule.objects.bulk_create(
        FitRule(model=draft, field=r.field, operator=r.operator, value=r.value, points=r.points, label=r.label)
        for r in source.fit_rules.all()
    )
    EngagementRule.objects.bulk_create(
        EngagementRule(
            model=draft, kind=r.kind, points=r.points, condition_property=r.condition_property,
            condition_operator=r.condition_operator, condition_value=r.condition_value, cap=r.cap,
            window_days=r.window_days, label=r.label,
        )
        for r in source.engagement_rules.all()
    )
    return draft


def validate_model(model):
    """Raise ValidationFailed (messages by field) unless the model and all its rules are valid."""
    errors = {}
    try:
        model.full_clean(exclude=["version"])
    except ValidationError as exc:
        errors.update({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    for rule in [*model.fit_rules.all(), *model.engagement_rules.all()]:
        try:
            rule.full_clean()
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(f"{type(rule).__name__} “{rule}”: {key}", []).extend(messages)
    if not model.fit_rules.exists() and not model.engagement_rules.exists():
        errors.setdefault("__all__", []).append("A model needs at least one rule.")
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(f"v{model.version} cannot be published: {first}", field_errors=errors)


# --- preview --------------------------------------------------------------------------------

BUCKETS = [(-1, "below 0")] + [(b, f"{b * 10}–{b * 10 + 9.9:g}") for b in range(10)] + [(10, "100 and up")]


def _bucket_sql(expr, scale):
    """CASE giving the score band of expr (scale 1 for points, 10 for tenths)."""
    whens = " ".join(f"WHEN {expr} < {(b + 1) * 10 * scale} THEN {b}" for b in range(-1, 10))
    return f"CASE {whens} ELSE 10 END"


@dataclass
class Preview:
    draft_version: int
    current_version: int | None
    leads: int = 0
    mql_now: int = 0
    promoted: int = 0  # nurture/new leads publish moves to MQL
    nurtured: int = 0  # new leads publish moves to nurture
    qualify_now: int = 0
    qualify_draft: int = 0
    entering: int = 0  # qualify under the draft, not now
    leaving: int = 0  # qualify now, not under the draft
    leaving_in_mql: int = 0  # of those, already MQL: they stay (rescoring never demotes)
    held_by_cooldown: int = 0  # would qualify but are in cooldown
    held_past_mql: int = 0  # would qualify but are already past MQL or disqualified
    distribution: list = field(default_factory=list)  # (label, now, draft)
    sample: list = field(default_factory=list)
    as_of: object = None

    @property
    def mql_after(self):
        return self.mql_now + self.promoted


PREVIEW_PARTS = 8  # id ranges of leads the preview scores separately (bulk.parallel_scores_sql)
BIGINT_MAX = 2**63 - 1


def _parts():
    """All leads as PREVIEW_PARTS id ranges of about equal size (PostgreSQL; elsewhere one part).
    The first and last ranges are open-ended, so a lead added meanwhile still falls in one."""
    if connection.vendor != "postgresql":
        return (bulk.ALL,)
    low, high = Lead.objects.aggregate(low=Min("id"), high=Max("id")).values()
    if low is None:
        return (bulk.ALL,)
    step = (high - low) // PREVIEW_PARTS + 1
    starts = list(range(low, high + 1, step))
    ends = [start - 1 for start in starts[1:]] + [BIGINT_MAX]
    return tuple(bulk.Leads(start, end) for start, end in zip([-BIGINT_MAX, *starts[1:]], ends, strict=True))


def preview(*, draft, by=None, now=None, sample_size=20):
    """What publishing `draft` would do, computed without writing (one set-based statement).

    "Qualify" means meeting the MQL rule (threshold, grade, required fields) on scores: the
    stored ones for now, the draft's for after. Publish moves to MQL exactly the new and
    nurture leads that qualify under the draft and are not in cooldown (`promoted`).
    """
    now = now or timezone.now()
    spec = selectors.snapshot(draft)
    current = selectors.published_model()
    current_spec = selectors.snapshot(current) if current and current.pk != draft.pk else None
    today = engine.epoch_day(now)
    if current_spec:
        old_q = (
            f"(l.score_model_version IS NOT NULL AND l.total_score >= %s AND l.grade IN"
            f" ({', '.join(repr(g) for g in bulk.grades_at_least(current_spec.min_grade))}) AND {bulk.required_sql(current_spec)})"
        )
        old_params = [engine.from_tenths(current_spec.threshold)]
    else:
        old_q, old_params = "(1 = 0)", []
    cooldown = "(l.nurture_until IS NOT NULL AND l.nurture_until > %s)"
    # What the counts need of each lead rides along with its scores, so the leads are read once.
    carry = [
        ("stage", bulk.SQL().add("l.stage")),
        ("cd", bulk.SQL().add(f"CASE WHEN {cooldown} THEN 1 ELSE 0 END", db_datetime(now))),
        ("oq", bulk.SQL().add(f"CASE WHEN {old_q} THEN 1 ELSE 0 END", *old_params)),
        ("rq", bulk.SQL().add(f"CASE WHEN {bulk.required_sql(spec)} THEN 1 ELSE 0 END")),
        ("ob", bulk.SQL().add(_bucket_sql("l.total_score", 1))),
        ("old_total", bulk.SQL().add("l.total_score")),
    ]
    new_q = f"(s.total >= {spec.threshold} AND s.grade IN ({', '.join(repr(g) for g in bulk.grades_at_least(spec.min_grade))}) AND s.rq = 1)"

    # One statement, so the draft's scores are computed once. The leads are scored in parts that
    # parallel workers take whole (bulk.parallel_scores_sql), and each worker reduces its leads at
    # once to groups for the counts, so all that is handed on and kept is `g`: one row per group,
    # except that leads whose qualification changes keep a row of their own (with what the sample
    # shows of them), for the sample to be chosen from. Only the sample's few leads are read
    # again, for their names and stored grade.
    changed = "q.oq <> q.nq"
    column, end = bulk.fence(parallel=True)
    if current_spec:
        # A lead scored today by the published model, with nothing waiting to be rescored
        # (every change of its facts marks it), holds that model's scores as of today.
        day_start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=today)
        fresh = bulk.SQL().add(
            f"(COALESCE(l.score_model_version, -1) = %s AND l.scored_at IS NOT NULL AND l.scored_at >= %s"
            # NOT IN: one hashed set of the (few) waiting leads; a correlated NOT EXISTS would keep
            # PostgreSQL from handing the parts to parallel workers.
            f" AND l.scored_at < %s AND l.id NOT IN (SELECT p.lead_id FROM {PendingRescore._meta.db_table} p))",
            current.version, db_datetime(day_start), db_datetime(day_start + timedelta(days=1)))
        with_decay, scored = bulk.preview_scores_sql(spec, today, _parts(), carry=carry, published=current_spec, fresh=fresh)
    else:
        with_decay, scored = bulk.parallel_scores_sql(spec, today, _parts(), carry=carry)
    sql = bulk.SQL().add(
        f"{with_decay}, g AS MATERIALIZED (SELECT q.stage AS stage, q.cd AS cd, q.oq AS oq, q.nq AS nq, q.ob AS ob, q.nb AS nb,"
        f" CASE WHEN {changed} THEN q.id END AS id, CASE WHEN {changed} THEN q.old_total END AS old_total,"
        f" CASE WHEN {changed} THEN q.fit END AS fit, CASE WHEN {changed} THEN q.eng END AS eng,"
        f" CASE WHEN {changed} THEN q.grade END AS grade, COUNT(*) AS n"
        " FROM (SELECT s.id AS id, s.stage AS stage, s.cd AS cd, s.oq AS oq, s.ob AS ob, s.old_total AS old_total, s.fit AS fit,"
        f" s.eng AS eng, s.grade AS grade, CASE WHEN {new_q} THEN 1 ELSE 0 END AS nq, {_bucket_sql('s.total', 10)} AS nb{column}"
        " FROM ("
    )
    sql.extend(scored).add(f") s{end}) q GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)")

    def order(t=""):
        return f"ORDER BY {t}nq DESC, ABS({t}fit + {t}eng - {t}old_total * 10) DESC, {t}id"

    sql.add(
        " SELECT 'count' AS row_kind, stage, cd, oq, nq, ob, nb, CAST(SUM(n) AS BIGINT) AS n, NULL AS id, NULL AS email,"
        " NULL AS first_name, NULL AS last_name, NULL AS old_total, NULL AS old_grade, NULL AS fit, NULL AS eng, NULL AS total,"
        " NULL AS grade FROM g GROUP BY stage, cd, oq, nq, ob, nb UNION ALL SELECT * FROM (SELECT 'sample', t.stage, t.cd, t.oq,"
        " t.nq, t.ob, t.nb, 1, t.id, l.email, l.first_name, l.last_name, t.old_total, l.grade, t.fit, t.eng, t.fit + t.eng, t.grade"
        f" FROM (SELECT * FROM g WHERE id IS NOT NULL {order()} LIMIT {int(sample_size)}) t JOIN {bulk.LEAD} l ON l.id = t.id"
        f" {order('t.')}) sample"
    )
    result = Preview(draft_version=draft.version, current_version=current.version if current else None, as_of=now)
    now_dist, draft_dist = {}, {}
    with transaction.atomic(), connection.cursor() as cursor:
        bulk.tune_for_preview()
        cursor.execute(sql.text, sql.params)
        rows = cursor.fetchall()
    for row_kind, stage, cd, oq, nq, old_b, new_b, n, *lead in rows:
        if row_kind == "sample":
            result.sample.append(_sample_row(stage, cd, oq, nq, *lead))
            continue
        result.leads += n
        now_dist[old_b] = now_dist.get(old_b, 0) + n
        draft_dist[new_b] = draft_dist.get(new_b, 0) + n
        if stage == Stage.MQL:
            result.mql_now += n
        if stage == Stage.NEW:
            result.nurtured += n
        result.qualify_now += n if oq else 0
        result.qualify_draft += n if nq else 0
        if nq and not oq:
            result.entering += n
        if oq and not nq:
            result.leaving += n
            if stage == Stage.MQL:
                result.leaving_in_mql += n
        if nq and stage in (Stage.NEW, Stage.NURTURE):
            if cd:
                result.held_by_cooldown += n
            else:
                result.promoted += n
        elif nq and stage != Stage.MQL:
            result.held_past_mql += n
    result.distribution = [(label, now_dist.get(b, 0), draft_dist.get(b, 0)) for b, label in BUCKETS]
    return result


def _sample_row(stage, cd, oq, nq, lead_id, email, first, last, old_total, old_grade, fit, eng, total, grade):
    moves = nq and stage in (Stage.NEW, Stage.NURTURE) and not cd
    if moves:
        note = "moves to MQL"
    elif nq:
        note = "in cooldown" if cd else "stays (already past nurture)"
    else:
        note = "stays MQL: rescoring never demotes" if stage == Stage.MQL else "no longer qualifies"
    return {
        "id": lead_id, "name": f"{first} {last}".strip() or email, "email": email, "stage": stage,
        "old_total": Decimal(old_total).quantize(Decimal("0.1")), "old_grade": old_grade or "—",
        "new_fit": engine.from_tenths(fit), "new_engagement": engine.from_tenths(eng), "new_total": engine.from_tenths(total),
        "new_grade": grade, "enters": bool(nq), "moves_to_mql": bool(moves), "note": note,
    }


# --- publish and runs -----------------------------------------------------------------------


def _lead_span():
    agg = Lead.objects.aggregate(n=Count("id"), top=Max("id"))
    return agg["n"] or 0, agg["top"] or 0


def _start_run(*, model, kind, by, now):
    total, top = _lead_span()
    try:
        with transaction.atomic():
            return RescoreRun.objects.create(
                model=model, kind=kind, as_of=now, total=total, max_lead_id=top, started_by=by,
            )
    except IntegrityError:
        raise Conflict(_busy_sentence(selectors.active_run()))


NOT_STARTED = "did not start:"  # in the error of a run recorded only to say why it could not start


def _busy_sentence(run):
    """Why a new run cannot start while `run` is active."""
    if run is None:
        return "Another rescoring run is in progress."
    stalled = stalled_since(run)
    if stalled:
        return (f"Another rescoring run ({run}, {run.done:,} of {run.total:,}) has made no progress since "
                f"{timezone.localtime(stalled):%Y-%m-%d %H:%M} (its worker stopped); the sweeper resumes it within a "
                "minute, or resume it in the admin.")
    return f"Another rescoring run is in progress ({run}: {run.done:,} of {run.total:,}); wait for it to finish."


def _enqueue(run):
    from .tasks import rescore_run

    transaction.on_commit(lambda: rescore_run.delay(run.pk))


def publish(*, draft, by, enqueue=True, now=None):
    """Publish `draft`: archive the published model, make this the only published one, and
    start a rescoring run of all leads (a Celery task, queued on commit). Returns the run.

    Refused (Conflict) while another run is active, so two publishes never run at once."""
    now = now or timezone.now()
    with transaction.atomic():
        draft = ScoringModel.objects.select_for_update().get(pk=draft.pk)
        if draft.status != ModelStatus.DRAFT:
            raise Conflict(f"v{draft.version} is {draft.get_status_display().lower()}; only a draft can be published.")
        validate_model(draft)
        if selectors.active_run() is not None:
            sentence = f"v{draft.version} was not published: {_busy_sentence(selectors.active_run())} Publish when it is done."
            log.warning("publish refused: %s", sentence)
            raise Conflict(sentence)
        try:
            with transaction.atomic():
                ScoringModel.objects.filter(status=ModelStatus.PUBLISHED).update(status=ModelStatus.ARCHIVED, updated_at=now)
                draft.status = ModelStatus.PUBLISHED
                draft.published_at = now
                draft.published_by = by
                draft.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        except IntegrityError:
            raise Conflict("Another model was published at the same moment; reload and try again.")
        run = _start_run(model=draft, kind=RunKind.PUBLISH, by=by, now=now)
        if enqueue:
            _enqueue(run)
    log.info("Published scoring model v%s (run %s)", draft.version, run.pk)
    return run


def rescore_all(*, by=None, kind=RunKind.MANUAL, enqueue=True, now=None):
    """Start a run rescoring every lead with the published model at `now` (nightly decay).
    Returns the run, or None when nothing is published or another run is active.

    Never silent: when the run cannot start, the log says why, and (when a model is
    published) a failed run with that sentence is recorded, so the admin's run list shows it."""
    now = now or timezone.now()
    with transaction.atomic():
        model = selectors.published_model()
        if model is None:
            log.warning("%s rescoring did not start: no scoring model is published.", RunKind(kind).label)
            return None
        try:
            run = _start_run(model=model, kind=kind, by=by, now=now)
        except Conflict as exc:
            sentence = f"{RunKind(kind).label} rescoring {NOT_STARTED} {exc.message}"
            log.warning("%s", sentence)
            RescoreRun.objects.create(
                model=model, kind=kind, as_of=now, status=RunStatus.FAILED, active=None, started_by=by,
                finished_at=now, error=sentence,
            )
            return None
        if enqueue:
            _enqueue(run)
    return run


def resume_run(*, run, by=None):
    """Restart a failed or stalled (no heartbeat for stalled_after()) run from where it stopped.
    It continues with the same `as_of`, so the scores converge to those of a run that never died.
    A person's resume starts the count of automatic resumes over."""
    with transaction.atomic():
        run = RescoreRun.objects.select_for_update().select_related("model").get(pk=run.pk)
        if run.status != RunStatus.FAILED and not stalled_since(run):
            raise Conflict("This run is not stopped: it finished, or it is still making progress.")
        if run.model.status != ModelStatus.PUBLISHED:
            raise Conflict(f"v{run.model.version} is no longer published; rescore with the published model instead.")
        if run.started_at is None and NOT_STARTED in run.error:
            raise Conflict("This run never started (it was refused: see its error); start a new one instead.")
        try:
            with transaction.atomic():
                RescoreRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.PENDING, active=True, error="", attempts=0, heartbeat_at=timezone.now(), finished_at=None,
                )
        except IntegrityError:
            raise Conflict("Another rescoring run is in progress.")
        run.refresh_from_db()
        _enqueue(run)
    log.info("Rescore run %s resumed by %s", run.pk, by or "the system")
    return run


def sweep_runs(*, now=None):
    """The sweeper's part for runs: resume each active run that stalled, or, after
    settings.LEADHUB_MAX_RESUMES resumes, mark it failed with a sentence. Returns
    (resumed, failed) run ids. Each run is claimed with a conditional update, so two sweepers
    never resume one run twice."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    stalled = RescoreRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    resumed, failed = [], []
    for run in stalled.select_related("model"):
        last = run.heartbeat_at or run.created_at
        claim = RescoreRun.objects.filter(pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at)
        if run.attempts >= settings.LEADHUB_MAX_RESUMES or run.model.status != ModelStatus.PUBLISHED:
            why = (f"v{run.model.version} is no longer published." if run.model.status != ModelStatus.PUBLISHED else
                   f"Stopped after {run.attempts} automatic resumes: it made no progress since "
                   f"{timezone.localtime(last):%Y-%m-%d %H:%M}" + (f" (last error: {run.error})." if run.error else "."))
            if claim.update(status=RunStatus.FAILED, active=None, finished_at=now, error=why):
                log.error("Rescore run %s failed: %s", run.pk, why)
                failed.append(run.pk)
            continue
        if claim.update(status=RunStatus.PENDING, heartbeat_at=now, attempts=F("attempts") + 1):
            log.warning("Rescore run %s stalled (no progress since %s); resuming it (attempt %s)", run.pk, last, run.attempts + 1)
            with transaction.atomic():
                _enqueue(run)
            resumed.append(run.pk)
    return resumed, failed


def _set_status(run_id, status, **fields):
    active = True if status in (RunStatus.PENDING, RunStatus.RUNNING) else None
    RescoreRun.objects.filter(pk=run_id).update(status=status, active=active, **fields)


def run_rescore(*, run_id, chunk_size=CHUNK_SIZE):
    """Work through a run, chunk by chunk (one transaction each, the cursor saved with it).

    Idempotent and resumable: a retried or resumed task continues from the saved cursor, and
    redoing a chunk writes the same scores (they depend only on the facts, the model and the
    run's `as_of`); stage moves already made are not made again.
    """
    run = RescoreRun.objects.select_related("model").get(pk=run_id)
    if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return run
    if run.model.status != ModelStatus.PUBLISHED:
        _set_status(run.pk, RunStatus.FAILED, error=f"v{run.model.version} is no longer published.", finished_at=timezone.now())
        return run
    now = timezone.now()
    RescoreRun.objects.filter(pk=run.pk, started_at__isnull=True).update(started_at=now)
    _set_status(run.pk, RunStatus.RUNNING, heartbeat_at=now)
    spec = selectors.snapshot(run.model)
    try:
        while True:
            with transaction.atomic():
                run = RescoreRun.objects.select_for_update().get(pk=run_id)
                if run.status != RunStatus.RUNNING:
                    break
                bounds = bulk.chunk_bounds(run.last_lead_id, chunk_size, max_id=run.max_lead_id)
                if bounds is None:
                    now = timezone.now()
                    _set_status(run.pk, RunStatus.DONE, finished_at=now, heartbeat_at=now, done=run.total if run.done > run.total else run.done)
                    break
                scored, nurtured, promoted, _ = bulk.rescore(spec, bulk.Leads(*bounds), as_of=run.as_of, now=timezone.now())
                run.done += scored
                run.total = max(run.total, run.done)
                run.nurtured += nurtured
                run.promoted += promoted
                run.last_lead_id = bounds[1]
                run.heartbeat_at = timezone.now()
                run.save(update_fields=["done", "total", "nurtured", "promoted", "last_lead_id", "heartbeat_at"])
    except Exception as exc:
        # The run stays active: the task's retry (database errors) or the sweeper (anything
        # else, once its heartbeat is stale) resumes it from the saved cursor, and after
        # repeated failures the sweeper marks it failed with this error.
        RescoreRun.objects.filter(pk=run_id).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        log.warning("Rescore run %s stopped: %s: %s (it will be resumed)", run_id, type(exc).__name__, exc)
        raise
    run = RescoreRun.objects.get(pk=run_id)
    log.info("Rescore run %s: %s, %s leads, %s promoted", run.pk, run.status, run.done, run.promoted)
    return run


# --- a few leads ----------------------------------------------------------------------------


def rescore_leads(*, lead_ids, by=None, now=None):
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
                    f" ORDER BY id LIMIT {int(LEAD_BATCH)}{lock}) RETURNING lead_id, activity_at")
                rows = cursor.fetchall()
                if rows:
                    # The same leads' later rows too: a lead marked by many batches while the
                    # worker was behind is scored once (this scoring sees all they recorded).
                    leads = bulk.Leads(ids=tuple(sorted({row[0] for row in rows})))
                    where = leads.where("lead_id")
                    cursor.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {where.text}{lock})"
                                   " RETURNING lead_id, activity_at", where.params)
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
