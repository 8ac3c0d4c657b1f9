from django.db import models


class HandoffStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    # The lead left MQL some other way (disqualified, demoted by scoring, superseded).
    CLOSED = "closed", "Closed"


class Destination(models.TextChoices):
    NURTURE = "nurture", "Back to nurture"
    DISQUALIFIED = "disqualified", "Disqualified"


class EventKind(models.TextChoices):
    CREATED = "created", "Routed"
    ASSIGNED = "assigned", "Assigned"
    POOLED = "pooled", "Waiting in the pool"
    CLAIMED = "claimed", "Claimed"
    REASSIGNED = "reassigned", "Reassigned"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CLOSED = "closed", "Closed"
    CHECKLIST = "checklist", "Checklist updated"
    QUALIFIED = "qualified", "Qualified to SQL"
    OUTCOME = "outcome", "Outcome recorded"
    RECYCLED = "recycled", "Recycled"
    # Issue 5 (escalation tiers) records its steps with this kind.
    ESCALATED = "escalated", "Escalated"


class Outcome(models.TextChoices):
    WON = "won", "Won"
    LOST = "lost", "Lost"


class SLAState(models.TextChoices):
    POOL = "pool", "In the pool"
    ON_TIME = "on_time", "On time"
    DUE_SOON = "due_soon", "Due soon"
    OVERDUE = "overdue", "Overdue"


class QueueSort(models.TextChoices):
    DUE = "due", "Due first"
    SCORE = "score", "Highest score at handoff"
    AGE = "age", "Oldest MQL first"
    NEWEST = "newest", "Newest MQL first"


class Assigned(models.TextChoices):
    MINE_AND_POOL = "mine_and_pool", "Mine and the pool"
    MINE = "mine", "Mine"
    POOL = "pool", "Pool"
    ALL = "all", "Everyone's"


# The SQL checklist items that must all be confirmed before a SAL becomes an SQL.
REQUIRED_CHECKLIST = ("buying_cycle", "influencer", "timeframe_known", "opportunity_amount", "permission_to_follow_up")
DUE_SOON_MINUTES = 60
DEFAULT_RESPONSE_HOURS = 4
