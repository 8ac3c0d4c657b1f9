"""Handoffs a gradual publish left in the pool (handoff.routing_cap routes them later)."""

from django.db import models


class HeldHandoff(models.Model):
    """A handoff a gradual publish left in the pool; routed later, up to the daily cap a day."""

    record = models.ForeignKey("qualification.PublishRecord", on_delete=models.CASCADE, related_name="held")
    handoff = models.OneToOneField("handoff.Handoff", on_delete=models.CASCADE, related_name="+")

    class Meta:
        app_label = "handoff"

    def __str__(self):
        return f"handoff {self.handoff_id} held by {self.record_id}"
