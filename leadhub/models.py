from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .choices import ActivityKind, Channel, Grade, Industry, Stage


class Company(models.Model):
    domain = models.CharField(max_length=253, unique=True)
    name = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=40, choices=Industry.choices, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.DecimalField(
        max_digits=16, decimal_places=2, null=True, blank=True, help_text="In USD."
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self):
        return self.name or self.domain


class Lead(models.Model):
    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    source = models.CharField("channel", max_length=20, choices=Channel.choices, default=Channel.OTHER)
    campaign = models.CharField(max_length=120, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    fit_score = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    engagement_score = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    total_score = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    score_model_version = models.PositiveIntegerField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    recycle_count = models.PositiveIntegerField(default=0)
    nurture_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_lower_unique"),
            models.CheckConstraint(
                condition=models.Q(stage__in=Stage.values), name="lead_stage_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=Channel.values), name="lead_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["stage", "-created_at"], name="lead_stage_created"),
            models.Index(fields=["source", "-created_at"], name="lead_source_created"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["-total_score"], name="lead_total_score"),
            models.Index(fields=["-created_at"], name="lead_created"),
            models.Index(fields=["campaign"], name="lead_campaign"),
        ]

    def __str__(self):
        return self.full_name or self.email

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def email_domain(self):
        return self.email.rpartition("@")[2]


class Activity(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=30, choices=ActivityKind.choices)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=60, help_text="The system that sent it.")
    external_id = models.CharField(max_length=120, help_text="Its id in that system.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="activity_source_external_id"),
            models.CheckConstraint(
                condition=models.Q(kind__in=ActivityKind.values), name="activity_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="activity_lead_occurred")]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class StageChange(models.Model):
    """Append-only history of a lead's stage: who moved it, when and why."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    at = models.DateTimeField(db_index=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the system made the change.",
    )
    reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-at"], name="stagechange_lead_at"),
            models.Index(fields=["to_stage", "at"], name="stagechange_to_at"),
        ]

    def __str__(self):
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage}"
