"""Turning cell text into values: country names to ISO codes (pycountry), outcome words to won
or lost, dates and amounts, and a custom field's type guessed from a column's values."""

import re
from collections import Counter
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import pycountry

from ..lead_fields import FALSE_WORDS, TRUE_WORDS

WON_WORDS = {"won", "win", "closed won", "yes", "y", "true", "1", "converted", "customer", "success"}
LOST_WORDS = {"lost", "loss", "closed lost", "no", "n", "false", "0", "not converted", "failed"}
CHOICE_MAX_OPTIONS = 12


@lru_cache(maxsize=4096)
def country_code(raw):
    """The ISO 3166-1 alpha-2 code a cell names ("India", "IND", "in", "Russia"), or None.

    pycountry's exact lookup (codes, names, official and common names), then its fuzzy search,
    kept only when it is unambiguous (one result, or the first result's name starts with the
    text): "UK" or "Congo" stay unresolved for the user to map in the preview."""
    text = " ".join(str(raw).split())
    if not text:
        return None
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        pass
    if len(text) < 4:
        return None
    try:
        found = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    first = found[0]
    names = [getattr(first, attr, "") or "" for attr in ("name", "common_name", "official_name")]
    if len(found) == 1 or any(n.casefold().startswith(text.casefold()) for n in names):
        return first.alpha_2
    return None


def outcome_result(raw):
    """ "won"/"lost" for the words a CRM writes (won, Closed Won, converted yes/no, 1/0), else ValueError."""
    word = " ".join(str(raw).replace("_", " ").replace("-", " ").split()).casefold()
    if word in WON_WORDS:
        return "won"
    if word in LOST_WORDS:
        return "lost"
    raise ValueError(f"“{raw}” is not an outcome (won or lost, yes or no, 1 or 0)")


DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y")


def parse_date(raw):
    text = str(raw).strip()
    try:
        return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        pass
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"“{raw}” is not a date (YYYY-MM-DD or DD.MM.YYYY)")


def parse_amount(value):
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
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError from None


def _is_number(text):
    try:
        return Decimal(text.replace(",", "")).is_finite()
    except InvalidOperation:
        return False


def _is_date(text):
    if not re.fullmatch(r"\d{1,4}[-./]\d{1,2}[-./]\d{1,4}([ T].*)?", text):
        return False
    try:
        parse_date(text)
    except ValueError:
        return False
    return True


def guess_type(counts):
    """A custom field's type from a column's values ({value: count}, placeholders left out):
    number, yes/no, date, choice (few distinct values, each seen more than once on average),
    else text. Returns (type, options)."""
    values = [v for v in counts if str(v).strip()]
    if not values:
        return "text", []
    words = {str(v).strip().casefold() for v in values}
    if words <= (TRUE_WORDS | FALSE_WORDS) - {"1", "0"} or (words <= {"0", "1", "yes", "no"} and words & {"yes", "no"}):
        return "boolean", []
    if all(_is_number(str(v).strip()) for v in values):
        return "number", []
    if all(_is_date(str(v).strip()) for v in values):
        return "date", []
    total = sum(counts[v] for v in values)
    if len(values) <= CHOICE_MAX_OPTIONS and total >= 2 * len(values):
        ordered = sorted(values, key=lambda v: (-counts[v], str(v)))
        return "choice", [str(v).strip() for v in ordered]
    return "text", []


def profile_columns(header, rows, placeholders):
    """Per column: the most frequent values with counts, how many distinct, and a guessed type
    (from the sniffed rows: a few thousand at most)."""
    counters = [Counter() for _ in header]
    for cells in rows:
        for index, cell in enumerate(cells[: len(header)]):
            value = " ".join(cell.split())
            if value and value.casefold() not in placeholders:
                counters[index][value] += 1
    profile = []
    for counter in counters:
        kind, options = guess_type(counter)
        profile.append(
            {
                "values": [[v, n] for v, n in counter.most_common(8)],
                "distinct": len(counter),
                "type": kind,
                "options": options,
            }
        )
    return profile
