"""The OpenAPI schema's shared parts: the error body and the refusals every operation documents."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(help_text="What went wrong, in a sentence."),
        "code": serializers.CharField(required=False),
        "errors": serializers.DictField(required=False, help_text="Messages by field (for a batch, by item index, then field)."),
    },
)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with every refusal an operation can answer documented: the
    shared ones (sign-in, permission, throttling, unknown id, bad or oversized body, bad filter
    or page) come from here; views add their own (409) with extend_schema."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._refusals():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description), code, direction=direction
                )
        return responses

    def _refusals(self):
        yield "401", "No valid token or session."
        yield "403", "Your role does not allow this."
        yield "429", "Too many requests from this token: wait the seconds in Retry-After."
        if "{" in self.path:
            yield "404", "No such record."
        if self.method in ("POST", "PUT", "PATCH"):
            yield "400", "Invalid input: `detail` says why, `errors` by field. Nothing written."
            yield "413", "The body is larger than the server accepts."
            yield "415", "The body is not JSON (or form data)."
        elif self._is_list_view():
            yield "400", "A filter value out of range or unknown: `errors` by parameter."
            yield "404", "A page number past the last page."
