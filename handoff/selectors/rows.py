"""A queue row as it prints: SLA state and text, time left or overdue, age, how long a pool
handoff has waited, why the lead scored, names and links.

Two kinds of rows get the same strings from one presenter (`_present`): the queue page's rows,
read as plain tuples (`queue_rows`, the hot path), and Handoff objects (`decorate`: a row
after a decision, the side panel, the lead page). The queue renders many rows all day, so the
templates only print strings.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from django.utils import timezone

import qualification.selectors as qualification_selectors
from leadhub import taxonomy
from leadhub.links import link
from leadhub.sql import aware_datetime

from ..choices import DUE_SOON_MINUTES, HandoffStatus, SLAState
from ..models import Handoff
from ..sla_clock import PolicyClock
from .why import scoring_reasons, top_reasons


def format_duration(delta: timedelta) -> str:
    """'45 min', '3 h 20 min', '2 d 4 h': short enough for a table cell."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def sla_state(handoff: Handoff, now: datetime) -> SLAState:
    return _sla_state(handoff.owner_id, handoff.due_at, now)


def _sla_state(owner_id: int | None, due_at: datetime | None, now: datetime) -> SLAState:
    if owner_id is None:
        return SLAState.POOL
    if due_at is None:
        return SLAState.ON_TIME
    left = due_at - now
    if left < timedelta(0):
        return SLAState.OVERDUE
    if left <= timedelta(minutes=DUE_SOON_MINUTES):
        return SLAState.DUE_SOON
    return SLAState.ON_TIME


def pool_wait(policy: PolicyClock | None, created_at: datetime, now: datetime) -> str:
    """How urgent a pool handoff's wait is on its policy's clock: "" while fresh, "amber" past half
    the policy's response time (business time since it became an MQL), "red" past all of it."""
    from ..sla_clock import calendar_for, response_time

    waited, limit = calendar_for(policy).elapsed(created_at, now), response_time(policy)
    if waited >= limit:
        return "red"
    return "amber" if waited >= limit / 2 else ""


def pool_wait_title(policy: PolicyClock | None) -> str:
    from ..sla_clock import response_time

    hours = response_time(policy).total_seconds() / 3600
    return f"Waiting since it became an MQL; amber after {hours / 2:g} business hours, red after {hours:g}"


def sla_text(handoff: Handoff, now: datetime) -> str:
    return _sla_text(sla_state(handoff, now), handoff.due_at, now)


def _sla_text(state: str, due_at: datetime | None, now: datetime) -> str:
    if state == SLAState.POOL:
        return "Unassigned"
    if due_at is None:
        return "—"
    if state == SLAState.OVERDUE:
        return f"Overdue {format_duration(now - due_at)}"
    return f"{format_duration(due_at - now)} left"


_MONTHS = (None, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _due_title(due_at: datetime, tz: tzinfo) -> str:
    """'Due Mar 5, 2026 14:30 CET' in `tz`, as leadhub.formatting.moment writes it, at less than
    half its cost; the queue prints one per row."""
    local = due_at.astimezone(tz)
    zone = local.tzname() or ""
    if zone.startswith(("+", "-")):  # a zone with only an offset for an abbreviation: its name
        zone = str(tz)
    return f"Due {_MONTHS[local.month]} {local.day}, {local.year} {local.hour:02}:{local.minute:02} {zone}"


class QueueRow:
    """One open handoff as the queue shows it: strings ready to print (see decorate)."""

    __slots__ = (
        "pk",
        "id",
        "status",
        "owner_id",
        "channel",
        "campaign",
        "lead_id",
        "lead_name",
        "lead_subtitle",
        "lead_url",
        "url",
        "score_text",
        "grade_text",
        "channel_label",
        "why",
        "sla_state",
        "sla_text",
        "due_title",
        "age_text",
        "owner_name",
        "wait",
        "wait_title",
    )
    pk: int
    id: int
    status: str
    owner_id: int | None
    channel: str
    campaign: str
    lead_id: int
    lead_name: str
    lead_subtitle: str
    lead_url: str
    url: str
    score_text: str
    grade_text: str
    channel_label: str
    why: list[str]
    sla_state: str
    sla_text: str
    due_title: str
    age_text: str
    owner_name: str
    wait: str
    wait_title: str


class _PolicyRef:
    """What handoff.sla reads of an SLA policy, from a queue row's columns."""

    __slots__ = ("response_hours", "time_zone", "workdays", "opens_at", "closes_at", "holidays")
    response_hours: float
    time_zone: str
    workdays: list[int]
    opens_at: time
    closes_at: time
    holidays: str


def _policy_ref(columns: Sequence[Any]) -> _PolicyRef | None:
    """An SLA policy's clock from its raw columns (None: no policy, the default clock)."""
    import json

    pk, hours, time_zone, workdays, opens, closes, holidays = columns
    if pk is None:
        return None
    ref = _PolicyRef()
    ref.response_hours, ref.time_zone, ref.holidays = float(hours), time_zone, holidays
    ref.workdays = json.loads(workdays) if isinstance(workdays, str) else workdays
    ref.opens_at = time.fromisoformat(opens) if isinstance(opens, str) else opens
    ref.closes_at = time.fromisoformat(closes) if isinstance(closes, str) else closes
    return ref


def _present(
    row: QueueRow | Handoff,
    *,
    pk: int,
    lead_id: int,
    status: str,
    owner_id: int | None,
    policy: PolicyClock | None,
    created_at: datetime,
    due_at: datetime | None,
    lead_name: str,
    title: str,
    company_name: str,
    total_score: Decimal | float,
    grade: str,
    channel_label: str,
    owner_name: str,
    now: datetime,
    tz: tzinfo,
    queue_prefix: str,
    lead_prefix: str,
) -> None:
    """Set on `row` (a QueueRow or a Handoff) every string a queue row prints but "why"."""
    row.sla_state = _sla_state(owner_id, due_at, now)
    row.sla_text = _sla_text(row.sla_state, due_at, now)
    row.due_title = _due_title(due_at, tz) if due_at else ""
    row.age_text = format_duration(now - created_at)
    row.wait, row.wait_title = "", ""
    if owner_id is None and status == HandoffStatus.OPEN:
        row.wait = pool_wait(policy, created_at, now)
        row.wait_title = pool_wait_title(policy)
    row.lead_name = lead_name
    row.lead_subtitle = f"{title or 'No title'} · {company_name}" if company_name else title or "No title"
    row.score_text, row.grade_text = f"{total_score:.0f}", grade or ""
    row.channel_label = channel_label
    row.owner_name = owner_name
    row.url, row.lead_url = f"{queue_prefix}{pk}/", f"{lead_prefix}{lead_id}/"


def queue_rows(tuples: Iterable[Sequence[Any]], now: datetime | None = None) -> list[QueueRow]:
    """QueueRows from queue_sql.QueueQuery.rows: the same strings decorate() gives model rows."""
    now = now or timezone.now()
    refs: list[qualification_selectors.LeadRef] = []
    rows: list[QueueRow] = []
    splits: list[tuple[Any, Any]] = []
    prefixes = {"queue_prefix": link("handoff:queue"), "lead_prefix": link("leads:list")}
    tz = timezone.get_current_timezone()
    policies: dict[int, _PolicyRef | None] = {}
    open_ = HandoffStatus.OPEN.value
    channel_labels = taxonomy.labels("channel")  # kept a few seconds per process
    for (
        pk,
        owner_id,
        channel,
        campaign,
        created_at,
        due_at,
        policy_id,
        hours,
        time_zone,
        workdays,
        opens,
        closes,
        holidays,
        lead_id,
        first_name,
        last_name,
        email,
        title,
        fit,
        engagement,
        total,
        grade,
        scored_at,
        model_version,
        company_name,
        username,
        owner_first,
        owner_last,
        *model,
    ) in tuples:
        row = QueueRow()
        row.pk = row.id = pk
        row.status, row.owner_id, row.channel, row.campaign, row.lead_id = open_, owner_id, channel, campaign, lead_id
        policy = None
        if owner_id is None:
            if policy_id not in policies:
                policies[policy_id] = _policy_ref((policy_id, hours, time_zone, workdays, opens, closes, holidays))
            policy = policies[policy_id]
        _present(
            row,
            pk=pk,
            lead_id=lead_id,
            status=open_,
            owner_id=owner_id,
            policy=policy,
            created_at=aware_datetime(created_at),
            due_at=aware_datetime(due_at),
            lead_name=f"{first_name} {last_name}".strip() or email or f"Lead {lead_id}",
            title=title,
            company_name=company_name,
            total_score=total,
            grade=grade,
            channel_label=channel_labels.get(channel, channel),
            owner_name=(f"{owner_first} {owner_last}".strip() or username) if owner_id else "",
            now=now,
            tz=tz,
            **prefixes,
        )
        rows.append(row)
        splits.append((fit, engagement))
        refs.append(
            qualification_selectors.LeadRef(lead_id, aware_datetime(scored_at), model_version, tuple(model) if model[0] else None)
        )
    why = scoring_reasons(refs)
    for row, (fit, engagement) in zip(rows, splits, strict=True):
        row.why = why.get(row.lead_id) or [f"Fit {fit:.0f}", f"Engagement {engagement:.0f}"]
    return rows


def decorate(handoffs: Iterable[Handoff], now: datetime | None = None) -> list[Handoff]:
    """Attach what a row shows to Handoff objects (with their lead, company, owner and SLA
    policy), ready to print, as queue_rows does for the page's plain rows."""
    now = now or timezone.now()
    handoffs = list(handoffs)
    why = top_reasons(h.lead for h in handoffs)
    prefixes = {"queue_prefix": link("handoff:queue"), "lead_prefix": link("leads:list")}
    tz = timezone.get_current_timezone()
    for handoff in handoffs:
        lead = handoff.lead
        _present(
            handoff,
            pk=handoff.pk,
            lead_id=handoff.lead_id,
            status=handoff.status,
            owner_id=handoff.owner_id,
            policy=handoff.sla_policy if handoff.owner_id is None and handoff.status == HandoffStatus.OPEN else None,
            created_at=handoff.created_at,
            due_at=handoff.due_at,
            lead_name=str(lead),
            title=lead.title,
            company_name=lead.company.name if lead.company is not None else "",
            total_score=lead.total_score,
            grade=lead.grade,
            channel_label=taxonomy.label("channel", handoff.channel),
            owner_name=(handoff.owner.get_full_name() or handoff.owner.username) if handoff.owner is not None else "",
            now=now,
            tz=tz,
            **prefixes,
        )
        handoff.why = why.get(handoff.lead_id, [])
    return handoffs


def queue_row(handoff_id: int) -> Handoff:
    """One row, fresh, whatever its status (after a decision or a conflict)."""
    handoff = Handoff.objects.select_related(
        "lead", "lead__company", "owner", "decided_by", "rejection_reason", "sla_policy"
    ).get(pk=handoff_id)
    return decorate([handoff])[0]
