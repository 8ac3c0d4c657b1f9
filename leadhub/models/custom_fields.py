"""Custom lead fields marketers define; values live in Lead.attributes under the field's key."""

from django.db import models

from .taxonomy import KEY_VALIDATOR


class LeadFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes/no"
    DATE = "date", "Date"
    CHOICE = "choice", "Choice"


class LeadField(models.Model):
    key = models.CharField(
        max_length=40, unique=True, validators=[KEY_VALIDATOR], help_text="The key in a lead's attributes; cannot change."
    )
    label = models.CharField(max_length=80, help_text="What people see; renaming keeps the data.")
    type = models.CharField(max_length=10, choices=LeadFieldType.choices, default=LeadFieldType.TEXT)
    options = models.JSONField(default=list, blank=True, help_text="The allowed values of a choice field.")
    help_text = models.CharField(max_length=200, blank=True)
    show_in_panel = models.BooleanField("show in the queue panel", default=False)
    show_in_list = models.BooleanField("show in the lead list", default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "label"]
        constraints = [
            models.CheckConstraint(condition=models.Q(type__in=LeadFieldType.values), name="leadfield_type_valid"),
        ]

    def __str__(self):
        return self.label
