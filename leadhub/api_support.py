"""API plumbing shared by every app: error responses and content negotiation."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .db import BUSY_MESSAGE, RETRY_AFTER_SECONDS, is_retryable, sqlstate
from .errors import DomainError

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Domain errors become JSON with a sentence (`detail`) and per-field messages. A database
    conflict that outlived the service's retries (leadhub.db) is a 503 with Retry-After."""
    if is_retryable(exc):
        request = context.get("request")
        log.warning(
            "%s %s: database still busy after retries (%s)",
            getattr(request, "method", ""),
            getattr(request, "path", ""),
            sqlstate(exc) or "locked",
        )
        return Response(
            {"detail": BUSY_MESSAGE, "code": "busy"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field_errors:
            body["errors"] = exc.field_errors
        return Response(body, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large. Send at most 1,000 activities a batch.", "code": "too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, RecursionError):  # JSON nested thousands deep: the parser gives up
        return Response(
            {"detail": "JSON parse error: nested too deeply.", "code": "parse_error"}, status=status.HTTP_400_BAD_REQUEST
        )
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


@login_not_required  # the API answers 401/404 in JSON itself; no redirect to the sign-in page
@csrf_exempt  # it changes nothing: a POST to no endpoint is a JSON 404 too, not the CSRF failure page
def api_not_found(request, rest=""):
    """A path under /api/ that names no endpoint (say /api/leads/0.5/): JSON, like the API's other 404s."""
    return JsonResponse({"detail": "Not found."}, status=404)
