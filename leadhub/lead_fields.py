"""Custom field values: parse and validate them against the LeadField definitions.

Every writer of Lead.attributes (API upsert, admin, imports) goes through `clean_attributes`,
so a stored value always has its field's type: text as str, number as int or float, yes/no as
bool, date as "YYYY-MM-DD", choice as one of the field's options (matched ignoring case and
stored as the option is spelled).
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction

from . import hooks
from .errors import Conflict, ValidationFailed
from .models import Lead, LeadField, LeadFieldType

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


# ---- Defining fields (the admin and /api/lead-fields/) ----


def field_problems(field, *, previous=None):
    """{attribute: sentence} for a definition that cannot be saved, given the stored one.

    A choice field needs its options (distinct, non-empty text); a field's key never changes;
    its type cannot change once leads hold values (the values would no longer fit); an option
    leads still hold cannot be removed."""
    problems = {}
    if field.type == LeadFieldType.CHOICE:
        options = field.options
        if not isinstance(options, list) or not options or not all(isinstance(o, str) and o.strip() for o in options):
            problems["options"] = "A choice field needs its options: a list of non-empty texts."
        elif len({o.strip().lower() for o in options}) < len(options):
            problems["options"] = "Each option once (options are matched ignoring case)."
        else:
            field.options = [o.strip() for o in options]
    elif field.options:
        problems["options"] = "Only a choice field has options."
    if previous is None:
        return problems
    if field.key != previous.key:
        problems["key"] = f"The key cannot change (it is “{previous.key}”): change the label instead; the data stays."
    elif field.type != previous.type and leads_with_values(previous.key).exists():
        count = leads_with_values(previous.key).count()
        problems["type"] = (
            f"{count:,} lead{'s' if count != 1 else ''} hold{'s' if count == 1 else ''} a value of “{previous.label}”, "
            f"so its type cannot change from {previous.get_type_display()} to {field.get_type_display()}: "
            "create a new field for the new type."
        )
    elif field.type == LeadFieldType.CHOICE == previous.type and "options" not in problems:
        kept = {o.lower() for o in field.options}
        removed = [o for o in previous.options if o.lower() not in kept]
        from .attribute_filters import attribute_equals

        held = [o for o in removed if Lead.objects.filter(attribute_equals(previous.key, o)).exists()]
        if held:
            shown = ", ".join(f"“{o}”" for o in held)
            problems["options"] = f"Leads still hold {shown}; an option in use cannot be removed (rename the label instead)."
    return problems


def leads_with_values(key):
    return Lead.objects.filter(attributes__has_key=key)


def lead_field_save(field):
    """Save a definition after field_problems; ValidationFailed with the sentences otherwise."""
    previous = LeadField.objects.filter(pk=field.pk).first() if field.pk else None
    problems = field_problems(field, previous=previous)
    if problems:
        raise ValidationFailed(" ".join(problems.values()), field_errors={k: [v] for k, v in problems.items()})
    field.save()
    return field


def lead_field_delete_problem(field):
    """Why `field` cannot be deleted (a sentence), or None: a draft or published scoring model
    uses it (the apps above answer through hooks.on_lead_field_use)."""
    uses = hooks.lead_field_uses(field.key)
    if not uses:
        return None
    return f"“{field.label}” cannot be deleted: it is used by {'; '.join(uses)}. Remove it from those first."


@transaction.atomic
def lead_field_delete(field):
    """Delete a definition and its values on every lead (one UPDATE); Conflict when in use."""
    problem = lead_field_delete_problem(field)
    if problem:
        raise Conflict(problem)
    table = Lead._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"UPDATE {table} SET attributes = attributes - %s WHERE attributes ? %s"
        params = [field.key, field.key]
    else:
        sql = f"UPDATE {table} SET attributes = json_remove(attributes, %s) WHERE json_type(attributes, %s) IS NOT NULL"
        path = f'$."{field.key}"'
        params = [path, path]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cleared = cursor.rowcount
    field.delete()
    return cleared
