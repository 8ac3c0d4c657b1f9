"""Every write to lead records goes through here: ingest, profile upserts, stage moves."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from .choices import ALLOWED_TRANSITIONS, Stage
from .errors import InvalidTransition, ValidationFailed
from .models import Activity, Company, Lead, StageChange

LEAD_PROFILE_FIELDS = ("first_name", "last_name", "title", "phone", "country", "source", "campaign")
COMPANY_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


def normalize_email(email):
    """Emails are stored trimmed and lowercase, so one person is one lead."""
    return (email or "").strip().lower()


def canonical_email(email):
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


def possible_duplicates(lead):
    """Other leads that are possibly the same person as `lead` (same canonical email), oldest first."""
    return list(
        Lead.objects.with_canonical_email().filter(canonical_email=canonical_email(lead.email))
        .exclude(pk=lead.pk).order_by("pk")
    )


def email_domain(email):
    return normalize_email(email).rpartition("@")[2]


def is_free_mail(domain):
    return domain in settings.FREE_MAIL_DOMAINS


def _enqueue_rescore(lead_ids):
    # Scoring runs after commit so the task sees the rows it is asked to score.
    from .tasks import rescore_leads

    ids = sorted(set(lead_ids))
    if ids:
        transaction.on_commit(lambda: rescore_leads.delay(ids))


def company_for_email(email, *, company_fields=None):
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
    return company


@transaction.atomic
def upsert_lead(*, email, by=None, company=None, **fields):
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
    lead = Lead.objects.select_for_update().filter(email=email).first()
    created = lead is None
    if created:
        try:
            with transaction.atomic():
                lead = Lead.objects.create(email=email, company=company_obj, **fields)
        except IntegrityError:
            # Someone created it between our read and our insert: update theirs instead.
            lead = Lead.objects.select_for_update().get(email=email)
            created = False
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
        _enqueue_rescore([lead.pk])
    if created:
        lead.possible_duplicate_ids = list(
            Lead.objects.with_canonical_email().filter(canonical_email=canonical_email(email)).exclude(pk=lead.pk)
            .order_by("pk").values_list("pk", flat=True)
        )
    else:
        # Known leads were reported when they were created; skip the query on every update.
        lead.possible_duplicate_ids = []
    return lead, created


@dataclass(frozen=True)
class ActivityOutcome:
    index: int
    source: str
    external_id: str
    status: str  # "created" or "known"


@transaction.atomic
def record_activities(*, items):
    """Record a batch of activities, all or nothing. Idempotent on (source, external_id).

    `items` are dicts with email, kind, occurred_at, properties, source, external_id (already
    type-checked by the caller). Returns one ActivityOutcome per item, in order: "known" when
    that (source, external_id) was recorded before or earlier in the same batch.
    """
    if len(items) > settings.ACTIVITY_BATCH_LIMIT:
        raise ValidationFailed(f"A batch holds at most {settings.ACTIVITY_BATCH_LIMIT} activities.")
    emails = {normalize_email(item["email"]) for item in items}
    lead_ids = dict(Lead.objects.filter(email__in=emails).values_list("email", "id"))
    errors = {
        index: {"email": ["No lead has this email; create it with POST /api/leads/ first."]}
        for index, item in enumerate(items)
        if normalize_email(item["email"]) not in lead_ids
    }
    if errors:
        raise ValidationFailed("Some activities refer to unknown leads.", field_errors=errors)

    keys = {(item["source"], item["external_id"]) for item in items}
    known = set(
        Activity.objects.filter(
            source__in={k[0] for k in keys}, external_id__in={k[1] for k in keys}
        ).values_list("source", "external_id")
    ) & keys

    outcomes, new_rows, seen = [], [], set()
    for index, item in enumerate(items):
        key = (item["source"], item["external_id"])
        if key in known or key in seen:
            outcomes.append(ActivityOutcome(index, *key, "known"))
            continue
        seen.add(key)
        new_rows.append(
            Activity(
                lead_id=lead_ids[normalize_email(item["email"])],
                kind=item["kind"],
                occurred_at=item["occurred_at"],
                properties=item.get("properties") or {},
                source=item["source"],
                external_id=item["external_id"],
            )
        )
        outcomes.append(ActivityOutcome(index, *key, "created"))
    if new_rows:
        # ignore_conflicts: a concurrent replay of the same batch must not fail the request.
        Activity.objects.bulk_create(new_rows, ignore_conflicts=True)
        # Scoring reads daily rollups of activities; they change with the rows, in this transaction.
        from qualification.bulk import refresh_rollups_for

        refresh_rollups_for(new_rows)
        touched = {row.lead_id for row in new_rows}
        latest = {}
        for row in new_rows:
            if row.lead_id not in latest or row.occurred_at > latest[row.lead_id]:
                latest[row.lead_id] = row.occurred_at
        _touch_last_activity(latest)
        _enqueue_rescore(touched)
    return outcomes


def _touch_last_activity(latest_by_lead):
    """Move last_activity_at forward (never back) for the leads in a batch."""
    current = dict(
        Lead.objects.filter(pk__in=latest_by_lead.keys()).values_list("pk", "last_activity_at")
    )
    stale = [
        Lead(pk=pk, last_activity_at=at)
        for pk, at in latest_by_lead.items()
        if current.get(pk) is None or current[pk] < at
    ]
    if stale:
        Lead.objects.bulk_update(stale, ["last_activity_at"], batch_size=500)


def transition(lead, to_stage, *, by=None, reason="", note="", updates=None, at=None):
    """Move `lead` to `to_stage`: the only code that changes Lead.stage.

    Locks the lead row, checks the move against ALLOWED_TRANSITIONS using the stage in the
    database (not the caller's possibly stale copy), applies `updates` (other lead fields that
    change with the move, e.g. owner or nurture_until) and writes the StageChange row, all in
    one transaction. Raises InvalidTransition when the move is not allowed.
    `by` is the acting user, None for the system. Returns the updated lead.
    """
    if to_stage not in Stage.values:
        raise ValidationFailed(f"Unknown stage “{to_stage}”.", field_errors={"stage": [f"Unknown stage “{to_stage}”."]})
    to_stage = Stage(to_stage)
    at = at or timezone.now()
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        from_stage = Stage(locked.stage)
        if to_stage not in ALLOWED_TRANSITIONS[from_stage]:
            raise InvalidTransition(
                f"A lead in {from_stage.label} cannot move to {to_stage.label}."
            )
        fields = {"stage": to_stage, **(updates or {})}
        for key, value in fields.items():
            setattr(locked, key, value)
        locked.save(update_fields=[*fields, "updated_at"])
        StageChange.objects.create(
            lead=locked, from_stage=from_stage, to_stage=to_stage, at=at, by=by,
            reason=reason or "", note=note or "",
        )
        if to_stage == Stage.MQL:
            # Every new MQL is handed to sales in the same transaction (handoff app).
            from handoff.services import handoff_create

            handoff_create(lead=locked, by=by, at=at)
    for key in (*fields, "updated_at"):
        setattr(lead, key, getattr(locked, key))
    return locked

