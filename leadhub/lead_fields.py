"""Custom field values: parse and validate them against the LeadField definitions.

Every writer of Lead.attributes (API upsert, admin, imports) goes through `clean_attributes`,
so a stored value always has its field's type: text as str, number as int or float, yes/no as
bool, date as "YYYY-MM-DD", choice as one of the field's options (matched ignoring case and
stored as the option is spelled).
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from .models import LeadField, LeadFieldType

MAX_TEXT = 500
TRUE_WORDS = {"yes", "y", "true", "t", "1", "on"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "off"}


def field_definitions():
    """The definitions by key (one query)."""
    return {field.key: field for field in LeadField.objects.all()}


def parse_value(field, raw):
    """The stored form of `raw` for `field`, None for an empty value; ValueError with a sentence."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if field.type == LeadFieldType.TEXT:
        text = str(raw).strip()
        if len(text) > MAX_TEXT:
            raise ValueError(f"At most {MAX_TEXT} characters ({len(text)} given).")
        return text
    if field.type == LeadFieldType.NUMBER:
        if isinstance(raw, bool):
            raise ValueError("Give a number.")
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"“{raw}” is not a number.") from None
        if not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValueError(f"“{raw}” is not a number leadhub can store.")
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type == LeadFieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"“{raw}” is not yes or no.")
    if field.type == LeadFieldType.DATE:
        if isinstance(raw, datetime):
            return raw.date().isoformat()
        if isinstance(raw, date):
            return raw.isoformat()
        try:
            return date.fromisoformat(str(raw).strip()[:10]).isoformat()
        except ValueError:
            raise ValueError(f"“{raw}” is not a date (YYYY-MM-DD).") from None
    if field.type == LeadFieldType.CHOICE:
        wanted = str(raw).strip().lower()
        for option in field.options:
            if str(option).lower() == wanted:
                return option
        shown = ", ".join(f"“{o}”" for o in field.options[:10])
        raise ValueError(f"“{raw}” is not one of {shown}.")
    raise ValueError(f"Unknown field type {field.type}.")


def clean_attributes(values, *, definitions=None, current=None):
    """Validate `values` (a dict of key -> raw value) and merge them into `current`.

    Returns (attributes, errors): the merged dict with parsed values (an empty value removes the
    key) and {key: sentence} for every bad key or value. Callers store nothing when errors is
    not empty.
    """
    definitions = field_definitions() if definitions is None else definitions
    merged = dict(current or {})
    errors = {}
    if not isinstance(values, dict):
        return merged, {"attributes": "Give an object of custom field keys and values."}
    for key, raw in values.items():
        field = definitions.get(key)
        if field is None:
            errors[key] = "No custom field has this key."
            continue
        try:
            value = parse_value(field, raw)
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged, errors
