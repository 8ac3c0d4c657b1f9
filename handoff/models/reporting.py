"""What the dashboards and feedback read: the rules behind each handed-off score, notices, and the daily rollups."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

User = settings.AUTH_USER_MODEL


class HandoffRule(models.Model):
    """A scoring rule that contributed to the lead's score when it was handed off.

    Written by handoff_create from the score explanation, so marketing's feedback page
    can group rejections by rule with one GROUP BY instead of re-scoring leads."""

    # No index of its own: handoffrule_once and handoffrule_handoff_cover both lead with it.
    handoff = models.ForeignKey("handoff.Handoff", on_delete=models.CASCADE, related_name="rules", db_index=False)
    rule_id = models.PositiveIntegerField()
    kind = models.CharField(max_length=12)
    label = models.CharField(max_length=200)
    points = models.DecimalField(max_digits=8, decimal_places=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["handoff", "kind", "rule_id"], name="handoffrule_once")]
        indexes = [
            models.Index(fields=["kind", "rule_id", "handoff"], name="handoffrule_rule_handoff"),
            # Feedback filtered by an SDR (no rollup has both): a handoff's rules from the index alone.
            models.Index(fields=["handoff"], include=["kind", "rule_id", "label", "points"], name="handoffrule_handoff_cover"),
        ]

    def __str__(self):
        return f"{self.label} {self.points:+}"


class Notification(models.Model):
    """An in-app notice shown at the top of the recipient's queue until dismissed."""

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="handoff_notifications")
    handoff = models.ForeignKey("handoff.Handoff", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    escalation = models.ForeignKey(
        "handoff.Escalation", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "created_at"], condition=Q(read_at__isnull=True), name="notification_unread")
        ]

    def __str__(self):
        return self.text


# --- daily rollups for the dashboards (handoff.rollup keeps them, handoff.reports reads them) ---


class HandoffDailyRollup(models.Model):
    """Handoff counts per MQL day (TIME_ZONE) and per combination of what reports group or
    filter by. The pool is owner 0 and "no reason" is reason 0 (not NULL), so every key
    is unique and concurrent services can add to a row with one upsert."""

    day = models.DateField()
    week = models.DateField(help_text="Monday of day: weekly reports group by it without date arithmetic.")
    owner = models.PositiveIntegerField(help_text="SDR user id; 0: the pool.")
    channel = models.CharField(max_length=20)
    campaign = models.CharField(max_length=120)
    grade = models.CharField(max_length=1)
    band = models.PositiveSmallIntegerField(help_text="Index into handoff.rollup.BANDS (score at handoff).")
    status = models.CharField(max_length=20)
    reason = models.PositiveIntegerField(help_text="RejectionReason id; 0: none.")
    n = models.IntegerField(default=0, help_text="Handoffs (MQLs).")
    with_deadline = models.IntegerField(default=0)
    decided = models.IntegerField(default=0, help_text="With a response time.")
    late = models.IntegerField(default=0, help_text="Decided after the deadline.")
    sql = models.IntegerField(default=0)
    won = models.IntegerField(default=0)
    # Sums and counts of minutes between milestones, for the funnel's average time in stage.
    sal_minutes = models.FloatField(default=0)
    sal_timed = models.IntegerField(default=0)
    sql_minutes = models.FloatField(default=0)
    sql_timed = models.IntegerField(default=0)
    won_minutes = models.FloatField(default=0)
    won_timed = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "week", "owner", "channel", "campaign", "grade", "band", "status", "reason"],
                name="handoffdailyrollup_key",
            )
        ]

    def __str__(self):
        return f"{self.day} {self.channel} {self.status}: {self.n}"


class HandoffResponseRollup(models.Model):
    """How many decided handoffs took exactly `minutes` business minutes, per MQL day, SDR
    and channel: the response-time histogram the SLA percentiles are computed from."""

    day = models.DateField()
    week = models.DateField(help_text="Monday of day.")
    owner = models.PositiveIntegerField()
    channel = models.CharField(max_length=20)
    minutes = models.PositiveIntegerField()
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "week", "owner", "channel", "minutes"], name="handoffresponserollup_key")
        ]

    def __str__(self):
        return f"{self.day} {self.minutes} min: {self.n}"


class RuleCounts(models.Model):
    """The fields the two per-rule rollups share: per MQL day, channel, scoring rule and
    rejection reason, the handoffs the rule fired on, how many were rejected and how many
    became SQLs (marketing's per-rule view)."""

    day = models.DateField()
    channel = models.CharField(max_length=20)
    kind = models.CharField(max_length=12)
    rule_id = models.PositiveIntegerField()
    label = models.CharField(max_length=200)
    points = models.DecimalField(max_digits=8, decimal_places=1)
    reason = models.PositiveIntegerField(help_text="RejectionReason id; 0: none.")
    n = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    sql = models.IntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.day} {self.label}: {self.n}"


class HandoffRuleRollup(RuleCounts):
    """RuleCounts without a campaign: a campaign would multiply the rows by the number of
    campaigns; a campaign filter reads HandoffRuleCampaignRollup."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "channel", "kind", "rule_id", "label", "points", "reason"], name="handoffrulerollup_key"
            )
        ]


class HandoffRuleCampaignRollup(RuleCounts):
    """RuleCounts per campaign as well: what the per-rule table reads when the feedback page is
    filtered by a campaign. A table of its own so the unfiltered view keeps reading the smaller
    one; the key leads with the campaign, so one campaign's days are one index range."""

    campaign = models.CharField(max_length=120)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "day", "channel", "kind", "rule_id", "label", "points", "reason"],
                name="handoffrulecampaignrollup_key",
            )
        ]

    def __str__(self):
        return f"{self.campaign} {super().__str__()}"
