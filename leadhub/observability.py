"""One log line per request and per task, with ids and timings, plus slow-query lines.

Lines are `key=value` pairs (or JSON with LOG_FORMAT=json) so they can be grepped and parsed.
"""

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

request_id_var = ContextVar("request_id", default="-")
request_logger = logging.getLogger("leadhub.request")
query_logger = logging.getLogger("leadhub.slow_query")
task_logger = logging.getLogger("leadhub.task")


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value ...` from the record's `fields`."""

    def format(self, record):
        base = f"{self.formatTime(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            base += " " + " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


class JsonFormatter(logging.Formatter):
    def format(self, record):
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


_BARE = re.compile(r"[A-Za-z0-9._:/@+,-]+")
# A proxy's request id is kept only when it is a short token of safe characters.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _kv(value):
    """A value as one `key=value` token that nothing inside it can break out of: plain tokens
    as they are, anything else JSON-quoted (quotes, backslashes and control characters escaped)."""
    text = str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text)


def request_id_from(request):
    """The caller's X-Request-ID when it is a safe token, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


class QueryTimer:
    """Counts the queries of one request and logs the slow ones."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            self.seconds += elapsed
            if elapsed * 1000 >= settings.SLOW_QUERY_MS:
                query_logger.warning(
                    "slow query",
                    extra={"fields": {"request_id": request_id_var.get(), "ms": round(elapsed * 1000, 1), "sql": sql[:500]}},
                )


class RequestLogMiddleware:
    """Logs method, path, status, duration, query count and time, user and a request id
    (taken from X-Request-ID when a proxy sets one) and echoes the id in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request)
        token = request_id_var.set(request_id)
        timer = QueryTimer()
        started = time.perf_counter()
        status = 500
        try:
            with connections["default"].execute_wrapper(timer):
                response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            user = getattr(request, "user", None)
            request_logger.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "queries": timer.count,
                        "db_ms": round(timer.seconds * 1000, 1),
                        "user": user.pk if user is not None and user.is_authenticated else "-",
                    }
                },
            )
            request_id_var.reset(token)


def connect_task_logging():
    """One line per Celery task: name, id, state, duration. Connected once by the Celery app."""
    from celery import signals

    started = {}

    @signals.task_prerun.connect(weak=False)
    def _prerun(task_id=None, task=None, **kwargs):
        started[task_id] = time.perf_counter()

    @signals.task_postrun.connect(weak=False)
    def _postrun(task_id=None, task=None, state=None, **kwargs):
        began = started.pop(task_id, None)
        ms = round((time.perf_counter() - began) * 1000, 1) if began else None
        task_logger.info("task", extra={"fields": {"task": task.name, "task_id": task_id, "state": state, "ms": ms}})
