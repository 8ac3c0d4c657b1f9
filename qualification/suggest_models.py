"""A run of "Suggest weights from outcomes" (qualification.suggest): its filters and options,
progress while the Celery task fits, and the result (the draft it made, held-out AUCs)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SuggestionRun(models.Model):
    model = models.ForeignKey(
        "qualification.ScoringModel", on_delete=models.CASCADE, related_name="suggestions", help_text="The model suggested from."
    )
    draft = models.ForeignKey(
        "qualification.ScoringModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suggested_by",
        help_text="The draft this run created.",
    )
    status = models.CharField(max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=200, blank=True, help_text="What the run is doing now.")
    options = models.JSONField(default=dict, blank=True, help_text="Label, horizon, filters, MQL rate or precision.")
    result = models.JSONField(default=dict, blank=True, help_text="Held-out AUCs, lead counts, rules and what was left out.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "qualification"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SuggestionStatus.values), name="suggestionrun_status_valid"),
        ]

    def __str__(self):
        return f"Suggestion from v{self.model.version} ({self.get_status_display().lower()})"
