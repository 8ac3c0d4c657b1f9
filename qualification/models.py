"""Scoring configuration: versioned models of fit and engagement rules, and rescoring runs.

Marketers edit drafts only; a published or archived model is history and stays as it was
(services.copy_as_draft makes an editable copy).
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from leadhub.choices import Grade

from . import engine, language
from .choices import (
    Aggregate,
    FitField,
    ModelStatus,
    Operator,
    RequiredField,
    RunKind,
    RunStatus,
)

DEFAULT_REQUIRED = ["first_name", "last_name", "title"]
MAX_WINDOW_DAYS = 365


def default_required_fields():
    return list(DEFAULT_REQUIRED)


def next_version():
    # A new model (draft) takes the next version; the unique constraint catches a race.
    return (ScoringModel.objects.aggregate(v=models.Max("version"))["v"] or 0) + 1


class ScoringModel(models.Model):
    version = models.PositiveIntegerField(
        unique=True, default=next_version, editable=False, help_text="Leads record the version they were scored with."
    )
    name = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=ModelStatus.choices, default=ModelStatus.DRAFT)
    mql_threshold = models.DecimalField(
        "MQL threshold",
        max_digits=7,
        decimal_places=1,
        default=Decimal("60"),
        help_text="A lead needs at least this total (fit + engagement) to become an MQL.",
    )
    min_grade = models.CharField(
        "minimum fit grade",
        max_length=1,
        choices=Grade.choices,
        default=Grade.B,
        help_text="…and at least this grade: interested is not enough, it must be the right company.",
    )
    grade_a_min = models.DecimalField("grade A from fit", max_digits=7, decimal_places=1, default=Decimal("40"))
    grade_b_min = models.DecimalField("grade B from fit", max_digits=7, decimal_places=1, default=Decimal("25"))
    grade_c_min = models.DecimalField("grade C from fit", max_digits=7, decimal_places=1, default=Decimal("10"))
    required_fields = models.JSONField(
        default=default_required_fields,
        blank=True,
        help_text="Profile fields a lead must have to become an MQL: "
        + ", ".join(RequiredField.values)
        + ", or a custom field as attributes.<key>.",
    )
    half_life_days = models.PositiveIntegerField(
        "engagement half-life (days)",
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text="Engagement points halve every this many days.",
    )
    copied_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-version"]
        permissions = [("publish_scoringmodel", "Can publish a scoring model")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status=ModelStatus.PUBLISHED), name="one_published_scoring_model"
            ),
            models.CheckConstraint(condition=Q(status__in=ModelStatus.values), name="scoringmodel_status_valid"),
        ]

    def __str__(self):
        label = f"v{self.version}"
        if self.name:
            label += f" {self.name}"
        return f"{label} ({self.get_status_display().lower()})"

    @property
    def is_draft(self):
        return self.status == ModelStatus.DRAFT

    def clean(self):
        errors = {}
        problem = required_fields_problem(self.required_fields)
        if problem:
            errors["required_fields"] = problem
        bands = [self.grade_a_min, self.grade_b_min, self.grade_c_min]
        if None not in bands and not (bands[0] >= bands[1] >= bands[2]):
            errors["grade_b_min"] = "Grade bands must go down: A ≥ B ≥ C."
        if self.pk and not errors:
            problems = self.reachability_problems()
            errors.update(problems)
        if errors:
            raise ValidationError(errors)

    def reachability_problems(self, fit_rules=None, engagement_rules=None):
        """Field errors for a threshold or minimum grade that no lead could reach with these rules."""
        fit_rules = list(self.fit_rules.all()) if fit_rules is None else fit_rules
        engagement_rules = list(self.engagement_rules.all()) if engagement_rules is None else engagement_rules
        best_fit = engine.best_fit([(r.field, r.operator, r.points) for r in fit_rules if r.points is not None])
        problems = {}
        band = {Grade.A: self.grade_a_min, Grade.B: self.grade_b_min, Grade.C: self.grade_c_min}.get(self.min_grade)
        if band is not None and best_fit < band:
            problems["min_grade"] = (
                f"No lead could reach grade {self.min_grade}: it needs a fit of {band}, and the fit rules give at most {best_fit}."
            )
        # The most each engagement rule can add: its cap, an aggregate's points, nothing for a
        # negative rule; None when unbounded (a positive per-occurrence rule without a cap).
        most = [
            Decimal(0) if r.points is not None and r.points < 0 else (r.points if r.aggregate else r.cap)
            for r in engagement_rules
        ]
        if engagement_rules and all(m is not None for m in most):
            best = best_fit + sum(most)
            if self.mql_threshold is not None and best < self.mql_threshold:
                problems["mql_threshold"] = (
                    f"No lead could reach {self.mql_threshold}: the best possible total with these rules is {best}."
                )
        elif not engagement_rules and self.mql_threshold is not None and best_fit < self.mql_threshold:
            problems["mql_threshold"] = (
                f"No lead could reach {self.mql_threshold}: without engagement rules the best possible total is {best_fit}."
            )
        return problems


@dataclass
class Vocabulary:
    """What rules may name, read once (a few queries) for many rules: custom fields
    ({key: (type, label)}) and their options, activity kinds ({key: (label, declared
    properties by key)}), industry and channel keys. The editor's formsets load one and hand it
    to every rule they clean (`rule.vocabulary = …`), so saving 50 rules costs what 5 do."""

    custom: dict[str, tuple[str, str]]
    options: dict[str, list]
    kinds: dict[str, tuple[str, dict[str, dict]]]
    lists: dict[str, list[str]]

    @classmethod
    def load(cls) -> "Vocabulary":
        from leadhub.models import ActivityKind, Channel, Industry, LeadField

        custom, options = {}, {}
        for key, kind, label, opts in LeadField.objects.values_list("key", "type", "label", "options"):
            custom[key], options[key] = (kind, label), [str(o) for o in opts or []]
        kinds = {
            key: (label, {p["key"]: p for p in props or [] if isinstance(p, dict) and "key" in p})
            for key, label, props in ActivityKind.objects.values_list("key", "label", "properties")
        }
        lists = {
            FitField.INDUSTRY: list(Industry.objects.values_list("key", flat=True)),
            FitField.CHANNEL: list(Channel.objects.values_list("key", flat=True)),
        }
        return cls(custom, options, kinds, lists)


def _vocabulary(rule) -> Vocabulary:
    vocabulary = getattr(rule, "vocabulary", None)
    if vocabulary is None:
        vocabulary = rule.vocabulary = Vocabulary.load()
    return vocabulary


def custom_fields() -> dict[str, tuple[str, str]]:
    """{custom field key: (type, label)} (one query)."""
    from leadhub.models import LeadField

    return {key: (kind, label) for key, kind, label in LeadField.objects.values_list("key", "type", "label")}


def field_label(name: str, custom: dict[str, tuple[str, str]] | None = None) -> str:
    """“Industry”, or a custom field's label for `attributes.<key>`."""
    key = language.attribute_key(name)
    if key is None:
        return str(FitField(name).label) if name in FitField.values else str(dict(RequiredField.choices).get(name, name))
    custom = custom_fields() if custom is None else custom
    return custom[key][1] if key in custom else key


def required_fields_problem(value) -> str | None:
    """A sentence when `value` is not a list of standard required fields and existing custom fields."""
    standard = ", ".join(RequiredField.values)
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        return f"Give a list of fields from: {standard}, or attributes.<key> for a custom field."
    custom = custom_fields()
    unknown = [f for f in value if f not in RequiredField.values and (language.attribute_key(f) or "") not in custom]
    if unknown:
        return (
            f"No field {', '.join(unknown)}: use {standard}, or attributes.<key> of a custom field"
            f" ({', '.join('attributes.' + k for k in sorted(custom)) or 'none defined yet'})."
        )
    return None


class FitRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    # A standard field (choices.FitField) or a custom field as attributes.<key>; checked against
    # the fields that exist when the rule is saved (clean), not by a constraint.
    field = models.CharField(
        max_length=60, help_text="A lead field (industry, title, channel, …) or a custom field as attributes.<key>."
    )
    operator = models.CharField(max_length=20, choices=Operator.choices)
    value = models.CharField(
        max_length=500,
        blank=True,
        help_text="One value; a comma-separated list for “is one of”; two values “low, high” for “between”; "
        "nothing for “is empty”. Numbers may end in k or m (10m = 10,000,000); dates as YYYY-MM-DD; yes/no. "
        "Text matches ignore case.",
    )
    points = models.DecimalField(max_digits=7, decimal_places=1, help_text="Negative points are allowed.")
    label = models.CharField(max_length=120, blank=True, help_text="Shown in explanations; generated when empty.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(operator__in=Operator.values), name="fitrule_operator_valid_v2"),
        ]

    def __str__(self):
        return self.describe()

    def describe(self, custom: dict[str, tuple[str, str]] | None = None):
        if self.label:
            return self.label
        label = field_label(self.field, custom) if language.attribute_key(self.field) else None
        return engine.describe_fit(self.field, self.operator, self.value, label)

    def clean(self):
        errors = {}
        vocabulary = _vocabulary(self)
        custom = vocabulary.custom
        kind = language.field_type(self.field or "", {k: t for k, (t, _) in custom.items()})
        if self.field and kind is None:
            key = language.attribute_key(self.field)
            if key is not None:
                names = ", ".join("attributes." + k for k in sorted(custom)) or "none are defined yet"
                errors["field"] = f"There is no custom field “{key}” (custom fields: {names})."
            else:
                errors["field"] = (
                    f"There is no field “{self.field}”: use one of {', '.join(FitField.values)}, or attributes.<key> for a custom field."
                )
        elif self.field and self.operator:
            problem = language.check_operator(field_label(self.field, custom), kind, self.operator)
            if problem:
                errors["operator"] = problem
            else:
                try:
                    values = language.parse_fit_value(kind, self.operator, self.value or "")
                    problem = _listed_values_problem(self.field, self.operator, values, vocabulary)
                    if problem:
                        errors["value"] = problem
                except ValueError as exc:
                    errors["value"] = str(exc)
        if self.points is not None and self.points == 0:
            errors["points"] = "A rule worth 0 points does nothing; give it points or delete it."
        if errors:
            raise ValidationError(errors)


def _listed_values_problem(field, operator, values, vocabulary):
    """For fields whose values come from a list (industry, channel, choice fields): a sentence
    naming values that are not in it."""
    if operator not in (Operator.EQUALS, Operator.IS_NOT, Operator.IN, Operator.NOT_IN):
        return None
    key = language.attribute_key(field)
    if key is not None:
        if vocabulary.custom.get(key, ("", ""))[0] != "choice":
            return None
        options = vocabulary.options.get(key, [])
    elif field in vocabulary.lists:
        options = vocabulary.lists[field]
    else:
        return None
    known = {language.fold(o) for o in options}
    unknown = [v for v in values if v not in known]
    if unknown:
        return f"Unknown {field_label(field, vocabulary.custom).lower()} {', '.join(unknown)}; use: {', '.join(options)}."
    return None


class EngagementRule(models.Model):
    """Points for activities of a kind. Per occurrence (decayed, capped: the cap bounds the
    absolute value, so a negative rule takes away at most its cap), or an aggregate: the count
    of the activities, or the sum of one of their number properties, within the window reaching
    `at_least` gives the points once (not decayed). Conditions (all must hold) choose the
    activities counted: see language.py."""

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="engagement_rules")
    # An ActivityKind key, checked against the list when the rule is saved (clean).
    kind = models.CharField("activity kind", max_length=40)
    points = models.DecimalField(
        "points",
        max_digits=7,
        decimal_places=1,
        help_text="Per occurrence before decay, or once for an aggregate; negative points take away.",
    )
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text="[{property, operator, value}], all must hold (written “url contains /pricing; minutes >= 30”).",
    )
    aggregate = models.CharField(max_length=10, choices=Aggregate.choices, blank=True, default="")
    aggregate_property = models.CharField("sum of", max_length=40, blank=True)
    at_least = models.FloatField("at least", null=True, blank=True)
    cap = models.DecimalField(
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Most points (taken away, for a negative rule) this rule may give; empty for no cap.",
    )
    window_days = models.PositiveIntegerField(
        "window (days)",
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_DAYS)],
        help_text="Only activities of the last this many days count (today is day 1).",
    )
    label = models.CharField(max_length=120, blank=True, help_text="Shown in explanations; generated when empty.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="engagementrule_points_nonzero"),
            models.CheckConstraint(condition=Q(aggregate__in=Aggregate.values), name="engagementrule_aggregate_valid"),
        ]

    def __str__(self):
        return self.describe()

    def describe(self, kind_labels: dict[str, str] | None = None):
        if self.label:
            return self.label
        name = kind_labels.get(self.kind) if kind_labels is not None else None
        return engine.describe_engagement(
            self.kind, self.conditions or [], self.aggregate, self.aggregate_property, self.at_least, name
        )

    def condition_specs(self):
        return tuple(language.Condition.from_dict(c) for c in self.conditions or [] if isinstance(c, dict))

    def clean(self):
        errors = {}
        kinds = _vocabulary(self).kinds
        kind = kinds.get(self.kind) if self.kind else None
        if self.kind and kind is None:
            errors["kind"] = f"There is no activity kind “{self.kind}” (kinds: {', '.join(kinds)})."
        declared = kind[1] if kind else {}
        if kind is not None:
            try:
                written = language.conditions_text(self.conditions or [])
                self.conditions = [c.as_dict() for c in language.parse_conditions(written, declared)]
            except (ValueError, AttributeError, TypeError) as exc:
                errors["conditions"] = str(exc)
        if self.points is not None and self.points == 0:
            errors["points"] = "A rule worth 0 points does nothing; give it points (negative to take away) or delete it."
        if self.aggregate:
            if self.at_least is None or self.at_least <= 0:
                errors["at_least"] = "An aggregate rule needs a number above 0 to reach (e.g. 10 for “at least 10 minutes”)."
            if self.aggregate == Aggregate.SUM:
                prop = declared.get(self.aggregate_property)
                numbers = ", ".join(k for k, p in declared.items() if p.get("type") == "number") or "none"
                if not self.aggregate_property:
                    errors["aggregate_property"] = f"Say which number to add up (this kind's numbers: {numbers})."
                elif kind is not None and (prop is None or prop.get("type") != "number"):
                    errors["aggregate_property"] = (
                        f"{self.aggregate_property} is not a number property of this kind (its numbers: {numbers})."
                    )
            elif self.aggregate_property:
                errors["aggregate_property"] = "Only a sum adds up a property: leave “sum of” empty for a count."
            if self.cap is not None:
                errors["cap"] = "An aggregate rule gives its points once: leave the cap empty."
        else:
            if self.aggregate_property:
                errors["aggregate_property"] = "Choose “sum” to add up a property (or leave it empty)."
            if self.at_least is not None:
                errors["at_least"] = "“At least” is for aggregate rules (count or sum): choose one or leave it empty."
            if self.cap is not None and self.cap <= 0:
                errors["cap"] = "The cap is the most points the rule gives (or takes away): give a number above 0."
            elif self.cap is not None and self.points is not None and self.cap < abs(self.points):
                errors["cap"] = (
                    f"The cap ({self.cap}) is below the points of one occurrence ({abs(self.points)}): raise it or leave it empty."
                )
        if errors:
            raise ValidationError(errors)


class RescoreRun(models.Model):
    """One pass over all leads (publish, nightly decay): progress, and the cursor to resume from."""

    model = models.ForeignKey(ScoringModel, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=10, choices=RunKind.choices, default=RunKind.PUBLISH)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    as_of = models.DateTimeField(help_text="Scores are computed for this moment, so a rerun converges.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    promoted = models.PositiveIntegerField(default=0, help_text="Leads moved to MQL.")
    nurtured = models.PositiveIntegerField(default=0, help_text="New leads moved to nurture.")
    last_lead_id = models.BigIntegerField(default=0, help_text="Leads up to this id are done.")
    max_lead_id = models.BigIntegerField(default=0)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times the run was resumed after it stalled or failed.")
    # True while pending or running, NULL after: the unique constraint lets only one run be
    # active, so two publishes (or a publish and the nightly pass) never run at once.
    active = models.BooleanField(null=True, default=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], name="one_active_rescore_run"),
            models.CheckConstraint(
                condition=Q(active__isnull=True) | Q(status__in=["pending", "running"]), name="rescorerun_active_matches_status"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of v{self.model.version} ({self.get_status_display().lower()})"

    @property
    def percent(self):
        return round(100 * self.done / self.total) if self.total else (100 if self.status == RunStatus.DONE else 0)

    @property
    def stalled_since(self):
        """When this active run last made progress, if it has made none for a while (its worker died)."""
        from .services import stalled_since

        return stalled_since(self)

    @property
    def rate(self):
        """Leads per second so far."""
        if not self.started_at or not self.done:
            return None
        end = self.finished_at or self.heartbeat_at or timezone.now()
        seconds = (end - self.started_at).total_seconds()
        return self.done / seconds if seconds > 0 else None


class ActivityRollup(models.Model):
    """Activities per lead, kind, UTC day and `minutes` property, with their count.

    Rescoring reads these narrow rows instead of the raw activities (no JSON parsing, fewer
    rows); leadhub.services.record_activities keeps them current through rollups.add_to_rollups
    (a receiver of leadhub.hooks.on_activities_recorded).
    Rules whose conditions read other properties read the raw activities of their kind within
    their window instead (docs/decisions/engagement-conditions.md).
    """

    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=30)
    day = models.IntegerField(help_text="Days since 1970-01-01 of the UTC date.")
    minutes = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField("count")

    class Meta:
        # One row per (lead, day, kind, minutes), NULL minutes included, so that ingest adds to
        # the rollups with one upsert and no lock on the lead (PostgreSQL 15+). The same index
        # is covering: the preview groups every rollup by lead from it alone, in lead order,
        # with no heap reads and no hash table of a million leads. SQLite creates neither
        # option, so migration 0004 gives it a plain (lead, day) index instead; its one writer
        # at a time keeps the rows unique there (rollups.add_to_rollups).
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "day", "kind", "minutes"], include=["n"], nulls_distinct=False, name="rollup_key"
            ),
        ]

    def __str__(self):
        return f"{self.lead_id} {self.kind} day {self.day}: {self.n}"


class PendingRescore(models.Model):
    """A lead whose facts changed since it was last scored (activities arrived, its profile
    changed). The rescoring task takes waiting rows in batches, oldest first (qualification.
    services.rescore_pending), and scores each lead once however many rows it has. A lead may
    have several rows: writers only ever insert, so an ingest batch never waits on another or
    on the worker here. `activity_at` is the newest activity the writer recorded: rescoring
    moves the lead's last_activity_at with its scores, in the same row update, so ingest never
    updates (or locks) the lead itself."""

    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="+")
    activity_at = models.DateTimeField(null=True, blank=True)
    # When the lead started waiting (set by the database, as writers insert with plain SQL):
    # /healthz and the sweeper (leadhub.sweeper) read the oldest.
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        # The table the lead records app created; the model moved here with the scoring it serves.
        db_table = "leadhub_pendingrescore"

    def __str__(self):
        return f"lead {self.lead_id} waits for rescoring"


from .publish_records import PublishRecord  # noqa: E402, F401  (the history of publishing)
from .suggest_models import SuggestionRun  # noqa: E402, F401  (suggested weights: qualification.suggest)
