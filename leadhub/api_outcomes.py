"""POST /api/outcomes/: leads' results recorded outside the queue (history from a CRM), one or a
batch of up to 1,000, idempotent by (source, external_id). leadhub.outcomes records them."""

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from . import outcomes
from .api_input import LeadIdField, LeadKeySerializer, amount_field
from .errors import ValidationFailed
from .identity import clean_external_key, normalize_email, resolve_lead_keys
from .models import Outcome, OutcomeOrigin
from .permissions import ModelPermissions
from .validation import text_problem

MAX_AMOUNT = Decimal("999999999999.99")
ROW_KEYS = {"email", "lead_external_id", "result", "converted", "occurred_on", "amount", "source", "external_id"}


class OutcomeRecordSerializer(serializers.Serializer):
    """One outcome (this serializer documents the shape; rows are checked by parse_outcome_rows)."""

    email = serializers.EmailField(required=False, help_text="The lead's email; or name it by lead_external_id.")
    lead_external_id = LeadKeySerializer(required=False, help_text="The lead's id in another system, instead of email.")
    result = serializers.ChoiceField(choices=["won", "lost"], required=False, help_text="won or lost; or give converted.")
    converted = serializers.BooleanField(required=False, help_text="true = won, false = lost (yes/no text is accepted too).")
    occurred_on = serializers.DateField(required=False, allow_null=True, help_text="When it was decided (YYYY-MM-DD).")
    amount = amount_field(max_digits=14, decimal_places=2, max_value=MAX_AMOUNT, required=False, allow_null=True)
    source = serializers.CharField(
        max_length=60, required=False, help_text="The system it comes from (default “api”): with external_id, the key."
    )
    external_id = LeadIdField(
        max_length=200,
        required=False,
        help_text="The outcome's id in that system: sending it again is recognised and not recorded twice. "
        "Without one, the same lead, result, date and amount count as the same outcome.",
    )


class OutcomeBatchSerializer(serializers.Serializer):
    outcomes = OutcomeRecordSerializer(many=True, max_length=outcomes.BATCH_LIMIT)


class OutcomeStatusSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    lead_id = serializers.IntegerField()
    source = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "known"])


class OutcomeBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    known = serializers.IntegerField()
    items = OutcomeStatusSerializer(many=True)


def _short_text(value, limit, name, problems):
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems[name] = ["Expected text."]
        return ""
    text = str(value).strip()
    if len(text) > limit:
        problems[name] = [f"At most {limit} characters."]
    elif problem := text_problem(text):
        problems[name] = [problem]
    return text


def parse_outcome_rows(items, *, today):
    """(rows ready for resolve_lead_keys, {index: {field: [message]}})."""
    valid, errors = [], {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Expected an object."]}
            continue
        problems: dict[str, list[str]] = {}
        unknown = set(item) - ROW_KEYS
        if unknown:
            problems["non_field_errors"] = [f"Unknown fields: {', '.join(sorted(map(str, unknown)))}."]
        email, lead_key = item.get("email"), None
        if item.get("lead_external_id") is not None:
            if email not in (None, ""):
                problems["lead_external_id"] = ["Name the lead by email or by lead_external_id, not both."]
            lead_key, key_problems = clean_external_key(item["lead_external_id"])
            if key_problems:
                problems["lead_external_id"] = key_problems
            email = None
        elif not isinstance(email, str) or not email.strip():
            problems["email"] = ["Name the lead: give its email or lead_external_id."]
        else:
            email = normalize_email(email)
        result = None
        if item.get("result") is not None and item.get("converted") is not None:
            problems["result"] = ["Give result or converted, not both."]
        elif item.get("result") is None and item.get("converted") is None:
            problems["result"] = ["This field is required: won or lost (or converted: true or false)."]
        else:
            name = "result" if item.get("result") is not None else "converted"
            try:
                result = outcomes.parse_result(item[name])
            except ValueError as exc:
                problems[name] = [str(exc)]
        occurred_on = None
        if item.get("occurred_on") not in (None, ""):
            try:
                occurred_on = date.fromisoformat(str(item["occurred_on"]).strip())
            except ValueError:
                problems["occurred_on"] = ["Not a date: use YYYY-MM-DD."]
            else:
                if occurred_on > today + timedelta(days=1):
                    problems["occurred_on"] = ["This date is in the future; an outcome has already happened."]
        amount = None
        if item.get("amount") not in (None, ""):
            raw = item["amount"]
            try:
                if isinstance(raw, bool) or isinstance(raw, float) or not isinstance(raw, str | int):
                    raise InvalidOperation
                amount = Decimal(str(raw).strip())
                if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or amount != round(amount, 2):
                    raise InvalidOperation
            except InvalidOperation:
                problems["amount"] = [
                    f"Give a non-negative amount to the cent, at most {MAX_AMOUNT:,}, as text or a whole number."
                ]
        source = _short_text(item.get("source"), 60, "source", problems).lower()
        external_id = _short_text(item.get("external_id"), 200, "external_id", problems)
        if problems:
            errors[str(index)] = problems
            continue
        valid.append(
            {
                "email": email,
                "lead_key": lead_key,
                "result": result,
                "occurred_on": occurred_on,
                "amount": amount,
                "source": source,
                "external_id": external_id,
            }
        )
    return valid, errors


class OutcomeViewSet(viewsets.GenericViewSet):
    """Outcomes recorded outside the queue: history from a CRM, no queue history faked."""

    queryset = Outcome.objects.all()
    serializer_class = OutcomeBatchSerializer
    permission_classes = [ModelPermissions]

    @extend_schema(
        request=OutcomeBatchSerializer,
        responses={
            200: OutcomeBatchResultSerializer,
            400: OpenApiResponse(
                description='Invalid rows or unknown leads, by index: {"errors": {"outcomes": {"0": {…}}}}; nothing written.'
            ),
        },
        summary="Record leads' outcomes (won or lost), one or a batch of up to 1,000",
        description='Send {"outcomes": [...]}, a bare list, or one outcome object. Each names its lead by `email` or '
        '`lead_external_id` ({"source": "crm", "id": "…"}) and gives `result` (won/lost) or `converted` '
        "(true/false), optionally `occurred_on` and `amount`. The outcome is recorded outside the queue: "
        "the lead's stage, its handoffs and the SLA figures are not touched. Replays (same source and "
        "external_id) are reported as known and not written again.",
    )
    def create(self, request):
        data = request.data
        if isinstance(data, list):
            items = data
        elif isinstance(data, dict) and "outcomes" in data:
            items = data["outcomes"]
        elif isinstance(data, dict):
            items = [data]
        else:
            raise ValidationFailed("Send an outcome object, a list of them, or {“outcomes”: [...]}.")
        if not isinstance(items, list) or not items:
            raise ValidationFailed("Send at least one outcome.", field_errors={"outcomes": ["Send a non-empty list."]})
        if len(items) > outcomes.BATCH_LIMIT:
            raise ValidationFailed(
                f"A batch holds at most {outcomes.BATCH_LIMIT:,} outcomes; this one has {len(items):,}.",
                field_errors={"outcomes": [f"Ensure this list has at most {outcomes.BATCH_LIMIT} items."]},
            )
        valid, errors = parse_outcome_rows(items, today=timezone.localdate())
        if errors:
            raise ValidationFailed("Some outcomes are invalid; nothing was recorded.", field_errors={"outcomes": errors})
        lead_ids = resolve_lead_keys(valid)
        unknown = {
            str(i): (
                {"lead_external_id": ["No lead has this id."]} if row["lead_key"] else {"email": ["No lead has this email."]}
            )
            for i, (row, lead_id) in enumerate(zip(valid, lead_ids, strict=True))
            if lead_id is None
        }
        if unknown:
            raise ValidationFailed("Some outcomes name unknown leads; nothing was recorded.", field_errors={"outcomes": unknown})
        rows = [
            {
                "lead_id": lead_id,
                "result": row["result"],
                "occurred_on": row["occurred_on"],
                "amount": row["amount"],
                "source": row["source"] or "api",
                "external_id": row["external_id"],
            }
            for row, lead_id in zip(valid, lead_ids, strict=True)
        ]
        statuses = outcomes.record_outcomes(rows, origin=OutcomeOrigin.API, by=request.user)
        created = sum(1 for s in statuses if s.status == "created")
        body = {
            "created": created,
            "known": len(statuses) - created,
            "items": [
                {"index": s.index, "lead_id": s.lead_id, "source": s.source, "external_id": s.external_id, "status": s.status}
                for s in statuses
            ],
        }
        return Response(body, status=status.HTTP_200_OK)
