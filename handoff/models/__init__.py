"""The sales handoff's models: reasons, SDR profiles, SLA policies, handoffs, their events and
checklists here; escalations and what the dashboards read in the modules re-exported below."""

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leadhub.choices import Grade
from leadhub.models.taxonomy import TaxonomyKeyField

from ..business_hours import parse_holidays
from ..choices import Destination, EventKind, HandoffStatus, Outcome

User = settings.AUTH_USER_MODEL


class RejectionReason(models.Model):
    """Why sales turned a lead down; the reason decides where the lead goes."""

    label = models.CharField(max_length=100, unique=True)
    destination = models.CharField(max_length=20, choices=Destination.choices, default=Destination.NURTURE)
    cooldown_days = models.PositiveIntegerField(
        default=90, help_text="Days the lead stays in nurture before it may become an MQL again."
    )
    active = models.BooleanField(default=True, help_text="Inactive reasons stay on old decisions but cannot be chosen.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "label"]
        constraints = [
            models.CheckConstraint(condition=Q(destination__in=Destination.values), name="rejectionreason_destination_valid"),
        ]

    def __str__(self):
        return self.label


class SDRProfile(models.Model):
    """Routing facts about an SDR: round-robin only hands work to available SDRs under capacity."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="sdr_profile")
    available = models.BooleanField(default=True)
    out_of_office_until = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveIntegerField(default=40, help_text="Most open handoffs this SDR holds at once.")
    # The round-robin pointer: the SDR assigned longest ago goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "SDR profile"

    def __str__(self):
        return str(self.user)

    def is_out_of_office(self, now=None):
        return bool(self.out_of_office_until and self.out_of_office_until > (now or timezone.now()))


class SDRProfileChange(models.Model):
    """Append-only history of an SDR profile: who changed which routing fact, from what to what, when.
    Written by handoff.services.sdr_profile_update in the same transaction as the change."""

    profile = models.ForeignKey(SDRProfile, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=40)
    old_value = models.CharField(max_length=100, blank=True)
    new_value = models.CharField(max_length=100, blank=True)
    by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Empty: the system."
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "SDR profile change"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at", "-id"], name="sdrprofilechange_at")]

    FIELD_LABELS = {"available": "availability", "out_of_office_until": "out of office until", "capacity": "capacity"}

    def __str__(self):
        return f"{self.profile}: {self.field} {self.old_value} → {self.new_value}"

    @property
    def field_label(self):
        return self.FIELD_LABELS.get(self.field, self.field)


WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _default_workdays():
    return [0, 1, 2, 3, 4]


class SLAPolicy(models.Model):
    """How fast sales must respond, counted in business hours of the team's calendar.

    One active policy has no channel (the default); active per-channel policies (for example
    paid or event leads) override it. handoff.sla turns a policy into a BusinessCalendar."""

    name = models.CharField(max_length=100)
    channel = TaxonomyKeyField(
        max_length=20, blank=True, list_name="channel", help_text="Empty: the default policy for every channel."
    )
    response_hours = models.DecimalField(
        "response time (business hours)",
        max_digits=5,
        decimal_places=2,
        default=4,
        help_text="Business hours from assignment to the first decision.",
    )
    workdays = models.JSONField(
        "business days",
        default=_default_workdays,
        blank=True,
        help_text="Weekday numbers, Monday = 0 … Sunday = 6.",
    )
    opens_at = models.TimeField("opens", default=time(9, 0))
    closes_at = models.TimeField("closes", default=time(18, 0))
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    holidays = models.TextField(
        blank=True, help_text="Dates the team does not work, YYYY-MM-DD, separated by commas or new lines."
    )
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["channel", "name"]
        constraints = [
            models.UniqueConstraint(fields=["channel"], condition=Q(active=True), name="slapolicy_one_active_per_channel"),
            models.CheckConstraint(condition=Q(response_hours__gt=0), name="slapolicy_response_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.response_hours:g} business h)"

    def clean(self):
        errors = {}
        days = self.workdays or []
        if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            errors["workdays"] = "Business days are weekday numbers from 0 (Monday) to 6 (Sunday)."
        elif not days:
            errors["workdays"] = "Choose at least one business day: a policy with no business hours never comes due."
        if self.opens_at and self.closes_at and self.opens_at >= self.closes_at:
            errors["closes_at"] = "Closing time must be after opening time: a policy with no business hours never comes due."
        try:
            ZoneInfo(self.time_zone or "")
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = f"“{self.time_zone}” is not a time zone name such as Europe/Berlin or UTC."
        try:
            parse_holidays(self.holidays or "")
        except ValueError:
            errors["holidays"] = "Write holidays as dates like 2026-12-25, separated by commas or new lines."
        if self.response_hours is not None and self.response_hours <= 0:
            errors["response_hours"] = "The response time must be more than zero business hours."
        if self.active:
            clash = SLAPolicy.objects.filter(channel=self.channel, active=True).exclude(pk=self.pk).first()
            if clash:
                where = f"the {self.get_channel_display()} channel" if self.channel else "every channel (the default)"
                errors["channel"] = f"“{clash.name}” already applies to {where}; deactivate it or choose another channel."
        if errors:
            raise ValidationError(errors)

    @property
    def weekday_names(self):
        return ", ".join(WEEKDAY_NAMES[d] for d in sorted(self.workdays or []) if 0 <= d <= 6)


class Handoff(models.Model):
    """One MQL handed to sales: routed, assigned (or pooled), then accepted or rejected."""

    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="handoffs")
    status = models.CharField(max_length=20, choices=HandoffStatus.choices, default=HandoffStatus.OPEN)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoffs", help_text="Empty: in the pool."
    )
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Snapshots taken when the lead became an MQL, so reports describe the handoff as it was.
    channel = TaxonomyKeyField(max_length=20, list_name="channel")
    campaign = models.CharField(max_length=120, blank=True)
    score_at_handoff = models.DecimalField(max_digits=8, decimal_places=1, default=0)
    grade_at_handoff = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now, help_text="When the lead became an MQL (routed).")
    assigned_at = models.DateTimeField(null=True, blank=True, help_text="The SLA clock starts here.")
    due_at = models.DateTimeField(null=True, blank=True, help_text="The current deadline: a claim or reassignment restarts it.")
    first_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The deadline of the first assignment, never moved: the SLA reports count a breach against it.",
    )
    first_decision_at = models.DateTimeField(null=True, blank=True, help_text="The SLA clock stops here.")
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    response_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Business minutes from assignment to the first decision (the SLA clock)."
    )
    # Copies of the handoff's qualification milestones (written by lead_qualify and
    # lead_record_outcome) so funnel reports scan one table instead of joining.
    sql_at = models.DateTimeField(null=True, blank=True, help_text="When this handoff's SAL became an SQL.")
    won_at = models.DateTimeField(null=True, blank=True, help_text="When that SQL was won.")
    breached_at = models.DateTimeField(
        null=True, blank=True, help_text="Set by the SLA check when the deadline passed undecided."
    )
    rejection_reason = models.ForeignKey(
        RejectionReason, null=True, blank=True, on_delete=models.PROTECT, related_name="handoffs"
    )
    note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # What a queue row prints, set by handoff.selectors.rows.decorate; not columns.
    sla_state: str
    sla_text: str
    due_title: str
    age_text: str
    wait: str
    wait_title: str
    lead_name: str
    lead_subtitle: str
    score_text: str
    grade_text: str
    channel_label: str
    owner_name: str
    url: str
    lead_url: str
    why: list[str]

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("act_on_handoff", "Can claim, accept and reject own or pool handoffs"),
            ("reassign_handoff", "Can reassign and act on any open handoff"),
            ("view_dashboard", "Can see the manager dashboard"),
            ("view_feedback", "Can see marketing's feedback page"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lead"], condition=Q(status=HandoffStatus.OPEN), name="handoff_one_open_per_lead"),
            models.CheckConstraint(condition=Q(status__in=HandoffStatus.values), name="handoff_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=HandoffStatus.REJECTED) | Q(rejection_reason__isnull=False),
                name="handoff_rejected_has_reason",
            ),
        ]
        indexes = [
            # The queue: open handoffs by owner (NULL = pool) in due order, and everyone's by due.
            models.Index(
                fields=["owner", "due_at", "created_at"], condition=Q(status=HandoffStatus.OPEN), name="handoff_open_owner_due"
            ),
            models.Index(fields=["due_at", "created_at"], condition=Q(status=HandoffStatus.OPEN), name="handoff_open_due"),
            # The pool in queue order: without it PostgreSQL walks the whole due index to reach
            # the pool's rows (no due time, so last).
            models.Index(
                fields=["due_at", "created_at", "id"],
                condition=Q(status=HandoffStatus.OPEN, owner__isnull=True),
                name="handoff_pool_due",
            ),
            # "Sorted by score": one owner's (or the pool's) open handoffs, and everyone's.
            models.Index(
                fields=["owner", "-score_at_handoff", "due_at", "id"],
                condition=Q(status=HandoffStatus.OPEN),
                name="handoff_open_owner_score",
            ),
            models.Index(
                fields=["-score_at_handoff", "due_at", "id"], condition=Q(status=HandoffStatus.OPEN), name="handoff_open_score"
            ),
            models.Index(
                fields=["-score_at_handoff", "due_at", "id"],
                condition=Q(status=HandoffStatus.OPEN, owner__isnull=True),
                name="handoff_pool_score",
            ),
            # A channel's open handoffs in due order: the queue filtered by channel (and overdue)
            # is counted and read from here.
            models.Index(
                fields=["channel", "due_at", "created_at", "id"],
                condition=Q(status=HandoffStatus.OPEN),
                name="handoff_open_channel_due",
            ),
            # Reports (issue 5): response times per SDR and week, funnel by channel and week.
            models.Index(fields=["owner", "assigned_at"], name="handoff_owner_assigned"),
            models.Index(fields=["channel", "created_at"], name="handoff_channel_created"),
            models.Index(fields=["lead", "-created_at"], name="handoff_lead_created"),
            # Dashboards: every report scans handoffs of an MQL date range.
            models.Index(fields=["created_at", "channel", "owner"], name="handoff_created_chan_owner"),
            models.Index(fields=["rejection_reason", "created_at"], name="handoff_reason_created"),
            # Dashboards filtered by a campaign read raw handoffs (the response histogram has no
            # campaign): everything their SLA tables need, so PostgreSQL reads the index alone.
            models.Index(
                fields=["campaign", "created_at"],
                name="handoff_campaign_created",
                include=[
                    "id",
                    "owner",
                    "response_minutes",
                    "due_at",
                    "first_due_at",
                    "first_decision_at",
                    "status",
                    "sql_at",
                    "rejection_reason",
                ],
            ),
            # The team page: each SDR's decisions of this week and today.
            models.Index(
                fields=["owner", "first_decision_at"], condition=Q(first_decision_at__isnull=False), name="handoff_owner_decided"
            ),
        ]

    def __str__(self):
        return f"Handoff {self.pk} of lead {self.lead_id} ({self.status})"

    @property
    def is_open(self):
        return self.status == HandoffStatus.OPEN

    @property
    def in_pool(self):
        return self.is_open and self.owner_id is None


class HandoffEvent(models.Model):
    """Append-only audit of everything done to a handoff or a SAL: who, when, what, why."""

    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="handoff_events")
    handoff = models.ForeignKey(Handoff, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Empty: the system."
    )
    from_owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="handoffevent_kind_valid")]
        indexes = [
            models.Index(fields=["lead", "-at"], name="handoffevent_lead_at"),
            models.Index(fields=["kind", "at"], name="handoffevent_kind_at"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class Qualification(models.Model):
    """The SQL checklist of one accepted handoff (a lead recycled and accepted again gets a new one)."""

    handoff = models.OneToOneField(Handoff, null=True, blank=True, on_delete=models.CASCADE, related_name="qualification")
    lead = models.ForeignKey("leadhub.Lead", on_delete=models.CASCADE, related_name="qualifications")
    buying_cycle = models.BooleanField("buying cycle exists", default=False)
    influencer = models.BooleanField("talking to an influencer", default=False)
    timeframe_known = models.BooleanField("timeframe known", default=False)
    opportunity_amount = models.DecimalField(
        "opportunity size", max_digits=14, decimal_places=2, null=True, blank=True, help_text="Expected deal size in USD."
    )
    permission_to_follow_up = models.BooleanField("permission to follow up", default=False)
    budget_note = models.TextField("budget", blank=True)
    authority_note = models.TextField("authority", blank=True)
    need_note = models.TextField("need", blank=True)
    timeline_note = models.TextField("timeline", blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    qualified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=["", *Outcome.values]), name="qualification_outcome_valid"),
            models.CheckConstraint(condition=~Q(outcome=Outcome.LOST) | ~Q(lost_reason=""), name="qualification_lost_has_reason"),
        ]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="qualification_lead_created"),
            models.Index(fields=["qualified_at"], name="qualification_qualified_at"),
        ]

    def __str__(self):
        return f"Qualification of lead {self.lead_id}"


# Escalations, notices and what the dashboards read, in modules of their own (one package, one app).
from .escalation import Escalation, EscalationTier  # noqa: E402,F401
from .held import HeldHandoff  # noqa: E402,F401
from .reporting import (  # noqa: E402,F401
    HandoffDailyRollup,
    HandoffResponseRollup,
    HandoffRule,
    HandoffRuleCampaignRollup,
    HandoffRuleRollup,
    Notification,
    RuleCounts,
)
