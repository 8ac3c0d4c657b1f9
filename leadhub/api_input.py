"""What the lead and activity API accepts: strict input serializers, and activity batches
checked item by item (every problem named by its item and field) before anything is written."""

import re
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import taxonomy
from .choices import DefaultActivityKind, DefaultChannel, DefaultIndustry
from .identity import clean_external_key
from .lead_fields import clean_attributes
from .validation import FUTURE_WINDOW, INT32_MAX, MAX_REVENUE, activity_time_problem, activity_window, json_problem, text_problem


@extend_schema_field({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 120}, {"type": "integer"}]})
class ExternalIdField(serializers.CharField):
    """Integrations send their event ids as text or as numbers; both are kept as text."""


@extend_schema_field({"oneOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]})
class LeadIdField(ExternalIdField):
    """A lead's id in another system (CRM ids are text, some systems' are numbers); kept as text."""


# What a custom field value may be in JSON; which one each key takes is in GET /api/lead-fields/.
ATTRIBUTES_SCHEMA = {
    "type": "object",
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}], "nullable": True},
    "description": "Custom field values by field key (GET /api/lead-fields/ lists the keys and types): text, "
    "number, yes/no (true/false), date (YYYY-MM-DD) or one of a choice field's options. An upsert merges them "
    "into the lead's values; null or empty text removes one. A bad value is a 400 naming the key: "
    '{"errors": {"attributes": {"employees_band": ["“x” is not one of …"]}}}.',
}


@extend_schema_field(ATTRIBUTES_SCHEMA)
class AttributesField(serializers.DictField):
    """Custom field values; checked by leadhub.lead_fields.clean_attributes only."""


class AmountField(serializers.DecimalField):
    """A non-negative amount to the cent, as text ("40000000.50") or as a whole JSON number.
    Fractional JSON numbers are refused: a float cannot carry cents exactly."""


def amount_field(**kwargs):
    """An AmountField whose schema states its limits, so a request the schema allows is accepted."""
    integer_digits = len(str(int(kwargs["max_value"])))
    schema = {
        "oneOf": [
            # Empty text counts as unknown, like null.
            {"type": "string", "pattern": rf"^([0-9]{{1,{integer_digits}}}(\.[0-9]{{1,{kwargs['decimal_places']}}})?)?$"},
            {"type": "integer", "minimum": 0, "maximum": int(kwargs["max_value"])},
        ]
    }
    return extend_schema_field(schema)(type("AmountField", (AmountField,), {}))(min_value=0, **kwargs)


def _json_type_expected(field, value):
    """What JSON type `field` takes, when `value` is not of it; else None."""

    def number(v):
        return isinstance(v, int | float) and not isinstance(v, bool)

    if isinstance(field, ExternalIdField):
        return (
            None
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
            else "text or a whole number"
        )
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        return None if isinstance(value, str) else "text"
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if isinstance(field, AmountField):
        return (
            None
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
            else "an amount as text or a whole number"
        )
    if isinstance(field, serializers.DecimalField):
        return None if isinstance(value, str) or number(value) else "a number"
    return None


class StrictInput(serializers.Serializer):
    """Input whose JSON types are as the schema says: text fields take strings, whole numbers
    integers, switches true/false. (DRF would turn 0 into "0" and "5" into 5; an integration
    that sends the wrong type gets a field error instead of a surprise.)"""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                value = data.get(name)
                if field.read_only or value is None or isinstance(field, serializers.Serializer):
                    continue
                if expected := _json_type_expected(field, value):
                    errors[name] = [f"Expected {expected}."]
                elif type(value) is str and getattr(field, "max_length", None) and len(value) > field.max_length:
                    # As sent, before DRF trims surrounding spaces: the schema's maxLength counts them.
                    errors[name] = [f"Ensure this field has no more than {field.max_length} characters."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def _list_value_field(list_name, defaults, *, max_length, **kwargs):
    """A channel, industry or activity kind: text resolved against the list marketers edit
    (leadhub.taxonomy) when written; the schema shows the default keys as examples."""
    where = {"channel": "/admin/leadhub/channel/", "industry": "/admin/leadhub/industry/"}.get(
        list_name, "GET /api/activity-kinds/"
    )
    noun = {"channel": "a channel", "industry": "an industry"}.get(list_name, "an activity kind")
    schema = {
        "type": "string",
        "maxLength": max_length,
        "example": defaults[0],
        "description": f"A key, label or source value of {noun} ({where}); the default keys are {', '.join(defaults)}.",
    }
    field_class = type(f"{list_name.title().replace('_', '')}Field", (serializers.CharField,), {})
    return extend_schema_field(schema)(field_class)(max_length=max_length, **kwargs)


class CompanyInputSerializer(StrictInput):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    industry = _list_value_field("industry", DefaultIndustry.values, max_length=80, required=False, allow_blank=True)
    employee_count = serializers.IntegerField(min_value=0, max_value=INT32_MAX, required=False, allow_null=True)
    annual_revenue = amount_field(max_digits=16, decimal_places=2, max_value=MAX_REVENUE, required=False, allow_null=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)


class LeadKeySerializer(StrictInput):
    """A lead's id in another system: {"source": "crm", "id": "00Q5e000001"}."""

    source = serializers.CharField(max_length=60, help_text="The system the id belongs to, e.g. “crm” (case-insensitive).")
    id = LeadIdField(max_length=200, help_text="The lead's id in that system.")


class LeadUpsertSerializer(StrictInput):
    """A lead, found (and updated) or created by its email or its id in another system.

    Give `email`, `external_id`, or both: the lead that has any of them is updated; none, a lead
    is created. Ids not yet on the lead are added (one id per source system)."""

    email = serializers.EmailField(
        max_length=254, required=False, allow_null=True, allow_blank=True, help_text="Optional when an external id is given."
    )
    external_id = LeadKeySerializer(required=False, help_text="The lead's id in another system (the match key).")
    external_ids = LeadKeySerializer(
        many=True,
        required=False,
        max_length=10,
        help_text="Several systems' ids at once (one per source), instead of external_id.",
    )
    attributes = AttributesField(required=False, help_text=ATTRIBUTES_SCHEMA["description"])
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    title = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    # Unknown channels: settings.LEADHUB_UNKNOWN_LIST_VALUES (leadhub.taxonomy.clean_channel).
    channel = _list_value_field("channel", DefaultChannel.values, max_length=80, required=False, allow_blank=True)
    campaign = serializers.CharField(max_length=120, required=False, allow_blank=True)
    company = CompanyInputSerializer(required=False)

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("external_id") and not attrs.get("external_ids"):
            raise serializers.ValidationError({"email": ["Give the lead's email, or its external_id in another system."]})
        if "attributes" in attrs:
            # The one validator of custom field values (leadhub.lead_fields), typed errors per key.
            _, errors = clean_attributes(attrs["attributes"])
            if errors:
                raise serializers.ValidationError({"attributes": {key: [message] for key, message in errors.items()}})
        return attrs

    def to_service_kwargs(self):
        data = dict(self.validated_data)
        keys = [data.pop("external_id")] if data.get("external_id") else []
        keys += data.pop("external_ids", None) or []
        data.pop("external_id", None)
        data["external_ids"] = [(key["source"], key["id"]) for key in keys]
        data["email"] = data.get("email") or None
        if "channel" in data:
            data["source"] = data.pop("channel")
        if "country" in data:
            data["country"] = data["country"].upper()
        return data


class ActivityInputSerializer(serializers.Serializer):
    email = serializers.EmailField(
        max_length=254, required=False, help_text="The lead's email; or name the lead by lead_external_id."
    )
    lead_external_id = LeadKeySerializer(required=False, help_text="The lead's id in another system, instead of email.")
    kind = _list_value_field("activity_kind", [*DefaultActivityKind.values, "sms_sent"], max_length=80)
    occurred_at = serializers.DateTimeField()
    properties = serializers.DictField(required=False, default=dict, allow_null=True, help_text="Null counts as no properties.")
    source = ExternalIdField(max_length=60)
    external_id = ExternalIdField(max_length=120)


class ActivityBatchSerializer(serializers.Serializer):
    activities = ActivityInputSerializer(many=True, allow_empty=False, max_length=settings.ACTIVITY_BATCH_LIMIT)


class ActivityOutcomeSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    source = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "known"])


class ActivityBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    known = serializers.IntegerField()
    items = ActivityOutcomeSerializer(many=True)


def _text(value, name, max_length, errors):
    if type(value) is str:  # the usual case, first (this runs thousands of times per batch)
        stripped = value.strip()
        if stripped and len(value) <= max_length and "\x00" not in value and value.isascii():
            return stripped
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = ["Not a valid string."]
    elif not str(value).strip():
        errors[name] = ["This field may not be blank."]
    elif len(str(value)) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
    elif problem := text_problem(str(value)):
        errors[name] = [problem]
    else:
        return str(value).strip()
    return None


# Django's own expressions, compiled here: its validator reaches them through lazy objects,
# which cost more than the matching at a thousand addresses a batch.
_EMAIL_USER = re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)
_EMAIL_DOMAIN = re.compile(validate_email.domain_regex.pattern, validate_email.domain_regex.flags)


@lru_cache(maxsize=65_536)
def _is_valid_email(email):
    # Activities keep arriving for the same leads: checking each address once saves most of a
    # batch's validation time. Where both of Django's expressions match, its validator accepts
    # the address too; anything else (allowlisted or literal domains, or invalid) it decides.
    if len(email) <= 320 and "@" in email:
        user, domain = email.rsplit("@", 1)
        if _EMAIL_USER.match(user) and _EMAIL_DOMAIN.match(domain):
            return True
    try:
        validate_email(email)
    except DjangoValidationError:
        return False
    return True


def _activity_time(value, problems, window):
    """An aware datetime from ISO 8601 text, within the activity window; else a field error."""
    try:
        parsed = parse_datetime(value) if isinstance(value, str) and len(value) <= 64 else None
    except (ValueError, OverflowError):  # 2026-02-30, hour 25
        problems["occurred_at"] = ["Not a real date and time."]
        return None
    if parsed is None:
        problems["occurred_at"] = ["Datetime has wrong format. Use ISO 8601, e.g. 2026-11-20T10:00:00Z."]
        return None
    if timezone.is_naive(parsed):
        try:
            parsed = timezone.make_aware(parsed)
        except (ValueError, OverflowError):
            problems["occurred_at"] = ["This date is out of range."]
            return None
    if not window[0] <= parsed <= window[1]:
        problems["occurred_at"] = [activity_time_problem(parsed, window[1] - FUTURE_WINDOW)]
        return None
    return parsed


def parse_activity_items(items):
    """Check a batch's items the way ActivityInputSerializer describes them, fast.

    A batch is up to 1,000 items and ingest throughput is a budget; DRF's per-field
    machinery cost more than the database work, so the rules are applied directly here.
    Returns (valid items, {index: {field: [message]}}).
    """
    valid, errors = [], {}
    window = activity_window()
    kinds = taxonomy.activity_kinds()  # once per batch: every item is then a lookup
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Expected an object."]}
            continue
        problems = {}
        for name in ("kind", "occurred_at", "source", "external_id"):
            if item.get(name) in (None, ""):
                problems[name] = ["This field is required."]
        email, lead_key = item.get("email"), None
        if "lead_external_id" in item:
            if "email" in item:
                problems["lead_external_id"] = ["Name the lead by email or by lead_external_id, not both."]
            elif not isinstance(item["lead_external_id"], dict):
                problems["lead_external_id"] = ['Expected an object: {"source": …, "id": …}.']
            else:
                lead_key, key_problems = clean_external_key(item["lead_external_id"])
                if key_problems:
                    problems["lead_external_id"] = key_problems
            email = None
        elif email in (None, ""):
            problems["email"] = ["This field is required (or name the lead by lead_external_id)."]
        else:
            email = _text(email, "email", 254, problems)
            if email is not None:
                if not _is_valid_email(email):
                    problems["email"] = ["Enter a valid email address."]
        kind = item.get("kind")
        if "kind" not in problems and not isinstance(kind, str):
            problems["kind"] = ["This is not a valid activity kind: send text (the key, label or a source value of one)."]
        occurred_at = item.get("occurred_at")
        if "occurred_at" not in problems:
            occurred_at = _activity_time(occurred_at, problems, window)
        properties = item.get("properties") if item.get("properties") is not None else {}
        if not isinstance(properties, dict):
            problems["properties"] = ["Expected an object of properties."]
        elif properties and (problem := json_problem(properties)):
            problems["properties"] = [problem]
        if "kind" not in problems and "properties" not in problems:
            # The kind's key, its declared properties' types (leadhub.taxonomy).
            kind, properties, kind_problems = kinds.check(kind, properties)
            problems.update(kind_problems)
        source = _text(item.get("source"), "source", 60, problems) if "source" not in problems else None
        external_id = _text(item.get("external_id"), "external_id", 120, problems) if "external_id" not in problems else None
        if problems:
            errors[str(index)] = problems
        else:
            valid.append(
                {
                    "email": email,
                    "lead_key": lead_key,
                    "kind": kind,
                    "occurred_at": occurred_at,
                    "properties": properties,
                    "source": source,
                    "external_id": external_id,
                }
            )
    return valid, errors
