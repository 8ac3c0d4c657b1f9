"""Who a lead is: its e-mail, or its id in another system (LeadExternalId: one per source, unique
per source). Every writer that finds a lead by a key (the API upsert, activity batches,
outcomes, merges) resolves it here.

A lead key as the API sends it: `{"email": "ann@example.com"}` or
`{"external_id": {"source": "crm", "id": "00Q5e000001"}}`. Sources are stored lowercase and
trimmed ("CRM " and "crm" are one system); ids are stored as sent, trimmed.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db.models import Q

from .errors import Conflict
from .models import Lead, LeadAlias, LeadExternalId

SOURCE_MAX = 60
ID_MAX = 200

ExternalKey = tuple[str, str]  # (source, external id)


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def clean_source(source: Any) -> str:
    return str(source if source is not None else "").strip().lower()


def clean_external_key(value: Any) -> tuple[ExternalKey | None, list[str]]:
    """(source, id) from {"source": ..., "id": ...}; else (None, problems in sentences)."""
    if not isinstance(value, Mapping):
        return None, ['Give an object like {"source": "crm", "id": "00Q5e000001"}.']
    problems = []
    source, raw_id = value.get("source"), value.get("id")
    if not isinstance(source, str) or not source.strip():
        problems.append("Give the source system (“source”, e.g. “crm”).")
    elif len(source.strip()) > SOURCE_MAX:
        problems.append(f"The source is at most {SOURCE_MAX} characters.")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or not str(raw_id).strip():
        problems.append("Give the lead's id in that system (“id”, text or a whole number).")
    elif len(str(raw_id).strip()) > ID_MAX:
        problems.append(f"The id is at most {ID_MAX} characters.")
    unknown = set(value) - {"source", "id"}
    if unknown:
        problems.append(f"Unknown keys: {', '.join(sorted(map(str, unknown)))} (give “source” and “id”).")
    if problems:
        return None, problems
    return (clean_source(source), str(raw_id).strip()), []


def key_text(key: ExternalKey) -> str:
    return f"{key[0]}:{key[1]}"


def _key_q(keys: Iterable[ExternalKey]) -> Q:
    q = Q(pk__in=[])
    for source, external_id in keys:
        q |= Q(source=source, external_id=external_id)
    return q


def lead_ids_by_external_key(keys: Iterable[ExternalKey]) -> dict[ExternalKey, int]:
    """{(source, id): lead id} for the keys that name a lead (one query)."""
    keys = set(keys)
    if not keys:
        return {}
    found: dict[ExternalKey, int] = {}
    # Group by source: WHERE source = %s AND external_id IN (...) is one index range per source.
    by_source: dict[str, list[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, []).append(external_id)
    q = Q(pk__in=[])
    for source, ids in by_source.items():
        q |= Q(source=source, external_id__in=ids)
    for source, external_id, lead_id in LeadExternalId.objects.filter(q).values_list("source", "external_id", "lead_id"):
        found[(source, external_id)] = lead_id
    return found


def lead_ids_by_email(emails: Iterable[str | None]) -> dict[str, int]:
    """{normalized email: lead id}, merged-away addresses counting for their survivor."""
    wanted = {normalize_email(e) for e in emails if e}
    if not wanted:
        return {}
    found: dict[str, int] = {
        email: lead_id for email, lead_id in Lead.objects.filter(email__in=wanted).values_list("email", "id") if email
    }
    if len(found) < len(wanted):
        found.update(LeadAlias.objects.filter(email__in=wanted - found.keys()).values_list("email", "lead_id"))
    return found


def resolve_lead_keys(items: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """The lead id of each item's key (`email` or `lead_key`: a cleaned (source, id)), None when
    no lead has it. Two queries for the whole batch."""
    emails = lead_ids_by_email(item["email"] for item in items if item.get("email"))
    keys = lead_ids_by_external_key(item["lead_key"] for item in items if item.get("lead_key"))
    return [
        keys.get(item["lead_key"]) if item.get("lead_key") else emails.get(normalize_email(item.get("email"))) for item in items
    ]


def attach_external_ids(lead: Lead, keys: Iterable[ExternalKey]) -> list[ExternalKey]:
    """Give `lead` (locked by the caller) these ids; returns the ones added. A lead has one id per
    source: a second, different one is refused with a sentence (Conflict), as is an id that
    already belongs to another lead."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    current = dict(LeadExternalId.objects.filter(lead=lead).values_list("source", "external_id"))
    taken = {
        (s, e): lead_id
        for s, e, lead_id in LeadExternalId.objects.filter(_key_q(keys))
        .exclude(lead=lead)
        .values_list("source", "external_id", "lead_id")
    }
    added = []
    for key in keys:
        source, external_id = key
        if key in taken:
            raise Conflict(
                f"The id {key_text(key)} already belongs to lead {taken[key]}; merge the two leads, or send that lead's own id.",
                field_errors={"external_id": [f"{key_text(key)} belongs to lead {taken[key]}."]},
            )
        if source in current:
            if current[source] != external_id:
                raise Conflict(
                    f"This lead already has the {source} id {current[source]}; a lead has one id per source system "
                    f"(so {key_text(key)} is a different lead, or the id changed: remove the old one in the admin first).",
                    field_errors={"external_id": [f"The lead already has the {source} id {current[source]}."]},
                )
            continue
        current[source] = external_id
        added.append(key)
    LeadExternalId.objects.bulk_create([LeadExternalId(lead=lead, source=s, external_id=e) for s, e in added])
    return added


def external_ids_of(lead_ids: Iterable[int]) -> dict[int, list[str]]:
    """{lead id: ["crm:00Q5e…", …]} for display (one query)."""
    shown: dict[int, list[str]] = {}
    for lead_id, source, external_id in (
        LeadExternalId.objects.filter(lead_id__in=list(lead_ids))
        .order_by("source")
        .values_list("lead_id", "source", "external_id")
    ):
        shown.setdefault(lead_id, []).append(f"{source}:{external_id}")
    return shown
