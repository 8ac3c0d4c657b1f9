"""CSV import of leads: the business rules behind /leads/import/, `manage.py import_leads` and
the import tasks. Views, the command and tasks only parse input and call the functions here.

The way of a file:
1. `import_upload` stores the upload on disk (never in memory) and sniffs it: encoding (UTF-8
   with or without BOM, else Windows-1252), delimiter (csv.Sniffer, checked against the
   header), the header and a few sample rows. A file that is not CSV fails here, with a sentence.
2. `import_set_mapping` records which column holds which lead field (remembered per header
   fingerprint in ImportMapping) and the channel and campaign, and queues the preview.
3. `import_preview` reads the whole file streaming, in batches, and counts what the import would
   do (new, update, unchanged, rejected) without writing a lead. Problem lines are stored as
   ImportRow rows with their line number and reason.
4. `import_start` + `import_commit` write the leads: per batch of BATCH_SIZE rows one
   transaction with a bulk upsert of companies and leads, the per-line outcomes and the job's
   progress, so a crash leaves whole batches only and a retry resumes after the last one.
   Rescoring of the touched leads is queued on commit of each batch.

Importing the same file twice creates nothing new: rows are matched by normalised email, and a
row whose values equal the lead's is "unchanged" (not written, not rescored).
"""

import codecs
import csv
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.core.validators import validate_email
from django.db import DatabaseError, reset_queries, transaction
from django.db.models import F, Q
from django.utils import timezone

from .choices import Channel, Industry
from .db import is_retryable
from .errors import Conflict, ValidationFailed
from .hooks import facts_changed
from .models import Company, ImportMapping, ImportOutcome, ImportRow, ImportStatus, Lead, LeadAlias, LeadImport
from .services import canonical_email, email_domain, is_free_mail, normalize_email
from .validation import INT32_MAX, MAX_REVENUE

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
SAMPLE_BYTES = 64 * 1024
SAMPLE_ROWS = 5
DELIMITERS = ",;\t|"
# Bytes Windows-1252 leaves undefined: a file with them is read as Latin-1 instead.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")

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
    "first_name": 100, "last_name": 100, "title": 150, "phone": 40, "campaign": 120, "company_name": 200,
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
    "company_name": {"company", "company name", "organization", "organisation", "account", "account name", "firma", "unternehmen"},
    "industry": {"industry", "sector", "branche"},
    "employee_count": {"employees", "employee count", "number of employees", "headcount", "company size", "mitarbeiter"},
    "annual_revenue": {"annual revenue", "revenue", "annual revenue usd"},
    "channel": {"channel", "lead source", "source"},
    "campaign": {"campaign", "campaign name", "utm campaign"},
}
LEAD_WRITE_FIELDS = ("first_name", "last_name", "title", "phone", "country", "source", "campaign")
COMPANY_WRITE_FIELDS = ("name", "industry", "employee_count", "annual_revenue", "country")


class ImportFileError(ValidationFailed):
    """The whole file cannot be imported (not CSV, empty, too large, nothing mapped to email...)."""


@dataclass(frozen=True)
class FileInfo:
    encoding: str
    delimiter: str
    header: list
    sample: list


@dataclass(frozen=True)
class ImportSpec:
    """How to read one file: what the sniffing found and what the user chose."""

    encoding: str
    delimiter: str
    header: list
    fields: list  # one IMPORT_FIELDS key or "" per header column
    channel: str
    campaign: str

    @classmethod
    def for_job(cls, job):
        return cls(job.encoding, job.delimiter, job.header, job.fields, job.channel, job.campaign)


@dataclass
class ParsedRow:
    line: int
    cells: list
    email: str = ""
    lead: dict = field(default_factory=dict)  # lead fields with a value in this row
    company: dict = field(default_factory=dict)  # company facts with a value in this row
    error: str = ""
    note: str = ""  # e.g. "possible duplicate of line 4"


@dataclass
class Summary:
    rows: int = 0
    new: int = 0
    update: int = 0
    unchanged: int = 0
    rejected: int = 0
    possible_duplicates: int = 0
    issues: list = field(default_factory=list)  # (line, email, message) for a dry run


# --- reading files ---------------------------------------------------------------------------


def human_size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_size(size):
    limit = settings.LEADHUB_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportFileError(
            f"The file is {human_size(size)}; files up to {human_size(limit)} can be imported. "
            "Split it into smaller files and import them one after the other."
        )


def detect_encoding(binary):
    """UTF-8 (with or without BOM), else Windows-1252, else Latin-1. Reads the file in chunks."""
    binary.seek(0)
    start = binary.read(4)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):  # before UTF-16: FF FE starts both
        raise ImportFileError("This file is UTF-32 text, which leadhub does not read. Save it as CSV UTF-8 and upload that.")
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"  # Excel's "Unicode text" export
    binary.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := binary.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    binary.seek(0)
    while chunk := binary.read(1 << 20):
        if CP1252_UNDEFINED.search(chunk):
            return "latin-1"
    return "cp1252"


def _norm(name):
    return " ".join(re.sub(r"[^0-9a-z]+", " ", (name or "").lower()).split())


def _detect_delimiter(sample_text):
    """csv.Sniffer's guess when the header and the sample rows agree with it, else the
    candidate that splits the header into the most columns consistently."""
    # Cut at the last line break: a half row confuses the sniffer.
    cut = sample_text.rfind("\n")
    sample_text = sample_text[: cut + 1] if cut > 0 else sample_text
    try:
        sniffed = csv.Sniffer().sniff(sample_text, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None

    def widths(delimiter):
        rows = list(csv.reader(io.StringIO(sample_text), delimiter=delimiter))[:50]
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        return [len(row) for row in rows]

    def consistent(delimiter):
        w = widths(delimiter)
        return bool(w) and w[0] > 1 and sum(1 for n in w if n == w[0]) >= 0.8 * len(w)

    if sniffed and consistent(sniffed):
        return sniffed
    candidates = sorted(DELIMITERS, key=lambda d: -(widths(d) or [0])[0])
    for delimiter in candidates:
        if consistent(delimiter):
            return delimiter
    return sniffed or ","


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read, for progress."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _reader(binary, encoding, delimiter):
    counter = _CountingReader(binary)
    text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=encoding, newline="")
    return counter, csv.reader(text, delimiter=delimiter)


def sniff(binary):
    """Encoding, delimiter, header and sample rows of a CSV file, or ImportFileError."""
    binary.seek(0)
    head = binary.read(SAMPLE_BYTES)
    if not head.strip():
        raise ImportFileError("The file is empty: there is nothing to import.")
    encoding = detect_encoding(binary)
    if encoding != "utf-16" and b"\x00" in head:
        raise ImportFileError("This is not a CSV file (it contains binary data). Save the sheet as CSV and upload that.")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    sample_text = decoder.decode(head, final=False)
    delimiter = _detect_delimiter(sample_text)
    binary.seek(0)
    _, reader = _reader(binary, encoding, delimiter)
    try:
        header = next(reader, None)
        sample = []
        for row in reader:
            if any(cell.strip() for cell in row):
                sample.append(row)
            if len(sample) >= SAMPLE_ROWS:
                break
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"This file cannot be read as CSV: {exc}.")
    header = [cell.strip() for cell in header or []]
    if not any(header):
        raise ImportFileError("The file has no header row: the first line must name the columns (for example Email, First name).")
    if any("@" in cell and validate_email_ok(cell) for cell in header):
        raise ImportFileError("The first line looks like data, not column names: add a header row naming the columns.")
    if not sample:
        raise ImportFileError("The file has a header but no rows to import.")
    # Unnamed columns get a name, so the mapping page can refer to them.
    header = [cell or f"Column {i + 1}" for i, cell in enumerate(header)]
    return FileInfo(encoding=encoding, delimiter=delimiter, header=header, sample=sample)


def validate_email_ok(value):
    try:
        validate_email(normalize_email(value))
    except DjangoValidationError:
        return False
    return True


def iter_records(binary, spec):
    """(line, cells, bytes read so far) for every non-blank data row. Line numbers count records
    as a spreadsheet does (the header is line 1), so a quoted cell with line breaks is one line."""
    binary.seek(0)
    counter, reader = _reader(binary, spec.encoding, spec.delimiter)
    line = 1
    try:
        next(reader, None)
        for cells in reader:
            line += 1
            if not any(cell.strip() for cell in cells):
                continue
            yield line, cells, counter.count
    except csv.Error as exc:
        raise ImportFileError(f"Line {line + 1} cannot be read as CSV ({exc}); nothing after it was read.")
    except UnicodeDecodeError:
        raise ImportFileError(f"Line {line + 1} is not valid {spec.encoding} text; save the file as UTF-8 CSV.")


# --- mapping ---------------------------------------------------------------------------------


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


# --- one row ---------------------------------------------------------------------------------

CHANNELS = {**{c.value: c.value for c in Channel}, **{c.label.lower(): c.value for c in Channel}}
INDUSTRIES = {**{c.value: c.value for c in Industry}, **{c.label.lower(): c.value for c in Industry}}


def _whole_number(value):
    text = value.replace("\u00a0", " ").strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if re.fullmatch(r"\d{1,3}([ ,.'’]\d{3})+", text):
        return int(re.sub(r"\D", "", text))
    if re.fullmatch(r"\d+\+", text):  # "5000+" in list vendors' size bands
        return int(text[:-1])
    raise ValueError


def _amount(value):
    """"40000000", "40,000,000.50", "40.000.000,50", "$ 4,000", "€4.000" -> Decimal."""
    text = re.sub(r"[\s\u00a0$€£]|USD|EUR|GBP", "", value.strip(), flags=re.IGNORECASE)
    if not re.fullmatch(r"\d[\d.,']*", text):
        raise ValueError
    text = text.replace("'", "")
    if "," in text and "." in text:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        text = text.replace(thousands, "").replace(decimal_sep, ".")
    elif text.count(",") > 1 or text.count(".") > 1 or re.fullmatch(r"\d{1,3}[.,]\d{3}", text):
        text = text.replace(",", "").replace(".", "")
    else:
        text = text.replace(",", ".")
    return Decimal(text).quantize(Decimal("0.01"))


def parse_row(line, cells, spec):
    """Validate one data row against the mapping; every problem of the row in one sentence."""
    problems = []
    if any("\x00" in cell for cell in cells):
        # PostgreSQL stores no NUL character (not even in the rejected line's cells, kept for
        # the download): shown as the replacement character instead.
        problems.append("contains a null character (binary data)")
        cells = [cell.replace("\x00", "\ufffd") for cell in cells]
    row = ParsedRow(line=line, cells=cells)
    if len(cells) > len(spec.header) and any(c.strip() for c in cells[len(spec.header):]):
        problems.append(f"has {len(cells)} cells but the header has {len(spec.header)} columns")
    values = {}
    for index, name in enumerate(spec.fields):
        if name and index < len(cells):
            value = " ".join(cells[index].split()) if name != "email" else cells[index].strip()
            if value:
                values[name] = value
    raw_email = values.get("email", "")
    row.email = normalize_email(raw_email)
    if not raw_email:
        problems.append("email is empty")
    elif len(row.email) > 254 or not validate_email_ok(row.email):
        problems.append(f"“{raw_email}” is not an email address")
    for name, limit in MAX_LENGTHS.items():
        if name in values and len(values[name]) > limit:
            problems.append(f"{FIELD_LABELS[name].lower()} is longer than {limit} characters")
    lead, company = row.lead, row.company
    for name in ("first_name", "last_name", "title", "phone"):
        if name in values:
            lead[name] = values[name]
    if "full_name" in values:
        first, _, last = values["full_name"].partition(" ")
        lead["first_name"], lead["last_name"] = first, last
    if "country" in values:
        country = values["country"].upper()
        if re.fullmatch(r"[A-Z]{2}", country):
            lead["country"] = company["country"] = country
        else:
            problems.append(f"country “{values['country']}” is not a 2-letter code like DE or US")
    lead["source"] = spec.channel
    if "channel" in values:
        channel = CHANNELS.get(values["channel"].lower().replace(" ", "_")) or CHANNELS.get(values["channel"].lower())
        if channel:
            lead["source"] = channel
        else:
            problems.append(f"channel “{values['channel']}” is unknown (use one of: {', '.join(Channel.values)})")
    lead["campaign"] = values.get("campaign", spec.campaign)
    if "company_name" in values:
        company["name"] = values["company_name"]
    if "industry" in values:
        industry = INDUSTRIES.get(values["industry"].lower()) or INDUSTRIES.get(values["industry"].lower().replace(" ", "_"))
        if industry:
            company["industry"] = industry
        else:
            problems.append(f"industry “{values['industry']}” is unknown (use one of: {', '.join(Industry.values)})")
    if "employee_count" in values:
        try:
            company["employee_count"] = _whole_number(values["employee_count"])
        except ValueError:
            problems.append(f"employee count “{values['employee_count']}” is not a whole number")
        else:
            if company["employee_count"] > INT32_MAX:
                del company["employee_count"]
                problems.append(f"employee count “{values['employee_count']}” is more than {INT32_MAX:,}")
    if "annual_revenue" in values:
        try:
            company["annual_revenue"] = _amount(values["annual_revenue"])
        except (ValueError, InvalidOperation):
            problems.append(f"annual revenue “{values['annual_revenue']}” is not an amount")
        else:
            if company["annual_revenue"] > MAX_REVENUE:
                del company["annual_revenue"]
                problems.append(f"annual revenue “{values['annual_revenue']}” is more than {MAX_REVENUE:,}")
    if problems:
        sentence = "; ".join(problems)
        row.error = sentence[0].upper() + sentence[1:] + "."
    return row


def parsed_batches(binary, spec, *, skip=0) -> Iterator[tuple[list, int | None]]:
    """Batches of ParsedRow, with duplicates inside the file marked.

    A later row with the same email as an earlier valid row is rejected ("duplicate of line N");
    one whose email differs only by a plus-tag is noted as a possible duplicate. The first
    `skip` data rows are read (their emails count for duplicates) but not yielded: an
    interrupted import resumes after its last committed batch.
    """
    seen, seen_canonical = {}, {}
    batch, done = [], 0
    for line, cells, bytes_read in iter_records(binary, spec):
        row = parse_row(line, cells, spec)
        if not row.error:
            if row.email in seen:
                row.error = f"Duplicate of line {seen[row.email]}: the same email appears earlier in this file."
            else:
                seen[row.email] = line
                first = seen_canonical.setdefault(canonical_email(row.email), (line, row.email))
                if first[1] != row.email:
                    row.note = f"Possible duplicate of line {first[0]} ({first[1]})."
        done += 1
        if done <= skip:
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            yield batch, bytes_read
            batch = []
    if batch:
        yield batch, None


# --- one batch -------------------------------------------------------------------------------


@dataclass
class Plan:
    row: ParsedRow
    kind: str  # "new", "update" or "unchanged"
    lead_values: dict  # every LEAD_WRITE_FIELDS value the lead will have
    domain: str | None
    existing_id: int | None = None
    company_changed: bool = False

    @property
    def note(self):
        if self.row.note:
            return self.row.note
        return f"Possible duplicate of lead #{self.possible_duplicate_of}." if self.possible_duplicate_of else ""
    possible_duplicate_of: int | None = None


def plan_batch(rows):
    """What importing these valid rows does to leads and companies, read with a few queries."""
    rows = _follow_aliases(rows)
    emails = [row.email for row in rows]
    existing = {
        values["email"]: values
        for values in Lead.objects.filter(email__in=emails).values("id", "email", "company_id", *LEAD_WRITE_FIELDS)
    }
    domains = {email_domain(e) for e in emails}
    domains = {d for d in domains if d and not is_free_mail(d)}
    companies = {c["domain"]: c for c in Company.objects.filter(domain__in=domains).values("id", "domain", *COMPANY_WRITE_FIELDS)}
    canonical = {canonical_email(row.email) for row in rows if row.email not in existing}
    twins = {}
    by_canonical = Lead.objects.with_canonical_email().filter(canonical_email__in=canonical)
    for pk, canon in by_canonical.order_by("-pk").values_list("pk", "canonical_email"):
        twins[canon] = pk  # the oldest lead wins (ordered newest first)

    company_facts = _merge_company_facts(rows, domains, companies)
    plans, planned = [], set()
    for row in rows:
        domain = email_domain(row.email)
        domain = domain if domain in domains else None
        current = existing.get(row.email)
        if current is None:
            values = {f: "" for f in LEAD_WRITE_FIELDS} | row.lead
            plan = Plan(row, "new", values, domain, possible_duplicate_of=twins.get(canonical_email(row.email)))
        else:
            # Channel and campaign are the lead's first touch: an import does not rewrite them.
            incoming = {k: v for k, v in row.lead.items() if k not in ("source", "campaign")}
            values = {f: current[f] for f in LEAD_WRITE_FIELDS} | incoming
            company_id = companies.get(domain, {}).get("id") if domain else None
            # A lead is updated when its own fields or its company link change. New facts about its
            # company (a list vendor's employee count) change the company, not the lead, so a file
            # that says different things about one company still re-imports as "unchanged".
            same = values == {f: current[f] for f in LEAD_WRITE_FIELDS} and current["company_id"] == company_id
            same = same and (domain is None or domain in companies)
            plan = Plan(row, "unchanged" if same else "update", values, domain, existing_id=current["id"],
                        company_changed=domain in company_facts["changed"])
            if current["email"] in planned:
                # A merged address and its survivor in one batch: one statement must not write a lead twice.
                plan.kind = "unchanged"
        if plan.kind != "unchanged":
            planned.add(row.email)
        plans.append(plan)
    return plans, company_facts


def _follow_aliases(rows):
    """Rows for the address of a merged-away lead update its survivor (one query per batch):
    the row takes the survivor's email, so the batch writes that lead."""
    aliases = dict(
        LeadAlias.objects.filter(email__in={row.email for row in rows}).values_list("email", "lead__email")
    )
    for row in rows:
        row.email = aliases.get(row.email, row.email)
    return rows


def _merge_company_facts(rows, domains, companies):
    """The company values per domain after this batch: existing values, overridden by the non-empty
    facts of the rows (later rows win). Returns {"values": {domain: {...}}, "changed": {domain}}."""
    values, changed = {}, set()
    for row in rows:
        domain = email_domain(row.email)
        if domain not in domains:
            continue
        if domain not in values:
            current = companies.get(domain)
            values[domain] = (
                {f: current[f] for f in COMPANY_WRITE_FIELDS} if current
                else {"name": "", "industry": "", "employee_count": None, "annual_revenue": None, "country": ""}
            )
        for key, value in row.company.items():
            if values[domain][key] != value:
                values[domain][key] = value
                changed.add(domain)
    for domain, facts in values.items():
        if domain not in companies:
            # As company_for_email does: a new company is named after its domain until we know better.
            facts["name"] = facts["name"] or domain.split(".")[0].title()
            changed.add(domain)
    return {"values": values, "changed": changed}


def write_batch(plans, company_facts):
    """Bulk upsert the companies and leads of one batch (call inside a transaction).

    Returns {email: lead id} of the written leads. INSERT ... ON CONFLICT DO UPDATE also covers
    a lead created by someone else since plan_batch read: ours then updates it.
    """
    changed = company_facts["changed"]
    if changed:
        Company.objects.bulk_create(
            [Company(domain=d, **company_facts["values"][d]) for d in sorted(changed)],
            update_conflicts=True, unique_fields=["domain"], update_fields=list(COMPANY_WRITE_FIELDS),
        )
    domains = {p.domain for p in plans if p.domain}
    company_ids = dict(Company.objects.filter(domain__in=domains).values_list("domain", "id"))
    to_write = [p for p in plans if p.kind != "unchanged"]
    if to_write:
        Lead.objects.bulk_create(
            [Lead(email=p.row.email, company_id=company_ids.get(p.domain), **p.lead_values) for p in to_write],
            update_conflicts=True, unique_fields=["email"],
            update_fields=[*LEAD_WRITE_FIELDS, "company", "updated_at"],
        )
    return dict(Lead.objects.filter(email__in=[p.row.email for p in to_write]).values_list("email", "id"))


# --- jobs ------------------------------------------------------------------------------------


def _job_file(job):
    return job.file.storage.open(job.file.name, "rb")


def import_upload(*, uploaded_file, by, channel=Channel.IMPORT, campaign=""):
    """Store an uploaded file and sniff it. Returns the LeadImport, waiting for its mapping."""
    check_size(uploaded_file.size)
    job = LeadImport(
        original_name=Path(uploaded_file.name or "upload.csv").name[:255], size=uploaded_file.size,
        created_by=by, channel=channel or Channel.IMPORT, campaign=campaign or "",
    )
    try:
        job.file.save(job.original_name, uploaded_file, save=False)
        with _job_file(job) as binary:
            info = sniff(binary)
        job.encoding, job.delimiter, job.header, job.sample = info.encoding, info.delimiter, info.header, info.sample
        job.fields, _ = guess_fields(info.header)
        job.save()
    except BaseException:
        # Whatever stopped it (a file that is not CSV, a broken connection, an error of ours),
        # no copy of the personal data in the file stays behind.
        if job.file.name:
            job.file.storage.delete(job.file.name)
        raise
    return job


def import_from_path(*, path, by=None, channel=Channel.IMPORT, campaign=""):
    """The command's way in: copy a local file into import storage, then as import_upload."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    with path.open("rb") as source:
        uploaded = File(source, name=path.name)
        uploaded.size = path.stat().st_size
        return import_upload(uploaded_file=uploaded, by=by, channel=channel, campaign=campaign)


def _check_choice(channel, campaign):
    if channel not in Channel.values:
        raise ImportFileError(f"Unknown channel “{channel}”: use one of {', '.join(Channel.values)}.")
    if len(campaign or "") > MAX_LENGTHS["campaign"]:
        raise ImportFileError(f"The campaign is longer than {MAX_LENGTHS['campaign']} characters.")


def _save_mapping(job, *, fields, channel, campaign, by, status):
    """Store the mapping on the job (only while it has not started) and remember it for the header."""
    _check_choice(channel, campaign)
    fields = clean_fields(job.header, fields)
    extra = {"started_at": timezone.now()} if status == ImportStatus.IMPORTING else {}
    updated = LeadImport.objects.filter(
        pk=job.pk, status__in=[ImportStatus.UPLOADED, ImportStatus.PREVIEWED, ImportStatus.FAILED], started_at=None
    ).update(fields=fields, channel=channel, campaign=campaign or "", status=status, error="", bytes_done=0, rows_done=0,
             heartbeat_at=timezone.now(), attempts=0, **extra)
    if not updated:
        raise Conflict("This import is already running or finished; its mapping cannot change now.")
    ImportMapping.objects.update_or_create(
        fingerprint=header_fingerprint(job.header), defaults={"header": job.header, "fields": fields, "updated_by": by},
    )


@transaction.atomic
def import_set_mapping(*, job, fields, channel, campaign, by=None):
    """Record the mapping, remember it for this header, and queue the preview."""
    _save_mapping(job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.PREVIEWING)
    from .tasks import preview_import

    transaction.on_commit(lambda: preview_import.delay(job.pk))
    job.refresh_from_db()
    return job


def import_local_file(*, path, channel, campaign="", mapping=(), dry_run=False, by=None, on_start=None, on_progress=None):
    """The command line's import, in this process: sniff, map (remembered or guessed columns,
    then the `mapping` overrides "Column=field"), then either count (dry run, writes nothing)
    or import. Returns (header, fields, Summary) for a dry run, else (header, fields, the finished LeadImport).
    """
    _check_choice(channel, campaign)
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"There is no file at {path}.")
    if dry_run:
        check_size(path.stat().st_size)
        with path.open("rb") as binary:
            info = sniff(binary)
            fields = clean_fields(info.header, parse_mapping_options(info.header, mapping))
            if on_start:
                on_start(path.stat().st_size)
            spec = ImportSpec(info.encoding, info.delimiter, info.header, fields, channel, campaign)
            return info.header, fields, preview_rows(binary, spec, on_progress=on_progress)
    job = import_from_path(path=path, by=by, channel=channel, campaign=campaign)
    try:
        fields = clean_fields(job.header, parse_mapping_options(job.header, mapping))
        with transaction.atomic():
            _save_mapping(job, fields=fields, channel=channel, campaign=campaign, by=by, status=ImportStatus.IMPORTING)
    except ImportFileError:
        job.file.delete(save=False)
        job.delete()
        raise
    if on_start:
        on_start(job.size)
    return job.header, fields, import_commit(job_id=job.pk, on_progress=on_progress)


def _progress(job_id, *, bytes_done, status, rows_before, **counts):
    """Add `counts` to the job's counters, set how far into the file it is (None: the end) and
    beat the job's heartbeat. Only while the job is still in `status` with `rows_before` rows
    done: False when another task got there first (a redelivered or resumed task running beside
    this one), and this one must stop (and its transaction roll back), so each row counts once."""
    position = {"bytes_done": bytes_done if bytes_done is not None else F("size")}
    return bool(LeadImport.objects.filter(pk=job_id, status=status, rows_done=rows_before).update(
        **position, heartbeat_at=timezone.now(), **{k: F(k) + v for k, v in counts.items()}))


class _Overtaken(Exception):
    """Another task is working on this job: this one stops."""


def preview_rows(binary, spec, *, job_id=None, on_progress=None, keep_issues=1000):
    """Count what an import of this file would do; writes no lead.

    With a job, problem lines are stored as ImportRow rows and progress on the job; without
    (a dry run), the first `keep_issues` problems come back in Summary.issues.
    """
    summary = Summary()
    rows_before = 0
    for batch, bytes_read in parsed_batches(binary, spec):
        reset_queries()  # with DEBUG on, Django would keep every batch's SQL until the end
        valid = [row for row in batch if not row.error]
        plans, _ = plan_batch(valid)
        issues = []
        for row in batch:
            if row.error:
                summary.rejected += 1
                issues.append(ImportRow(job_id=job_id, line=row.line, outcome=ImportOutcome.REJECTED,
                                        email=row.email[:254], message=row.error, values=row.cells))
        for plan in plans:
            setattr(summary, plan.kind, getattr(summary, plan.kind) + 1)
            if plan.note:
                summary.possible_duplicates += 1
                issues.append(ImportRow(job_id=job_id, line=plan.row.line, outcome=ImportOutcome.POSSIBLE_DUPLICATE,
                                        email=plan.row.email, message=plan.note, possible_duplicate_of_id=plan.possible_duplicate_of))
        summary.rows += len(batch)
        if job_id:
            issues.sort(key=lambda r: r.line)
            with transaction.atomic():
                if not _progress(job_id, rows_done=len(batch), bytes_done=bytes_read, status=ImportStatus.PREVIEWING,
                                 rows_before=rows_before):
                    raise _Overtaken
                ImportRow.objects.bulk_create(issues)
            rows_before += len(batch)
        elif len(summary.issues) < keep_issues:
            summary.issues.extend((r.line, r.email, r.message) for r in sorted(issues, key=lambda r: r.line))
            del summary.issues[keep_issues:]
        if on_progress:
            on_progress(bytes_read)
    return summary


def import_preview(*, job_id, on_progress=None):
    """The preview phase of a job (a task body): idempotent, it starts over when retried."""
    job = LeadImport.objects.get(pk=job_id)
    if job.status != ImportStatus.PREVIEWING:
        return job
    with transaction.atomic():
        # Starting over: a task still working on this job (its worker was presumed dead) finds
        # the counters reset under it, and stops at its next batch.
        if not LeadImport.objects.filter(pk=job_id, status=ImportStatus.PREVIEWING).update(
                rows_done=0, bytes_done=0, heartbeat_at=timezone.now()):
            return LeadImport.objects.get(pk=job_id)
        ImportRow.objects.filter(job=job).delete()
    try:
        with _job_file(job) as binary:
            summary = preview_rows(binary, ImportSpec.for_job(job), job_id=job.pk, on_progress=on_progress)
    except ImportFileError as exc:
        LeadImport.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, error=exc.message)
        return LeadImport.objects.get(pk=job_id)
    except _Overtaken:
        log.info("Import %s: another task is previewing it; this one stops", job_id)
        return LeadImport.objects.get(pk=job_id)
    LeadImport.objects.filter(pk=job_id, status=ImportStatus.PREVIEWING).update(
        status=ImportStatus.PREVIEWED, previewed_at=timezone.now(), rows_total=summary.rows, new_count=summary.new,
        update_count=summary.update, unchanged_count=summary.unchanged, invalid_count=summary.rejected,
        possible_duplicate_count=summary.possible_duplicates,
    )
    return LeadImport.objects.get(pk=job_id)


@transaction.atomic
def import_start(*, job, by=None, queue=True):
    """Commit a previewed import: exactly one caller wins (a double click starts it once)."""
    started = LeadImport.objects.filter(pk=job.pk, status=ImportStatus.PREVIEWED).update(
        status=ImportStatus.IMPORTING, started_at=timezone.now(), rows_done=0, bytes_done=0,
        created_count=0, updated_count=0, unchanged_count=0, rejected_count=0, heartbeat_at=timezone.now(), attempts=0,
    )
    if not started:
        raise Conflict("This import was already started, or it needs a preview first.")
    ImportRow.objects.filter(job=job).delete()
    if queue:
        from .tasks import run_import

        transaction.on_commit(lambda: run_import.delay(job.pk))
    job.refresh_from_db()
    return job


def import_commit(*, job_id, on_progress=None):
    """Write the leads of an importing job, batch by batch (a task body).

    Each batch is one transaction: companies, leads, the lines' outcomes and the job's counters
    together. A retry after a crash skips the rows_done rows already committed. Two tasks on one
    job (a redelivered message beside a resumed one) never both count a batch: the job's row is
    claimed first in each batch's transaction (a conditional update on rows_done), and the task
    that finds it moved on stops.
    """
    job = LeadImport.objects.get(pk=job_id)
    if job.status != ImportStatus.IMPORTING:
        return job
    spec = ImportSpec.for_job(job)
    rows_before = job.rows_done
    batch = []
    try:
        with _job_file(job) as binary:
            for batch, bytes_read in parsed_batches(binary, spec, skip=job.rows_done):
                reset_queries()  # with DEBUG on, Django would keep every batch's SQL until the end
                with transaction.atomic():
                    # Claim the batch before writing it (the update locks the job's row until commit).
                    if not _progress(job.pk, bytes_done=bytes_read, status=ImportStatus.IMPORTING, rows_before=rows_before):
                        raise _Overtaken
                    counts = commit_batch(job.pk, batch)
                    LeadImport.objects.filter(pk=job.pk).update(**{k: F(k) + v for k, v in counts.items()})
                rows_before += counts["rows_done"]
                if on_progress:
                    on_progress(bytes_read)
    except ImportFileError as exc:
        LeadImport.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, error=exc.message, finished_at=timezone.now())
        return LeadImport.objects.get(pk=job_id)
    except _Overtaken:
        log.info("Import %s: another task is importing it; this one stops", job_id)
        return LeadImport.objects.get(pk=job_id)
    except DatabaseError as exc:
        if is_retryable(exc):
            raise  # a deadlock or serialization failure: the task runs again from the last batch
        # A batch the database refused (the preview checks every row as this does, so this is
        # rare): that batch is rolled back; the job says which lines and why, and can be mapped
        # and run again (leads are matched by email, so the batches already written update).
        lines = f"lines {batch[0].line}–{batch[-1].line}" if batch else "the file"
        error = f"The database refused {lines}: {str(exc).splitlines()[0][:300]}. Fix the file or the mapping and run it again."
        LeadImport.objects.filter(pk=job_id).update(status=ImportStatus.FAILED, error=error, finished_at=timezone.now(), started_at=None)
        return LeadImport.objects.get(pk=job_id)
    finished = LeadImport.objects.filter(pk=job_id, status=ImportStatus.IMPORTING).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), bytes_done=job.size, rows_total=F("rows_done"), file="",
    )
    if finished:
        # The leads and the rejected lines (with their cells) are in the database now; the file
        # is personal data nobody needs any more.
        job.file.storage.delete(job.file.name)
    return LeadImport.objects.get(pk=job_id)


# --- stalled jobs --------------------------------------------------------------------------


def stalled_after():
    return timedelta(seconds=settings.LEADHUB_STALLED_AFTER_SECONDS)


def stalled_since(job, now=None):
    """When a previewing or importing job last showed progress, if longer ago than
    stalled_after() (its worker died, or its task was never delivered); else None."""
    if job.status not in (ImportStatus.PREVIEWING, ImportStatus.IMPORTING):
        return None
    last = job.heartbeat_at or job.started_at or job.created_at
    return last if last < (now or timezone.now()) - stalled_after() else None


def _queue_phase(job_id, status):
    from .tasks import preview_import, run_import

    task = preview_import if status == ImportStatus.PREVIEWING else run_import
    transaction.on_commit(lambda: task.delay(job_id))


@transaction.atomic
def import_resume(*, job, by=None):
    """Resume a stalled job, or an import that failed part way (it continues after the last
    committed batch; a preview starts over). Refused while the job is making progress."""
    job = LeadImport.objects.select_for_update().get(pk=job.pk)
    if stalled_since(job):
        status = job.status
    elif job.status == ImportStatus.FAILED and job.started_at is not None and job.file:
        status = ImportStatus.IMPORTING
    else:
        raise Conflict("This import is not stalled: it is making progress, finished, or has not started.")
    if not job.file or not job.file.storage.exists(job.file.name):
        raise Conflict("The uploaded file is gone; upload it again.")
    LeadImport.objects.filter(pk=job.pk).update(
        status=status, heartbeat_at=timezone.now(), attempts=0, error="", finished_at=None)
    _queue_phase(job.pk, status)
    log.info("Import %s resumed by %s", job.pk, by or "the system")
    job.refresh_from_db()
    return job


def sweep_imports(*, now=None):
    """The sweeper's part for imports: resume each previewing or importing job whose heartbeat
    stopped, or after settings.LEADHUB_MAX_RESUMES resumes mark it failed with a sentence.
    Returns (resumed, failed) job ids; each job is claimed with a conditional update."""
    now = now or timezone.now()
    cutoff = now - stalled_after()
    stalled = LeadImport.objects.filter(status__in=[ImportStatus.PREVIEWING, ImportStatus.IMPORTING]).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    resumed, failed = [], []
    for job in stalled.only("pk", "status", "heartbeat_at", "attempts", "created_at", "started_at"):
        claim = LeadImport.objects.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at)
        last = job.heartbeat_at or job.started_at or job.created_at
        if job.attempts >= settings.LEADHUB_MAX_RESUMES:
            why = (f"Stopped after {job.attempts} automatic resumes: no progress since "
                   f"{timezone.localtime(last):%Y-%m-%d %H:%M}. Resume it once the workers are healthy.")
            if claim.update(status=ImportStatus.FAILED, error=why, finished_at=now):
                log.error("Import %s failed: %s", job.pk, why)
                failed.append(job.pk)
            continue
        if claim.update(heartbeat_at=now, attempts=F("attempts") + 1):
            log.warning("Import %s stalled (no progress since %s); resuming it (attempt %s)", job.pk, last, job.attempts + 1)
            with transaction.atomic():
                _queue_phase(job.pk, job.status)
            resumed.append(job.pk)
    return resumed, failed


def delete_abandoned_uploads(*, older_than=timedelta(hours=1), now=None):
    """Delete partial uploads a killed web process left in FILE_UPLOAD_TEMP_DIR (a request
    that dies normally deletes its own). Returns how many files were deleted."""
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR or "")
    if not settings.FILE_UPLOAD_TEMP_DIR or not directory.is_dir():
        return 0
    cutoff = (now or timezone.now()).timestamp() - older_than.total_seconds()
    deleted = 0
    for path in directory.glob("*.upload*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except OSError:
            continue
    return deleted


def commit_batch(job_id, batch):
    valid = [row for row in batch if not row.error]
    plans, company_facts = plan_batch(valid)
    ids = write_batch(plans, company_facts)
    outcome = {"new": ImportOutcome.CREATED, "update": ImportOutcome.UPDATED, "unchanged": ImportOutcome.UNCHANGED}
    rows = [
        ImportRow(job_id=job_id, line=row.line, outcome=ImportOutcome.REJECTED, email=row.email[:254],
                  message=row.error, values=row.cells)
        for row in batch if row.error
    ]
    for plan in plans:
        rows.append(ImportRow(
            job_id=job_id, line=plan.row.line, outcome=outcome[plan.kind], email=plan.row.email, message=plan.note,
            lead_id=ids.get(plan.row.email, plan.existing_id), possible_duplicate_of_id=plan.possible_duplicate_of,
        ))
    rows.sort(key=lambda r: r.line)
    ImportRow.objects.bulk_create(rows)
    # Fit scores read company facts: rescore unchanged leads whose company changed, too.
    facts_changed([*ids.values(), *(p.existing_id for p in plans if p.kind == "unchanged" and p.company_changed)])
    counts = {"created_count": 0, "updated_count": 0, "unchanged_count": 0}
    for plan in plans:
        counts[{"new": "created_count", "update": "updated_count", "unchanged": "unchanged_count"}[plan.kind]] += 1
    return {**counts, "rejected_count": len(batch) - len(valid), "rows_done": len(batch)}


def rejected_rows(job):
    """(header + "error", rows) of a job's rejected lines, original cells first, for download."""
    header = [*job.header, "error"]
    width = len(job.header)

    def rows():
        queryset = job.rows.filter(outcome=ImportOutcome.REJECTED).order_by("line").values_list("values", "message")
        for values, message in queryset.iterator(chunk_size=2000):
            cells = list(values)[:width] + [""] * max(0, width - len(values))
            yield [*cells, message]

    return header, rows()
