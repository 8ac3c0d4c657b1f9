"""One FilterSet per list: the API and the HTML lead list both use LeadFilter."""

import re
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db.models import DateTimeField, DecimalField, IntegerField, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from handoff.reports import drilldown_leads

from . import pagination, taxonomy
from .attribute_filters import AttributeFilterMixin
from .choices import Grade, Stage
from .models import NEVER_ACTIVE, Lead
from .pagination import SortKey
from .search import search_leads
from .search import words as search_words
from .validation import INT32_MAX

# Bounds on what a filter may ask, checked by the form (a form error, never a database error):
# ids fit the id columns, scores their numeric(8, 1) column, dates the calendar the reports use.
SCORE_LIMIT = 9_999_999
DATE_BOUNDS = [
    MinValueValidator(date(1970, 1, 1), "Choose a date from 1970 on."),
    MaxValueValidator(date(2999, 12, 31), "Choose a date before the year 3000."),
]


ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": INT32_MAX}


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 to the id column's largest value."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(*args, **kwargs)


class _IdChoiceField(forms.ModelChoiceField):
    """A choice of person by id, where an id in range that is not among the choices matches
    nothing (an empty list, as for any filter) instead of failing the form."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            try:
                pk = int(str(value))
            except ValueError:
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice") from None
            if not 1 <= pk <= INT32_MAX:
                raise ValidationError(f"Choose an id from 1 to {INT32_MAX}.", code="out_of_range") from None
            return self.queryset.model(pk=pk)


@extend_schema_field(ID_SCHEMA)
class PersonFilter(django_filters.ModelChoiceFilter):
    field_class = _IdChoiceField


@extend_schema_field({"type": "number", "minimum": -SCORE_LIMIT, "maximum": SCORE_LIMIT})
class ScoreFilter(django_filters.NumberFilter):
    pass


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 730})
class HorizonFilter(django_filters.NumberFilter):
    pass


def score_filter(**kwargs):
    return ScoreFilter(min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT, **kwargs)


# A date from 1970 to 2999, or empty for "no filter" (as the HTML forms send it).
@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "date", "pattern": r"^(19[7-9][0-9]|2[0-9]{3})-"}, {"type": "string", "enum": [""]}]}
)
class BoundedDateFilter(django_filters.DateFilter):
    pass


class _RawSelect(forms.NullBooleanSelect):
    """Shown as the usual Any/Yes/No select, but hands the field the value as sent."""

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class _StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0), empty for "any"; anything else is a form error, not "any"."""

    def to_python(self, value):
        if value in (None, "") or value is True or value is False:
            return None if value in (None, "") else value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise ValidationError("Use true or false.", code="invalid")

    def validate(self, value):
        pass


class _StrictBooleanFilterField(_StrictBooleanField):
    widget = _RawSelect


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictBooleanFilterField


@extend_schema_field({"type": "string", "pattern": r"^((fit|engagement):[0-9]+)?$"})
class RuleFilter(django_filters.CharFilter):
    pass


def date_filter(**kwargs):
    return BoundedDateFilter(validators=DATE_BOUNDS, **kwargs)


# The sorts the list offers (?ordering=name, -name, ...): each a list of keys, the id comes last.
# Every key of a sort runs in one direction, so each sort's keyset is a row comparison an index
# answers (the indexes are in Lead.Meta); leads never active count as the oldest activity.
SORTS = {
    "created": ["created_at"],
    "score": ["total_score"],
    "name": ["last_name"],
    "last_activity": ["last_activity_sort"],
    "stage": ["stage", "created_at"],
}
SORT_LABELS = {"created": "created", "score": "score", "name": "last name", "last_activity": "last activity", "stage": "stage"}
SORT_CHOICES = [
    (f"{sign}{name}", f"{label} ({'descending' if sign else 'ascending'})")
    for name, label in SORT_LABELS.items()
    for sign in ("", "-")
]
SORT_FIELDS = {
    "created_at": DateTimeField(),
    "total_score": DecimalField(max_digits=8, decimal_places=1),
    "last_name": Lead._meta.get_field("last_name"),
    "last_activity_sort": DateTimeField(),
    "stage": Lead._meta.get_field("stage"),
}


def _day_start(day):
    """The first moment of a local day, aware (a day past year 2999 is refused by the form)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def with_sort_columns(queryset):
    """The lead queryset with the annotations the sorts use (the expression the index has)."""
    return queryset.annotate(last_activity_sort=Coalesce("last_activity_at", Value(NEVER_ACTIVE)))


def _active_users(request):
    return get_user_model().objects.filter(is_active=True).order_by("username")


class _AnyKey:
    """A channel menu that takes any key-shaped value: filtering by a channel no lead has (or
    one deleted since the link was made) finds nothing, it is no error."""

    def valid_value(self, value):
        return bool(isinstance(value, str) and KEY_PATTERN.fullmatch(value))


class AnyKeyChoiceField(_AnyKey, django_filters.fields.ChoiceField):
    pass


class AnyKeyMultipleChoiceField(_AnyKey, django_filters.fields.MultipleChoiceField):
    pass


KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
KEY_SCHEMA = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$", "example": "inbound_form"}


@extend_schema_field({**KEY_SCHEMA, "pattern": "^([a-z][a-z0-9_]{0,39})?$"})
class ChannelFilter(django_filters.ChoiceFilter):
    """One channel key of the list marketers edit (the schema does not read the list)."""

    field_class = AnyKeyChoiceField


@extend_schema_field({"type": "array", "items": KEY_SCHEMA})
class ChannelsFilter(django_filters.MultipleChoiceFilter):
    """Channel keys of the list marketers edit, any of them (the schema does not read the list)."""

    field_class = AnyKeyMultipleChoiceField


class LeadFilter(AttributeFilterMixin, django_filters.FilterSet):  # attr_<key> filters: leadhub.attribute_filters
    q = django_filters.CharFilter(method="search", label="Search")
    # distinct=False: no join to multiply rows, and DISTINCT would make PostgreSQL sort every match
    # instead of walking the sort index (stage mql + channel paid: 0.5 s at 1M).
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    source = ChannelsFilter(choices=taxonomy.Menu("channel"), label="Channel", distinct=False)
    campaign = django_filters.CharFilter(lookup_expr="iexact")
    owner = PersonFilter(queryset=_active_users, label="Owner", empty_label="Any")
    grade = django_filters.CharFilter(lookup_expr="exact")
    score_min = score_filter(field_name="total_score", lookup_expr="gte", label="Score from")
    score_max = score_filter(field_name="total_score", lookup_expr="lte", label="Score to")
    # Local days as ranges of created_at (not created_at::date), so the created_at indexes serve them.
    created_after = date_filter(method="_created_after", label="Created from")
    created_before = date_filter(method="_created_before", label="Created to")
    # The dashboards' links (handoff/reports/scope.py): leads with a handoff matching all of these
    # at once. filter_queryset combines them into one handoff subquery (see _handoff_filter).
    mql_after = date_filter(method="_handoff", label="MQL from")
    mql_before = date_filter(method="_handoff", label="MQL to")
    handoff_owner = IdFilter(method="_handoff", label="Handoff owner")
    handoff_channel = ChannelFilter(choices=taxonomy.Menu("channel"), method="_handoff", label="Channel at handoff")
    handoff_campaign = django_filters.CharFilter(method="_handoff", label="Campaign at handoff")
    reached = django_filters.ChoiceFilter(
        method="_handoff",
        label="Handoff outcome",
        choices=[
            ("sal", "Accepted (SAL)"),
            ("sql", "Qualified (SQL)"),
            ("won", "Won"),
            ("rejected", "Rejected"),
            ("decided", "Decided"),
            ("breached", "SLA breached"),
        ],
    )
    rejection_reason = IdFilter(method="_handoff", label="Rejection reason")
    handoff_score_min = score_filter(method="_handoff", label="Score at handoff from")
    handoff_score_max = score_filter(method="_handoff", label="Score at handoff below")
    handoff_grade = django_filters.ChoiceFilter(choices=Grade.choices, method="_handoff", label="Grade at handoff")
    sla_state = django_filters.ChoiceFilter(
        method="_handoff",
        label="Open handoff SLA state",
        choices=[("on_time", "On time"), ("due_soon", "Due within an hour"), ("overdue", "Overdue"), ("pool", "In the pool")],
    )
    rule = RuleFilter(
        method="_handoff",
        label="Scoring rule fired at handoff",
        validators=[RegexValidator(r"^(fit|engagement):\d+$", "Write a rule as fit:<id> or engagement:<id>.")],
    )
    in_cooldown = StrictBooleanFilter(method="_in_cooldown", label="Recycled, in cooldown")
    # The model quality report's "missed" converters (qualification.quality.missed_ids): leads
    # created in created_after..created_before (of one source and campaign) that converted by
    # missed_label within missed_horizon days and that the model's MQL rule does not qualify.
    missed_for = IdFilter(method="_missed", label="Converters the model (id) misses")
    missed_label = django_filters.ChoiceFilter(
        choices=[("outcome", "Won"), ("acceptance", "Accepted by an SDR")], method="_missed_option", label="Missed by label"
    )
    missed_horizon = HorizonFilter(method="_missed_option", min_value=1, max_value=730, label="Missed: horizon (days)")
    missed_field = django_filters.CharFilter(method="_missed_option", label="Missed: custom field (key=value)")
    ordering = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="_ordering", label="Sort", empty_label="Newest first")

    class Meta:
        model = Lead
        fields = ["q", "stage", "source", "campaign", "owner", "grade", "score_min", "score_max"]

    def search(self, queryset, name, value):
        """Every word must match (leadhub.search); exact and prefix matches of the email or full
        name rank first (sort_keys puts the rank ahead of the chosen sort)."""
        return search_leads(queryset, value)

    def _created_after(self, queryset, name, value):
        return queryset.filter(created_at__gte=_day_start(value))

    def _created_before(self, queryset, name, value):
        return queryset.filter(created_at__lt=_day_start(value + timedelta(days=1)))

    def _ordering(self, queryset, name, value):
        return queryset  # applied in filter_queryset, after the search rank

    def sort_keys(self, queryset=None):
        """The list's order as keyset keys: the search rank when searching, the chosen sort (or
        newest first), then the id. Valid forms only. (A broad search has no similarity key:
        leadhub.search.)"""
        chosen = self.form.cleaned_data.get("ordering") or ""
        searching = bool(search_words(self.form.cleaned_data.get("q") or ""))
        keys = [SortKey("search_tier", False, IntegerField())] if searching else []
        if searching and not chosen and not getattr((self.qs if queryset is None else queryset).query, "search_broad", False):
            keys.append(SortKey("search_similarity", True, IntegerField()))
        descending = chosen.startswith("-") or not chosen
        for name in SORTS[chosen.lstrip("-") or "created"]:
            keys.append(SortKey(name, descending, SORT_FIELDS[name]))
        keys.append(SortKey("id", descending, IntegerField()))
        return keys

    HANDOFF_PARAMS = {
        "mql_after": "mql_after",
        "mql_before": "mql_before",
        "handoff_owner": "owner_id",
        "handoff_channel": "channel",
        "handoff_campaign": "campaign",
        "reached": "reached",
        "rejection_reason": "reason_id",
        "handoff_score_min": "score_min",
        "handoff_score_max": "score_max",
        "handoff_grade": "grade",
        "sla_state": "sla_state",
        "rule": "rule",
    }

    def _handoff(self, queryset, name, value):
        return queryset  # applied together in filter_queryset

    def _in_cooldown(self, queryset, name, value):
        from django.utils import timezone

        condition = Q(stage=Stage.NURTURE, recycle_count__gte=1, nurture_until__gt=timezone.now())
        return queryset.filter(condition) if value else queryset.exclude(condition)

    def _missed_option(self, queryset, name, value):
        return queryset  # read by _missed

    def _missed(self, queryset, name, value):
        from qualification import quality
        from qualification.models import ScoringModel
        from qualification.quality_forms import QualityForm

        data = self.form.cleaned_data
        sources = data.get("source") or []
        form = QualityForm(
            {
                "label": data.get("missed_label") or "",
                "date_from": data.get("created_after") or "",
                "date_to": data.get("created_before") or "",
                "horizon": data.get("missed_horizon") or "",
                "channel": sources[0] if len(sources) == 1 else "",
                "campaign": data.get("campaign") or "",
                "field": data.get("missed_field") or "",
            },
            with_model=False,
        )
        model = ScoringModel.objects.filter(pk=value).first()
        if model is None or not form.is_valid():
            return queryset.none()
        return queryset.filter(pk__in=quality.missed_ids(model, form.period()))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        conditions = {arg: self.form.cleaned_data.get(name) for name, arg in self.HANDOFF_PARAMS.items()}
        conditions = {k: v for k, v in conditions.items() if v not in (None, "")}
        if conditions:
            queryset = drilldown_leads(queryset, conditions)
        keys = self.sort_keys(queryset)
        if any(key.name == "last_activity_sort" for key in keys):
            queryset = with_sort_columns(queryset)
        return queryset.order_by(*pagination.order_by(keys))
