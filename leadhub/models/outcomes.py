"""A lead's result: won or lost in the queue, or history recorded outside it (imports, API).

Outcomes are the labels that measure scoring. One lead may have several (a lost deal, later a
won one); readers take the latest by `occurred_on`, then id.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutcomeResult(models.TextChoices):
    WON = "won", "Won"
    LOST = "lost", "Lost"


class OutcomeOrigin(models.TextChoices):
    QUEUE = "queue", "The queue"
    IMPORT = "import", "Recorded outside the queue (import)"
    API = "api", "Recorded outside the queue (API)"


class Outcome(models.Model):
    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="outcomes")
    result = models.CharField(max_length=10, choices=OutcomeResult.choices)
    occurred_on = models.DateField(null=True, blank=True, help_text="When it was decided, when known.")
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    origin = models.CharField(max_length=10, choices=OutcomeOrigin.choices, default=OutcomeOrigin.QUEUE)
    # Idempotency for history sent from elsewhere: the same (source, external id) is one outcome.
    source = models.CharField(max_length=60, blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(result__in=OutcomeResult.values), name="outcome_result_valid"),
            models.CheckConstraint(condition=Q(origin__in=OutcomeOrigin.values), name="outcome_origin_valid"),
            models.UniqueConstraint(
                fields=["source", "external_id"], condition=~Q(external_id=""), name="outcome_source_external_id"
            ),
        ]
        indexes = [models.Index(fields=["lead", "occurred_on"], name="outcome_lead_occurred")]

    def __str__(self):
        return f"{self.get_result_display()} ({self.lead_id})"
