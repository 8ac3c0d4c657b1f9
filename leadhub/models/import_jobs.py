"""CSV import jobs: the uploaded file, its column mapping and every line's outcome (leadhub.imports works them)."""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

from .taxonomy import TaxonomyKeyField


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
    # Preview only: the row is imported, but a bad value of it is left out.
    WARNING = "warning", "Value left out"
    # Activity imports: the activity was recorded before (same source and id, or same content).
    KNOWN = "known", "Already recorded"


class ImportKind(models.TextChoices):
    LEADS = "leads", "Leads"
    ACTIVITIES = "activities", "Activities"


class ImportMapping(models.Model):
    """The column mapping last used for a CSV header, offered again for the next file with it."""

    fingerprint = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the import's kind and normalised header.")
    header = models.JSONField(default=list)
    fields = models.JSONField(default=list, help_text='One lead field (or "") per header column.')
    kind = models.CharField(max_length=12, choices=ImportKind.choices, default=ImportKind.LEADS)
    options = models.JSONField(default=dict, blank=True, help_text="The import's options (key, source, value maps...) with it.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

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
    Kind = ImportKind

    kind = models.CharField(max_length=12, choices=ImportKind.choices, default=ImportKind.LEADS)
    file = models.FileField(upload_to="%Y/%m/", storage=import_storage, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=1)
    header = models.JSONField(default=list)
    sample = models.JSONField(default=list, help_text="The first data rows, for the mapping page.")
    fields = models.JSONField(default=list, help_text='One lead field (or "") per header column.')
    channel = TaxonomyKeyField(max_length=20, default="import", list_name="channel", help_text="For new leads.")
    campaign = models.CharField(max_length=120, blank=True)
    # The match key, the source system, placeholders, value maps, truncated columns, whether
    # channel and campaign of existing leads are updated, what a bad optional cell does
    # (leadhub.imports.options describes every key).
    options = models.JSONField(default=dict, blank=True)
    profile = models.JSONField(default=list, blank=True, help_text="Per column: first values with counts and a guessed type.")
    column_stats = models.JSONField(
        default=dict, blank=True, help_text="Preview: per column, distinct values with counts and bad cells."
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text="Per lead field: how many leads it changed (the preview's and the import's)."
    )
    notes = models.JSONField(default=list, blank=True, help_text="Sentences about the whole file (e.g. shared domains).")
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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
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
            models.CheckConstraint(condition=models.Q(kind__in=ImportKind.values), name="leadimport_kind_valid"),
        ]

    def __str__(self):
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def running(self):
        return self.status in (self.Status.PREVIEWING, self.Status.IMPORTING)

    @property
    def stalled_since(self):
        """When this running job last made progress, if it has made none for a while (its worker died)."""
        from ..imports import stalled_since

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

    job = models.ForeignKey("leadhub.LeadImport", on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Row number as a spreadsheet shows it: the header is line 1.")
    outcome = models.CharField(max_length=12, choices=ImportOutcome.choices)
    email = models.CharField(max_length=254, blank=True, help_text="The row's key: its email, or source:external id.")
    message = models.TextField(blank=True)
    lead = models.ForeignKey("leadhub.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    possible_duplicate_of = models.ForeignKey("leadhub.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    values = models.JSONField(default=list, blank=True, help_text="The original cells, kept for rejected lines.")

    class Meta:
        ordering = ["line"]
        indexes = [models.Index(fields=["job", "outcome", "line"], name="importrow_job_outcome_line")]
        constraints = [
            models.CheckConstraint(condition=models.Q(outcome__in=ImportOutcome.values), name="importrow_outcome_valid"),
        ]

    def __str__(self):
        return f"line {self.line}: {self.outcome}"
