"""One data row against the mapping (`parse_row`: every problem of the row in one sentence),
and the file's rows in batches of BATCH_SIZE with duplicates inside the file marked."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .. import taxonomy
from ..models import Channel, Industry
from ..services import canonical_email, normalize_email
from ..validation import INT32_MAX, MAX_REVENUE
from .mapping import FIELD_LABELS, MAX_LENGTHS
from .reading import iter_records, validate_email_ok

BATCH_SIZE = 1000


@dataclass
class ParsedRow:
    line: int
    cells: list
    email: str = ""
    lead: dict = field(default_factory=dict)  # lead fields with a value in this row
    company: dict = field(default_factory=dict)  # company facts with a value in this row
    error: str = ""
    note: str = ""  # e.g. "possible duplicate of line 4"


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
    """ "40000000", "40,000,000.50", "40.000.000,50", "$ 4,000", "€4.000" -> Decimal."""
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
    if len(cells) > len(spec.header) and any(c.strip() for c in cells[len(spec.header) :]):
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
        # Keys, labels and source values of the channels marketers edit (leadhub.taxonomy).
        channels = taxonomy.kept_lookup("channel")
        channel = taxonomy.resolve(Channel, values["channel"], table=channels) or taxonomy.resolve(
            Channel, values["channel"].replace(" ", "_"), table=channels
        )
        if channel:
            lead["source"] = channel
        else:
            known = ", ".join(sorted(set(channels.values())))
            problems.append(f"channel “{values['channel']}” is unknown (use one of: {known})")
    lead["campaign"] = values.get("campaign", spec.campaign)
    if "company_name" in values:
        company["name"] = values["company_name"]
    if "industry" in values:
        industries = taxonomy.kept_lookup("industry")
        industry = taxonomy.resolve(Industry, values["industry"], table=industries) or taxonomy.resolve(
            Industry, values["industry"].replace(" ", "_"), table=industries
        )
        if industry:
            company["industry"] = industry
        else:
            known = ", ".join(sorted(set(industries.values())))
            problems.append(f"industry “{values['industry']}” is unknown (use one of: {known})")
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
