"""Ingest: profile upserts and activity batches, and the email rules that make one person one lead.

Stage moves live in leadhub.lifecycle, merging in leadhub.merge (re-exported here for the
admin and the API). What the apps above do when facts change or activities arrive (rescoring
marks, activity rollups) they register on leadhub.hooks.

Locks follow the project's one order (docs/locking.md): leads first, several in id order;
activities are inserted in (source, external_id) order. Each service that opens its own
transaction is wrapped in leadhub.db.retry_on_conflict (re-run on a deadlock or
serialization failure)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import hooks
from .db import retry_on_conflict
from .errors import ValidationFailed
from .merge import MERGE_PERMISSION, lead_merge, merge_order  # noqa: F401 (the admin's and the API's names)
from .models import Activity, Company, Lead, LeadAlias
from .search import refresh_search_text
from .sql import db_datetime, rows_cte
from .sql import execute as sql_execute

LEAD_PROFILE_FIELDS = ("first_name", "last_name", "title", "phone", "country", "source", "campaign")
COMPANY_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


def normalize_email(email: str | None) -> str:
    """Emails are stored trimmed and lowercase, so one person is one lead."""
    return (email or "").strip().lower()


def canonical_email(email: str | None) -> str:
    """The address with case and plus-tags removed: "Ann+Webinar@X.com" -> "ann@x.com".

    Two leads with the same canonical email are possibly one person. The database computes the
    same value (models.canonical_email_expression, indexed) for Lead.objects.with_canonical_email().
    """
    email = normalize_email(email)
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    plus = local.find("+")
    if plus > 0:
        local = local[:plus]
    return f"{local}@{domain}"


def possible_duplicates(lead: Lead) -> list[Lead]:
    """Other leads that are possibly the same person as `lead` (same canonical email), oldest first."""
    return list(
        Lead.objects.with_canonical_email().filter(canonical_email=canonical_email(lead.email)).exclude(pk=lead.pk).order_by("pk")
    )


def email_domain(email: str | None) -> str:
    return normalize_email(email).rpartition("@")[2]


def is_free_mail(domain: str) -> bool:
    return domain in settings.FREE_MAIL_DOMAINS


def rescore_after_commit(lead_ids: Iterable[int]) -> None:
    """Rescore these leads once the current transaction commits (their profile changed outside
    upsert_lead and record_activities, e.g. in the admin): hooks.on_facts_changed."""
    hooks.facts_changed(lead_ids)


def company_for_email(email: str, *, company_fields: Mapping[str, Any] | None = None) -> Company | None:
    """The Company of an email's domain, created when new; None for free-mail domains."""
    domain = email_domain(email)
    if not domain or is_free_mail(domain):
        return None
    company_fields = {k: v for k, v in (company_fields or {}).items() if v not in (None, "")}
    defaults = {"name": company_fields.get("name") or domain.split(".")[0].title(), **company_fields}
    company, created = Company.objects.get_or_create(domain=domain, defaults=defaults)
    if not created and company_fields:
        changed = [k for k, v in company_fields.items() if getattr(company, k) != v]
        for key in changed:
            setattr(company, key, company_fields[key])
        if changed:
            company.save(update_fields=changed)
            refresh_search_text(company_ids=[company.pk] if "name" in changed else [])
    return company


@retry_on_conflict
@transaction.atomic
def upsert_lead(*, email: str, company: Mapping[str, Any] | None = None, **fields: Any) -> tuple[Lead, bool]:
    """Create the lead for `email`, or update the one that exists. Returns (lead, created).

    Only the fields given are written. `company` is an optional dict of company facts
    (name, industry, employee_count, annual_revenue, country) for the email's domain.
    The returned lead carries `possible_duplicate_ids`: leads with the same canonical email
    (plus-addressing aside), reported, never merged automatically.
    """
    email = normalize_email(email)
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed("Enter a valid email address.", field_errors={"email": ["Enter a valid email address."]})
    unknown = set(fields) - set(LEAD_PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown lead fields: {', '.join(sorted(unknown))}.")

    company_obj = company_for_email(email, company_fields=company)
    # FOR NO KEY UPDATE: the email (the key) does not change, and activities being inserted
    # for this lead (a key-share lock) need not wait for a profile update.
    lead = Lead.objects.select_for_update(no_key=True).filter(email=email).first()
    if lead is None:
        # A merged-away address belongs to its survivor: update that lead, never recreate the duplicate.
        alias = LeadAlias.objects.filter(email=email).values_list("lead_id", flat=True).first()
        if alias is not None:
            lead = Lead.objects.select_for_update(no_key=True).get(pk=alias)
            company_obj = company_for_email(lead.email, company_fields=company)
    created = lead is None
    if created:
        try:
            with transaction.atomic():
                lead = Lead.objects.create(email=email, company=company_obj, **fields)
        except IntegrityError:
            # Someone created it between our read and our insert: update theirs instead.
            lead = Lead.objects.select_for_update(no_key=True).get(email=email)
            created = False
    assert lead is not None  # found, created or created by someone else above
    profile_changed = created or bool(company)
    if not created:
        changed = {k: v for k, v in fields.items() if getattr(lead, k) != v}
        if lead.company_id != (company_obj.pk if company_obj else None):
            changed["company"] = company_obj
        for key, value in changed.items():
            setattr(lead, key, value)
        if changed:
            lead.save(update_fields=[*changed, "updated_at"])
            profile_changed = True
    if profile_changed:
        hooks.facts_changed([lead.pk])
        refresh_search_text([lead.pk])
    if created:
        lead.possible_duplicate_ids = list(
            Lead.objects.with_canonical_email()
            .filter(canonical_email=canonical_email(email))
            .exclude(pk=lead.pk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    else:
        # Known leads were reported when they were created; skip the query on every update.
        lead.possible_duplicate_ids = []
    return lead, created


class ActivityItem(TypedDict):
    """One activity as the API hands it to record_activities (already type-checked)."""

    email: str
    kind: str
    occurred_at: datetime
    properties: NotRequired[Mapping[str, Any] | None]
    source: str
    external_id: str


# (lead_id, kind, occurred_at, properties, source, external_id)
ActivityInsert = tuple[int, str, datetime, Mapping[str, Any], str, str]


@dataclass(frozen=True)
class ActivityOutcome:
    index: int
    source: str
    external_id: str
    status: str  # "created" or "known"


@retry_on_conflict
@transaction.atomic
def record_activities(*, items: Sequence[ActivityItem]) -> list[ActivityOutcome]:
    """Record a batch of activities, all or nothing. Idempotent on (source, external_id).

    `items` are dicts with email, kind, occurred_at, properties, source, external_id (already
    type-checked by the caller). Returns one ActivityOutcome per item, in order: "known" when
    that (source, external_id) was recorded before or earlier in the same batch.
    """
    if len(items) > settings.ACTIVITY_BATCH_LIMIT:
        raise ValidationFailed(f"A batch holds at most {settings.ACTIVITY_BATCH_LIMIT} activities.")
    emails = {normalize_email(item["email"]) for item in items}
    lead_ids = dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
    if len(lead_ids) < len(emails):
        # Addresses of merged-away leads count for their survivor (one query for the batch).
        lead_ids.update(LeadAlias.objects.filter(email__in=emails - lead_ids.keys()).values_list("email", "lead_id"))
    errors = {
        index: {"email": ["No lead has this email; create it with POST /api/leads/ first."]}
        for index, item in enumerate(items)
        if normalize_email(item["email"]) not in lead_ids
    }
    if errors:
        raise ValidationFailed("Some activities refer to unknown leads.", field_errors=errors)

    rows: list[ActivityInsert] = []
    first: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        key = (item["source"], item["external_id"])
        if key not in first:
            first[key] = index
            rows.append(
                (lead_ids[normalize_email(item["email"])], item["kind"], item["occurred_at"], item.get("properties") or {}, *key)
            )
    # Key order: two batches with the same keys in opposite orders would otherwise each wait
    # for the other's insert into the unique index, a deadlock.
    rows.sort(key=lambda row: (row[4], row[5]))
    created = _insert_new_activities(rows)
    outcomes = [
        ActivityOutcome(index, *key, "created" if key in created and first[key] == index else "known")
        for index, key in enumerate((item["source"], item["external_id"]) for item in items)
    ]
    new_rows = [row for row in rows if (row[4], row[5]) in created]
    if new_rows:
        # Scoring keeps daily rollups of activities; they change with the rows, in this
        # transaction (qualification registers the receiver).
        hooks.on_activities_recorded.send(
            hooks.ActivitiesRecorded(
                tuple(hooks.ActivityRow(lead_id, kind, at, props) for lead_id, kind, at, props, *_ in new_rows)
            )
        )
        latest: dict[int, datetime] = {}
        for lead_id, _, at, *_ in new_rows:
            if lead_id not in latest or at > latest[lead_id]:
                latest[lead_id] = at
        # The leads themselves are not written here: rescoring moves last_activity_at forward
        # in the same row update as the scores (a lead row update is costly: every index of
        # the table gets a new entry), right after commit.
        hooks.facts_changed(latest)
    return outcomes


def _insert_new_activities(rows: Sequence[ActivityInsert]) -> set[tuple[str, str]]:
    """Insert (lead_id, kind, occurred_at, properties, source, external_id) rows in one
    statement, in (source, external_id) order, skipping those whose (source, external_id) is
    already recorded (also by a concurrent replay of the same batch, which waits for ours on the
    first key they share and never in a cycle). Returns the keys of the rows inserted."""
    cte, params = rows_cte(
        "v",
        [
            ("lead_id", "bigint"),
            ("kind", "text"),
            ("occurred_at", "timestamptz"),
            ("properties", "jsonb"),
            ("source", "text"),
            ("external_id", "text"),
        ],
        rows,
    )
    # "WHERE true": SQLite needs it to tell the upsert's ON CONFLICT from a join's ON.
    sql = (
        f"WITH {cte} INSERT INTO {Activity._meta.db_table} (lead_id, kind, occurred_at, properties, source, external_id, created_at)"
        f" SELECT v.lead_id, v.kind, v.occurred_at, v.properties, v.source, v.external_id, %s FROM v WHERE true"
        f" ORDER BY v.source, v.external_id ON CONFLICT (source, external_id) DO NOTHING RETURNING source, external_id"
    )
    return {(source, external_id) for source, external_id in sql_execute(sql, [*params, db_datetime(timezone.now())]) or ()}
