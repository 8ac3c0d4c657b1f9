"""The queue page's counts and rows, read with plain SQL.

Every SDR reloads the queue all day: its counts and rows are read with plain SQL built from the
validated filter (handoff.filters.HandoffFilter, which the API and the CSV export use as
querysets; a test holds both to the same rows in the same order), and rows stay plain tuples
(rows.queue_rows turns them into what a row prints). On PostgreSQL these statements are
prepared (leadhub.sql), and the header's counts, the page's total and its rows go to the
database together, in one round trip (`queue_summary_and_rows`).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

import qualification.selectors as qualification_selectors
from leadhub.sql import Params, Row, Statement, db_datetime
from leadhub.sql import query as _query
from leadhub.sql import query_many as _query_many

from ..choices import Assigned, HandoffStatus, QueueSort
from ..models import Handoff

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


def _tables() -> dict[str, str]:
    from django.contrib.auth import get_user_model

    from leadhub.models import Company, Lead
    from qualification.models import ScoringModel

    from ..models import SLAPolicy

    return {
        "h": Handoff._meta.db_table,
        "l": Lead._meta.db_table,
        "c": Company._meta.db_table,
        "p": SLAPolicy._meta.db_table,
        "u": get_user_model()._meta.db_table,
        "sm": ScoringModel._meta.db_table,
    }


class QueueQuery:
    """The open-handoff queue as asked for (a valid filter form's cleaned data): the WHERE of
    each part (one, or two for "mine and the pool", each read in order from its own index)."""

    def __init__(self, cleaned: Mapping[str, Any], user_id: int | None, now: datetime) -> None:
        from leadhub.models import Lead

        # Constants stay in the text: a prepared plan can then use the open-handoff indexes.
        where: list[str] = [f"h.status = '{HandoffStatus.OPEN.value}'"]
        params: list[Any] = []
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
            params.append(db_datetime(now))
        elif cleaned.get("overdue") is False:
            where.append("(h.due_at >= %s OR h.due_at IS NULL)")
            params.append(db_datetime(now))
        # Only whose handoffs: the header's counts of mine and of the pool already count them.
        self.unfiltered = len(where) == 1
        mine: tuple[str, list[Any]] = ("h.owner_id = %s", [user_id]) if user_id is not None else ("h.owner_id IS NULL", [])
        pool: tuple[str, list[Any]] = ("h.owner_id IS NULL", [])
        self.assigned = assigned = cleaned.get("assigned")
        by_assigned: dict[str | None, Sequence[tuple[str, list[Any]] | None]] = {
            Assigned.MINE: [mine],
            Assigned.POOL: [pool],
            Assigned.MINE_AND_POOL: [mine, pool],
        }
        owners = by_assigned.get(assigned, [None])
        self.parts: list[tuple[str, list[Any]]] = []
        for owner in owners:
            part_where, part_params = list(where), list(params)
            if owner is not None:
                part_where.append(owner[0])
                part_params.extend(owner[1])
            self.parts.append((" AND ".join(part_where), part_params))
        self.order = QUEUE_ORDER_SQL[QueueSort(cleaned.get("sort") or QueueSort.DUE)]
        # Lead columns in the WHERE need the lead joined; otherwise the count reads handoffs only.
        self.lead_join = any(
            name in cleaned and cleaned[name] not in (None, "", []) for name in ("grade", "score_min", "score_max")
        )

    def _from(self) -> str:
        t = _tables()
        return f"{t['h']} h JOIN {t['l']} l ON l.id = h.lead_id" if self.lead_join else f"{t['h']} h"

    def count_sql(self) -> list[tuple[str, list[Any]]]:
        """[(sql, params)]: the count of each part, up to one past QUEUE_COUNT_CAP."""
        return [
            (f"SELECT COUNT(*) FROM (SELECT 1 FROM {self._from()} WHERE {where} LIMIT {QUEUE_COUNT_CAP + 1}) part", params)
            for where, params in self.parts
        ]

    def page_source(self, count: int, read: tuple[int, list[Row]] | None = None) -> "_QueueRows":
        """What Paginator pages over: `count` rows, fetched only for the page asked for
        (`read`: (start, rows) already read with the counts, see queue_summary_and_rows)."""
        return _QueueRows(self, count, read)

    def rows(self, start: int, stop: int) -> list[Row]:
        """Rows [start:stop] of the queue as plain tuples (_ROW_COLUMNS), in queue order."""
        return _query(*self.rows_sql(start, stop)) if stop > start else []

    def rows_sql(self, start: int, stop: int) -> tuple[str, list[Any]]:
        t = _tables()
        limit = f"LIMIT {int(stop - start)} OFFSET {int(start)}"
        if len(self.parts) == 1:
            where, params = self.parts[0]
            page = f"SELECT h.id FROM {self._from()} WHERE {where} ORDER BY {self.order} {limit}"
        else:
            # A page [start:stop] lies within the first `stop` rows of each part: read those ids
            # from each part's index, then cut the page from those few in the queue's order.
            selects: list[str] = []
            params = []
            for n, (part_where, part_params) in enumerate(self.parts):
                selects.append(
                    f"SELECT * FROM (SELECT {_ORDER_COLUMNS} FROM {self._from()} WHERE {part_where}"
                    f" ORDER BY {self.order} LIMIT {int(stop)}) p{n}"
                )
                params.extend(part_params)
            order = self.order.replace("h.", "c.")
            page = f"SELECT c.id FROM ({' UNION ALL '.join(selects)}) c ORDER BY {order} {limit}"
        # Only the page's rows are joined to their lead, company and owner.
        sql = (
            f"SELECT {_ROW_COLUMNS} FROM ({page}) page JOIN {t['h']} h ON h.id = page.id JOIN {t['l']} l ON l.id = h.lead_id"
            f" LEFT JOIN {t['c']} c ON c.id = l.company_id LEFT JOIN {t['u']} u ON u.id = h.owner_id"
            f" LEFT JOIN {t['p']} p ON p.id = h.sla_policy_id"
            f" LEFT JOIN {t['sm']} sm ON sm.version = l.score_model_version ORDER BY {self.order}"
        )
        return sql, params


class _QueueRows:
    def __init__(self, query: QueueQuery, count: int, read: tuple[int, list[Row]] | None = None) -> None:
        self.query, self._count, self.read = query, count, read

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, item: slice) -> list[Row]:
        start, stop = item.start or 0, min(item.stop, self._count)
        if self.read and self.read[0] == start:
            return self.read[1][: max(stop - start, 0)]
        return self.query.rows(start, stop)


class QueueSummary(TypedDict):
    """The queue header's counts (queue_summary)."""

    mine: int
    overdue: int
    pool: int
    pool_more: bool
    unread_notices: int
    matching: int
    more: bool
    team_overdue: NotRequired[int]


def _counts_statements(user: User, now: datetime, matching: Sequence[tuple[str, Params]] = ()) -> list[Statement]:
    """Statements for leadhub.sql.query_many: the header's counts (my open and overdue
    handoffs, the pool, unread notices), then the `matching` counts ((sql, params) pairs), if
    any; each count its own subquery, answered from the best index for it alone.

    Two statements: the matching counts change with the filters, while the header's has one
    shape for everyone, so one plan (prepared, planned once per connection) serves everyone.
    The user's id comes as `(SELECT id)` so that PostgreSQL costs every user's plan alike: given
    the id itself, it found a user owning few handoffs (a manager) cheaper to plan afresh, and
    did so on every load (0.2-0.4 ms)."""
    from ..models import Notification

    handoffs, notifications = Handoff._meta.db_table, Notification._meta.db_table
    open_, me = f"status = '{HandoffStatus.OPEN.value}'", "(SELECT CAST(%s AS INTEGER))"
    # Mine and my overdue ones in one pass over my open handoffs.
    header = (
        f"SELECT mine.n, mine.overdue,"
        f" (SELECT COUNT(*) FROM (SELECT 1 FROM {handoffs} WHERE {open_} AND owner_id IS NULL LIMIT {QUEUE_COUNT_CAP + 1}) pool),"
        f" (SELECT COUNT(*) FROM {notifications} WHERE recipient_id = {me} AND read_at IS NULL)"
        f" FROM (SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE due_at < %s) AS overdue FROM {handoffs}"
        f" WHERE {open_} AND owner_id = {me}) mine"
    )
    statements: list[Statement] = [(header, [user.pk, db_datetime(now), user.pk], True)]
    if matching:
        statements.append(
            (f"SELECT {', '.join(f'({sql})' for sql, _ in matching)}", [p for _, params in matching for p in params], True)
        )
    return statements


def _team_statements(now: datetime, team: bool) -> list[Statement]:
    """The whole team's overdue count (a manager's header), as statements for query_many: its
    own statement, so the header's stays one shape for everyone."""
    if not team:
        return []
    from ..reports import team_overdue_sql

    sql, params = team_overdue_sql(db_datetime(now))
    return [(sql, params, True)]


def _with_team(summary: QueueSummary, results: Sequence[Any]) -> QueueSummary:
    if results:
        summary["team_overdue"] = results[0][0]
    return summary


def queue_summary(
    user: User, matching: Sequence[tuple[str, Params]] = (), now: datetime | None = None, team: bool = False
) -> QueueSummary:
    """Counts for the queue's header (my open and overdue handoffs, the pool), the number of
    unread notices, and `matching`: the sum of the `matching` counts ((sql, params) pairs, see
    QueueQuery.count_sql). One round trip: each count is its own subquery, so the database
    answers each from the best index for that filter alone. `team` (a manager's header): also
    the whole team's overdue handoffs, as "team_overdue"."""
    now = now or timezone.now()
    counts, extra = _counts_statements(user, now, matching), _team_statements(now, team)
    results = _query_many([*counts, *extra])
    return _with_team(_summary(_counts(results[: len(counts)])), results[len(counts) :])


def queue_summary_and_rows(
    user: User, query: QueueQuery, start: int, stop: int, now: datetime, also: Iterable[Statement] = (), team: bool = False
) -> tuple[Any, ...]:
    """(queue_summary for `query` (with `team` as there), its rows [start:stop], then the
    results of the `also` statements (for leadhub.sql.query_many)), read in one round trip."""
    own = query.assigned in (Assigned.MINE, Assigned.POOL, Assigned.MINE_AND_POOL) and query.unfiltered
    counts = _counts_statements(user, now, [] if own else query.count_sql())
    extra = _team_statements(now, team)
    results = _query_many([*counts, *extra, (*query.rows_sql(start, stop), False), *also])
    summary = _summary(_counts(results[: len(counts)]), own=query.assigned if own else None)
    return _with_team(summary, results[len(counts) : len(counts) + len(extra)]), *results[len(counts) + len(extra) :]


def _counts(results: Iterable[Any]) -> tuple[int, ...]:
    """The counts' statements' rows as one tuple: the header's, then the matching ones."""
    return tuple(value for row in results for value in row)


def _summary(counts: Sequence[int], own: str | None = None) -> QueueSummary:
    """`own`: the queue is the user's own and/or the pool, unfiltered; the header counts it."""
    mine, overdue, pool, notices, *matching_counts = counts
    own_counts: dict[str, int] = {Assigned.MINE: mine, Assigned.POOL: pool, Assigned.MINE_AND_POOL: mine + pool}
    matching = own_counts[own] if own else sum(matching_counts)
    return {
        "mine": mine,
        "overdue": overdue,
        "pool": min(pool, QUEUE_COUNT_CAP),
        "pool_more": pool > QUEUE_COUNT_CAP,
        "unread_notices": notices,
        "matching": min(matching, QUEUE_COUNT_CAP),
        "more": matching > QUEUE_COUNT_CAP,
    }
