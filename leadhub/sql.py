"""Plain SQL for the reads every page load makes (the queue, permissions), as prepared
statements on PostgreSQL: planning those joins costs more than running them, and they run all
day with the same text. Constants that partial indexes match on belong in the SQL text, so a
prepared plan can still use those indexes. Off when DATABASE_PREPARED_STATEMENTS=0 (see
settings.py).

It is also the one SQL toolkit of the project's set-based code: the dialect test, datetime
parameters, rows as a CTE, an SQL builder and a set of leads as a WHERE condition."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, Self, overload

import psycopg
from django.db import connection
from django.utils.dateparse import parse_datetime


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, prepared on first use (Django's own cursors bind client-side), with
    results in binary: psycopg's C loaders read them faster than Django's timestamptz text loader
    (a Python call per value; the queue reads 125 per page). These reads select no jsonb, inet
    or cidr, which Django has loaded as text."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        return super().execute(query, params, prepare=True, binary=True)


class _BoundCursor(psycopg.Cursor):
    """Server-side binding, never prepared (see execute)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Self:
        return super().execute(query, params, prepare=False)


def _wrapped[C: psycopg.Cursor](cursor: C) -> C:
    """`cursor` set up as Django sets up its own (time zone, adapters) on PostgreSQL."""
    return connection._prepare_cursor(cursor)  # type: ignore[attr-defined]  # PostgreSQL's DatabaseWrapper only; the stubs type the base


Row = tuple[Any, ...]
Params = Sequence[Any]
# One read for query_many: (sql, params, one row only).
Statement = tuple[str, Params, bool]


@overload
def query(sql: str, params: Params, *, one: Literal[True]) -> Row | None: ...
@overload
def query(sql: str, params: Params, *, one: Literal[False] = False) -> list[Row]: ...
@overload
def query(sql: str, params: Params, *, one: bool) -> Row | None | list[Row]: ...
def query(sql: str, params: Params, *, one: bool = False) -> Row | None | list[Row]:
    """Rows (or the one row) of `sql`. On PostgreSQL a prepared statement: each connection
    plans it once (Django's own queries bind client-side and are planned every time)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
    connection.ensure_connection()
    with connection.wrap_database_errors, _wrapped(_PreparedCursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if one else cursor.fetchall()


def query_many(statements: Iterable[Statement]) -> list[Row | None | list[Row]]:
    """The results of several reads ((sql, params, one) each): on PostgreSQL sent together as
    prepared statements, so one round trip answers them all."""
    if connection.vendor != "postgresql":
        return [query(sql, params, one=one) for sql, params, one in statements]
    connection.ensure_connection()
    pg = connection.connection
    cursors: list[tuple[_PreparedCursor, bool]] = []
    with connection.wrap_database_errors:
        with pg.pipeline():
            for sql, params, one in statements:
                cursor = _wrapped(_PreparedCursor(pg))
                cursor.execute(sql, params)
                cursors.append((cursor, one))
        results: list[Row | None | list[Row]] = []
        for cursor, one in cursors:
            with cursor:
                results.append(cursor.fetchone() if one else cursor.fetchall())
        return results


def execute(sql: str, params: Params) -> list[Row] | None:
    """Run a write with server-side binding on PostgreSQL: large array parameters, such as an
    ingest batch's columns, are sent as they are instead of being quoted into the text. Not
    prepared: the planner sees each call's arrays (a generic plan cannot, and joins them
    badly). Returns the rows of a RETURNING clause, else None."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None
    connection.ensure_connection()
    with connection.wrap_database_errors, _wrapped(_BoundCursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


@overload
def aware_datetime(value: datetime | str) -> datetime: ...
@overload
def aware_datetime(value: None) -> None: ...
@overload
def aware_datetime(value: datetime | str | None) -> datetime | None: ...
def aware_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime read by plain SQL as the ORM would give it: SQLite returns naive UTC, as a
    datetime or as the stored text. Cheap when it is already aware (called per queue row)."""
    if value is None:
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"Not a datetime: {value!r}.")
        value = parsed
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


# --- the SQL toolkit every app's set-based code uses ------------------------------------------


def is_postgresql() -> bool:
    """True on PostgreSQL, False on SQLite: the two dialects the project's plain SQL speaks."""
    return connection.vendor == "postgresql"


def db_datetime(value: datetime | None) -> Any:
    """A datetime as a raw SQL parameter, the way Django stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def rowcount(cursor: Any) -> int:
    """Rows a statement changed. Python's sqlite3 reports -1 for statements that start with
    WITH; then SQLite itself is asked."""
    if cursor.rowcount is not None and cursor.rowcount >= 0:
        return cursor.rowcount
    cursor.execute("SELECT changes()")
    return cursor.fetchone()[0]


def rows_cte(name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`name(columns) AS (...)` for a WITH clause holding `rows` (tuples), and its one
    parameter: the rows as a JSON array of arrays, which the database takes apart (a batch
    of a thousand rows costs one json.dumps, not a thousand parameters or arrays adapted
    value by value). `columns` are (name, PostgreSQL type) pairs; "jsonb" columns take
    JSON-able values, "timestamptz" columns datetimes. Returns (sql text, params)."""
    pg = is_postgresql()
    stamps = [i for i, (_, kind) in enumerate(columns) if kind == "timestamptz"]
    if stamps:
        rows = lists = [list(row) for row in rows]
        for row in lists:
            for i in stamps:
                value = db_datetime(row[i])
                row[i] = value.isoformat() if pg and value is not None else value
    if pg:
        values = ", ".join(f"e -> {i}" if kind == "jsonb" else f"(e ->> {i})::{kind}" for i, (_, kind) in enumerate(columns))
        source = f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS e"
    else:
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        source = f"SELECT {values} FROM json_each(%s)"
    names = ", ".join(column for column, _ in columns)
    return f"{name}({names}) AS ({source})", [json.dumps(rows, separators=(",", ":"))]


class SQL:
    """SQL text and its parameters, built in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> Self:
        self.parts.append(text)
        self.params.extend(params)
        return self

    def extend(self, other: "SQL") -> Self:
        self.parts.extend(other.parts)
        self.params.extend(other.params)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Leads:
    """A set of leads: an id range (inclusive), a list of ids, or all."""

    low: int | None = None
    high: int | None = None
    ids: tuple[int, ...] | None = None

    @cached_property
    def pg_array(self) -> str:
        """The ids as one PostgreSQL array literal, made once: a chunk's statements all use it,
        and the driver would otherwise adapt the list element by element for each of them."""
        return "{" + ",".join(str(int(pk)) for pk in self.ids or ()) + "}"

    def where(self, column: str) -> SQL:
        sql = SQL()
        if self.ids is not None:
            if not self.ids:
                return sql.add("1 = 0")
            if is_postgresql():  # one array parameter: a thousand placeholders cost more to bind than to run
                # The bounds let the planner read only the ids' range of the index or table: with
                # tens of thousands of ids it would otherwise scan the whole table for the list.
                return sql.add(
                    f"{column} = ANY(%s::bigint[]) AND {column} BETWEEN %s AND %s", self.pg_array, min(self.ids), max(self.ids)
                )
            return sql.add(f"{column} IN ({', '.join(['%s'] * len(self.ids))})", *self.ids)
        if self.low is not None:
            return sql.add(f"{column} >= %s AND {column} <= %s", self.low, self.high)
        return sql.add("1 = 1")


ALL_LEADS = Leads()
