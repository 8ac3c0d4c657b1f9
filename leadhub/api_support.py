"""API plumbing shared by every app: error responses and content negotiation."""

import logging

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from .db import BUSY_MESSAGE, RETRY_AFTER_SECONDS, is_retryable, sqlstate
from .errors import DomainError

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Domain errors become JSON with a sentence (`detail`) and per-field messages. A database
    conflict that outlived the service's retries (leadhub.db) is a 503 with Retry-After."""
    if is_retryable(exc):
        request = context.get("request")
        log.warning("%s %s: database still busy after retries (%s)", getattr(request, "method", ""),
                    getattr(request, "path", ""), sqlstate(exc) or "locked")
        return Response({"detail": BUSY_MESSAGE, "code": "busy"}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field_errors:
            body["errors"] = exc.field_errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "The request body is too large. Send at most 1,000 activities a batch.",
                         "code": "too_large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, RecursionError):  # JSON nested thousands deep: the parser gives up
        return Response({"detail": "JSON parse error: nested too deeply.", "code": "parse_error"},
                        status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        data = response.data
        if not (isinstance(data, dict) and "detail" in data):
            response.data = {"detail": "The request has invalid fields.", "code": "invalid", "errors": data}
    return response


class StaffBrowsableNegotiation(DefaultContentNegotiation):
    """The browsable API is for signed-in staff; everyone else gets JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        user = getattr(request, "user", None)
        if not (user and user.is_authenticated and user.is_staff):
            renderers = [r for r in renderers if not isinstance(r, BrowsableAPIRenderer)] or renderers
        return super().select_renderer(request, renderers, format_suffix)


class _RatesFromSettings:
    """DRF reads the rates once, when the class is defined; these read them per request, so a
    changed setting (an environment, a test) takes effect."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_RatesFromSettings, UserRateThrottle):
    """Per token (its user) or signed-in user: API_THROTTLE_RATE requests per period (e.g. 3000/min)."""
