"""The history of publishing: who published which model, when, why, and how its new MQLs'
handoffs open (all at once, or a daily cap that routing honours: handoff.routing_cap reads
`capped_record_id()` while a gradual publish's rescoring run routes its new MQLs)."""

from contextlib import contextmanager
from contextvars import ContextVar

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
        null=True, blank=True, help_text="Most new handoffs routed to SDRs a day; empty: all at once."
    )
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


_capped_record = ContextVar("gradual_publish_record", default=None)


@contextmanager
def capped(record_id):
    """Inside, the MQLs scoring promotes are routed under this PublishRecord's daily cap."""
    token = _capped_record.set(record_id)
    try:
        yield
    finally:
        _capped_record.reset(token)


def capped_record_id():
    """The PublishRecord whose daily cap routing honours now, or None (routing as usual)."""
    return _capped_record.get()
