import os
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.files.storage import FileSystemStorage
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When
from django.db.models.functions import Coalesce, Concat, Lower, Now, StrIndex, Substr, Upper
from django.db.models.lookups import GreaterThan, LessThan
from django.utils import timezone

from .choices import ActivityKind, Channel, Grade, Industry, Stage
from .validation import INT32_MAX, MAX_REVENUE

# The lead list sorts leads never active as the oldest activity, so the sort key is never NULL.
NEVER_ACTIVE = datetime(1, 1, 1, tzinfo=UTC)


class Company(models.Model):
    domain = models.CharField(max_length=253, unique=True)
    name = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=40, choices=Industry.choices, blank=True)
    # Limits: what every database keeps exactly (leadhub/validation.py).
    employee_count = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(INT32_MAX)])
    annual_revenue = models.DecimalField(
        max_digits=16, decimal_places=2, null=True, blank=True, help_text="In USD.",
        validators=[MinValueValidator(0), MaxValueValidator(MAX_REVENUE)],
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        indexes = [
            # Lead search matches company names too (leadhub.search); PostgreSQL only.
            GinIndex(OpClass(Func(F("name"), function="leadhub_company_search_text", output_field=models.TextField()),
                             name="gin_trgm_ops"), name="company_search_trgm"),
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

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("merge_leads", "Can merge duplicate leads")]
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
            # Each sort key with the id that breaks its ties, so "the page after this row"
            # (leadhub.pagination) is one index range, alone or behind a stage or channel filter.
            models.Index(fields=["stage", "created_at", "id"], name="lead_stage_created_id"),
            models.Index(fields=["source", "created_at", "id"], name="lead_source_created_id"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["created_at", "id"], name="lead_created_id"),
            models.Index(fields=["total_score", "id"], name="lead_score_id"),
            models.Index(fields=["last_name", "id"], name="lead_name_id"),
            models.Index(Coalesce("last_activity_at", Value(NEVER_ACTIVE)), F("id"), name="lead_last_activity_id"),
            # Search (leadhub.search): trigram indexes over the folded text, PostgreSQL only
            # (migration 0012 skips them elsewhere).
            GinIndex(OpClass(Func(F("first_name"), F("last_name"), F("email"), F("phone"),
                                  function="leadhub_lead_search_text", output_field=models.TextField()),
                             name="gin_trgm_ops"), name="lead_search_trgm"),
            # A campaign filter (case-insensitive) and the campaign suggestions' loose index scan.
            models.Index(Upper("campaign"), F("campaign"), name="lead_campaign_upper"),
            # Possible duplicates ("ann+webinar@x.com" / "ann@x.com"); not unique on purpose:
            # both leads may exist until someone merges them.
            models.Index(canonical_email_expression(), name="lead_canonical_email"),
            # Marketing's feedback lists recycled leads in cooldown by cooldown end and counts
            # them (per channel): an index-only scan instead of visiting every nurture lead.
            models.Index(fields=["nurture_until", "id", "source"], name="lead_recycled_cooldown",
                         condition=models.Q(stage="nurture", recycle_count__gte=1)),
            # …and the same for one campaign (feedback filtered by a campaign).
            models.Index(fields=["campaign", "nurture_until", "id"], name="lead_recycled_campaign",
                         condition=models.Q(stage="nurture", recycle_count__gte=1)),
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
    # No index of its own: activity_lead_occurred starts with the lead (one index less to
    # write per activity).
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities", db_index=False)
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


class PendingRescore(models.Model):
    """A lead whose facts changed since it was last scored (activities arrived, its profile
    changed). The rescoring task takes waiting rows in batches, oldest first (qualification.
    services.rescore_pending), and scores each lead once however many rows it has. A lead may
    have several rows: writers only ever insert, so an ingest batch never waits on another or
    on the worker here. `activity_at` is the newest activity the writer recorded: rescoring
    moves the lead's last_activity_at with its scores, in the same row update, so ingest never
    updates (or locks) the lead itself."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    activity_at = models.DateTimeField(null=True, blank=True)
    # When the lead started waiting (set by the database, as writers insert with plain SQL):
    # /healthz and the sweeper (leadhub.tasks.sweep) read the oldest.
    created_at = models.DateTimeField(db_default=Now())

    def __str__(self):
        return f"lead {self.lead_id} waits for rescoring"


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
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty when the system merged.",
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["survivor", "-at"], name="leadmerge_survivor_at")]

    def __str__(self):
        return f"{self.duplicate_email} merged into lead {self.survivor_id}"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Waiting for mapping"
    PREVIEWING = "previewing", "Checking rows"
    PREVIEWED = "previewed", "Ready to import"
    IMPORTING = "importing", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"


class ImportOutcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    REJECTED = "rejected", "Rejected"
    # Preview only: what the import would do; nothing is written.
    POSSIBLE_DUPLICATE = "possible_dup", "Possible duplicate"


class ImportMapping(models.Model):
    """The column mapping last used for a CSV header, offered again for the next file with it."""

    fingerprint = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the normalised header.")
    header = models.JSONField(default=list)
    fields = models.JSONField(default=list, help_text="One lead field (or \"\") per header column.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return ", ".join(self.header)[:80]


class ImportStorage(FileSystemStorage):
    """Uploaded import files, in settings.LEADHUB_IMPORT_DIR read at each use (not at start-up),
    so a test or a deployment that changes the setting is obeyed."""

    @property
    def base_location(self):
        return settings.LEADHUB_IMPORT_DIR

    @property
    def location(self):
        return os.path.abspath(self.base_location)


def import_storage():
    # A callable keeps the storage out of the migration files.
    return ImportStorage()


class LeadImport(models.Model):
    """One uploaded CSV file and its way through mapping, preview and import."""

    Status = ImportStatus

    file = models.FileField(upload_to="%Y/%m/", storage=import_storage, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    header = models.JSONField(default=list)
    sample = models.JSONField(default=list, help_text="The first data rows, for the mapping page.")
    fields = models.JSONField(default=list, help_text="One lead field (or \"\") per header column.")
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.IMPORT)
    campaign = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    error = models.TextField(blank=True, help_text="Why the whole file failed, if it did.")
    bytes_done = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0, help_text="Data rows processed by the running phase.")
    # Preview counts (nothing written) and import counts (written), per data row.
    rows_total = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField(default=0)
    update_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    possible_duplicate_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    previewed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set by each batch of a running preview or import; the sweeper resumes a job whose
    # heartbeat stopped (its worker died) and fails it after `attempts` resumes.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times the job was resumed after it stalled.")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("import_leads", "Can import leads from CSV files")]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=ImportStatus.values), name="leadimport_status_valid"),
        ]

    def __str__(self):
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def running(self):
        return self.status in (self.Status.PREVIEWING, self.Status.IMPORTING)

    @property
    def stalled_since(self):
        """When this running job last made progress, if it has made none for a while (its worker died)."""
        from .imports import stalled_since

        return stalled_since(self)

    @property
    def percent(self):
        if self.status in (self.Status.PREVIEWED, self.Status.DONE):
            return 100
        return min(99, int(100 * self.bytes_done / self.size)) if self.size else 0


class ImportRow(models.Model):
    """What happened to one line of an import: found problems (preview) or the outcome (import).

    The preview stores only lines with something to say (invalid, duplicate, possible duplicate);
    the import stores every line, so the result page can list created and updated leads.
    """

    Outcome = ImportOutcome

    job = models.ForeignKey(LeadImport, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Row number as a spreadsheet shows it: the header is line 1.")
    outcome = models.CharField(max_length=12, choices=ImportOutcome.choices)
    email = models.CharField(max_length=254, blank=True)
    message = models.TextField(blank=True)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    possible_duplicate_of = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    values = models.JSONField(default=list, blank=True, help_text="The original cells, kept for rejected lines.")

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["job", "outcome", "line"], name="importrow_job_outcome_line")]
        constraints = [
            models.CheckConstraint(condition=models.Q(outcome__in=ImportOutcome.values), name="importrow_outcome_valid"),
        ]

    def __str__(self):
        return f"line {self.line}: {self.outcome}"


def time_zone_choices():
    import zoneinfo

    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class UserPreference(models.Model):
    """What a person chose for how pages are shown to them (edited on /account/)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    time_zone = models.CharField(
        max_length=64, blank=True, default="",
        help_text="Times on every page are shown in this zone; empty means the site's zone.",
    )

    def __str__(self):
        return f"Preferences of {self.user}"
