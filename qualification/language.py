"""The rule language: which fields fit rules read and how values and conditions are written.

Pure (no database): the callers pass what the database knows (custom field types, an activity
kind's declared properties). models.py validates with it, selectors.snapshot parses with it,
engine.py and scoring_sql.py evaluate what it parsed.

* A fit rule reads a standard field (choices.FitField) or a custom field `attributes.<key>`.
  A field's type (text, choice, number, date, boolean) decides its operators
  (choices.OPERATORS_BY_TYPE). Text and choices compare ignoring case (A–Z, engine.fold),
  numbers as numbers, dates as ISO dates (YYYY-MM-DD text compares in date order), yes/no as
  "true"/"false".
* An empty field (missing, or only spaces) fires only “is empty”: every other operator,
  “is not” and “is not one of” included, needs a value to compare.
* An engagement rule's conditions: `property operator value`, joined by “;” (all must hold):
  text `equals`, `contains`, `starts with`; numbers `>=`, `<=`, `=`; choices `is one of a, b`.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .choices import ATTRIBUTE_PREFIX, NUMERIC_FIELDS, OPERATORS_BY_TYPE, FitField, Operator

KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
STANDARD_TYPES: dict[str, str] = {name: ("number" if name in NUMERIC_FIELDS else "text") for name in FitField.values}
STANDARD_TYPES[FitField.INDUSTRY] = "choice"
STANDARD_TYPES[FitField.CHANNEL] = "choice"


def fold(text: str) -> str:
    """Lowercase A–Z only (what SQLite's lower() does)."""
    return text.translate(_ASCII_LOWER)


def attribute_key(field_name: str) -> str | None:
    """`occupation` for `attributes.occupation`; None for a standard field."""
    if field_name.startswith(ATTRIBUTE_PREFIX):
        return field_name[len(ATTRIBUTE_PREFIX) :]
    return None


def field_type(field_name: str, custom_types: dict[str, str]) -> str | None:
    """The type of a fit rule's field (text, choice, number, date, boolean), None if there is no
    such field. `custom_types`: {custom field key: type}."""
    key = attribute_key(field_name)
    if key is None:
        return STANDARD_TYPES.get(field_name)
    return custom_types.get(key)


# --- values ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kmb]?)\s*$", re.IGNORECASE)
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_BETWEEN_SPLIT = re.compile(r"\s*(?:,|\.\.|–|—|\bto\b|\band\b)\s*", re.IGNORECASE)
YES = {"yes", "y", "true", "t", "1", "on"}
NO = {"no", "n", "false", "f", "0", "off"}


def parse_number(text: str | None) -> Decimal:
    match = _NUMBER.match(text or "")
    if not match:
        raise ValueError(f"“{text}” is not a number (examples: 250, 10k, 2.5m).")
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2).lower()]
    except InvalidOperation:
        raise ValueError(f"“{text}” is not a number.") from None


def parse_date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ValueError(f"“{text}” is not a date: write it as YYYY-MM-DD, e.g. 2025-01-31.") from None


def parse_fit_value(kind: str, operator: str, value: str | None) -> tuple[Any, ...]:
    """A fit rule's value for a field of type `kind`, as a tuple: floats for numbers, ISO dates
    for dates, "true"/"false" for yes/no, folded strings for text and choices; () for “is empty”
    and “is not empty”. Raises ValueError with a sentence for the value field."""
    if operator in (Operator.IS_EMPTY, Operator.IS_NOT_EMPTY):
        return ()
    text = (value or "").strip()
    if not text:
        raise ValueError("Enter a value.")
    if kind in ("number", "date"):
        parse = (lambda t: float(parse_number(t))) if kind == "number" else parse_date
        example = "two numbers, low and high, e.g. “50, 500”" if kind == "number" else "two dates, e.g. “2025-01-01, 2025-06-30”"
        if operator == Operator.BETWEEN:
            parts = [p for p in _BETWEEN_SPLIT.split(text) if p]
            if len(parts) != 2:
                raise ValueError(f"“between” needs {example}.")
            low, high = (parse(p) for p in parts)
            if low > high:  # type: ignore[operator]
                raise ValueError(f"The low value ({parts[0]}) is above the high one ({parts[1]}).")
            return (low, high)
        return (parse(text),)
    if kind == "boolean":
        word = text.lower()
        if word in YES:
            return ("true",)
        if word in NO:
            return ("false",)
        raise ValueError(f"“{text}” is not yes or no.")
    if operator in (Operator.IN, Operator.NOT_IN):
        items = tuple(dict.fromkeys(fold(v.strip()) for v in text.split(",") if v.strip()))
        if not items:
            raise ValueError("List at least one value, separated by commas.")
        return items
    return (fold(text),)


def check_operator(field_label: str, kind: str, operator: str) -> str | None:
    """A sentence when `operator` makes no sense for a field of type `kind`, else None."""
    allowed = OPERATORS_BY_TYPE.get(kind, frozenset())
    if operator in allowed:
        return None
    names = ", ".join(f"“{Operator(o).label}”" for o in Operator.values if o in allowed)
    article = {"text": "text", "choice": "a list of choices", "number": "a number", "date": "a date", "boolean": "yes or no"}
    return f"{field_label} is {article.get(kind, kind)}: use {names}."


# --- engagement conditions ------------------------------------------------------------------

CONDITION_OPERATORS = {
    "equals": "equals",
    "contains": "contains",
    "starts_with": "starts with",
    "gte": "≥",
    "lte": "≤",
    "eq": "=",
    "in": "is one of",
}
OPERATORS_BY_PROPERTY_TYPE = {"text": ("equals", "contains", "starts_with"), "number": ("gte", "lte", "eq"), "choice": ("in",)}
# Written forms, longest first so “>=” wins over “=”.
_WRITTEN = [
    ("is one of", "in"),
    ("starts with", "starts_with"),
    ("contains", "contains"),
    ("equals", "equals"),
    (">=", "gte"),
    ("≥", "gte"),
    ("<=", "lte"),
    ("≤", "lte"),
    ("=", "eq"),
    (" in ", "in"),
]
_SPLIT = re.compile(r"\s*(?:;|\n)\s*")


@dataclass(frozen=True)
class Condition:
    """One condition of an engagement rule. `value`: a float (number), a string (text), or a
    tuple of strings (choice); strings as written (folded when compared)."""

    property: str
    operator: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"property": self.property, "operator": self.operator, "value": value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Condition":
        value = data.get("value")
        return cls(
            str(data.get("property", "")), str(data.get("operator", "")), tuple(value) if isinstance(value, list) else value
        )

    def text(self) -> str:
        if isinstance(self.value, (tuple, list)):
            shown = ", ".join(str(v) for v in self.value)
        elif isinstance(self.value, float):
            shown = f"{self.value:g}"
        else:
            shown = str(self.value)
        return f"{self.property} {CONDITION_OPERATORS.get(self.operator, self.operator)} {shown}"


def conditions_text(conditions: "Iterable[Mapping[str, Any]] | None") -> str:
    """“url contains /pricing; minutes ≥ 30”."""
    return "; ".join(Condition.from_dict(c).text() for c in conditions or [])


def parse_conditions(text: str, properties: dict[str, dict[str, Any]]) -> list[Condition]:
    """Conditions written as “url contains /pricing; minutes >= 30”, checked against the
    declared `properties` of the rule's kind ({key: {"type", "options"?}}). Raises ValueError
    with a sentence naming what is wrong."""
    conditions = []
    for part in _SPLIT.split(text.strip()):
        if not part:
            continue
        conditions.append(_parse_condition(part, properties))
    return conditions


def split_condition(part: str) -> tuple[str, str, str] | None:
    """(property, operator, value) of a written condition, None when it names no operator."""
    lowered = part.lower()
    for written, operator in _WRITTEN:
        at = lowered.find(written)
        if at > 0:
            return part[:at].strip(), operator, part[at + len(written) :].strip()
    return None


def _parse_condition(part: str, properties: dict[str, dict[str, Any]]) -> Condition:
    found = split_condition(part)
    if found is None:
        raise ValueError(
            f"“{part}”: write a condition as property, operator, value, e.g. “url contains /pricing” or “minutes >= 30”."
        )
    name, operator, raw = found
    declared = properties.get(name)
    if declared is None:
        names = ", ".join(sorted(properties)) or "none"
        raise ValueError(f"“{part}”: this activity kind has no property “{name}” (its properties: {names}).")
    kind = declared.get("type", "text")
    if operator == "equals" and kind == "number":
        operator = "eq"
    if operator == "eq" and kind == "text":
        operator = "equals"
    if operator == "equals" and kind == "choice":
        operator = "in"
    allowed = OPERATORS_BY_PROPERTY_TYPE.get(kind, ())
    if operator not in allowed:
        names = ", ".join(f"“{CONDITION_OPERATORS[o]}”" for o in allowed)
        raise ValueError(f"“{part}”: {name} is {'a number' if kind == 'number' else kind}; use {names}.")
    if not raw:
        raise ValueError(f"“{part}”: give a value after “{CONDITION_OPERATORS[operator]}”.")
    if kind == "number":
        try:
            return Condition(name, operator, float(parse_number(raw)))
        except ValueError as exc:
            raise ValueError(f"“{part}”: {exc}") from None
    if kind == "choice":
        items = tuple(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
        options = {fold(str(o)): str(o) for o in declared.get("options") or []}
        if options:
            unknown = [v for v in items if fold(v) not in options]
            if unknown:
                raise ValueError(f"“{part}”: {name} has no option {', '.join(unknown)} (options: {', '.join(options.values())}).")
            items = tuple(options[fold(v)] for v in items)
        return Condition(name, operator, items)
    return Condition(name, operator, raw)


def condition_uses_rollups(condition: Condition) -> bool:
    """Whether the daily rollups can answer the condition: they keep `minutes` (as a number)."""
    return condition.property == "minutes" and condition.operator in ("gte", "lte", "eq")
