"""The lead records: companies, leads, their activities, stage history, aliases and merges here;
import jobs and preferences in the modules re-exported below."""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When
from django.db.models.functions import Coalesce, Concat, Lower, StrIndex, Substr, Upper
from django.db.models.lookups import GreaterThan, LessThan
from django.utils import timezone

from ..choices import Grade, Stage
from ..validation import INT32_MAX, MAX_REVENUE
from .taxonomy import TaxonomyKeyField

# The lead list sorts leads never active as the oldest activity, so the sort key is never NULL.
NEVER_ACTIVE = datetime(1, 1, 1, tzinfo=UTC)


class Company(models.Model):
    domain = models.CharField(max_length=253, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # A key of the industries marketers edit (leadhub.models.taxonomy).
    industry = TaxonomyKeyField(max_length=40, blank=True, list_name="industry")
    # Limits: what every database keeps exactly (leadhub/validation.py).
    employee_count = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(INT32_MAX)])
    annual_revenue = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="In USD.",
        validators=[MinValueValidator(0), MaxValueValidator(MAX_REVENUE)],
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        indexes = [
            # Lead search matches company names too (leadhub.search); PostgreSQL only.
            GinIndex(
                OpClass(
                    Func(F("name"), function="leadhub_company_search_text", output_field=models.TextField()), name="gin_trgm_ops"
                ),
                name="company_search_trgm",
            ),
        ]

    def __str__(self):
        return self.name or self.domain


def canonical_email_expression():
    """SQL for a lead's canonical email: the lowercase email without a plus tag in the local part.

    "Ann+Webinar@X.com" -> "ann@x.com". An expression index on it (Lead.Meta) finds possible
    duplicates fast whatever wrote the row (services, admin, bulk COPY), with no column to keep
    in step; leadhub.services.canonical_email is the same rule in Python and a test holds the
    two equal.
    """
    email = Lower("email")
    plus = StrIndex(email, Value("+"))
    at = StrIndex(email, Value("@"))
    return Case(
        When(
            Q(GreaterThan(plus, 1)) & Q(LessThan(plus, at)),
            then=Concat(Substr(email, 1, plus - 1), Substr(email, at)),
        ),
        default=email,
        output_field=models.CharField(max_length=254),
    )


class LeadQuerySet(models.QuerySet):
    def with_canonical_email(self):
        """Annotate `canonical_email` (served by the lead_canonical_email expression index)."""
        return self.annotate(canonical_email=canonical_email_expression())


class Lead(models.Model):
    # Optional: a lead may be known by phone or by another system's id only (external_ids).
    email = models.EmailField(max_length=254, unique=True, null=True, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    # A key of the channels marketers edit (leadhub.models.taxonomy); "other" when the sender named none.
    source = TaxonomyKeyField("channel", max_length=20, default="other", list_name="channel")
    campaign = models.CharField(max_length=120, blank=True)
    # Custom field values by LeadField key, validated against the definitions on every write
    # (leadhub.lead_fields).
    attributes = models.JSONField(default=dict, blank=True, db_default={})
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

    objects = LeadQuerySet.as_manager()

    # Set by the services that report them (upsert_lead, selectors.lead_detail); not columns.
    possible_duplicate_ids: list[int]
    possible_duplicates: list["Lead"]
    # Set by selectors.decorate_lead_rows for the lead list; not columns.
    shown_ids: list[str]
    list_values: list[str]

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("merge_leads", "Can merge duplicate leads")]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="lead_email_lower_unique"),
            models.CheckConstraint(condition=models.Q(stage__in=Stage.values), name="lead_stage_valid"),
        ]
        indexes = [
            # Each sort key with the id that breaks its ties, so "the page after this row"
            # (leadhub.pagination) is one index range, alone or behind a stage or channel filter.
            models.Index(fields=["stage", "created_at", "id"], name="lead_stage_created_id"),
            models.Index(fields=["source", "created_at", "id"], name="lead_source_created_id"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            # Filters on custom fields (attributes @> {...}); PostgreSQL only.
            GinIndex(fields=["attributes"], opclasses=["jsonb_path_ops"], name="lead_attributes_gin"),
            models.Index(fields=["created_at", "id"], name="lead_created_id"),
            models.Index(fields=["total_score", "id"], name="lead_score_id"),
            models.Index(fields=["last_name", "id"], name="lead_name_id"),
            models.Index(Coalesce("last_activity_at", Value(NEVER_ACTIVE)), F("id"), name="lead_last_activity_id"),
            # A campaign filter (case-insensitive) and the campaign suggestions' loose index scan.
            models.Index(Upper("campaign"), F("campaign"), name="lead_campaign_upper"),
            # Possible duplicates ("ann+webinar@x.com" / "ann@x.com"); not unique on purpose:
            # both leads may exist until someone merges them.
            models.Index(canonical_email_expression(), name="lead_canonical_email"),
            # Marketing's feedback lists recycled leads in cooldown by cooldown end and counts
            # them (per channel): an index-only scan instead of visiting every nurture lead.
            models.Index(
                fields=["nurture_until", "id", "source"],
                name="lead_recycled_cooldown",
                condition=models.Q(stage="nurture", recycle_count__gte=1),
            ),
            # …and the same for one campaign (feedback filtered by a campaign).
            models.Index(
                fields=["campaign", "nurture_until", "id"],
                name="lead_recycled_campaign",
                condition=models.Q(stage="nurture", recycle_count__gte=1),
            ),
        ]

    def __str__(self):
        return self.full_name or self.email or self.phone or f"Lead {self.pk}"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def email_domain(self):
        return (self.email or "").rpartition("@")[2]


class Activity(models.Model):
    # No index of its own: activity_lead_occurred_kind starts with the lead (one index less to
    # write per activity).
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities", db_index=False)
    # A key of the activity kinds marketers edit (leadhub.models.taxonomy).
    kind = TaxonomyKeyField(max_length=30, list_name="activity_kind")
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
        ]
        # A lead's activities newest first (its page, its timeline), and for scoring the rules
        # that read raw activities (property conditions): a lead's activities of some kinds
        # since a day. The kind is a key column so the index itself passes over the other
        # kinds (a bitmap scan tests every key column), instead of each row being read first.
        indexes = [models.Index(fields=["lead", "-occurred_at", "kind"], name="activity_lead_occurred_kind")]

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


class LeadAlias(models.Model):
    """An email address of a lead that was merged away: ingest and imports for it reach `lead`.

    Written by services.lead_merge; read wherever a lead is looked up by email, so a merged
    address never recreates the duplicate.
    """

    email = models.EmailField(max_length=254, unique=True)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "lead aliases"

    def __str__(self):
        return f"{self.email} → lead {self.lead_id}"


class LeadMerge(models.Model):
    """One merge, kept with the survivor: who merged which lead into it, and what that lead was."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges")
    # The duplicate row is deleted by the merge, so it is described, not referenced.
    duplicate_id = models.PositiveIntegerField()
    duplicate_email = models.EmailField(max_length=254)
    snapshot = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="The duplicate's fields before the merge.")
    moved = models.JSONField(default=dict, help_text="How many rows of each kind moved to the survivor.")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the system merged.",
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["survivor", "-at"], name="leadmerge_survivor_at")]

    def __str__(self):
        return f"{self.duplicate_email} merged into lead {self.survivor_id}"


# The import jobs and people's preferences, in modules of their own (one package, one app).
# Identity by other systems' ids, custom fields, the lists marketers edit, and outcomes.
from .custom_fields import LeadField, LeadFieldType  # noqa: E402,F401
from .identity import LeadExternalId  # noqa: E402,F401
from .import_jobs import (  # noqa: E402,F401
    ImportKind,
    ImportMapping,
    ImportOutcome,
    ImportRow,
    ImportStatus,
    ImportStorage,
    LeadImport,
    import_storage,
)
from .outcomes import Outcome, OutcomeOrigin, OutcomeResult  # noqa: E402,F401
from .preferences import UserPreference, time_zone_choices  # noqa: E402,F401
from .search import LeadSearch  # noqa: E402,F401
from .taxonomy import ActivityKind, Channel, Industry  # noqa: E402,F401
