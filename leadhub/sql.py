"""Plain SQL for the reads every page load makes (the queue, permissions), as prepared
statements on PostgreSQL: planning those joins costs more than running them, and they run all
day with the same text. Constants that partial indexes match on belong in the SQL text, so a
prepared plan can still use those indexes. Off when DATABASE_PREPARED_STATEMENTS=0 (see
settings.py)."""

from datetime import UTC

import psycopg
from django.db import connection
from django.utils.dateparse import parse_datetime


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, prepared on first use (Django's own cursors bind client-side), with
    results in binary: psycopg's C loaders read them faster than Django's timestamptz text loader
    (a Python call per value; the queue reads 125 per page). These reads select no jsonb, inet
    or cidr, which Django has loaded as text."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True, binary=True)


class _BoundCursor(psycopg.Cursor):
    """Server-side binding, never prepared (see execute)."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=False)


def query(sql, params, *, one=False):
    """Rows (or the one row) of `sql`. On PostgreSQL a prepared statement: each connection
    plans it once (Django's own queries bind client-side and are planned every time)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
    connection.ensure_connection()
    with connection.wrap_database_errors, connection._prepare_cursor(_PreparedCursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if one else cursor.fetchall()


def query_many(statements):
    """The results of several reads ((sql, params, one) each): on PostgreSQL sent together as
    prepared statements, so one round trip answers them all."""
    if connection.vendor != "postgresql":
        return [query(sql, params, one=one) for sql, params, one in statements]
    connection.ensure_connection()
    pg, cursors = connection.connection, []
    with connection.wrap_database_errors:
        with pg.pipeline():
            for sql, params, one in statements:
                cursor = connection._prepare_cursor(_PreparedCursor(pg))
                cursor.execute(sql, params)
                cursors.append((cursor, one))
        results = []
        for cursor, one in cursors:
            with cursor:
                results.append(cursor.fetchone() if one else cursor.fetchall())
        return results


def execute(sql, params):
    """Run a write with server-side binding on PostgreSQL: large array parameters, such as an
    ingest batch's columns, are sent as they are instead of being quoted into the text. Not
    prepared: the planner sees each call's arrays (a generic plan cannot, and joins them
    badly). Returns the rows of a RETURNING clause, else None."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None
    connection.ensure_connection()
    with connection.wrap_database_errors, connection._prepare_cursor(_BoundCursor(connection.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def aware_datetime(value):
    """A datetime read by plain SQL as the ORM would give it: SQLite returns naive UTC, as a
    datetime or as the stored text. Cheap when it is already aware (called per queue row)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
