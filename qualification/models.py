"""Scoring configuration: versioned models of fit and engagement rules, and rescoring runs.

Marketers edit drafts only; a published or archived model is history and stays as it was
(services.copy_as_draft makes an editable copy).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from leadhub.choices import DefaultActivityKind, Grade

from . import engine
from .choices import (
    NUMERIC_FIELDS,
    NUMERIC_OPERATORS,
    TEXT_OPERATORS,
    ConditionOperator,
    ConditionProperty,
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
        help_text="Profile fields a lead must have to become an MQL: " + ", ".join(RequiredField.values) + ".",
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
        if not isinstance(self.required_fields, list) or any(f not in RequiredField.values for f in self.required_fields):
            errors["required_fields"] = "Give a list of fields from: " + ", ".join(RequiredField.values) + "."
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
        if engagement_rules and all(r.cap is not None for r in engagement_rules):
            best = best_fit + sum(r.cap for r in engagement_rules)
            if self.mql_threshold is not None and best < self.mql_threshold:
                problems["mql_threshold"] = (
                    f"No lead could reach {self.mql_threshold}: the best possible total with these rules is {best}."
                )
        elif not engagement_rules and self.mql_threshold is not None and best_fit < self.mql_threshold:
            problems["mql_threshold"] = (
                f"No lead could reach {self.mql_threshold}: without engagement rules the best possible total is {best_fit}."
            )
        return problems


class FitRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    field = models.CharField(max_length=20, choices=FitField.choices)
    operator = models.CharField(max_length=10, choices=Operator.choices)
    value = models.CharField(
        max_length=500,
        help_text="One value; a comma-separated list for “is one of”; two numbers “low, high” for “between”. "
        "Numbers may end in k or m (10m = 10,000,000). Text matches ignore case.",
    )
    points = models.DecimalField(max_digits=7, decimal_places=1, help_text="Negative points are allowed.")
    label = models.CharField(max_length=120, blank=True, help_text="Shown in explanations; generated when empty.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(field__in=FitField.values), name="fitrule_field_valid"),
            models.CheckConstraint(condition=Q(operator__in=Operator.values), name="fitrule_operator_valid"),
        ]

    def __str__(self):
        return self.describe()

    def describe(self):
        return self.label or engine.describe_fit(self.field, self.operator, self.value)

    def clean(self):
        errors = {}
        if self.field and self.operator:
            allowed = NUMERIC_OPERATORS if self.field in NUMERIC_FIELDS else TEXT_OPERATORS
            if self.operator not in allowed:
                kind = "a number" if self.field in NUMERIC_FIELDS else "text"
                names = ", ".join(f"“{Operator(o).label}”" for o in Operator.values if o in allowed)
                errors["operator"] = f"{FitField(self.field).label} is {kind}: use {names}."
            else:
                try:
                    engine.parse_fit_value(self.field, self.operator, self.value or "")
                except ValueError as exc:
                    errors["value"] = str(exc)
        if self.points is not None and self.points == 0:
            errors["points"] = "A rule worth 0 points does nothing; give it points or delete it."
        if errors:
            raise ValidationError(errors)


class EngagementRule(models.Model):
    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="engagement_rules")
    kind = models.CharField("activity kind", max_length=30, choices=DefaultActivityKind.choices)
    points = models.DecimalField(
        "points each",
        max_digits=7,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="Points per occurrence, before decay.",
    )
    condition_property = models.CharField(max_length=20, choices=ConditionProperty.choices, blank=True)
    condition_operator = models.CharField(max_length=10, choices=ConditionOperator.choices, blank=True)
    condition_value = models.FloatField(null=True, blank=True)
    cap = models.DecimalField(
        max_digits=7, decimal_places=1, null=True, blank=True, help_text="Most points this rule may give; empty for no cap."
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
            models.CheckConstraint(condition=Q(kind__in=DefaultActivityKind.values), name="engagementrule_kind_valid"),
            models.CheckConstraint(condition=Q(points__gt=0), name="engagementrule_points_positive"),
        ]

    def __str__(self):
        return self.describe()

    def describe(self):
        return self.label or engine.describe_engagement(
            self.kind, self.condition_property, self.condition_operator, self.condition_value
        )

    def clean(self):
        errors = {}
        parts = [self.condition_property, self.condition_operator, self.condition_value]
        given = [p not in ("", None) for p in parts]
        if any(given) and not all(given):
            missing = [
                name
                for name, ok in zip(["condition_property", "condition_operator", "condition_value"], given, strict=True)
                if not ok
            ]
            for name in missing:
                errors[name] = "A condition needs a property, an operator and a value (or none of them)."
        if self.cap is not None and self.points is not None and self.cap < self.points:
            errors["cap"] = (
                f"The cap ({self.cap}) is below the points of one occurrence ({self.points}): raise it or leave it empty."
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
    Conditions on activity properties can only use the properties kept here.
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
