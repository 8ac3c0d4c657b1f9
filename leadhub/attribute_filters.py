"""Filters on custom field values (Lead.attributes), shared by the lead list, the API and the
CSV export (through leadhub.filters.LeadFilter) and by the definitions' checks.

- `attr_<key>=value`: equality, for choice, yes/no and text fields. On PostgreSQL it is
  `attributes @> {"key": value}`, served by the GIN index lead_attributes_gin (jsonb_path_ops).
- `attr_<key>_min=` / `attr_<key>_max=`: a range, for number and date fields (inclusive).

Values are parsed by the field's own type (leadhub.lead_fields.parse_value), so `attr_x=yes`
on a yes/no field matches true, and a choice matches however it is cased.
"""

from django.db import connection
from django.db.models import Q

from .lead_fields import field_definitions, parse_value
from .models import LeadFieldType

PREFIX = "attr_"
EQUALITY_TYPES = (LeadFieldType.CHOICE, LeadFieldType.BOOLEAN, LeadFieldType.TEXT)
RANGE_TYPES = (LeadFieldType.NUMBER, LeadFieldType.DATE)


def attribute_equals(key, value):
    """Leads whose attribute `key` is `value` (already in its stored form)."""
    if connection.vendor == "postgresql":
        return Q(attributes__contains={key: value})
    return Q(**{f"attributes__{key}": value})


def attribute_range(key, low=None, high=None):
    q = Q()
    if low is not None:
        q &= Q(**{f"attributes__{key}__gte": low})
    if high is not None:
        q &= Q(**{f"attributes__{key}__lte": high})
    return q


def attribute_filter_params(definitions=None):
    """{query parameter: (field, "eq" | "min" | "max")} for every defined field."""
    definitions = field_definitions() if definitions is None else definitions
    params = {}
    for key, field in definitions.items():
        if field.type in EQUALITY_TYPES:
            params[f"{PREFIX}{key}"] = (field, "eq")
        if field.type in RANGE_TYPES:
            params[f"{PREFIX}{key}_min"] = (field, "min")
            params[f"{PREFIX}{key}_max"] = (field, "max")
    return params


def attribute_q(query, definitions=None):
    """(Q, {parameter: sentence}) from a query dict's attr_* parameters; unknown ones ignored."""
    q, errors = Q(), {}
    for name, (field, op) in attribute_filter_params(definitions).items():
        raw = query.get(name)
        if raw in (None, ""):
            continue
        try:
            value = parse_value(field, raw)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if op == "eq":
            q &= attribute_equals(field.key, value)
        elif op == "min":
            q &= attribute_range(field.key, low=value)
        else:
            q &= attribute_range(field.key, high=value)
    return q, errors


def active_attribute_filters(query, definitions=None):
    """[(parameter, label, value)] of the attr_* filters set in `query`, for the list's form."""
    shown = []
    for name, (field, op) in attribute_filter_params(definitions).items():
        if query.get(name) not in (None, ""):
            suffix = {"eq": "", "min": " from", "max": " to"}[op]
            shown.append((name, f"{field.label}{suffix}", query.get(name)))
    return shown


class AttributeFilterMixin:
    """For a FilterSet of leads: the attr_* parameters of its data, checked (a bad value is a
    form error naming the parameter) and applied before the FilterSet's own filtering."""

    def _attribute_filters(self):
        if not hasattr(self, "_attribute_cache"):
            self._attribute_cache = attribute_q(self.data or {})
        return self._attribute_cache

    def is_valid(self):
        valid = super().is_valid()
        _, errors = self._attribute_filters()
        for name, sentence in errors.items():
            self.form.add_error(None, f"{name}: {sentence}")
        return valid and not errors

    def filter_queryset(self, queryset):
        q, _ = self._attribute_filters()
        return super().filter_queryset(queryset.filter(q) if q else queryset)
