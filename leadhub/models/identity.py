"""Leads known by another system's id: one row per (source system, id), unique per source."""

from django.db import models
from django.utils import timezone


class LeadExternalId(models.Model):
    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="external_ids")
    source = models.CharField(max_length=60, help_text="The system the id belongs to, e.g. crm.")
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["source", "external_id"]
        verbose_name = "external id"
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="lead_external_id_unique"),
            # One id per lead and source system: a second one is a different lead (or a merge).
            models.UniqueConstraint(fields=["lead", "source"], name="lead_external_id_one_per_source"),
        ]

    def __str__(self):
        return f"{self.source}:{self.external_id}"
