"""Column mapping: which lead field each column of a file holds. Guessed from the header's
names (SYNONYMS), remembered per header fingerprint (ImportMapping), checked, and overridden
by the command's --mapping options."""

import hashlib
import re

from ..models import ImportMapping
from .spec import ImportFileError

# The lead fields a column can be mapped to, in the order the mapping page offers them.
IMPORT_FIELDS = [
    ("email", "Email"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("full_name", "Full name (split into first and last)"),
    ("title", "Job title"),
    ("phone", "Phone"),
    ("country", "Country (2-letter code)"),
    ("company_name", "Company name"),
    ("industry", "Industry"),
    ("employee_count", "Employee count"),
    ("annual_revenue", "Annual revenue (USD)"),
    ("channel", "Channel"),
    ("campaign", "Campaign"),
]
FIELD_LABELS = dict(IMPORT_FIELDS)
MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "title": 150,
    "phone": 40,
    "campaign": 120,
    "company_name": 200,
    "full_name": 201,
}
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
    "channel": {"channel", "lead source", "source"},
    "campaign": {"campaign", "campaign name", "utm campaign"},
}


def _norm(name):
    return " ".join(re.sub(r"[^0-9a-z]+", " ", (name or "").lower()).split())


def header_fingerprint(header):
    return hashlib.sha256("\x1f".join(_norm(cell) for cell in header).encode()).hexdigest()


def guess_fields(header):
    """The remembered mapping for this header, else a guess from the column names."""
    remembered = ImportMapping.objects.filter(fingerprint=header_fingerprint(header)).first()
    if remembered and len(remembered.fields) == len(header):
        return list(remembered.fields), True
    fields, used = [], set()
    for cell in header:
        name = _norm(cell)
        guess = next((key for key, names in SYNONYMS.items() if name in names and key not in used), "")
        used.add(guess)
        fields.append(guess)
    return fields, False


def clean_fields(header, fields):
    """Check a mapping: one lead field per column at most once, email mapped."""
    fields = [(f or "").strip() for f in fields]
    if len(fields) != len(header):
        raise ImportFileError("The mapping must name a field (or none) for every column.")
    unknown = sorted({f for f in fields if f and f not in FIELD_LABELS})
    if unknown:
        raise ImportFileError(f"Unknown field(s) in the mapping: {', '.join(unknown)}.")
    taken = {}
    for column, f in zip(header, fields, strict=True):
        if f and f in taken:
            raise ImportFileError(
                f"Columns “{taken[f]}” and “{column}” are both mapped to {FIELD_LABELS[f]}; map one of them only."
            )
        taken[f] = column
    if "email" not in taken:
        raise ImportFileError("Map one column to Email: leads are matched by their email address.")
    if "full_name" in taken and ("first_name" in taken or "last_name" in taken):
        raise ImportFileError("Map either Full name or First name and Last name, not both.")
    return fields


def parse_mapping_options(header, options):
    """--mapping "Column name=field" options of the command, on top of the guessed mapping."""
    fields, _ = guess_fields(header)
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
    return fields
