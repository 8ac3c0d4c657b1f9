"""The history of publishing: who published which model, when, why, and how its new MQLs'
handoffs open (all at once, or a daily cap that routing honours: handoff.routing_cap)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class PublishRecord(models.Model):
    model = models.ForeignKey("qualification.ScoringModel", on_delete=models.CASCADE, related_name="publishes")
    run = models.ForeignKey("qualification.RescoreRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField("why", blank=True)
    daily_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most new handoffs routed to SDRs a day; empty: all at once.")
    expected_new_mqls = models.PositiveIntegerField(null=True, blank=True, help_text="As the confirmation said.")
    # Today's routed handoffs under the cap (routing_cap): the day, and how many so far.
    routed_day = models.DateField(null=True, blank=True)
    routed_today = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "qualification"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"v{self.model.version} published {self.at:%Y-%m-%d %H:%M}"

    @property
    def how(self):
        return f"new handoffs opened {self.daily_cap:,} a day" if self.daily_cap else "new handoffs opened all at once"


class HeldHandoff(models.Model):
    """A handoff a gradual publish left in the pool; routed later, up to the daily cap a day."""

    record = models.ForeignKey(PublishRecord, on_delete=models.CASCADE, related_name="held")
    handoff = models.OneToOneField("handoff.Handoff", on_delete=models.CASCADE, related_name="+")

    class Meta:
        app_label = "qualification"

    def __str__(self):
        return f"handoff {self.handoff_id} held by {self.record_id}"
