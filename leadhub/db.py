"""When the database says "try again": retrying whole transactions, and a clear 503 after that.

PostgreSQL ends a transaction with SQLSTATE 40P01 (deadlock detected) when it breaks a lock
cycle, 40001 (serialization failure) when a stricter isolation level cannot order two
transactions, and 55P03 (lock not available) when a `lock_timeout` runs out. None of these
says the request was wrong: the same transaction, run again a moment later, normally
succeeds. SQLite says "database is locked" when its single writer slot stays busy too long.

The rows a transaction locks are taken in one order everywhere (docs/locking.md), so deadlocks
should not happen; retries are the safety net for the ones we did not foresee and for
serialization failures, which no lock order prevents.

- `retry_on_conflict` wraps a service (outside its `transaction.atomic`): it re-runs the whole
  transaction a bounded number of times with jittered, growing pauses. Inside an outer
  transaction it only calls the service once: the rolled-back work is the outer one's, so the
  outermost retrying caller re-runs it.
- `DatabaseBusyMiddleware` turns a conflict that survived its retries into a 503 page with
  Retry-After (HTML; JSON under /api/ for views outside DRF). DRF views answer the same through
  leadhub.api_support.exception_handler.
- `ConflictRetryTask`, the Celery app's task class, retries a task body the same way and then
  asks Celery to run it again later.
"""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import overload

from celery import Task
from django.db import OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

# deadlock_detected, serialization_failure, lock_not_available
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
ATTEMPTS = 4  # the first run and three retries
BASE_DELAY = 0.05  # seconds before the first retry; doubles each time, with full jitter
MAX_DELAY = 1.0
RETRY_AFTER_SECONDS = 2  # what a 503 tells the client to wait
BUSY_MESSAGE = "The database is busy with other changes to the same records. Nothing was saved; try again in a moment."


def sqlstate(exc):
    """The SQLSTATE behind a database error (Django wraps the driver's error as __cause__), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if code:
            return code
        exc = exc.__cause__ or exc.__context__
    return None


def is_retryable(exc):
    """True for the errors that mean "run the same transaction again": a deadlock, a
    serialization failure, a lock timeout (PostgreSQL) or a busy database (SQLite)."""
    if not isinstance(exc, OperationalError):
        return False
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc)


def backoff(attempt, base=BASE_DELAY, cap=MAX_DELAY):
    """Full jitter: a random pause up to base·2^attempt (capped), so the transactions that
    collided do not collide again in step."""
    return random.uniform(0, min(cap, base * (2**attempt)))


@overload
def retry_on_conflict[**P, R](
    func: Callable[P, R], *, attempts: int = ..., base: float = ..., cap: float = ...
) -> Callable[P, R]: ...
@overload
def retry_on_conflict[**P, R](
    func: None = None, *, attempts: int = ..., base: float = ..., cap: float = ...
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def retry_on_conflict(func=None, *, attempts=ATTEMPTS, base=BASE_DELAY, cap=MAX_DELAY):
    """Decorator: run `func` (which opens its own transaction) again when the database says
    "try again" (is_retryable), up to `attempts` runs in all, pausing backoff() between them.
    The last error propagates (the API and pages answer it with 503 + Retry-After).

    Put it outside transaction.atomic so each run is a whole new transaction. Called inside
    an atomic block it runs once: only the outermost transaction can be re-run.
    """
    if func is None:
        return functools.partial(retry_on_conflict, attempts=attempts, base=base, cap=cap)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(attempts):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not is_retryable(exc) or attempt == attempts - 1:
                    raise
                pause = backoff(attempt, base, cap)
                log.warning(
                    "%s: database conflict (%s), retry %d of %d in %.0f ms",
                    func.__qualname__,
                    sqlstate(exc) or "locked",
                    attempt + 1,
                    attempts - 1,
                    pause * 1000,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")

    return wrapper


def busy_response(request):
    """503 with Retry-After: a JSON sentence under /api/, the 503 page elsewhere."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": BUSY_MESSAGE, "code": "busy"}, status=503)
    else:
        html = render_to_string("503.html", {"message": BUSY_MESSAGE, "retry_after": RETRY_AFTER_SECONDS}, request=request)
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    """A conflict that outlived its retries answers 503 with Retry-After, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_retryable(exception):
            log.warning(
                "%s %s: database still busy after retries (%s)", request.method, request.path, sqlstate(exception) or "locked"
            )
            return busy_response(request)
        return None


class ConflictRetryTask(Task):
    """The Celery app's task class: a task body is retried in place on a database conflict
    (retry_on_conflict); when the conflict persists the task is queued again with a jittered
    countdown, up to `conflict_retries` times, instead of being lost."""

    conflict_retries = 5

    def __call__(self, *args, **kwargs):
        run = retry_on_conflict(super().__call__)
        try:
            return run(*args, **kwargs)
        except OperationalError as exc:
            if not is_retryable(exc) or self.request.called_directly:
                raise
            countdown = 1 + backoff(self.request.retries or 0, base=1.0, cap=30.0)
            log.warning("%s: database conflict persisted, running again in %.1f s", self.name, countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=self.conflict_retries)
