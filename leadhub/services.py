"""Every write to lead records goes through here: ingest, profile upserts, stage moves.

Locks follow the project's one order (docs/locking.md): leads first, several in id order;
activities are inserted in (source, external_id) order. Each service that opens its own
transaction is wrapped in leadhub.db.retry_on_conflict (re-run on a deadlock or
serialization failure)."""

from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .choices import ALLOWED_TRANSITIONS, Stage
from .db import retry_on_conflict
from .errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from .models import Activity, Company, ImportRow, Lead, LeadAlias, LeadMerge, PendingRescore, StageChange
from .sql import execute as sql_execute

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


def rescore_after_commit(lead_ids):
    """Rescore these leads once the current transaction commits (their profile changed outside
    upsert_lead and record_activities, e.g. in the admin)."""
    _enqueue_rescore(lead_ids)


def _enqueue_rescore(lead_ids):
    """Mark these leads as waiting for rescoring, in the caller's transaction, and wake the
    rescoring task once it commits (so the task sees the rows it scores). A lead marked again
    before the worker gets to it is still scored once. `lead_ids` may map each lead to its
    newest new activity (see mark_for_rescoring)."""
    from .tasks import rescore_leads

    if mark_for_rescoring(lead_ids):
        transaction.on_commit(rescore_leads.delay)


def mark_for_rescoring(lead_ids):
    """Add these leads to those waiting for rescoring (PendingRescore); returns how many ids.
    A dict maps each lead to the time of its newest new activity (or None): rescoring moves
    the lead's last_activity_at forward to it."""
    from qualification.bulk import rows_cte

    latest = lead_ids if isinstance(lead_ids, dict) else dict.fromkeys(lead_ids)
    if latest:
        cte, params = rows_cte("v", [("lead_id", "bigint"), ("at", "timestamptz")], sorted(latest.items()))
        sql_execute(f"WITH {cte} INSERT INTO {PendingRescore._meta.db_table} (lead_id, activity_at) SELECT lead_id, at FROM v", params)
    return len(latest)


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


@retry_on_conflict
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


@retry_on_conflict
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

    from qualification import bulk, engine

    rows, first = [], {}
    for index, item in enumerate(items):
        key = (item["source"], item["external_id"])
        if key not in first:
            first[key] = index
            rows.append((lead_ids[normalize_email(item["email"])], item["kind"], item["occurred_at"], item.get("properties") or {}, *key))
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
        # Scoring reads daily rollups of activities; they change with the rows, in this
        # transaction, by an upsert that needs no lock on the leads.
        counts = Counter((lead_id, kind, engine.epoch_day(at), engine.numeric_property(props, "minutes"))
                         for lead_id, kind, at, props, *_ in new_rows)
        bulk.add_to_rollups(counts)
        latest = {}
        for lead_id, _, at, *_ in new_rows:
            if lead_id not in latest or at > latest[lead_id]:
                latest[lead_id] = at
        # The leads themselves are not written here: rescoring moves last_activity_at forward
        # in the same row update as the scores (a lead row update is costly: every index of
        # the table gets a new entry), right after commit.
        _enqueue_rescore(latest)
    return outcomes


def _insert_new_activities(rows):
    """Insert (lead_id, kind, occurred_at, properties, source, external_id) rows in one
    statement, in (source, external_id) order, skipping those whose (source, external_id) is
    already recorded (also by a concurrent replay of the same batch, which waits for ours on the
    first key they share and never in a cycle). Returns the keys of the rows inserted."""
    from qualification.bulk import rows_cte

    cte, params = rows_cte("v", [("lead_id", "bigint"), ("kind", "text"), ("occurred_at", "timestamptz"),
                                 ("properties", "jsonb"), ("source", "text"), ("external_id", "text")], rows)
    # "WHERE true": SQLite needs it to tell the upsert's ON CONFLICT from a join's ON.
    sql = (f"WITH {cte} INSERT INTO {Activity._meta.db_table} (lead_id, kind, occurred_at, properties, source, external_id, created_at)"
           f" SELECT v.lead_id, v.kind, v.occurred_at, v.properties, v.source, v.external_id, %s FROM v WHERE true"
           f" ORDER BY v.source, v.external_id ON CONFLICT (source, external_id) DO NOTHING RETURNING source, external_id")
    return set(map(tuple, sql_execute(sql, [*params, connection.ops.adapt_datetimefield_value(timezone.now())])))


# --- merging duplicates ---------------------------------------------------------------------

MERGE_PERMISSION = "leadhub.merge_leads"
# How far along the funnel a stage is, to keep the lead sales already works on. Disqualified
# ranks lowest: merging a live lead into a disqualified one would hide live pipeline.
FUNNEL_RANK = {
    Stage.DISQUALIFIED: -1, Stage.NEW: 0, Stage.NURTURE: 1, Stage.MQL: 2, Stage.SAL: 3, Stage.SQL: 4,
    Stage.WON: 5, Stage.LOST: 5,
}
MERGE_FILL_FIELDS = ("first_name", "last_name", "title", "phone", "country", "campaign")


def merge_order(a, b):
    """(survivor, duplicate) for two leads: the one further along the funnel survives, then the older."""
    def key(lead):
        return (-FUNNEL_RANK[Stage(lead.stage)], lead.created_at, lead.pk)

    return (a, b) if key(a) <= key(b) else (b, a)


def _merge_snapshot(lead):
    return {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}


@retry_on_conflict
@transaction.atomic
def lead_merge(*, survivor, duplicate, by, at=None):
    """Merge `duplicate` into `survivor`: nothing about the person is lost, the duplicate goes.

    1. Locks both lead rows in id order (two merges never deadlock) and re-reads them, so a
       second merge of the same duplicate finds it gone and raises Conflict.
    2. Refuses the same lead twice and a duplicate further along the funnel than the survivor.
    3. Fills the survivor's blank profile fields from the duplicate (never overwrites); keeps
       the earliest created_at, latest last_activity_at and nurture_until, highest recycle_count.
    4. Moves activities, stage history, import rows, aliases and (handoff app) handoffs, their
       events and checklists in bulk UPDATEs, rebuilds both leads' scoring rollups.
    5. Records a LeadMerge (with a snapshot of the duplicate) and a LeadAlias for its email, so
       later ingest or imports of that address reach the survivor; deletes the duplicate and
       rescores the survivor after commit. Returns the LeadMerge.
    """
    if by is not None and not by.has_perm(MERGE_PERMISSION):
        raise NotAllowed("Your role cannot merge leads.")
    at = at or timezone.now()
    if survivor.pk == duplicate.pk:
        raise ValidationFailed("A lead cannot be merged into itself; choose two different leads.")
    locked = {lead.pk: lead for lead in Lead.objects.select_for_update().filter(pk__in=[survivor.pk, duplicate.pk]).order_by("pk")}
    if len(locked) < 2:
        raise Conflict("One of these leads no longer exists: it was probably merged or deleted a moment ago. Reload and try again.")
    keep, dup = locked[survivor.pk], locked[duplicate.pk]
    if FUNNEL_RANK[Stage(dup.stage)] > FUNNEL_RANK[Stage(keep.stage)]:
        raise ValidationFailed(
            f"{dup.email} is further along the funnel ({dup.get_stage_display()}) than {keep.email} "
            f"({keep.get_stage_display()}); swap them so the lead sales works on survives."
        )
    snapshot = _merge_snapshot(dup)

    # Profile: fill blanks only, so nothing the survivor knows is overwritten.
    changed = [f for f in MERGE_FILL_FIELDS if not getattr(keep, f) and getattr(dup, f)]
    for f in changed:
        setattr(keep, f, getattr(dup, f))
    if keep.company_id is None and dup.company_id is not None:
        keep.company_id = dup.company_id
        changed.append("company")
    for f, pick in (("created_at", min), ("last_activity_at", max), ("nurture_until", max), ("recycle_count", max)):
        values = [v for v in (getattr(keep, f), getattr(dup, f)) if v is not None]
        value = pick(values) if values else None
        if value != getattr(keep, f):
            setattr(keep, f, value)
            changed.append(f)

    # Everything that hangs off the duplicate moves in set-based UPDATEs. (source, external_id)
    # is unique across all leads, so moved activities cannot collide with the survivor's.
    moved = {
        "activities": Activity.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk),
        "stage_changes": StageChange.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk),
        "import_rows": ImportRow.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk)
        + ImportRow.objects.filter(possible_duplicate_of_id=dup.pk).update(possible_duplicate_of_id=keep.pk),
    }
    from handoff.services import handoff_lead_merged
    from qualification.bulk import Leads, rebuild_rollups

    moved.update(handoff_lead_merged(survivor=keep, duplicate=dup, by=by, at=at))
    # Scoring reads daily rollups: recount the survivor's, drop the duplicate's.
    rebuild_rollups(Leads(ids=(keep.pk, dup.pk)))

    LeadAlias.objects.filter(lead_id=dup.pk).update(lead_id=keep.pk)
    LeadMerge.objects.filter(survivor_id=dup.pk).update(survivor_id=keep.pk)
    merge = LeadMerge.objects.create(
        survivor=keep, duplicate_id=dup.pk, duplicate_email=dup.email, snapshot=snapshot, moved=moved, by=by, at=at,
    )
    dup.delete()
    # After the delete: the alias takes over the freed address.
    LeadAlias.objects.update_or_create(email=dup.email, defaults={"lead": keep, "created_at": at})
    if changed:
        keep.save(update_fields=[*changed, "updated_at"])
    _enqueue_rescore([keep.pk])
    survivor.__dict__.update({k: v for k, v in keep.__dict__.items() if k != "_state"})
    return merge


@retry_on_conflict
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
        locked = Lead.objects.select_for_update(no_key=True).get(pk=lead.pk)
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


@retry_on_conflict
def transition_many(reasons, to_stage, *, by=None, at=None):
    """transition() for many leads at once, in a constant number of queries: `reasons` maps
    lead id -> the reason recorded for its move. The same rules: the leads are locked (in id
    order, as every writer of many leads does), each move is checked against
    ALLOWED_TRANSITIONS using the stage in the database, and each lead that moves gets its
    StageChange row (and, for MQL, its handoff) in the same transaction. Leads that may not
    make the move are left alone (someone moved them since the caller looked).
    Returns the ids that moved."""
    to_stage = Stage(to_stage)
    at = at or timezone.now()
    allowed_from = [stage for stage, targets in ALLOWED_TRANSITIONS.items() if to_stage in targets]
    with transaction.atomic():
        # no_key: the lock rescoring already holds (bulk.lock_leads), which ingest's key-share
        # locks do not block; a full FOR UPDATE here could wait on an ingest that waits on us.
        current = Lead.objects.select_for_update(no_key=True).filter(pk__in=list(reasons)).order_by("pk").values_list("pk", "stage")
        moving = {pk: stage for pk, stage in current if stage in allowed_from}
        if not moving:
            return []
        Lead.objects.filter(pk__in=list(moving)).update(stage=to_stage, updated_at=at)
        StageChange.objects.bulk_create([
            StageChange(lead_id=pk, from_stage=stage, to_stage=to_stage, at=at, by=by, reason=reasons[pk] or "", note="")
            for pk, stage in moving.items()
        ])
        if to_stage == Stage.MQL:
            from handoff.services import handoff_create_many

            handoff_create_many(lead_ids=list(moving), by=by, at=at)
    return list(moving)

