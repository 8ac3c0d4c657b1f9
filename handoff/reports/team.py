"""The managers' team page and queue header: each SDR's load this week, and the whole team's
open handoffs past their deadline."""

from datetime import timedelta
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from leadhub.sql import is_postgresql

from ..choices import HandoffStatus
from ..models import Handoff, SDRProfile
from .scope import day_start, rate
from .stats import PercentileCont, percentiles_by, rounded


def team_overdue_sql(now):
    """(sql, params) counting the whole team's open handoffs past their current deadline (all
    owners; pool handoffs have none), answered from the partial index handoff_open_due: for a
    round trip that reads other counts too (leadhub.sql.query_many)."""
    table = Handoff._meta.db_table
    return f"SELECT COUNT(*) FROM {table} WHERE status = %s AND due_at < %s", [HandoffStatus.OPEN.value, now]


def team_overdue_count(now=None):
    """How many open handoffs of the whole team are past their deadline now: the manager's
    "N overdue (team)" in the queue header. An int."""
    return Handoff.objects.filter(status=HandoffStatus.OPEN, due_at__lt=now or timezone.now()).count()


def team_load(now=None):
    """One row per SDR (everyone with an SDR profile), by name: the profile (available, out of
    office until, capacity) and open, overdue, decided today, decided this week, and the median
    business minutes to the first decision of this week's decisions (Handoff.response_minutes).

    Three queries for any team size: the profiles, the counts of all SDRs grouped by owner (open
    handoffs from handoff_open_owner_due, decisions since Monday from handoff_owner_decided),
    and the medians (percentile_cont on PostgreSQL, sorted values on SQLite). "Today" and "this
    week" are local days of TIME_ZONE, as the dashboards count them."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    today_start, week_start = day_start(today), day_start(today - timedelta(days=today.weekday()))
    profiles = list(SDRProfile.objects.select_related("user").order_by("user__first_name", "user__last_name", "user__username"))
    ids = [p.user_id for p in profiles]
    is_open = Q(status=HandoffStatus.OPEN)
    handoffs = Handoff.objects.filter(owner_id__in=ids).order_by()
    counts = {
        row["owner_id"]: row
        for row in handoffs.filter(is_open | Q(first_decision_at__gte=week_start))
        .values("owner_id")
        .annotate(
            open=Count("id", filter=is_open),
            overdue=Count("id", filter=is_open & Q(due_at__lt=now)),
            decided_today=Count("id", filter=Q(first_decision_at__gte=today_start)),
            decided_week=Count("id", filter=Q(first_decision_at__gte=week_start)),
        )
    }
    week = handoffs.filter(first_decision_at__gte=week_start, response_minutes__isnull=False)
    if is_postgresql():
        medians = dict(
            week.values("owner_id").annotate(p50=PercentileCont(0.5, "response_minutes")).values_list("owner_id", "p50")
        )
    else:
        medians = {owner: pcts[0] for owner, pcts in percentiles_by(week, "owner_id", "response_minutes", (0.5,)).items()}
    rows = []
    for profile in profiles:
        row = counts.get(profile.user_id, {})
        n_open = row.get("open", 0)
        out = profile.is_out_of_office(now)
        rows.append(
            {
                "profile": profile,
                "user": profile.user,
                "name": profile.user.get_full_name() or profile.user.username,
                "open": n_open,
                "overdue": row.get("overdue", 0),
                "decided_today": row.get("decided_today", 0),
                "decided_week": row.get("decided_week", 0),
                "median_minutes": rounded(medians.get(profile.user_id)),
                "capacity": profile.capacity,
                "load": rate(n_open, profile.capacity),
                "at_capacity": n_open >= profile.capacity,
                "out_of_office": out,
                "routable": profile.available and not out and profile.user.is_active and n_open < profile.capacity,
                "queue_url": f"{reverse('handoff:queue')}?{urlencode({'assigned': 'all', 'owner': profile.user_id})}",
            }
        )
    return rows
