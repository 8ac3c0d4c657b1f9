"""The import's inserts as plain SQL (leadhub.sql.rows_cte: a batch is one JSON parameter),
not the ORM's bulk_create: building a thousand model instances and a thousand-row VALUES list
cost more than the database's work. Every function takes a batch's rows and writes them with
one statement."""

from typing import NamedTuple

from django.utils import timezone

from ..models import ImportRow, Lead, LeadExternalId, Outcome
from ..sql import db_datetime, is_postgresql, rows_cte
from ..sql import execute as sql_execute

LEAD_TABLE = Lead._meta.db_table


def _json_date(value):
    return value.isoformat() if value is not None else None


def _json_amount(value):
    return str(value) if value is not None else None


class ResultLine(NamedTuple):
    """One line's result, as insert_import_rows writes it (an ImportRow without the model
    instance, which cost more to build than the INSERT's work)."""

    job_id: int
    line: int
    outcome: str
    email: str
    message: str = ""
    lead_id: int | None = None
    possible_duplicate_of_id: int | None = None
    values: list | None = None


def insert_import_rows(rows):
    """ResultLines (or unsaved ImportRows) in one INSERT."""
    if not rows:
        return
    columns = [
        ("job_id", "bigint"),
        ("line", "integer"),
        ("outcome", "text"),
        ("email", "text"),
        ("message", "text"),
        ("lead_id", "bigint"),
        ("possible_duplicate_of_id", "bigint"),
        ("cells", "jsonb"),
    ]
    cte, params = rows_cte(
        "v",
        columns,
        [(r.job_id, r.line, r.outcome, r.email, r.message, r.lead_id, r.possible_duplicate_of_id, r.values or []) for r in rows],
    )
    names = ", ".join(f'"{name}"' for name, _ in columns[:-1]) + ', "values"'
    selected = ", ".join(f"v.{name}" for name, _ in columns)
    sql_execute(f"WITH {cte} INSERT INTO {ImportRow._meta.db_table} ({names}) SELECT {selected} FROM v", params)


def insert_external_ids(items, *, source):
    """(lead_id, external_id) pairs of `source`; ids already taken are skipped."""
    if not items:
        return
    cte, params = rows_cte("v", [("lead_id", "bigint"), ("external_id", "text")], items)
    sql_execute(
        f"WITH {cte} INSERT INTO {LeadExternalId._meta.db_table} (lead_id, source, external_id, created_at)"
        f" SELECT v.lead_id, %s, v.external_id, %s FROM v WHERE true ON CONFLICT DO NOTHING",
        [*params, source, db_datetime(timezone.now())],
    )


def insert_outcomes(items, *, source, origin):
    """(lead_id, result, occurred_on, amount) of one source and origin."""
    if not items:
        return
    cte, params = rows_cte(
        "v",
        [("lead_id", "bigint"), ("result", "text"), ("occurred_on", "date"), ("amount", "numeric")],
        [(lead_id, result, _json_date(on), _json_amount(amount)) for lead_id, result, on, amount in items],
    )
    sql_execute(
        f"WITH {cte} INSERT INTO {Outcome._meta.db_table}"
        " (lead_id, result, occurred_on, amount, origin, source, external_id, created_at)"
        " SELECT v.lead_id, v.result, v.occurred_on, v.amount, %s, %s, '', %s FROM v",
        [*params, origin, source, db_datetime(timezone.now())],
    )


LEAD_COLUMNS = [
    ("email", "text"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("title", "text"),
    ("phone", "text"),
    ("country", "text"),
    ("company_id", "bigint"),
    ("source", "text"),
    ("campaign", "text"),
    ("attributes", "jsonb"),
]


def insert_leads(leads):
    """New leads, as dicts of LEAD_COLUMNS; returns their ids in order. On PostgreSQL one
    INSERT with ids taken from the sequence first (so rows without an email get theirs in
    order); a lead created by someone else with the same email since the batch was planned is
    updated instead (ON CONFLICT) and its id returned. Elsewhere (SQLite) the ORM's bulk_create."""
    if not leads:
        return []
    if not is_postgresql():
        objects = [Lead(**lead) for lead in leads]
        Lead.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=[
                "first_name",
                "last_name",
                "title",
                "phone",
                "country",
                "source",
                "campaign",
                "attributes",
                "company",
                "updated_at",
            ],
        )
        missing = [o.email for o in objects if o.pk is None and o.email]
        by_email = dict(Lead.objects.filter(email__in=missing).values_list("email", "id")) if missing else {}
        return [o.pk or by_email.get(o.email) for o in objects]
    ids = [
        row[0]
        for row in sql_execute(
            f"SELECT nextval(pg_get_serial_sequence('{LEAD_TABLE}', 'id')) FROM generate_series(1, %s)", [len(leads)]
        )
    ]
    columns = [("id", "bigint"), *LEAD_COLUMNS]
    cte, params = rows_cte(
        "v", columns, [(i, *(lead[name] for name, _ in LEAD_COLUMNS)) for i, lead in zip(ids, leads, strict=True)]
    )
    now = db_datetime(timezone.now())
    names = ", ".join(name for name, _ in columns)
    selected = ", ".join(f"v.{name}" for name, _ in columns)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in LEAD_COLUMNS if name != "email")
    returned = sql_execute(
        f"WITH {cte} INSERT INTO {LEAD_TABLE} ({names}, stage, fit_score, engagement_score, total_score, grade,"
        " recycle_count, created_at, updated_at)"
        f" SELECT {selected}, 'new', 0, 0, 0, '', 0, %s, %s FROM v ORDER BY v.id"
        f" ON CONFLICT (email) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at RETURNING id, email",
        [*params, now, now],
    )
    taken = {email: pk for pk, email in returned or () if email}
    return [taken.get(lead["email"], pk) if lead["email"] else pk for pk, lead in zip(ids, leads, strict=True)]
