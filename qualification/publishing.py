"""Publishing a scoring model and the rescoring runs that follow (all leads, resumable).

Publish is confirmed with a note (why) and a choice of how the new MQLs' handoffs open: all at
once, or gradually with a daily cap that routing honours (handoff.routing_cap). Each publish is
recorded (PublishRecord: who, when, why, how) in the model's history.
"""

import logging
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, reset_queries, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from leadhub.errors import Conflict, ValidationFailed
from leadhub.models import Lead

from . import bulk, publish_records, selectors
from .choices import ModelStatus, RunKind, RunStatus
from .models import PublishRecord, RescoreRun, ScoringModel

log = logging.getLogger(__name__)

CHUNK_SIZE = 10_000  # leads per statement when rescoring everything


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


def _lead_span():
    agg = Lead.objects.aggregate(n=Count("id"), top=Max("id"))
    return agg["n"] or 0, agg["top"] or 0


def _start_run(*, model, kind, by, now):
    total, top = _lead_span()
    try:
        with transaction.atomic():
            return RescoreRun.objects.create(
                model=model,
                kind=kind,
                as_of=now,
                total=total,
                max_lead_id=top,
                started_by=by,
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
        return (
            f"Another rescoring run ({run}, {run.done:,} of {run.total:,}) has made no progress since "
            f"{timezone.localtime(stalled):%Y-%m-%d %H:%M} (its worker stopped); the sweeper resumes it within a "
            "minute, or resume it in the admin."
        )
    return f"Another rescoring run is in progress ({run}: {run.done:,} of {run.total:,}); wait for it to finish."


def _enqueue(run):
    from .tasks import rescore_run

    transaction.on_commit(lambda: rescore_run.delay(run.pk))


def publish(*, draft, by, note="", daily_cap=None, expected_new_mqls=None, enqueue=True, now=None):
    """Publish `draft`: archive the published model, make this the only published one, and
    start a rescoring run of all leads (a Celery task, queued on commit). Returns the run.

    Refused (Conflict) while another run is active, so two publishes never run at once.
    Recorded in the model's history (PublishRecord) with who, `note` (why) and how the new
    MQLs' handoffs open: all at once, or `daily_cap` a day (handoff.routing_cap)."""
    if daily_cap is not None and (not isinstance(daily_cap, int) or daily_cap < 1):
        raise ValidationFailed(
            "The daily cap is a whole number of handoffs, 1 or more.",
            field_errors={"daily_cap": ["The daily cap is a whole number of handoffs, 1 or more."]},
        )
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
        PublishRecord.objects.create(
            model=draft, run=run, by=by, at=now, note=note.strip(), daily_cap=daily_cap, expected_new_mqls=expected_new_mqls
        )
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
                model=model,
                kind=kind,
                as_of=now,
                status=RunStatus.FAILED,
                active=None,
                started_by=by,
                finished_at=now,
                error=sentence,
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
                    status=RunStatus.PENDING,
                    active=True,
                    error="",
                    attempts=0,
                    heartbeat_at=timezone.now(),
                    finished_at=None,
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
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    resumed, failed = [], []
    for run in stalled.select_related("model"):
        last = run.heartbeat_at or run.created_at
        claim = RescoreRun.objects.filter(pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at)
        if run.attempts >= settings.LEADHUB_MAX_RESUMES or run.model.status != ModelStatus.PUBLISHED:
            why = (
                f"v{run.model.version} is no longer published."
                if run.model.status != ModelStatus.PUBLISHED
                else f"Stopped after {run.attempts} automatic resumes: it made no progress since "
                f"{timezone.localtime(last):%Y-%m-%d %H:%M}" + (f" (last error: {run.error})." if run.error else ".")
            )
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
    # A gradual publish: routing gives SDRs at most its daily cap of the new handoffs a day.
    record_id = PublishRecord.objects.filter(run=run, daily_cap__isnull=False).values_list("pk", flat=True).first()
    try:
        with publish_records.capped(record_id) if record_id else nullcontext():
            _work_through(run_id, spec, chunk_size)
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


def _work_through(run_id, spec, chunk_size):
    """The run's chunks, one transaction each (the cursor saved with it), until it is done or stopped."""
    while True:
        reset_queries()  # with DEBUG on (make run's eager tasks), Django would keep every chunk's SQL until the end
        with transaction.atomic():
            run = RescoreRun.objects.select_for_update().get(pk=run_id)
            if run.status != RunStatus.RUNNING:
                break
            bounds = bulk.chunk_bounds(run.last_lead_id, chunk_size, max_id=run.max_lead_id)
            if bounds is None:
                now = timezone.now()
                _set_status(
                    run.pk,
                    RunStatus.DONE,
                    finished_at=now,
                    heartbeat_at=now,
                    done=run.total if run.done > run.total else run.done,
                )
                break
            scored, nurtured, promoted, _ = bulk.rescore(spec, bulk.Leads(*bounds), as_of=run.as_of, now=timezone.now())
            run.done += scored
            run.total = max(run.total, run.done)
            run.nurtured += nurtured
            run.promoted += promoted
            run.last_lead_id = bounds[1]
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["done", "total", "nurtured", "promoted", "last_lead_id", "heartbeat_at"])
