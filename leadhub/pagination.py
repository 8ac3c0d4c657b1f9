"""Keyset (cursor) pages and capped counts, for lists too long to count or to OFFSET through.

A page is "the rows after this one in the list's order": the order is a list of sort keys that
ends with the id (so no two rows tie), and a cursor holds the sort keys' values of the row a page
starts after (or ends before, going back). When every key runs in one direction the condition is
a row comparison, `(created_at, id) < (%s, %s)`, which a btree on the same columns answers as
one index range whatever the depth; mixed directions (search ranks, then a sort) fall back to
the equivalent OR-expansion over rows an index already narrowed.

Counts stop at COUNT_CAP: `SELECT count(*) FROM (SELECT 1 ... LIMIT cap + 1)` reads at most
that many index entries, and the page says "more than 10,000" instead of a number it would
take seconds to get (the queue does the same with its own cap).
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from django.core.exceptions import EmptyResultSet
from django.db.models import BooleanField, Expression, F, Q, Value
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

COUNT_CAP = 10_000
# How long a list's count may take on PostgreSQL before the planner's estimate stands in for it.
COUNT_BUDGET_MS = 100
PER_PAGE = 50
# What a cursor may look like on the wire (the API schema says the same): URL-safe base64.
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]{0,800}$"  # empty: the first page
_CURSOR = re.compile(CURSOR_PATTERN)


class BadCursor(ValueError):
    """A cursor that is not one this module wrote."""


@dataclass(frozen=True)
class SortKey:
    name: str  # a field or an annotation on the queryset's rows
    descending: bool
    output_field: object = None  # for turning a cursor's text back into a value


@dataclass
class Count:
    value: int
    capped: bool  # True: there are more than `value` rows
    estimated: bool = False  # True: the planner's estimate, the count took longer than its budget

    def __str__(self):
        if self.estimated:
            return f"about {self.value:,}" if not self.capped else f"more than {self.value:,}"
        return f"more than {self.value:,}" if self.capped else f"{self.value:,}"


def capped_count(queryset, cap=COUNT_CAP, budget_ms=None):
    """How many rows `queryset` has, reading at most cap + 1 of them.

    On PostgreSQL the count also has a time budget (COUNT_BUDGET_MS): filters that match few of
    the rows an index returns (a handoff condition, a grade and a score range) may read many rows
    to find cap + 1 matches. Past the budget the count is the planner's estimate, said as such
    (`estimated`), so a page never waits for its count."""
    from django.db import OperationalError, connections, transaction

    limited = queryset.order_by().values("pk")[: cap + 1]
    connection = connections[queryset.db]
    budget_ms = COUNT_BUDGET_MS if budget_ms is None else budget_ms
    if connection.vendor != "postgresql" or not budget_ms:
        found = limited.count()
        return Count(min(found, cap), found > cap)
    if getattr(queryset.query, "search_broad", False):  # thousands of matches (leadhub.search): estimate at once
        estimate = _estimated_rows(queryset)
        return Count(min(estimate, cap), estimate > cap, estimated=True)
    try:
        with transaction.atomic(using=queryset.db):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                    [f"{int(budget_ms)}ms"],
                )
                previous = cursor.fetchone()[0]
            found = limited.count()
            with connection.cursor() as cursor:  # the rest of an enclosing transaction keeps its own timeout
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
        estimate = _estimated_rows(queryset)
        return Count(min(estimate, cap), estimate > cap, estimated=True)
    return Count(min(found, cap), found > cap)


def _estimated_rows(queryset):
    import json as _json

    plan = _json.loads(queryset.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def encode_cursor(values, backwards=False):
    payload = json.dumps({"v": values, "b": 1 if backwards else 0}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor, keys):
    """(values, backwards) of a cursor for these keys; BadCursor when it is not one."""
    if not _CURSOR.match(cursor or ""):
        raise BadCursor("not a cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values, backwards = data["v"], bool(data["b"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadCursor("unreadable") from exc
    if not isinstance(values, list) or len(values) != len(keys):
        raise BadCursor("for another sort")
    if not all(
        isinstance(v, str | int) and not isinstance(v, bool) and "\x00" not in str(v) and len(str(v)) <= 200 for v in values
    ):
        raise BadCursor("values of the wrong kind")
    try:
        values = [
            key.output_field.to_python(v) if key.output_field is not None and v is not None else v
            for key, v in zip(keys, values, strict=True)
        ]
    except Exception as exc:  # a field's to_python raises ValidationError (or worse) on junk
        raise BadCursor("values out of range") from exc
    return values, backwards


class _RowCompare(Expression):
    """(a, b, c) < (%s, %s, %s): one btree range when an index has these columns in this order."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, keys, values, op):
        super().__init__()
        self.keys, self.values, self.op = keys, values, op

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.lhs = [F(key.name).resolve_expression(query, allow_joins, reuse, summarize) for key in self.keys]
        clone.rhs = [
            Value(v, output_field=key.output_field).resolve_expression(query, allow_joins, reuse, summarize)
            if key.output_field is not None
            else Value(v).resolve_expression(query, allow_joins, reuse, summarize)
            for key, v in zip(self.keys, self.values, strict=True)
        ]
        return clone

    def as_sql(self, compiler, connection):
        left, right, params = [], [], []
        for expression in self.lhs:
            sql, p = compiler.compile(expression)
            left.append(sql)
            params.extend(p)
        for expression in self.rhs:
            sql, p = compiler.compile(expression)
            right.append(sql)
            params.extend(p)
        return f"({', '.join(left)}) {self.op} ({', '.join(right)})", params


def after(keys, values, backwards=False):
    """The condition "comes after the row with these values" in the order of `keys` (before, if backwards)."""
    directions = {key.descending != backwards for key in keys}
    if len(directions) == 1:
        return _RowCompare(keys, values, "<" if directions.pop() else ">")
    condition = Q(pk__in=[])
    for i in reversed(range(len(keys))):
        key, value = keys[i], values[i]
        beyond = Q(**{f"{key.name}__{'lt' if key.descending != backwards else 'gt'}": value})
        condition = beyond | (Q(**{key.name: value}) & condition) if i < len(keys) - 1 else beyond
    return condition


def order_by(keys, backwards=False):
    return [F(key.name).desc() if key.descending != backwards else F(key.name).asc() for key in keys]


@dataclass
class KeysetPage:
    rows: list
    keys: list
    next_cursor: str | None = None
    previous_cursor: str | None = None
    count: Count | None = None
    start: int | None = None  # 1-based position of the first row, when known (first page)
    extra: dict = field(default_factory=dict)

    @property
    def end(self):
        return self.start + len(self.rows) - 1 if self.start else None

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


def _values(row, keys):
    out = []
    for key in keys:
        value = getattr(row, key.name) if not isinstance(row, dict) else row[key.name]
        out.append(
            value.isoformat()
            if hasattr(value, "isoformat")
            else str(value)
            if value is not None and not isinstance(value, int | str)
            else value
        )
    return out


@dataclass(frozen=True)
class Tiers:
    """A first sort key with a few values (a search's rank: 0 exact, 1 prefix, 2 other), each
    with a condition that selects its rows without computing the key, so a page reads one tier
    at a time: the small tiers from their own indexes, the large last one from the index of the
    keys that follow (stopping after a page of rows) instead of ranking every match first.
    Put on a queryset with `tiered(queryset, tiers)`."""

    key: str
    conditions: tuple  # Q per tier value 0, 1, ...


def _is_postgresql():
    from django.db import connection

    return connection.vendor == "postgresql"


def tiered(queryset, tiers):
    queryset = queryset.all()
    queryset.query.keyset_tiers = tiers  # Query.clone copies its __dict__: it stays with filters
    return queryset


def _tiered_rows(queryset, keys, tiers, values, backwards, limit):
    """Up to `limit` rows after (before) `values` in the order of `keys`, in two statements
    whatever the data: the ids of each tier's first `limit` rows (one UNION ALL, each part read
    from its own index in its own order), then those rows, put in order here."""
    from django.db import connection

    rest = keys[1:]
    start = values[0] if values is not None else (len(tiers.conditions) - 1 if backwards else 0)
    parts, params = [], []
    for tier, condition in enumerate(tiers.conditions):
        if (tier < start) if not backwards else (tier > start):
            continue
        part = queryset.filter(condition)
        if values is not None and tier == start:
            part = part.filter(after(rest, values[1:], backwards))
        try:
            sql, part_params = part.order_by(*order_by(rest, backwards)).values_list("pk")[:limit].query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append(f"({sql})")
        params.extend(part_params)
    if not parts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        ids = [row[0] for row in cursor.fetchall()]
    rows = list(queryset.filter(pk__in=ids).order_by())
    for key in reversed(keys):  # stable sorts, the last key first
        rows.sort(key=lambda row, name=key.name: getattr(row, name), reverse=key.descending != backwards)
    return rows[:limit]


def keyset_page(queryset, keys, cursor=None, per_page=PER_PAGE):
    """One page of `queryset` in the order of `keys` (the last key must be unique, e.g. the id).

    `cursor` is None for the first page or one from an earlier page's next/previous cursor.
    Raises BadCursor for one that is not. Reads per_page + 1 rows: the extra one says whether
    there is a page beyond."""
    values, backwards = decode_cursor(cursor, keys) if cursor else (None, False)
    tiers = getattr(queryset.query, "keyset_tiers", None)
    if tiers and keys[0].name == tiers.key and _is_postgresql():
        rows = _tiered_rows(queryset, keys, tiers, values, backwards, per_page + 1)
    else:
        page_qs = queryset
        if values is not None:
            page_qs = page_qs.filter(after(keys, values, backwards))
        rows = list(page_qs.order_by(*order_by(keys, backwards))[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    # The first page, whether asked for or reached going back.
    page = KeysetPage(rows=rows, keys=keys, start=1 if values is None or (backwards and not more) else None)
    if rows:
        has_next = more if not backwards else True
        has_previous = values is not None and (more if backwards else True)
        if has_next:
            page.next_cursor = encode_cursor(_values(rows[-1], keys))
        if has_previous:
            page.previous_cursor = encode_cursor(_values(rows[0], keys), backwards=True)
    elif values is not None:
        # Past the end (rows deleted since) or before the start: offer the way back.
        page.previous_cursor = None
    return page


class KeysetPagination(BasePagination):
    """DRF pagination by keyset for views that set `self.sort_keys` while filtering (LeadViewSet):
    `next`/`previous` are URLs with a `cursor`, `count` stops at COUNT_CAP and `count_capped`
    says when it did. A cursor that is well-formed but not one of ours (or of another sort)
    starts from the first page; a malformed one is a 400."""

    page_size = PER_PAGE
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        from .errors import ValidationFailed

        cursor = request.query_params.get(self.cursor_query_param) or None
        if cursor is not None and not _CURSOR.match(cursor):
            raise ValidationFailed(
                "The request has invalid fields.",
                field_errors={self.cursor_query_param: ["Not a page cursor: use the next or previous link of an earlier page."]},
            )
        self.request = request
        keys = view.sort_keys
        try:
            self.page = keyset_page(queryset, keys, cursor, self.page_size)
        except BadCursor:
            self.page = keyset_page(queryset, keys, None, self.page_size)
        self.count = capped_count(queryset)
        return self.page.rows

    def _link(self, cursor):
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count.value,
                "count_capped": self.count.capped,
                "count_estimated": self.count.estimated,
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": COUNT_CAP,
                    "description": f"Matching rows, counted up to {COUNT_CAP:,}.",
                },
                "count_capped": {
                    "type": "boolean",
                    "description": f"True when more than {COUNT_CAP:,} rows match (count is then {COUNT_CAP:,}).",
                },
                "count_estimated": {
                    "type": "boolean",
                    "description": "True when counting took too long and count is the database's estimate instead.",
                },
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page (same filters and sort), or null.",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The previous page, or null on the first.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where a page starts: the cursor in an earlier page's next or previous link (opaque).",
                "schema": {"type": "string", "pattern": CURSOR_PATTERN},
            }
        ]
