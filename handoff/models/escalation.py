"""The escalation ladder: its tiers (the admin sets them) and the steps taken (handoff.sla writes them)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

User = settings.AUTH_USER_MODEL


class EscalationTier(models.Model):
    """One step of the escalation ladder: what happens, how long after the deadline.

    The delay counts business time of the handoff's policy, so a deadline missed at 17:55
    does not page the manager at night."""

    class Action(models.TextChoices):
        NOTIFY_OWNER = "notify_owner", "Notify the owner"
        NOTIFY_MANAGER = "notify_manager", "Notify the sales managers"
        RETURN_TO_POOL = "return_to_pool", "Return the handoff to the pool"
        REASSIGN = "reassign", "Reassign to the next available SDR"

    name = models.CharField(max_length=100)
    action = models.CharField(max_length=20, choices=Action.choices)
    delay_minutes = models.PositiveIntegerField(default=0, help_text="Business minutes after the deadline.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["delay_minutes", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["notify_owner", "notify_manager", "return_to_pool", "reassign"]),
                name="escalationtier_action_valid",
            ),
        ]

    def __str__(self):
        return f"{self.name} (+{self.delay_minutes} min)"


class Escalation(models.Model):
    """One escalation step taken for one SLA clock of a handoff. The unique constraint is
    what makes the step happen once, even when two SLA checks run at the same moment."""

    handoff = models.ForeignKey("handoff.Handoff", on_delete=models.CASCADE, related_name="escalations")
    tier = models.ForeignKey(EscalationTier, on_delete=models.PROTECT, related_name="escalations")
    # The clock this step belongs to: a reassigned handoff gets a new deadline and new steps.
    due_at = models.DateTimeField()
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=EscalationTier.Action.choices)
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["handoff", "tier", "due_at"], name="escalation_once_per_tier_and_clock"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} for handoff {self.handoff_id}"
