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

from . import hooks, lead_fields, taxonomy
from .db import retry_on_conflict
from .errors import Conflict, ValidationFailed
from .identity import (
    ExternalKey,
    attach_external_ids,
    clean_source,
    key_text,
    lead_ids_by_email,
    lead_ids_by_external_key,
    resolve_lead_keys,
)
from .merge import MERGE_PERMISSION, lead_merge, merge_order  # noqa: F401 (the admin's and the API's names)
from .models import Activity, Company, Lead
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


def company_for_email(email: str | None, *, company_fields: Mapping[str, Any] | None = None) -> Company | None:
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
def upsert_lead(
    *,
    email: str | None = None,
    external_ids: Iterable[ExternalKey] = (),
    company: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    **fields: Any,
) -> tuple[Lead, bool]:
    """Create the lead for `email` or one of `external_ids`, or update the one that exists.
    Returns (lead, created).

    A lead is found by any of its external ids ((source, id) pairs, one per source) or by its
    email (or an address merged into it); when the keys name two different leads the request is
    refused (Conflict) with a sentence. A lead found by its id gets the email when it had none.
    Ids not yet on the lead are added to it. At least one key is needed; email may be absent
    (NULL, never "").

    Only the fields given are written. `company` is an optional dict of company facts
    (name, industry, employee_count, annual_revenue, country) for the email's domain (a lead
    without an email has no company). `attributes` are custom field values, validated by
    leadhub.lead_fields.clean_attributes and merged into the lead's (an empty value removes one).
    The returned lead carries `possible_duplicate_ids`: leads with the same canonical email
    (plus-addressing aside), reported, never merged automatically.
    """
    email = normalize_email(email) or None
    if email is not None:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed("Enter a valid email address.", field_errors={"email": ["Enter a valid email address."]})
    keys = list(dict.fromkeys((clean_source(s), str(e).strip()) for s, e in external_ids))
    if email is None and not keys:
        raise ValidationFailed(
            "Give the lead's email or an external id (its id in another system).",
            field_errors={"email": ["Give an email or an external_id."]},
        )
    sources = [s for s, _ in keys]
    if len(set(sources)) < len(sources):
        raise ValidationFailed("A lead has one id per source system; this request gives two for the same source.")
    unknown = set(fields) - set(LEAD_PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown lead fields: {', '.join(sorted(unknown))}.")
    # Channel and industry: raw values to the keys of the lists marketers edit.
    taxonomy.clean_lead_fields(fields)
    company = taxonomy.clean_company_fields(company)
    definitions = None
    if attributes is not None:
        definitions = lead_fields.field_definitions()
        _, attribute_errors = lead_fields.clean_attributes(attributes, definitions=definitions)
        if attribute_errors:
            raise ValidationFailed(
                "Some custom field values are invalid.",
                field_errors={"attributes": {k: [v] for k, v in attribute_errors.items()}},
            )

    lead = _find_for_upsert(email, keys)
    created = lead is None
    if created:
        try:
            with transaction.atomic():
                initial = lead_fields.clean_attributes(attributes, definitions=definitions)[0] if attributes is not None else {}
                lead = Lead.objects.create(
                    email=email, company=company_for_email(email, company_fields=company), attributes=initial, **fields
                )
                attach_external_ids(lead, keys)
        except IntegrityError:
            # Someone created it between our read and our insert: update theirs instead.
            lead = _find_for_upsert(email, keys)
            if lead is None:
                raise
            created = False
    assert lead is not None  # found, created or created by someone else above
    profile_changed = created
    if not created:
        attach_external_ids(lead, keys)
        changed = {k: v for k, v in fields.items() if getattr(lead, k) != v}
        if email is not None and lead.email is None:
            # Known by its id until now: the email joins the lead (its key from now on too).
            changed["email"] = email
        if attributes is not None:
            merged, _ = lead_fields.clean_attributes(attributes, definitions=definitions, current=lead.attributes)
            if merged != lead.attributes:
                changed["attributes"] = merged
        company_obj = company_for_email(changed.get("email", lead.email), company_fields=company)
        if lead.company_id != (company_obj.pk if company_obj else None) and (company_obj or lead.email):
            changed["company"] = company_obj
        for key, value in changed.items():
            setattr(lead, key, value)
        if changed:
            lead.save(update_fields=[*changed, "updated_at"])
            profile_changed = True
        elif company:
            profile_changed = True
    if profile_changed:
        hooks.facts_changed([lead.pk])
    if profile_changed or created or keys:
        refresh_search_text([lead.pk])
    if created and email:
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


def _find_for_upsert(email: str | None, keys: Sequence[ExternalKey]) -> Lead | None:
    """The one lead these keys name, locked (FOR NO KEY UPDATE: activities being inserted for it,
    a key-share lock, need not wait for a profile update); None when none does. Keys naming two
    different leads are a Conflict."""
    by_key = lead_ids_by_external_key(keys)
    key_leads = set(by_key.values())
    if len(key_leads) > 1:
        shown = ", ".join(f"{key_text(k)} → lead {v}" for k, v in sorted(by_key.items()))
        raise Conflict(f"These ids belong to different leads ({shown}); merge them first, or send one of them.")
    email_lead = lead_ids_by_email([email]).get(email) if email else None
    if key_leads and email_lead is not None and email_lead not in key_leads:
        (key_lead,) = key_leads
        raise Conflict(
            f"The email {email} belongs to lead {email_lead} and the id {key_text(next(iter(by_key)))} to lead {key_lead}; "
            "merge the two leads first, or send only one of the keys.",
            field_errors={"email": [f"{email} belongs to lead {email_lead}, not to lead {key_lead}."]},
        )
    lead_id = next(iter(key_leads), None) or email_lead
    if lead_id is None:
        return None
    return Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()


class ActivityItem(TypedDict):
    """One activity as the API hands it to record_activities (already type-checked); its lead
    named by `email` or by `lead_key` ((source, id) of a LeadExternalId)."""

    email: NotRequired[str | None]
    lead_key: NotRequired[ExternalKey | None]
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

    `items` are dicts with email or lead_key, kind, occurred_at, properties, source, external_id (already
    type-checked by the caller). Returns one ActivityOutcome per item, in order: "known" when
    that (source, external_id) was recorded before or earlier in the same batch.
    """
    if len(items) > settings.ACTIVITY_BATCH_LIMIT:
        raise ValidationFailed(f"A batch holds at most {settings.ACTIVITY_BATCH_LIMIT} activities.")
    # Each item names its lead by email (merged-away addresses count for their survivor) or by
    # its id in another system (lead_key); two queries for the batch.
    item_leads = resolve_lead_keys(items)
    errors = {
        index: (
            {"lead_external_id": ["No lead has this id; create it with POST /api/leads/ first."]}
            if item.get("lead_key")
            else {"email": ["No lead has this email; create it with POST /api/leads/ first."]}
        )
        for index, item in enumerate(items)
        if item_leads[index] is None
    }
    unknown_leads = bool(errors)
    # Kinds (raw values resolved) and declared property types, against the activity kinds
    # marketers edit: read once for the batch.
    kinds = taxonomy.activity_kinds()
    checked = []
    for index, item in enumerate(items):
        kind, properties, problems = kinds.check(item["kind"], item.get("properties") or {})
        if problems:
            errors[index] = {**errors.get(index, {}), **problems}
        checked.append((kind, properties))
    if errors:
        raise ValidationFailed(
            "Some activities refer to unknown leads." if unknown_leads else "Some activities do not match their activity kind.",
            field_errors=errors,
        )

    rows: list[ActivityInsert] = []
    first: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        key = (item["source"], item["external_id"])
        if key not in first:
            first[key] = index
            lead_id = item_leads[index]
            assert lead_id is not None  # unknown leads were refused above
            kind, properties = checked[index]
            rows.append((lead_id, kind, item["occurred_at"], properties, *key))
    # Key order: two batches with the same keys in opposite orders would otherwise each wait
    # for the other's insert into the unique index, a deadlock.
    rows.sort(key=lambda row: (row[4], row[5]))
    created = insert_new_activities(rows)
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


def insert_new_activities(rows: Sequence[ActivityInsert]) -> set[tuple[str, str]]:
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
