"""Read queries for the sales-acceptance queue, its side panel and the lead page's handoff section."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

import qualification.selectors as qualification_selectors
from leadhub.choices import Stage
from leadhub.links import link
from leadhub.models import Activity
from leadhub.sql import aware_datetime
from leadhub.sql import query as _query
from leadhub.sql import query_many as _query_many

from . import services
from .choices import DUE_SOON_MINUTES, REQUIRED_CHECKLIST, Assigned, Destination, EventKind, HandoffStatus, QueueSort, SLAState
from .models import Handoff, HandoffEvent, Qualification, RejectionReason

PANEL_TIMELINE_LIMIT = 30
WHY_LIMIT = 3

# Only what a queue row shows: the queue is read all day, keep rows narrow.
QUEUE_FIELDS = (
    "id", "status", "owner_id", "channel", "campaign", "created_at", "assigned_at", "due_at", "first_decision_at",
    "lead__id", "lead__first_name", "lead__last_name", "lead__email", "lead__title", "lead__stage",
    "lead__fit_score", "lead__engagement_score", "lead__total_score", "lead__grade", "lead__company_id",
    "lead__company__id", "lead__company__name", "lead__company__domain",
    # What scoring needs to say why each lead scored (qualification.selectors.lead_top_reasons).
    "lead__score_model_version", "lead__scored_at", "lead__country", "lead__phone",
    "lead__company__industry", "lead__company__employee_count", "lead__company__annual_revenue", "lead__company__country",
    "owner__id", "owner__username", "owner__first_name", "owner__last_name",
)


def queue_handoffs():
    return Handoff.objects.select_related("lead", "lead__company", "owner").only(*QUEUE_FIELDS)


def format_duration(delta):
    """'45 min', '3 h 20 min', '2 d 4 h': short enough for a table cell."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def sla_state(handoff, now):
    return _sla_state(handoff.owner_id, handoff.due_at, now)


def _sla_state(owner_id, due_at, now):
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


def pool_wait(policy, created_at, now):
    """How urgent a pool handoff's wait is on its policy's clock: "" while fresh, "amber" past half
    the policy's response time (business time since it became an MQL), "red" past all of it."""
    from .sla import calendar_for, response_time

    waited, limit = calendar_for(policy).elapsed(created_at, now), response_time(policy)
    if waited >= limit:
        return "red"
    return "amber" if waited >= limit / 2 else ""


def pool_wait_title(policy):
    from .sla import response_time

    hours = response_time(policy).total_seconds() / 3600
    return f"Waiting since it became an MQL; amber after {hours / 2:g} business hours, red after {hours:g}"


def sla_text(handoff, now):
    return _sla_text(sla_state(handoff, now), handoff.due_at, now)


def _sla_text(state, due_at, now):
    if state == SLAState.POOL:
        return "Unassigned"
    if due_at is None:
        return "—"
    if state == SLAState.OVERDUE:
        return f"Overdue {format_duration(now - due_at)}"
    return f"{format_duration(due_at - now)} left"


_MONTHS = (None, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _due_title(due_at, tz):
    """'Due Mar 5, 2026 14:30 CET' in `tz`, as leadhub.formatting.moment writes it, at less than
    half its cost; the queue prints one per row."""
    local = due_at.astimezone(tz)
    zone = local.tzname() or ""
    if zone.startswith(("+", "-")):  # a zone with only an offset for an abbreviation: its name
        zone = str(tz)
    return f"Due {_MONTHS[local.month]} {local.day}, {local.year} {local.hour:02}:{local.minute:02} {zone}"


_WHY_LABELS = {}


def _why_label(item):
    """One 'why it scored' entry from whatever the scoring app returns (text or a dict)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        label = item.get("label") or item.get("rule") or item.get("name") or ""
        points = item.get("points")
        key = (label, points)
        if key not in _WHY_LABELS:  # the queue prints the same few rules' labels all day
            if len(_WHY_LABELS) > 10_000:
                _WHY_LABELS.clear()
            # Points first: a long rule name is cut short in the cell, the number must stay visible.
            _WHY_LABELS[key] = f"{float(points):+g} {label}" if points not in (None, "") else str(label)
        return _WHY_LABELS[key]
    return str(item)


def _reasons(leads):
    """{lead id: ["+17.5 Pricing page ×3", ...]} from scoring's top contributions, for the
    leads scoring can explain (Lead objects or qualification.selectors.LeadRef)."""
    provider = getattr(qualification_selectors, "lead_top_reasons", None)
    if provider is None or not leads:
        return {}
    found = provider(leads) or {}
    return {pk: _labels(items) for pk, items in found.items() if items}


# Scoring keeps each lead's answer (the same list, never changed) while the lead is scored the
# same; so are its labels kept here, by that list (held, so that its id stays its own).
_LABELS = {}


def _labels(items):
    kept = _LABELS.get(id(items))
    if kept is not None and kept[0] is items:
        return kept[1]
    if len(_LABELS) > 20_000:
        _LABELS.clear()
    labels = [_why_label(item) for item in items][:WHY_LIMIT]
    _LABELS[id(items)] = (items, labels)
    return labels


def top_reasons(leads):
    """{lead id: ["+17.5 Pricing page ×3", ...]}: scoring's top contributions when the scoring
    app provides them, else the fit/engagement split the lead row already carries."""
    leads = list(leads)
    reasons = _reasons(leads)
    for lead in leads:
        if not reasons.get(lead.pk):
            reasons[lead.pk] = [f"Fit {lead.fit_score:.0f}", f"Engagement {lead.engagement_score:.0f}"]
    return reasons


def decorate(handoffs, now=None):
    """Attach what a row shows, ready to print: SLA state and text, age, why it scored, names
    and URLs. The queue renders many rows all day, so the template only prints strings."""
    now = now or timezone.now()
    handoffs = list(handoffs)
    why = top_reasons(h.lead for h in handoffs)
    queue_prefix, lead_prefix = link("handoff:queue"), link("leads:list")
    for handoff in handoffs:
        lead = handoff.lead
        handoff.sla_state = sla_state(handoff, now)
        handoff.sla_text = sla_text(handoff, now)
        handoff.age_text = format_duration(now - handoff.created_at)
        handoff.wait, handoff.wait_title = "", ""
        if handoff.owner_id is None and handoff.status == HandoffStatus.OPEN:
            handoff.wait = pool_wait(handoff.sla_policy, handoff.created_at, now)
            handoff.wait_title = pool_wait_title(handoff.sla_policy)
        handoff.why = why.get(handoff.lead_id, [])
        handoff.lead_name = lead.full_name or lead.email
        handoff.lead_subtitle = " · ".join(filter(None, [lead.title or "No title", lead.company.name if lead.company_id else ""]))
        handoff.score_text = f"{lead.total_score:.0f}"
        handoff.grade_text = lead.grade or ""
        handoff.channel_label = handoff.get_channel_display()
        handoff.owner_name = (handoff.owner.get_full_name() or handoff.owner.username) if handoff.owner_id else ""
        handoff.due_title = _due_title(handoff.due_at, timezone.get_current_timezone()) if handoff.due_at else ""
        handoff.url = f"{queue_prefix}{handoff.pk}/"
        handoff.lead_url = f"{lead_prefix}{handoff.lead_id}/"
    return handoffs


def _counts_statements(user, now, matching=()):
    """Statements for leadhub.sql.query_many: the header's counts (my open and overdue
    handoffs, the pool, unread notices), then the `matching` counts ((sql, params) pairs), if
    any; each count its own subquery, answered from the best index for it alone.

    Two statements: the matching counts change with the filters, while the header's has one
    shape for everyone, so one plan (prepared, planned once per connection) serves everyone.
    The user's id comes as `(SELECT id)` so that PostgreSQL costs every user's plan alike: given
    the id itself, it found a user owning few handoffs (a manager) cheaper to plan afresh, and
    did so on every load (0.2-0.4 ms)."""
    from .models import Notification

    handoffs, notifications = Handoff._meta.db_table, Notification._meta.db_table
    open_, me = f"status = '{HandoffStatus.OPEN.value}'", "(SELECT CAST(%s AS INTEGER))"
    # Mine and my overdue ones in one pass over my open handoffs.
    header = (f"SELECT mine.n, mine.overdue,"
              f" (SELECT COUNT(*) FROM (SELECT 1 FROM {handoffs} WHERE {open_} AND owner_id IS NULL LIMIT {QUEUE_COUNT_CAP + 1}) pool),"
              f" (SELECT COUNT(*) FROM {notifications} WHERE recipient_id = {me} AND read_at IS NULL)"
              f" FROM (SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE due_at < %s) AS overdue FROM {handoffs}"
              f" WHERE {open_} AND owner_id = {me}) mine")
    statements = [(header, [user.pk, _dt(now), user.pk], True)]
    if matching:
        statements.append((f"SELECT {', '.join(f'({sql})' for sql, _ in matching)}",
                           [p for _, params in matching for p in params], True))
    return statements


def _team_statements(now, team):
    """The whole team's overdue count (a manager's header), as statements for query_many: its
    own statement, so the header's stays one shape for everyone."""
    if not team:
        return []
    from .reports import team_overdue_sql

    sql, params = team_overdue_sql(_dt(now))
    return [(sql, params, True)]


def _with_team(summary, results):
    if results:
        summary["team_overdue"] = results[0][0]
    return summary


def queue_summary(user, matching=(), now=None, team=False):
    """Counts for the queue's header (my open and overdue handoffs, the pool), the number of
    unread notices, and `matching`: the sum of the `matching` counts ((sql, params) pairs, see
    QueueQuery.count_sql). One round trip: each count is its own subquery, so the database
    answers each from the best index for that filter alone. `team` (a manager's header): also
    the whole team's overdue handoffs, as "team_overdue"."""
    now = now or timezone.now()
    counts, extra = _counts_statements(user, now, matching), _team_statements(now, team)
    results = _query_many([*counts, *extra])
    return _with_team(_summary(_counts(results[:len(counts)])), results[len(counts):])


def queue_summary_and_rows(user, query, start, stop, now, also=(), team=False):
    """(queue_summary for `query` (with `team` as there), its rows [start:stop], then the
    results of the `also` statements (for leadhub.sql.query_many)), read in one round trip."""
    own = query.assigned in (Assigned.MINE, Assigned.POOL, Assigned.MINE_AND_POOL) and query.unfiltered
    counts = _counts_statements(user, now, [] if own else query.count_sql())
    extra = _team_statements(now, team)
    results = _query_many([*counts, *extra, (*query.rows_sql(start, stop), False), *also])
    summary = _summary(_counts(results[:len(counts)]), own=query.assigned if own else None)
    return _with_team(summary, results[len(counts):len(counts) + len(extra)]), *results[len(counts) + len(extra):]


def _counts(results):
    """The counts' statements' rows as one tuple: the header's, then the matching ones."""
    return tuple(value for row in results for value in row)


def _summary(counts, own=None):
    """`own`: the queue is the user's own and/or the pool, unfiltered; the header counts it."""
    mine, overdue, pool, notices, *matching_counts = counts
    matching = {Assigned.MINE: mine, Assigned.POOL: pool, Assigned.MINE_AND_POOL: mine + pool}[own] if own else sum(matching_counts)
    return {"mine": mine, "overdue": overdue, "pool": min(pool, QUEUE_COUNT_CAP), "pool_more": pool > QUEUE_COUNT_CAP,
            "unread_notices": notices,
            "matching": min(matching, QUEUE_COUNT_CAP), "more": matching > QUEUE_COUNT_CAP}


# --- The queue page ---------------------------------------------------------------------------
# Every SDR reloads the queue all day: its counts and rows are read with plain SQL built from
# the validated filter (handoff.filters.HandoffFilter, which the API and the CSV export use as
# querysets; a test holds both to the same rows in the same order), and rows stay plain values.

# A manager's whole queue can hold a hundred thousand handoffs; counting them all on every
# load costs more than the page. Past this many the page says "more than 500" (and the
# header "500+ in the pool").
QUEUE_COUNT_CAP = 500

QUEUE_ORDER_SQL = {
    QueueSort.DUE: "h.due_at ASC NULLS LAST, h.created_at ASC, h.id ASC",
    QueueSort.SCORE: "h.score_at_handoff DESC, h.due_at ASC NULLS LAST, h.id ASC",
    QueueSort.AGE: "h.created_at ASC, h.id ASC",
    QueueSort.NEWEST: "h.created_at DESC, h.id DESC",
}
# What every queue order sorts on (QUEUE_ORDER_SQL).
_ORDER_COLUMNS = "h.id, h.due_at, h.created_at, h.score_at_handoff"
_ROW_COLUMNS = (
    "h.id, h.owner_id, h.channel, h.campaign, h.created_at, h.due_at,"
    # The policy's clock, for how long a pool row has waited (pool_wait).
    " p.id, p.response_hours, p.time_zone, p.workdays, p.opens_at, p.closes_at, p.holidays, l.id, l.first_name, l.last_name, l.email,"
    " l.title, l.fit_score, l.engagement_score, l.total_score, l.grade, l.scored_at, l.score_model_version,"
    " c.name, u.username, u.first_name, u.last_name, "
    # The lead's scoring model, so "why it scored" needs no query of its own.
    + ", ".join(f"sm.{column}" for column in qualification_selectors.MODEL_KEY_COLUMNS)
)


def _tables():
    from django.contrib.auth import get_user_model

    from leadhub.models import Company, Lead
    from qualification.models import ScoringModel

    from .models import SLAPolicy

    return {"h": Handoff._meta.db_table, "l": Lead._meta.db_table, "c": Company._meta.db_table, "p": SLAPolicy._meta.db_table,
            "u": get_user_model()._meta.db_table, "sm": ScoringModel._meta.db_table}


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


class QueueQuery:
    """The open-handoff queue as asked for (a valid filter form's cleaned data): the WHERE of
    each part (one, or two for "mine and the pool", each read in order from its own index)."""

    def __init__(self, cleaned, user_id, now):
        from leadhub.models import Lead

        # Constants stay in the text: a prepared plan can then use the open-handoff indexes.
        where, params = [f"h.status = '{HandoffStatus.OPEN.value}'"], []
        if cleaned.get("owner") is not None:
            where.append("h.owner_id = %s")
            params.append(cleaned["owner"].pk)
        for column, values in (("h.channel", cleaned.get("channel")), ("l.grade", cleaned.get("grade"))):
            if values:
                where.append(f"{column} IN ({', '.join(['%s'] * len(values))})")
                params.extend(values)
        if cleaned.get("campaign"):
            where.append("UPPER(h.campaign) = UPPER(%s)")
            params.append(cleaned["campaign"])
        score = Lead._meta.get_field("total_score")
        for op, name in ((">=", "score_min"), ("<=", "score_max")):
            if cleaned.get(name) is not None:
                where.append(f"l.total_score {op} %s")
                params.append(connection.ops.adapt_decimalfield_value(cleaned[name], score.max_digits, score.decimal_places))
        if cleaned.get("overdue") is True:
            where.append("h.due_at < %s")
            params.append(_dt(now))
        elif cleaned.get("overdue") is False:
            where.append("(h.due_at >= %s OR h.due_at IS NULL)")
            params.append(_dt(now))
        # Only whose handoffs: the header's counts of mine and of the pool already count them.
        self.unfiltered = len(where) == 1
        mine = ("h.owner_id = %s", [user_id]) if user_id is not None else ("h.owner_id IS NULL", [])
        pool = ("h.owner_id IS NULL", [])
        self.assigned = assigned = cleaned.get("assigned")
        owners = {Assigned.MINE: [mine], Assigned.POOL: [pool], Assigned.MINE_AND_POOL: [mine, pool]}.get(assigned, [None])
        self.parts = []
        for owner in owners:
            part_where, part_params = list(where), list(params)
            if owner is not None:
                part_where.append(owner[0])
                part_params.extend(owner[1])
            self.parts.append((" AND ".join(part_where), part_params))
        self.order = QUEUE_ORDER_SQL[QueueSort(cleaned.get("sort") or QueueSort.DUE)]
        # Lead columns in the WHERE need the lead joined; otherwise the count reads handoffs only.
        self.lead_join = any(name in cleaned and cleaned[name] not in (None, "", []) for name in ("grade", "score_min", "score_max"))

    def _from(self):
        t = _tables()
        return f"{t['h']} h JOIN {t['l']} l ON l.id = h.lead_id" if self.lead_join else f"{t['h']} h"

    def count_sql(self):
        """[(sql, params)]: the count of each part, up to one past QUEUE_COUNT_CAP."""
        return [(f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._from()} WHERE {where} LIMIT {QUEUE_COUNT_CAP + 1}) part", params)
                for where, params in self.parts]

    def page_source(self, count, read=None):
        """What Paginator pages over: `count` rows, fetched only for the page asked for
        (`read`: (start, rows) already read with the counts, see queue_summary_and_rows)."""
        return _QueueRows(self, count, read)

    def rows(self, start, stop):
        """Rows [start:stop] of the queue as plain tuples (_ROW_COLUMNS), in queue order."""
        return _query(*self.rows_sql(start, stop)) if stop > start else []

    def rows_sql(self, start, stop):
        t = _tables()
        limit = f"LIMIT {int(stop - start)} OFFSET {int(start)}"
        if len(self.parts) == 1:
            where, params = self.parts[0]
            page = f"SELECT h.id FROM {self._from()} WHERE {where} ORDER BY {self.order} {limit}"
        else:
            # A page [start:stop] lies within the first `stop` rows of each part: read those ids
            # from each part's index, then cut the page from those few in the queue's order.
            selects, params = [], []
            for n, (part_where, part_params) in enumerate(self.parts):
                selects.append(f"SELECT * FROM (SELECT {_ORDER_COLUMNS} FROM {self._from()} WHERE {part_where}"
                               f" ORDER BY {self.order} LIMIT {int(stop)}) p{n}")
                params.extend(part_params)
            order = self.order.replace("h.", "c.")
            page = f"SELECT c.id FROM ({' UNION ALL '.join(selects)}) c ORDER BY {order} {limit}"
        # Only the page's rows are joined to their lead, company and owner.
        sql = (f"SELECT {_ROW_COLUMNS} FROM ({page}) page JOIN {t['h']} h ON h.id = page.id JOIN {t['l']} l ON l.id = h.lead_id"
               f" LEFT JOIN {t['c']} c ON c.id = l.company_id LEFT JOIN {t['u']} u ON u.id = h.owner_id"
               f" LEFT JOIN {t['p']} p ON p.id = h.sla_policy_id"
               f" LEFT JOIN {t['sm']} sm ON sm.version = l.score_model_version ORDER BY {self.order}")
        return sql, params


class _QueueRows:
    def __init__(self, query, count, read=None):
        self.query, self._count, self.read = query, count, read

    def count(self):
        return self._count

    def __len__(self):
        return self._count

    def __getitem__(self, item):
        start, stop = item.start or 0, min(item.stop, self._count)
        if self.read and self.read[0] == start:
            return self.read[1][: max(stop - start, 0)]
        return self.query.rows(start, stop)


class QueueRow:
    """One open handoff as the queue shows it: strings ready to print (see decorate)."""

    __slots__ = ("pk", "id", "status", "owner_id", "channel", "campaign", "lead_id", "lead_name", "lead_subtitle",
                 "lead_url", "url", "score_text", "grade_text", "channel_label", "why", "sla_state", "sla_text",
                 "due_title", "age_text", "owner_name", "wait", "wait_title")


class _PolicyRef:
    """What handoff.sla reads of an SLA policy, from a queue row's columns."""

    __slots__ = ("response_hours", "time_zone", "workdays", "opens_at", "closes_at", "holidays")


def _policy_ref(columns):
    """An SLA policy's clock from its raw columns (None: no policy, the default clock)."""
    import json
    from datetime import time

    pk, hours, time_zone, workdays, opens, closes, holidays = columns
    if pk is None:
        return None
    ref = _PolicyRef()
    ref.response_hours, ref.time_zone, ref.holidays = float(hours), time_zone, holidays
    ref.workdays = json.loads(workdays) if isinstance(workdays, str) else workdays
    ref.opens_at = time.fromisoformat(opens) if isinstance(opens, str) else opens
    ref.closes_at = time.fromisoformat(closes) if isinstance(closes, str) else closes
    return ref


_CHANNEL_LABELS = dict(Handoff._meta.get_field("channel").choices)


def queue_rows(tuples, now=None):
    """QueueRows from QueueQuery.rows: the same strings decorate() gives model rows."""
    now = now or timezone.now()
    refs, rows, splits = [], [], []
    queue_prefix, lead_prefix = link("handoff:queue"), link("leads:list")
    tz = timezone.get_current_timezone()
    policies = {}
    for (pk, owner_id, channel, campaign, created_at, due_at, policy_id, hours, time_zone, workdays, opens, closes, holidays, lead_id, first_name, last_name, email, title, fit, engagement,
         total, grade, scored_at, model_version, company_name, username, owner_first, owner_last, *model) in tuples:
        due_at = aware_datetime(due_at)
        row = QueueRow()
        row.pk = row.id = pk
        row.status, row.owner_id, row.channel, row.campaign, row.lead_id = HandoffStatus.OPEN.value, owner_id, channel, campaign, lead_id
        row.lead_name = f"{first_name} {last_name}".strip() or email
        row.lead_subtitle = f"{title or 'No title'} · {company_name}" if company_name else title or "No title"
        row.lead_url, row.url = f"{lead_prefix}{lead_id}/", f"{queue_prefix}{pk}/"
        row.score_text, row.grade_text = f"{total:.0f}", grade or ""
        row.channel_label = _CHANNEL_LABELS.get(channel, channel)
        row.sla_state = _sla_state(owner_id, due_at, now)
        row.sla_text = _sla_text(row.sla_state, due_at, now)
        row.due_title = _due_title(due_at, tz) if due_at else ""
        created_at = aware_datetime(created_at)
        row.age_text = format_duration(now - created_at)
        row.wait, row.wait_title = "", ""
        if owner_id is None:
            if policy_id not in policies:
                policies[policy_id] = _policy_ref((policy_id, hours, time_zone, workdays, opens, closes, holidays))
            row.wait = pool_wait(policies[policy_id], created_at, now)
            row.wait_title = pool_wait_title(policies[policy_id])
        row.owner_name = (f"{owner_first} {owner_last}".strip() or username) if owner_id else ""
        rows.append(row)
        splits.append((fit, engagement))
        refs.append(qualification_selectors.LeadRef(lead_id, aware_datetime(scored_at), model_version, tuple(model) if model[0] else None))
    why = _reasons(refs)
    for row, (fit, engagement) in zip(rows, splits, strict=True):
        row.why = why.get(row.lead_id) or [f"Fit {fit:.0f}", f"Engagement {engagement:.0f}"]
    return rows


def queue_row(handoff_id):
    """One row, fresh, whatever its status (after a decision or a conflict)."""
    handoff = (Handoff.objects.select_related("lead", "lead__company", "owner", "decided_by", "rejection_reason", "sla_policy")
               .get(pk=handoff_id))
    return decorate([handoff])[0]


def rejection_reasons():
    """Active reasons grouped for a <select>: [(group label, [reason, ...]), ...]."""
    reasons = list(RejectionReason.objects.filter(active=True))
    groups = []
    for destination in Destination:
        items = [r for r in reasons if r.destination == destination]
        if items:
            groups.append((destination.label, items))
    return groups


def handoff_panel(handoff_id, user):
    """The side panel: the lead's profile, score explanation, activity timeline and the handoff."""
    handoff = (
        Handoff.objects.select_related("lead", "lead__company", "owner", "decided_by", "rejection_reason", "sla_policy")
        .get(pk=handoff_id)
    )
    decorate([handoff])
    lead = handoff.lead
    return {
        "handoff": handoff,
        "lead": lead,
        "timeline": list(Activity.objects.filter(lead=lead).order_by("-occurred_at", "-id")[:PANEL_TIMELINE_LIMIT]),
        "events": list(HandoffEvent.objects.filter(lead=lead).select_related("by", "to_owner", "from_owner")[:10]),
        "reason_groups": rejection_reasons(),
        "can_act": services.can_act(user),
        "is_manager": services.is_manager(user),
        **qualification_selectors.lead_score_context(lead),
    }


def checklist_items(qualification, errors=None):
    """The checklist's yes/no items for a template: (field name, label, value, required)."""
    items = []
    for name in services.CHECKLIST_FLAGS:
        field = Qualification._meta.get_field(name)
        items.append({"name": name, "label": field.verbose_name[:1].upper() + field.verbose_name[1:],
                      "value": getattr(qualification, name) if qualification else False, "required": name in REQUIRED_CHECKLIST,
                      "errors": (errors or {}).get(name, [])})
    return items


def lead_handoff_context(lead, user, *, errors=None, notice=None, values=None):
    """Template context for the lead page's handoff section (templates/handoff/_lead_handoff.html).

    `errors`, `notice` and `values` come from a form post that failed, so the section shows
    what was typed with the messages."""
    handoffs = list(
        Handoff.objects.filter(lead_id=lead.pk).select_related("owner", "decided_by", "rejection_reason", "sla_policy").order_by("-created_at", "-id")[:5]
    )
    for handoff in handoffs:
        handoff.lead = lead  # the page's lead (company loaded): no query per handoff
    open_handoff = next((h for h in handoffs if h.status == HandoffStatus.OPEN), None)
    if open_handoff:
        decorate([open_handoff])
    qualification = (
        Qualification.objects.filter(lead_id=lead.pk).select_related("qualified_by", "outcome_by").order_by("-created_at", "-id").first()
        if lead.stage in (Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST) else None
    )
    if qualification and values:
        for key, value in values.items():
            setattr(qualification, key, value)
    can_work = services.can_act(user) and (services.is_manager(user) or lead.owner_id == user.pk)
    events = list(
        HandoffEvent.objects.filter(lead_id=lead.pk).select_related("by", "to_owner", "from_owner")[:50]
    )
    return {
        "hs": {
            "lead": lead,
            "open": open_handoff,
            "handoffs": handoffs,
            "qualification": qualification,
            "checklist": checklist_items(qualification, errors),
            "events": events,
            "can_work": can_work,
            "reason_groups": rejection_reasons() if can_work and lead.stage == Stage.SAL else [],
            "errors": errors or {},
            "notice": notice,
            # The first deadline, when a claim or reassignment restarted the clock since.
            "original_due_at": original_due_at(open_handoff) if open_handoff else None,
            "restarted_when": _restarted_when(open_handoff, events) if open_handoff else "",
        }
    }


def _restarted_when(handoff, events):
    """What restarted the open handoff's clock, from its latest claim or reassignment in
    `events` (newest first): "claimed" or "reassigned"."""
    for event in events:
        if event.handoff_id == handoff.pk and event.kind in (EventKind.CLAIMED, EventKind.REASSIGNED):
            return "claimed" if event.kind == EventKind.CLAIMED else "reassigned"
    return "claimed or reassigned"


def original_due_at(handoff):
    """The handoff's first deadline when it differs from the current one (the clock was
    restarted by a claim or a reassignment), else None."""
    first = handoff.first_due_at
    return first if first and first != handoff.due_at else None


def sla_restart_text(handoff):
    """What a claim or reassignment did to the deadline, for the view's message:
    "SLA restarted: due Mon Dec 7, 17:00 UTC" (current time zone), or "" without a deadline."""
    if handoff.due_at is None:
        return ""
    due = timezone.localtime(handoff.due_at)
    return f"SLA restarted: due {due:%a %b %-d, %H:%M} {due.tzname()}"


NOTICE_LIMIT = 5


def unread_notices(user, limit=NOTICE_LIMIT):
    """The user's notices worth showing above the queue, newest first: one per handoff (its
    latest step; dismissing it dismisses the handoff's), and only while the handoff is open and
    still on the clock the notice was about: not moved to someone else, back to the pool, or
    re-assigned since. A notice stays for the handoff's owner, and for a manager escalated to
    about the owner it still has. Notices about no handoff stay until dismissed."""
    from django.db.models import F, OuterRef, Q, Subquery

    from .models import Notification

    latest = (Notification.objects.filter(recipient_id=user.pk, handoff_id=OuterRef("handoff_id"))
              .order_by("-created_at", "-id").values("id")[:1])
    current = (Q(id=Subquery(latest), handoff__status=HandoffStatus.OPEN, handoff__assigned_at__lte=F("created_at"))
               & (Q(handoff__owner_id=user.pk) | (Q(escalation__isnull=False) & ~Q(escalation__owner_id=user.pk))))
    return list(Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
                .filter(Q(handoff__isnull=True) | current)
                .select_related("handoff").order_by("-created_at", "-id")[:limit])


def queue_csv_rows(handoffs):
    """Rows of the queue's CSV export, streamed from the database in chunks."""
    now = timezone.now()
    for handoff in handoffs.defer(None).iterator(chunk_size=2000):
        lead = handoff.lead
        yield [
            handoff.pk, lead.pk, lead.full_name, lead.email, lead.title, lead.company.name if lead.company_id else "",
            handoff.channel, handoff.campaign, handoff.score_at_handoff, handoff.grade_at_handoff,
            handoff.owner.username if handoff.owner_id else "", handoff.created_at, handoff.assigned_at, handoff.due_at,
            sla_state(handoff, now),
        ]


def last_decision(user):
    """When the queue last moved for this user: their own latest decision, or the team's for
    people who do not decide themselves (managers, marketing). None when nothing was decided."""
    from django.db.models import Max

    decided = Handoff.objects.filter(first_decision_at__isnull=False)
    if services.can_act(user) and not services.is_manager(user):
        decided = decided.filter(decided_by_id=user.pk)
    return decided.aggregate(at=Max("first_decision_at"))["at"]
