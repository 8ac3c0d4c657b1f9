"""One data row against the mapping (`parse_row`: every problem of the row in one sentence,
and the bad optional cells by column), and the file's rows in batches of BATCH_SIZE with
duplicates inside the file marked.

What a cell goes through, in order: whitespace collapsed; a placeholder ("Select", "N/A"...:
the import's editable list) becomes empty; the column's value map (the preview's value
mapping) replaces it; then the field parses it: channels and industries through
leadhub.taxonomy, countries through pycountry, custom fields through leadhub.lead_fields.

A row is rejected when its match key is missing or bad, when a value is longer than its field
and the column is not set to truncate, or (with bad_cells="reject") when any value is bad.
Otherwise a bad optional value (an unknown channel, a country nobody could resolve, "abc" in
a number field) is left out: the row is imported without it and the problem is counted for its
column in the preview, so one bad cell never silently loses a lead.
"""

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import taxonomy
from ..lead_fields import MAX_TEXT, clean_attributes, field_definitions
from ..models import ActivityKind, Channel, Industry, LeadFieldType
from ..services import canonical_email, email_domain, is_free_mail, normalize_email
from ..validation import INT32_MAX, MAX_REVENUE
from .mapping import MAX_LENGTHS, field_label
from .options import normalized, placeholder_set
from .reading import iter_records, validate_email_ok
from .values import country_code, outcome_result, parse_amount, parse_date

BATCH_SIZE = 1000
# A domain carried by more than this many rows of one file, by rows that do not all name the
# same company, is a shared or invented domain (a reseller's, a CRM's placeholder): no lead of
# the file gets a company from it. Colleagues of one company imported together name it.
SHARED_DOMAIN_THRESHOLD = 50


@dataclass
class ParsedRow:
    line: int
    cells: list
    email: str = ""
    external_id: str = ""
    key: str = ""  # what identifies the row's lead: the email, or source:external id
    lead: dict = field(default_factory=dict)  # lead fields with a value in this row
    attributes: dict = field(default_factory=dict)  # custom field values, parsed
    company: dict = field(default_factory=dict)  # company facts with a value in this row
    outcome: dict = field(default_factory=dict)  # result, occurred_on, amount
    values: dict = field(default_factory=dict)  # column index -> the value after placeholders and value maps
    cell_errors: dict = field(default_factory=dict)  # column index -> why its value was left out
    error: str = ""
    note: str = ""  # e.g. "possible duplicate of line 4"


class ColumnContext:
    """A file's columns as the import's options say (lead and activity imports alike): the
    normalised options, the key, placeholders, value maps and truncated columns, and `cell`."""

    def __init__(self, spec):
        self.spec = spec
        self.fields = list(spec.fields)
        self.options = normalized(spec.options, fields=self.fields)
        self.key = self.options["key"]
        self.source = self.options["source"]
        self.placeholders = placeholder_set(self.options)
        self.value_maps = {
            int(index): {str(raw).casefold(): target for raw, target in values.items()}
            for index, values in self.options["value_maps"].items()
        }
        self.truncate = set(self.options["truncate"])

    def cell(self, cells, index):
        """The cell's value after whitespace, placeholders and the column's value map ("" = empty)."""
        if index >= len(cells):
            return ""
        value = " ".join(cells[index].split())
        if value.casefold() in self.placeholders:
            return ""
        mapped = self.value_maps.get(index)
        if mapped and value.casefold() in mapped:
            return " ".join(str(mapped[value.casefold()] or "").split())
        return value


class RowContext(ColumnContext):
    """What parsing a lead row needs, read once per phase: the columns' options, the custom
    fields, the channel and industry lists."""

    def __init__(self, spec, *, definitions=None):
        super().__init__(spec)
        self.definitions = field_definitions() if definitions is None else definitions
        self.channels = taxonomy.lookup(Channel)
        self.industries = taxonomy.lookup(Industry)
        self.shared_domains = set()
        self.mapped = {name: index for index, name in enumerate(self.fields) if name}
        self.company_mapped = any(name in self.mapped for name in ("company_name",))


def _whole_number(value):
    text = value.replace("\u00a0", " ").strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    if re.fullmatch(r"\d{1,3}([ ,.'’]\d{3})+", text):
        return int(re.sub(r"\D", "", text))
    if re.fullmatch(r"\d+\+", text):  # "5000+" in list vendors' size bands
        return int(text[:-1])
    raise ValueError


def _sentence(problems):
    sentence = "; ".join(problems)
    return sentence[0].upper() + sentence[1:] + "."


def parse_row(line, cells, spec, ctx=None):
    """Validate one data row against the mapping; every problem of the row in one sentence."""
    ctx = ctx or RowContext(spec)
    problems = []
    if any("\x00" in cell for cell in cells):
        # PostgreSQL stores no NUL character (not even in the rejected line's cells, kept for
        # the download): shown as the replacement character instead.
        problems.append("contains a null character (binary data)")
        cells = [cell.replace("\x00", "\ufffd") for cell in cells]
    row = ParsedRow(line=line, cells=cells)
    if len(cells) > len(spec.header) and any(c.strip() for c in cells[len(spec.header) :]):
        problems.append(f"has {len(cells)} cells but the header has {len(spec.header)} columns")
    values = {}  # field name -> (column index, value)
    for index, name in enumerate(ctx.fields):
        if name:
            value = ctx.cell(cells, index)
            if value:
                values[name] = (index, value)
                row.values[index] = value

    def bad(index, message):
        """A bad optional value: left out, or the row rejected (bad_cells="reject")."""
        if ctx.options["bad_cells"] == "reject":
            problems.append(message)
        else:
            row.cell_errors[index] = message[0].upper() + message[1:] + "."

    def limited(name, index, value, limit):
        if len(value) <= limit:
            return value
        if index in ctx.truncate:
            return value[:limit].rstrip()
        problems.append(f"{field_label(name, ctx.definitions).lower()} is longer than {limit} characters")
        return None

    # The match key.
    email_index, raw_email = values.get("email", (None, ""))
    email = normalize_email(raw_email)
    email_ok = bool(raw_email) and len(email) <= 254 and validate_email_ok(email)
    if ctx.key == "email":
        if not raw_email:
            problems.append("email is empty")
        elif not email_ok:
            problems.append(f"“{raw_email}” is not an email address")
        row.email = email
        row.key = email
    else:
        ext_index, external_id = values.get("external_id", (None, ""))
        if not external_id:
            problems.append("the external id is empty")
        elif limited("external_id", ext_index, external_id, MAX_LENGTHS["external_id"]) is not None:
            row.external_id = external_id[: MAX_LENGTHS["external_id"]]
        row.key = f"{ctx.source}:{external_id}"
        if raw_email and not email_ok:
            bad(email_index, f"“{raw_email}” is not an email address")
        elif raw_email:
            row.email = email
    if ctx.key == "email" and "external_id" in values:
        index, external_id = values["external_id"]
        row.external_id = limited("external_id", index, external_id, MAX_LENGTHS["external_id"]) or ""

    lead, company = row.lead, row.company
    for name in ("first_name", "last_name", "title", "phone"):
        if name in values:
            index, value = values[name]
            value = limited(name, index, value, MAX_LENGTHS[name])
            if value is not None:
                lead[name] = value
    if "full_name" in values:
        index, value = values["full_name"]
        first, _, last = value.partition(" ")
        if len(first) > MAX_LENGTHS["first_name"] or len(last) > MAX_LENGTHS["last_name"]:
            if index in ctx.truncate:
                first, last = first[: MAX_LENGTHS["first_name"]], last[: MAX_LENGTHS["last_name"]]
            else:
                problems.append(f"full name is longer than {MAX_LENGTHS['last_name']} characters")
        lead["first_name"], lead["last_name"] = first, last
    if "country" in values:
        index, value = values["country"]
        code = country_code(value)
        if code:
            lead["country"] = code
        else:
            bad(index, f"country “{value}” is not a country name or code")
    if "company_country" in values:
        index, value = values["company_country"]
        code = country_code(value)
        if code:
            company["country"] = code
        else:
            bad(index, f"company country “{value}” is not a country name or code")
    if "channel" not in values:
        lead["source"] = ctx.spec.channel  # the import's channel (new leads only, unless chosen)
    if "channel" in values:
        index, value = values["channel"]
        channel = taxonomy.resolve(Channel, value, table=ctx.channels) or taxonomy.resolve(
            Channel, value.replace(" ", "_"), table=ctx.channels
        )
        if channel:
            lead["source"] = channel
        else:
            bad(index, f"channel “{value}” is not a known channel or lead source: map it to a channel")
    if ctx.spec.campaign or "campaign" not in values:
        lead["campaign"] = ctx.spec.campaign
    if "campaign" in values:
        index, value = values["campaign"]
        value = limited("campaign", index, value, MAX_LENGTHS["campaign"])
        if value is not None:
            lead["campaign"] = value
    if "company_name" in values:
        index, value = values["company_name"]
        value = limited("company_name", index, value, MAX_LENGTHS["company_name"])
        if value is not None:
            company["name"] = value
    if "industry" in values:
        index, value = values["industry"]
        industry = taxonomy.resolve(Industry, value, table=ctx.industries) or taxonomy.resolve(
            Industry, value.replace(" ", "_"), table=ctx.industries
        )
        if industry:
            company["industry"] = industry
        else:
            bad(index, f"industry “{value}” is unknown")
    if "employee_count" in values:
        index, value = values["employee_count"]
        try:
            number = _whole_number(value)
        except ValueError:
            bad(index, f"employee count “{value}” is not a whole number")
        else:
            if number > INT32_MAX:
                bad(index, f"employee count “{value}” is more than {INT32_MAX:,}")
            else:
                company["employee_count"] = number
    if "annual_revenue" in values:
        index, value = values["annual_revenue"]
        try:
            amount = parse_amount(value)
        except ValueError:
            bad(index, f"annual revenue “{value}” is not an amount")
        else:
            if amount > MAX_REVENUE:
                bad(index, f"annual revenue “{value}” is more than {MAX_REVENUE:,}")
            else:
                company["annual_revenue"] = amount
    _parse_attributes(row, values, ctx, bad, limited)
    _parse_outcome(row, values, bad)
    if problems:
        row.error = _sentence(problems)
    return row


def _parse_attributes(row, values, ctx, bad, limited):
    raw, columns = {}, {}
    for name, (index, value) in values.items():
        if name.startswith("attributes."):
            key = name.removeprefix("attributes.")
            definition = ctx.definitions.get(key)
            if definition is not None and definition.type == LeadFieldType.TEXT:
                value = limited(name, index, value, MAX_TEXT)
                if value is None:
                    continue
            raw[key], columns[key] = value, index
    if not raw:
        return
    # The one validator of custom field values (leadhub.lead_fields).
    parsed, errors = clean_attributes(raw, definitions=ctx.definitions)
    for key, message in errors.items():
        bad(columns[key], f"{field_label('attributes.' + key, ctx.definitions).lower()}: {message.rstrip('.')}")
    row.attributes = {key: value for key, value in parsed.items() if key not in errors}


def _parse_outcome(row, values, bad):
    if "outcome" not in values:
        return
    index, value = values["outcome"]
    try:
        row.outcome = {"result": outcome_result(value), "occurred_on": None, "amount": None}
    except ValueError as exc:
        bad(index, str(exc))
        return
    if "outcome_date" in values:
        index, value = values["outcome_date"]
        try:
            row.outcome["occurred_on"] = parse_date(value)
        except ValueError as exc:
            bad(index, f"outcome date: {exc}")
    if "outcome_amount" in values:
        index, value = values["outcome_amount"]
        try:
            amount = parse_amount(value)
            if amount >= 10**12:
                raise ValueError
            row.outcome["amount"] = amount
        except ValueError:
            bad(index, f"outcome amount “{value}” is not an amount")


def shared_domains(binary, spec, ctx):
    """Domains of the file's email column carried by more than SHARED_DOMAIN_THRESHOLD rows
    that do not all name one company: {domain: rows}. One streaming pass over the email (and
    company name) column."""
    email_index = ctx.mapped.get("email")
    if email_index is None:
        return {}
    name_index = ctx.mapped.get("company_name")
    counts, names = Counter(), defaultdict(set)
    for _line, cells, _ in iter_records(binary, spec):
        raw = ctx.cell(cells, email_index)
        domain = email_domain(normalize_email(raw)) if raw else ""
        if domain and not is_free_mail(domain):
            counts[domain] += 1
            names[domain].add(ctx.cell(cells, name_index).casefold() if name_index is not None else "")
    return {
        domain: n
        for domain, n in counts.items()
        if n > SHARED_DOMAIN_THRESHOLD and (len(names[domain]) != 1 or "" in names[domain])
    }


def parsed_batches(binary, spec, *, skip=0, ctx=None) -> Iterator[tuple[list, int | None]]:
    """Batches of ParsedRow, with duplicates inside the file marked.

    A later row with the same key (email, or external id) as an earlier valid row is rejected
    ("duplicate of line N"); one whose email differs only by a plus-tag is noted as a possible
    duplicate. The first `skip` data rows are read (their keys count for duplicates) but not
    yielded: an interrupted import resumes after its last committed batch.
    """
    ctx = ctx or RowContext(spec)
    seen, seen_canonical, seen_email = {}, {}, {}
    what = "email" if ctx.key == "email" else "external id"
    batch, done = [], 0
    for line, cells, bytes_read in iter_records(binary, spec):
        row = parse_row(line, cells, spec, ctx)
        if not row.error:
            if row.key in seen:
                row.error = f"Duplicate of line {seen[row.key]}: the same {what} appears earlier in this file."
            else:
                seen[row.key] = line
                if row.email and ctx.key != "email":
                    # Keyed by external id: two ids with one address are two leads, and only
                    # the first can have the address.
                    if row.email in seen_email:
                        email_index = ctx.mapped["email"]
                        row.cell_errors[email_index] = f"The same email as line {seen_email[row.email]}: left out."
                        row.email = ""
                    else:
                        seen_email[row.email] = line
                if row.email:
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


MAPPABLE = {"channel", "industry", "country", "company_country", "outcome", "kind"}


def mappable(name, ctx):
    """Whether the preview offers a value mapping for a column mapped to `name`: fields with a
    list of values (channel, industry, choice and yes/no custom fields, outcome) or a code (country)."""
    if name in MAPPABLE:
        return True
    if name.startswith("attributes."):
        definition = ctx.definitions.get(name.removeprefix("attributes."))
        return definition is not None and definition.type in (LeadFieldType.CHOICE, LeadFieldType.BOOLEAN)
    return False


def target_choices(name, ctx):
    """(value, label) pairs a value of a column mapped to `name` can be mapped to ([] = free text)."""
    if name == "channel":
        return taxonomy.choices(Channel)
    if name == "industry":
        return taxonomy.choices(Industry)
    if name == "outcome":
        return [("won", "Won"), ("lost", "Lost")]
    if name == "kind":
        return taxonomy.choices(ActivityKind)
    if name.startswith("attributes."):
        definition = ctx.definitions.get(name.removeprefix("attributes."))
        if definition is not None and definition.type == LeadFieldType.CHOICE:
            return [(str(o), str(o)) for o in definition.options]
        if definition is not None and definition.type == LeadFieldType.BOOLEAN:
            return [("yes", "Yes"), ("no", "No")]
    return []


def resolve_value(name, value, ctx):
    """What a (mapped) cell value becomes in field `name`: (value, "") or (None, why not)."""
    if not value:
        return None, ""
    try:
        if name == "channel":
            key = taxonomy.resolve(Channel, value, table=ctx.channels) or taxonomy.resolve(
                Channel, value.replace(" ", "_"), table=ctx.channels
            )
            return (key, "") if key else (None, "not a known channel")
        if name == "industry":
            key = taxonomy.resolve(Industry, value, table=ctx.industries)
            return (key, "") if key else (None, "not a known industry")
        if name in ("country", "company_country"):
            code = country_code(value)
            return (code, "") if code else (None, "not a country")
        if name == "outcome":
            return outcome_result(value), ""
        if name == "kind":
            key = taxonomy.resolve(ActivityKind, value, table=ctx.kinds)
            return (key, "") if key else (None, "not a known activity kind")
        if name.startswith("attributes."):
            parsed, errors = clean_attributes({name.removeprefix("attributes."): value}, definitions=ctx.definitions)
            if errors:
                return None, next(iter(errors.values()))
            result = next(iter(parsed.values()), None)
            return ("yes" if result else "no") if isinstance(result, bool) else result, ""
    except ValueError as exc:
        return None, str(exc)
    return value, ""
