"""The one way leadhub writes CSV: every download (leads, queue, dashboard and feedback tables,
rejected import rows) and the import command's rejected-rows file go through `csv_chunks`.

    return stream_csv(queryset.values_list(*cols).iterator(chunk_size=2000), header, "leads.csv")

Rows are formatted and sent as they come from the iterator: nothing builds the whole file, so
memory stays flat whether the export has a hundred rows or a million.

Formula safety ("CSV injection"): a text cell that starts with =, +, -, @, a tab or a carriage
return is written with a leading apostrophe, so a spreadsheet shows it as text instead of
running it. Two kinds of cells keep their sign: numbers (int, float, Decimal values are
written as numbers, -3 stays -3) and text that is only a signed number or a phone number
(digits, spaces and ( ) . - /, like "+49 30 1234-56"): with no letter in it a spreadsheet can
reach no function, cell or URL. tests/security/test_csv_walk.py downloads every CSV URL with
hostile values and holds every cell to this.
"""

import csv
import re
from contextlib import nullcontext
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.utils import timezone

CHUNK_ROWS = 500
# Spreadsheet programs run cells starting with these as formulas ("CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...but a phone number or a signed number is data, not a formula: leave those alone (a tab or
# a carriage return first is never one of them).
PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().\-/]+")


class _Echo:
    """A file-like object whose write() returns what it was given, for csv.writer."""

    def write(self, value):
        return value


def cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds") if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, (date, Decimal, int, float)):
        return str(value)
    value = str(value)
    if value.startswith(FORMULA_START) and not (value[0] in "+-" and PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def csv_chunks(rows, header, *, bom=True, chunk_rows=None):
    """The CSV text of `header` and `rows`, in chunks of `chunk_rows` rows.

    A UTF-8 byte order mark comes first by default so Excel reads accents right; leadhub's
    importer accepts it.
    """
    chunk_rows = chunk_rows or CHUNK_ROWS
    writer = csv.writer(_Echo())
    yield ("\ufeff" if bom else "") + writer.writerow([cell(h) for h in header])
    buffer = []
    for row in rows:
        buffer.append(writer.writerow([cell(v) for v in row]))
        if len(buffer) >= chunk_rows:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def stream_csv(rows, header, filename, *, bom=True):
    """A StreamingHttpResponse downloading `rows` (any iterable of sequences) as `filename`."""
    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in csv_chunks(rows, header, bom=bom)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    # Tell nginx-style proxies to pass the rows on as they come instead of buffering the file.
    response["X-Accel-Buffering"] = "no"
    return response


# The lead list export: the columns a marketer or manager expects in a spreadsheet.
LEAD_EXPORT_COLUMNS = [
    ("id", "id"),
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("title", "title"),
    ("phone", "phone"),
    ("country", "country"),
    ("company", "company__name"),
    ("company_domain", "company__domain"),
    ("industry", "company__industry"),
    ("employee_count", "company__employee_count"),
    ("annual_revenue", "company__annual_revenue"),
    ("channel", "source"),
    ("campaign", "campaign"),
    ("stage", "stage"),
    ("owner", "owner__username"),
    ("fit_score", "fit_score"),
    ("engagement_score", "engagement_score"),
    ("total_score", "total_score"),
    ("grade", "grade"),
    ("last_activity_at", "last_activity_at"),
    ("created_at", "created_at"),
]
EXPORT_CHUNK_SIZE = 2000


def lead_rows(queryset, fields=()):
    """The export rows of a (filtered, ordered) lead queryset, fetched chunk by chunk: the
    standard columns, then the lead's external ids ("crm:00Q5e…; erp:7", one query per chunk) and one
    column per custom field (`fields`, LeadField definitions).

    On PostgreSQL, read inside a transaction: outside one, its server-side cursor is declared
    WITH HOLD and computes every matching row before the first one is sent (over a second for
    a channel of 200,000 leads); inside, rows come as the download asks for them. (SQLite has no
    such cursor, and its transactions here take the write lock: no transaction there.)"""
    from .identity import external_ids_of

    lookups = [lookup for _, lookup in LEAD_EXPORT_COLUMNS]
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic() if postgresql else nullcontext():
        if postgresql:
            with connection.cursor() as cursor:  # compiling a search's sort cost 60 ms before the first row
                cursor.execute("SET LOCAL jit = off")
        rows = queryset.values_list(*lookups, "attributes").iterator(chunk_size=EXPORT_CHUNK_SIZE)
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= EXPORT_CHUNK_SIZE:
                yield from _with_ids_and_fields(chunk, fields, external_ids_of)
                chunk = []
        if chunk:
            yield from _with_ids_and_fields(chunk, fields, external_ids_of)


def _with_ids_and_fields(chunk, fields, external_ids_of):
    ids = external_ids_of(row[0] for row in chunk)
    for *row, attributes in chunk:
        attributes = attributes or {}
        values = [attributes.get(field.key, "") for field in fields]
        yield [*row, "; ".join(ids.get(row[0], [])), *values]


def lead_header(fields=()):
    """Header of lead_rows: the standard columns, external_ids, then attributes.<key> per custom field."""
    return [*(name for name, _ in LEAD_EXPORT_COLUMNS), "external_ids", *(f"attributes.{field.key}" for field in fields)]
