"""Column mapping: which field each column of a file holds. Guessed from the header's names
(SYNONYMS), remembered per header fingerprint (ImportMapping), checked, and overridden by the
commands' --mapping options.

A lead import's columns map to a standard lead field (IMPORT_FIELDS), `external_id` (the
lead's id in the import's source system: the match key when the import is keyed by it), a
company field, a custom field (`attributes.KEY`, a LeadField), the lead's historical outcome
(`outcome`, with `outcome_date` and `outcome_amount`), or nothing ("" / `none`). An activity
import's columns map to ACTIVITY_FIELDS or `properties.KEY`.
"""

import hashlib
import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import ImportKind, ImportMapping, LeadField
from .spec import ImportFileError

# The lead fields a column can be mapped to, in the order the mapping page offers them.
IMPORT_FIELDS = [
    ("email", "Email"),
    ("external_id", "External id (the source system's id of the lead)"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("full_name", "Full name (split into first and last)"),
    ("title", "Job title"),
    ("phone", "Phone"),
    ("country", "Country (name or 2-letter code)"),
    ("company_name", "Company name"),
    ("industry", "Industry"),
    ("employee_count", "Employee count"),
    ("annual_revenue", "Annual revenue (USD)"),
    ("company_country", "Company country"),
    ("channel", "Channel (lead source)"),
    ("campaign", "Campaign"),
    ("outcome", "Outcome (won/lost, converted yes/no, 1/0)"),
    ("outcome_date", "Outcome date"),
    ("outcome_amount", "Outcome amount"),
]
FIELD_LABELS = dict(IMPORT_FIELDS)
COMPANY_FIELDS = {"company_name", "industry", "employee_count", "annual_revenue", "company_country"}
ACTIVITY_FIELDS = [
    ("lead_email", "Lead email"),
    ("lead_external_id", "Lead external id"),
    ("kind", "Activity kind"),
    ("occurred_at", "Time"),
    ("external_id", "Activity id (for idempotency)"),
]
ACTIVITY_LABELS = dict(ACTIVITY_FIELDS)
MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "title": 150,
    "phone": 40,
    "campaign": 120,
    "company_name": 200,
    "full_name": 201,
    "external_id": 200,
    "lead_external_id": 200,
}
NEW_FIELD = "new"  # the mapping page's "create a custom field from this column"
# Header names seen in trade-show, webinar and list-vendor exports, normalised (see _norm).
SYNONYMS = {
    "email": {"email", "e mail", "email address", "e mail address", "mail", "work email", "business email", "emailaddress"},
    "first_name": {"first name", "firstname", "first", "given name", "forename", "vorname"},
    "last_name": {"last name", "lastname", "surname", "family name", "last", "nachname"},
    "full_name": {"name", "full name", "contact name", "attendee name", "contact"},
    "title": {"title", "job title", "jobtitle", "position", "role", "job role"},
    "phone": {"phone", "phone number", "telephone", "tel", "mobile", "work phone", "mobile phone", "telefon"},
    "country": {"country", "country code", "land"},
    "company_name": {
        "company",
        "company name",
        "organization",
        "organisation",
        "account",
        "account name",
        "firma",
        "unternehmen",
    },
    "industry": {"industry", "sector", "branche"},
    "employee_count": {"employees", "employee count", "number of employees", "headcount", "company size", "mitarbeiter"},
    "annual_revenue": {"annual revenue", "revenue", "annual revenue usd"},
    "company_country": {"company country", "account country", "hq country"},
    "channel": {"channel", "lead source", "source"},
    "campaign": {"campaign", "campaign name", "utm campaign"},
    "outcome": {"outcome", "converted", "won", "result", "deal outcome"},
}
ACTIVITY_SYNONYMS = {
    "lead_email": {"email", "lead email", "e mail", "email address"},
    "kind": {"kind", "activity", "activity type", "type", "event", "event type"},
    "occurred_at": {"time", "timestamp", "occurred at", "date", "activity date", "when", "created at"},
    "external_id": {"activity id", "event id", "id"},
}


def _norm(name):
    return " ".join(re.sub(r"[^0-9a-z]+", " ", (name or "").lower()).split())


def slug(name):
    """A custom field or property key from a column name: "Do not e-mail" -> do_not_e_mail."""
    key = re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_")
    if not key or not key[0].isalpha():
        key = f"f_{key}".rstrip("_")
    return key[:40]


def header_fingerprint(header, kind=ImportKind.LEADS):
    text = "\x1f".join(_norm(cell) for cell in header)
    if kind != ImportKind.LEADS:
        text = f"{kind}\x1e{text}"
    return hashlib.sha256(text.encode()).hexdigest()


def remembered_mapping(header, kind=ImportKind.LEADS):
    mapping = ImportMapping.objects.filter(fingerprint=header_fingerprint(header, kind)).first()
    return mapping if mapping and len(mapping.fields) == len(header) else None


def guess_fields(header, kind=ImportKind.LEADS, *, use_saved=True):
    """(fields, the remembered ImportMapping or None): the mapping remembered for this header,
    else a guess from the column names."""
    remembered = remembered_mapping(header, kind) if use_saved else None
    if remembered:
        return list(remembered.fields), remembered
    synonyms = SYNONYMS if kind == ImportKind.LEADS else ACTIVITY_SYNONYMS
    fields, used = [], set()
    for cell in header:
        name = _norm(cell)
        guess = next((key for key, names in synonyms.items() if name in names and key not in used), "")
        used.add(guess)
        fields.append(guess)
    return fields, None


def field_label(name, definitions=None):
    if name.startswith("attributes."):
        key = name.removeprefix("attributes.")
        field = (definitions or {}).get(key)
        return f"Custom field: {field.label if field else key}"
    if name.startswith("properties."):
        return f"Property {name.removeprefix('properties.')}"
    return FIELD_LABELS.get(name) or ACTIVITY_LABELS.get(name) or name


def clean_fields(header, fields, *, kind=ImportKind.LEADS, definitions=None, key="auto"):
    """Check a mapping: each field at most once, a match key mapped, custom fields that exist."""
    fields = [(f or "").strip() for f in fields]
    fields = ["" if f in ("none", "ignore", "-") else f for f in fields]
    if len(fields) != len(header):
        raise ImportFileError("The mapping must name a field (or none) for every column.")
    if kind == ImportKind.ACTIVITIES:
        return _clean_activity_fields(header, fields)
    definitions = {f.key: f for f in LeadField.objects.all()} if definitions is None else definitions
    unknown = sorted(
        {
            f
            for f in fields
            if f and f not in FIELD_LABELS and not (f.startswith("attributes.") and f.removeprefix("attributes.") in definitions)
        }
    )
    if unknown:
        missing = [f for f in unknown if f.startswith("attributes.")]
        if missing:
            raise ImportFileError(
                f"No custom field has the key {', '.join(m.removeprefix('attributes.') for m in missing)}: "
                "create it first (--create-fields, or the admin's custom fields)."
            )
        raise ImportFileError(f"Unknown field(s) in the mapping: {', '.join(unknown)}.")
    taken = _taken(header, fields, definitions)
    if key == "external_id" and "external_id" not in taken:
        raise ImportFileError("Map one column to External id: this import matches leads by it.")
    if key == "email" and "email" not in taken:
        raise ImportFileError("Map one column to Email: this import matches leads by their email address.")
    if "email" not in taken and "external_id" not in taken:
        raise ImportFileError(
            "Map one column to Email or to External id: leads are matched by their email address or by another system's id."
        )
    if "full_name" in taken and ("first_name" in taken or "last_name" in taken):
        raise ImportFileError("Map either Full name or First name and Last name, not both.")
    if ("outcome_date" in taken or "outcome_amount" in taken) and "outcome" not in taken:
        raise ImportFileError("Map a column to Outcome too: a date or an amount alone is not an outcome.")
    return fields


def _taken(header, fields, definitions=None):
    taken = {}
    for column, f in zip(header, fields, strict=True):
        if f and f in taken:
            raise ImportFileError(
                f"Columns “{taken[f]}” and “{column}” are both mapped to {field_label(f, definitions)}; map one of them only."
            )
        taken[f] = column
    return taken


def _clean_activity_fields(header, fields):
    unknown = sorted(
        {f for f in fields if f and f not in ACTIVITY_LABELS and not re.fullmatch(r"properties\.[a-z][a-z0-9_]*", f)}
    )
    if unknown:
        raise ImportFileError(
            f"Unknown field(s) in the mapping: {', '.join(unknown)} (use {', '.join(ACTIVITY_LABELS)} or properties.KEY)."
        )
    taken = _taken(header, fields)
    if "lead_email" not in taken and "lead_external_id" not in taken:
        raise ImportFileError("Map one column to Lead email or to Lead external id: each activity must name its lead.")
    for needed in ("kind", "occurred_at"):
        if needed not in taken:
            raise ImportFileError(f"Map one column to {ACTIVITY_LABELS[needed]}.")
    return fields


def parse_mapping_options(header, options, *, kind=ImportKind.LEADS, use_saved=True):
    """--mapping "Column name=field" options of a command, on top of the remembered or guessed
    mapping. Returns (fields, the remembered ImportMapping used, or None)."""
    fields, remembered = guess_fields(header, kind, use_saved=use_saved)
    by_name = {_norm(cell): i for i, cell in enumerate(header)}
    for option in options or []:
        column, sep, target = option.partition("=")
        index = by_name.get(_norm(column))
        if not sep or index is None:
            columns = ", ".join(header)
            raise ImportFileError(f"--mapping “{option}”: name a column of the file (one of {columns}) then =field.")
        target = target.strip()
        if target in ("", "-", "none", "ignore"):
            target = ""
        # A field mapped by hand wins over the guessed column that had it.
        fields = ["" if (f == target and target) else f for f in fields]
        fields[index] = target
    return fields, remembered


def column_index(header, name):
    by_name = {_norm(cell): i for i, cell in enumerate(header)}
    index = by_name.get(_norm(name))
    if index is None:
        raise ImportFileError(f"The file has no column “{name}” (its columns: {', '.join(header)}).")
    return index


def create_fields(header, fields, profile, *, types=None):
    """Create the custom fields a mapping names that do not exist yet ("attributes.KEY", or
    NEW_FIELD: a key made from the column's name), each with the type guessed from the column's
    values (`profile`) unless `types` {column index: type} says otherwise. Returns the fields
    with NEW_FIELD replaced by "attributes.KEY" and the LeadFields created."""
    existing = {f.key: f for f in LeadField.objects.all()}
    created, result = [], []
    position = max((f.position for f in existing.values()), default=0)
    for index, name in enumerate(fields):
        if name == NEW_FIELD or (name.startswith("attributes.") and name.removeprefix("attributes.") not in existing):
            key = slug(header[index]) if name == NEW_FIELD else name.removeprefix("attributes.")
            if key not in existing:
                column = profile[index] if index < len(profile) else {}
                kind = (types or {}).get(index) or column.get("type") or "text"
                options = column.get("options", []) if kind == "choice" else []
                if kind == "choice" and not options:
                    options = [v for v, _ in column.get("values", [])]
                position += 1
                field = LeadField(key=key, label=header[index][:80], type=kind, options=options, position=position)
                try:
                    field.full_clean(exclude=["created_at"])
                    with transaction.atomic():
                        field.save()
                except IntegrityError:
                    field = LeadField.objects.get(key=key)
                except ValidationError as exc:
                    raise ImportFileError(
                        f"A custom field for column “{header[index]}” cannot be created: {' '.join(exc.messages)}"
                    ) from None
                existing[key] = field
                created.append(field)
            name = f"attributes.{key}"
        result.append(name)
    return result, created
