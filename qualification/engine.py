"""The scoring engine: lead facts + a model snapshot -> a score that explains every point.

Pure: no database access. scoring_sql.py compiles the same rules to SQL; a property test holds the
two equal. The arithmetic is chosen so both give the same result to the point:

* Points are kept as integer tenths. Fit points are exact tenths already.
* Time is counted in whole UTC days: an activity's age is the scoring day minus the UTC day
  it occurred on (never below 0). Only activities younger than a rule's window count
  (window 30: ages 0..29).
* Decay: an activity of age a counts points × 0.5^(a / half-life). The factor is taken to
  six decimals (decay_micro), so SQL uses the same integers from a small lookup table.
* Rounding rule: each engagement rule's decayed sum is rounded to 0.1 (half up), then capped;
  fit rules are exact. Fit = sum of fit contributions, engagement = sum of engagement
  contributions, total = fit + engagement. So the contributions shown on the lead page add up
  exactly to the stored score.
* Text matching ignores case for A–Z only (what SQLite's lower() does, and what PostgreSQL's
  translate() does in scoring_sql.py), so the two never disagree on accented letters.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from leadhub.choices import DefaultActivityKind, DefaultIndustry, Grade

from .choices import NUMERIC_FIELDS, FitField, Operator

EPOCH = date(1970, 1, 1)
MICRO = 1_000_000
GRADES: list[str] = [Grade.A, Grade.B, Grade.C, Grade.D]
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# A fit rule's parsed value (parse_fit_value): floats for numeric fields (one, or low and high
# for "between"), folded strings for text fields.
RuleValues = tuple[float, ...] | tuple[str, ...]


def fold(text: str) -> str:
    """Lowercase A–Z only (see the module docstring)."""
    return text.translate(_ASCII_LOWER)


def epoch_day(moment: datetime | date) -> int:
    """Whole days since 1970-01-01 of a datetime's UTC date (or of a date)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        moment = moment.date()
    return (moment - EPOCH).days


def decay_micro(age_days: int, half_life_days: int) -> int:
    """0.5^(age / half-life) in millionths, rounded half up: the same integer SQL uses."""
    return int(math.floor(MICRO * 0.5 ** (age_days / half_life_days) + 0.5))


def to_tenths(value: Decimal | int | float | str) -> int:
    return int((Decimal(value) * 10).to_integral_value())


def from_tenths(tenths: int) -> Decimal:
    return (Decimal(tenths) / 10).quantize(Decimal("0.1"))


def numeric_property(properties: Mapping[str, Any] | None, name: str) -> float | None:
    """A numeric activity property (JSON number), or None. Booleans and strings don't count."""
    value = (properties or {}).get(name) if isinstance(properties, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --- rule values ----------------------------------------------------------------------------

_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kmb]?)\s*$", re.IGNORECASE)
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_BETWEEN_SPLIT = re.compile(r"\s*(?:,|\.\.|–|—|\bto\b|\band\b)\s*", re.IGNORECASE)


def parse_number(text: str | None) -> Decimal:
    match = _NUMBER.match(text or "")
    if not match:
        raise ValueError(f"“{text}” is not a number (examples: 250, 10k, 2.5m).")
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2).lower()]
    except InvalidOperation:
        raise ValueError(f"“{text}” is not a number.")


def parse_fit_value(field_name: str, operator: str, value: str | None) -> RuleValues:
    """The rule's value as a tuple: folded strings for text fields, floats for numbers.

    Raises ValueError with a message for the value field."""
    text = (value or "").strip()
    if not text:
        raise ValueError("Enter a value.")
    if field_name in NUMERIC_FIELDS:
        if operator == Operator.BETWEEN:
            parts = [p for p in _BETWEEN_SPLIT.split(text) if p]
            if len(parts) != 2:
                raise ValueError("“between” needs two numbers, low and high, e.g. “50, 500”.")
            low, high = (parse_number(p) for p in parts)
            if low > high:
                raise ValueError(f"The low number ({low:f}) is above the high one ({high:f}).")
            return (float(low), float(high))
        return (float(parse_number(text)),)
    if operator == Operator.IN:
        items = tuple(dict.fromkeys(fold(v.strip()) for v in text.split(",") if v.strip()))
        if not items:
            raise ValueError("List at least one value, separated by commas.")
    else:
        items = (fold(text),)
    if field_name == FitField.INDUSTRY and operator != Operator.CONTAINS:
        unknown = [v for v in items if v not in DefaultIndustry.values]
        if unknown:
            raise ValueError(f"Unknown industry {', '.join(unknown)}; use: {', '.join(DefaultIndustry.values)}.")
    return items


def describe_fit(field_name: str, operator: str, value: str) -> str:
    label = FitField(field_name).label if field_name in FitField.values else field_name
    op = Operator(operator).label if operator in Operator.values else operator
    if operator == Operator.CONTAINS:
        return f"{label} contains “{value}”"
    return f"{label} {op} {value}"


def describe_engagement(kind: str, prop: str, op: str, val: float | Decimal | None) -> str:
    label = DefaultActivityKind(kind).label if kind in DefaultActivityKind.values else kind
    if prop:
        symbol = {"gte": "≥", "lte": "≤", "equals": "="}.get(op, op)
        shown = int(val) if val is not None and float(val).is_integer() else val
        label += f" ({prop} {symbol} {shown})"
    return label


def best_fit(rules: Iterable[tuple[str, str, int | Decimal]]) -> Decimal:
    """An upper bound of the fit any lead can reach: every positive rule firing at once."""
    return sum((Decimal(points) for _, _, points in rules if points > 0), Decimal("0"))


# --- snapshots and facts --------------------------------------------------------------------


@dataclass(frozen=True)
class FitRuleSpec:
    id: int
    field: str
    operator: str
    values: tuple[Any, ...]  # RuleValues; Any so the comparisons below need no narrowing per field kind
    points: int  # tenths
    label: str


@dataclass(frozen=True)
class EngagementRuleSpec:
    id: int
    kind: str
    points: int  # tenths, per occurrence
    condition_property: str  # "" for none
    condition_operator: str
    condition_value: float | None
    cap: int | None  # tenths
    window_days: int
    label: str


@dataclass(frozen=True)
class ModelSpec:
    id: int
    version: int
    threshold: int  # tenths
    min_grade: str
    grade_a: int
    grade_b: int
    grade_c: int
    required_fields: tuple[str, ...]
    half_life_days: int
    fit_rules: tuple[FitRuleSpec, ...] = ()
    engagement_rules: tuple[EngagementRuleSpec, ...] = ()

    @property
    def max_window(self) -> int:
        return max((r.window_days for r in self.engagement_rules), default=0)


@dataclass(frozen=True)
class ActivityFact:
    kind: str
    day: int  # epoch_day of occurred_at
    minutes: float | None = None
    count: int = 1


@dataclass(frozen=True)
class LeadFacts:
    email_domain: str = ""
    title: str = ""
    country: str = ""  # the lead's, else its company's
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    has_company: bool = False
    industry: str = ""
    employee_count: int | None = None
    annual_revenue: float | None = None
    activities: tuple[ActivityFact, ...] = ()


@dataclass(frozen=True)
class Contribution:
    rule_id: int
    kind: str  # "fit" or "engagement"
    rule: str
    points: Decimal
    text: str
    fact: str = ""  # for fit rules: the lead's value that matched


@dataclass(frozen=True)
class ScoreResult:
    fit: Decimal
    engagement: Decimal
    total: Decimal
    grade: str
    contributions: tuple[Contribution, ...] = field(default_factory=tuple)
    missing_required_fields: tuple[str, ...] = ()
    qualifies: bool = False
    model_version: int | None = None


# --- scoring --------------------------------------------------------------------------------


def fit_matches(rule: FitRuleSpec, facts: LeadFacts) -> bool:
    raw = getattr(facts, rule.field)
    if rule.field in NUMERIC_FIELDS:
        if raw is None:
            return False
        number = float(raw)
        if rule.operator == Operator.EQUALS:
            return number == rule.values[0]
        if rule.operator == Operator.GTE:
            return number >= rule.values[0]
        if rule.operator == Operator.LTE:
            return number <= rule.values[0]
        if rule.operator == Operator.BETWEEN:
            return rule.values[0] <= number <= rule.values[1]
        return False
    if not raw:
        return False  # a missing field never fires a rule
    text = fold(raw)
    if rule.operator == Operator.EQUALS:
        return text == rule.values[0]
    if rule.operator == Operator.IN:
        return text in rule.values
    if rule.operator == Operator.CONTAINS:
        return rule.values[0] in text
    return False


def condition_holds(rule: EngagementRuleSpec, minutes: float | None) -> bool:
    if not rule.condition_property:
        return True
    limit = rule.condition_value
    if minutes is None or limit is None:  # as in SQL, a comparison with nothing holds for no activity
        return False
    if rule.condition_operator == "gte":
        return minutes >= limit
    if rule.condition_operator == "lte":
        return minutes <= limit
    return minutes == limit


def grade_for(fit_tenths: int, model: ModelSpec) -> Grade:
    if fit_tenths >= model.grade_a:
        return Grade.A
    if fit_tenths >= model.grade_b:
        return Grade.B
    if fit_tenths >= model.grade_c:
        return Grade.C
    return Grade.D


def missing_required(facts: LeadFacts, model: ModelSpec) -> tuple[str, ...]:
    missing: list[str] = []
    for name in model.required_fields:
        if name == "company":
            present = facts.has_company
        else:
            present = bool((getattr(facts, name, "") or "").strip(" "))
        if not present:
            missing.append(name)
    return tuple(missing)


def _fmt(tenths: int) -> str:
    return f"{from_tenths(tenths)}".removesuffix(".0") if tenths % 10 == 0 else f"{from_tenths(tenths)}"


def _ages_text(ages: Iterable[int]) -> str:
    ages = sorted(set(ages))
    if len(ages) == 1:
        return "today" if ages[0] == 0 else f"{ages[0]} day{'s' if ages[0] != 1 else ''} ago"
    if len(ages) <= 4:
        shown = ", ".join(str(a) for a in ages if a) + " days ago"
        return f"today, {shown}" if ages[0] == 0 else shown
    return f"{ages[0]}–{ages[-1]} days ago"


def _engagement(rule: EngagementRuleSpec, facts: LeadFacts, today: int, half_life: int) -> tuple[int, str] | None:
    weighted = 0  # sum of count × decay factor in millionths
    count = 0
    ages: list[int] = []
    for activity in facts.activities:
        if activity.kind != rule.kind or not condition_holds(rule, activity.minutes):
            continue
        age = max(0, today - activity.day)
        if age >= rule.window_days:
            continue
        weighted += activity.count * decay_micro(age, half_life)
        count += activity.count
        ages.append(age)
    if not count:
        return None
    points = (rule.points * weighted + MICRO // 2) // MICRO
    cap = rule.cap
    capped = min(points, cap) if cap is not None else points
    each = _fmt(rule.points)
    text = f"{rule.label} ×{count}, {each} pts each"
    if any(ages):
        text += f" ({_ages_text(ages)}), halving every {half_life} days → {_fmt(points)}"
    else:
        text += f" → {_fmt(points)}"
    if cap is not None and capped != points:
        text += f", capped at {_fmt(cap)}"
    return capped, text


def score(facts: LeadFacts, model: ModelSpec, now: datetime | date) -> ScoreResult:
    """Score a lead. `facts`: LeadFacts; `model`: ModelSpec; `now`: the scoring moment."""
    today = epoch_day(now)
    contributions: list[Contribution] = []
    fit = 0
    for rule in model.fit_rules:
        if fit_matches(rule, facts):
            fit += rule.points
            shown = getattr(facts, rule.field)
            if rule.field == FitField.ANNUAL_REVENUE:
                shown = f"${float(shown):,.0f}"
            elif rule.field == FitField.EMPLOYEE_COUNT:
                shown = f"{shown:,}"
            contributions.append(
                Contribution(
                    rule.id,
                    "fit",
                    rule.label,
                    from_tenths(rule.points),
                    f"{rule.label} ({shown}): {_signed(rule.points)}",
                    str(shown),
                )
            )
    engagement = 0
    for engagement_rule in model.engagement_rules:
        outcome = _engagement(engagement_rule, facts, today, model.half_life_days)
        if outcome is None or outcome[0] == 0:
            continue
        points, text = outcome
        engagement += points
        contributions.append(Contribution(engagement_rule.id, "engagement", engagement_rule.label, from_tenths(points), text))
    total = fit + engagement
    grade = grade_for(fit, model)
    missing = missing_required(facts, model)
    qualifies = total >= model.threshold and GRADES.index(grade) <= GRADES.index(model.min_grade) and not missing
    return ScoreResult(
        fit=from_tenths(fit),
        engagement=from_tenths(engagement),
        total=from_tenths(total),
        grade=grade,
        contributions=tuple(contributions),
        missing_required_fields=missing,
        qualifies=qualifies,
        model_version=model.version,
    )


def _signed(tenths: int) -> str:
    return ("+" if tenths > 0 else "−") + _fmt(abs(tenths))
