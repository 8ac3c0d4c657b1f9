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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from leadhub.choices import DefaultActivityKind, Grade

from . import language
from .choices import FitField, Operator
from .language import Condition, fold, parse_number  # noqa: F401 (re-exported)

EPOCH = date(1970, 1, 1)
MICRO = 1_000_000
GRADES: list[str] = [Grade.A, Grade.B, Grade.C, Grade.D]

# A fit rule's parsed value (language.parse_fit_value): floats for numbers, ISO dates, folded
# strings for text.
RuleValues = tuple[Any, ...]


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


def parse_fit_value(field_name: str, operator: str, value: str | None, field_kind: str | None = None) -> RuleValues:
    """The rule's value as a tuple (language.parse_fit_value) for a field of type `field_kind`
    (default: the standard field's type; text for an unknown field). Raises ValueError."""
    kind = field_kind or language.STANDARD_TYPES.get(field_name, "text")
    return language.parse_fit_value(kind, operator, value)


def describe_fit(field_name: str, operator: str, value: str, field_label: str | None = None) -> str:
    label = field_label or (FitField(field_name).label if field_name in FitField.values else field_name)
    op = Operator(operator).label if operator in Operator.values else operator
    if operator in (Operator.IS_EMPTY, Operator.IS_NOT_EMPTY):
        return f"{label} {op}"
    if operator in (Operator.CONTAINS, Operator.STARTS_WITH):
        return f"{label} {op} “{value}”"
    return f"{label} {op} {value}"


def kind_label(kind: str) -> str:
    return DefaultActivityKind(kind).label if kind in DefaultActivityKind.values else kind.replace("_", " ").capitalize()


def describe_engagement(
    kind: str,
    conditions: Iterable[Mapping[str, Any]] = (),
    aggregate: str = "",
    aggregate_property: str = "",
    at_least: float | Decimal | None = None,
    kind_name: str | None = None,
) -> str:
    """“Pricing page view (url contains /pricing)”, “Page view: total minutes”, “Demo request: count”."""
    label = kind_name or kind_label(kind)
    if aggregate == "sum":
        label += f": total {aggregate_property}"
    elif aggregate == "count":
        label += ": count"
    written = language.conditions_text(list(conditions))
    if written:
        label += f" ({written})"
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
    field_kind: str = ""  # text, choice, number, date, boolean (language.field_type); "" for a standard field's own

    def __post_init__(self) -> None:
        if not self.field_kind:
            object.__setattr__(self, "field_kind", language.STANDARD_TYPES.get(self.field, "text"))


@dataclass(frozen=True)
class EngagementRuleSpec:
    id: int
    kind: str
    points: int  # tenths, per occurrence (or once, for an aggregate); may be negative
    conditions: tuple[Condition, ...]  # all must hold
    cap: int | None  # tenths, bounds the absolute value of a per-occurrence rule's points
    window_days: int
    label: str
    aggregate: str = ""  # "" per occurrence (decayed); "count" or "sum" (not decayed)
    aggregate_property: str = ""  # the number summed, for "sum"
    at_least: float | None = None  # an aggregate rule gives its points when the count or sum reaches this

    @property
    def uses_rollups(self) -> bool:
        """Whether the daily rollups (lead, day, kind, minutes, count) answer this rule;
        otherwise it reads the raw activities of its kind within its window."""
        if self.aggregate == "sum" and self.aggregate_property != "minutes":
            return False
        return all(language.condition_uses_rollups(c) for c in self.conditions)


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
    # The activity's properties when read from the raw activity; None for a rollup row, which
    # knows `minutes` only (rules reading other properties get raw facts: selectors).
    properties: Mapping[str, Any] | None = None

    def number(self, name: str) -> float | None:
        if self.properties is None:
            return self.minutes if name == "minutes" else None
        return numeric_property(self.properties, name)

    def text(self, name: str) -> str | None:
        value = (self.properties or {}).get(name)
        return value if isinstance(value, str) else None


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
    channel: str = ""
    campaign: str = ""
    company_name: str = ""
    company_country: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)  # custom field values by key
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


def fit_fact(rule: FitRuleSpec, facts: LeadFacts) -> Any:
    """The lead's value of the rule's field: a float for numbers, a string for the rest
    ("true"/"false" for yes/no), None when absent or not of the field's type."""
    key = language.attribute_key(rule.field)
    if key is None:
        raw = getattr(facts, rule.field, None)
        if rule.field_kind == "number":
            return None if raw is None else float(raw)
        return raw if isinstance(raw, str) else None
    raw = facts.attributes.get(key) if isinstance(facts.attributes, Mapping) else None
    if rule.field_kind == "number":
        return numeric_property({key: raw}, key)
    if rule.field_kind == "boolean":
        return ("true" if raw else "false") if isinstance(raw, bool) else None
    return raw if isinstance(raw, str) else None


def is_present(value: Any) -> bool:
    """A value other than nothing, an empty text or only spaces."""
    return value is not None and (not isinstance(value, str) or value.strip(" ") != "")


def fit_matches(rule: FitRuleSpec, facts: LeadFacts) -> bool:
    value = fit_fact(rule, facts)
    present = is_present(value)
    if rule.operator == Operator.IS_EMPTY:
        return not present
    if rule.operator == Operator.IS_NOT_EMPTY:
        return present
    if not present:
        return False  # a missing field fires no rule but “is empty”
    if rule.field_kind == "text" or rule.field_kind == "choice":
        value = fold(value)
    first = rule.values[0]
    if rule.operator == Operator.EQUALS:
        return bool(value == first)
    if rule.operator == Operator.IS_NOT:
        return bool(value != first)
    if rule.operator == Operator.IN:
        return value in rule.values
    if rule.operator == Operator.NOT_IN:
        return value not in rule.values
    if rule.operator == Operator.CONTAINS:
        return first in value
    if rule.operator == Operator.STARTS_WITH:
        return bool(value.startswith(first))
    if rule.operator == Operator.GTE:
        return bool(value >= first)
    if rule.operator == Operator.LTE:
        return bool(value <= first)
    if rule.operator == Operator.BETWEEN:
        return bool(first <= value <= rule.values[1])
    return False


def condition_holds(condition: Condition, activity: ActivityFact) -> bool:
    """Whether one condition holds for an activity. As in SQL, a property that is absent (or
    not of the condition's type) meets no condition."""
    if condition.operator in ("gte", "lte", "eq"):
        number = activity.number(condition.property)
        limit = condition.value
        if number is None or limit is None:
            return False
        if condition.operator == "gte":
            return number >= limit
        if condition.operator == "lte":
            return number <= limit
        return number == limit
    text = activity.text(condition.property)
    if text is None:
        return False
    text = fold(text)
    if condition.operator == "in":
        return text in {fold(v) for v in condition.value}
    wanted = fold(str(condition.value))
    if condition.operator == "equals":
        return text == wanted
    if condition.operator == "contains":
        return wanted in text
    return text.startswith(wanted)


def counts(rule: EngagementRuleSpec, activity: ActivityFact, today: int) -> bool:
    """Whether the rule counts the activity: its kind, within its window, meeting every condition."""
    if activity.kind != rule.kind or max(0, today - activity.day) >= rule.window_days:
        return False
    return all(condition_holds(c, activity) for c in rule.conditions)


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
        key = language.attribute_key(name)
        if name == "company":
            present = facts.has_company
        elif key is not None:
            present = is_present(facts.attributes.get(key))
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
    if rule.aggregate:
        return _aggregate(rule, facts, today)
    weighted = 0  # sum of count × decay factor in millionths
    count = 0
    ages: list[int] = []
    for activity in facts.activities:
        if not counts(rule, activity, today):
            continue
        age = max(0, today - activity.day)
        weighted += activity.count * decay_micro(age, half_life)
        count += activity.count
        ages.append(age)
    if not count:
        return None
    # Rounded half away from zero, so negative rules mirror positive ones (SQL divides |points|).
    sign = -1 if rule.points < 0 else 1
    magnitude = (abs(rule.points) * weighted + MICRO // 2) // MICRO
    cap = rule.cap
    capped = min(magnitude, cap) if cap is not None else magnitude
    shown = _fmt if sign > 0 else _signed  # positive points as before: “10 pts each → 30”
    text = f"{rule.label} ×{count}, {shown(rule.points)} pts each"
    if any(ages):
        text += f" ({_ages_text(ages)}), halving every {half_life} days → {shown(sign * magnitude)}"
    else:
        text += f" → {shown(sign * magnitude)}"
    if cap is not None and capped != magnitude:
        text += f", capped at {shown(sign * cap)}"
    return sign * capped, text


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def aggregate_value(rule: EngagementRuleSpec, facts: LeadFacts, today: int) -> float:
    """The count of the activities the rule counts, or the sum of their property (absent or
    non-numeric values add nothing)."""
    total = 0.0
    for activity in facts.activities:
        if not counts(rule, activity, today):
            continue
        if rule.aggregate == "count":
            total += activity.count
        else:
            number = activity.number(rule.aggregate_property)
            if number is not None:
                total += number * activity.count
    return total


def _aggregate(rule: EngagementRuleSpec, facts: LeadFacts, today: int) -> tuple[int, str] | None:
    """An aggregate rule: its points once when the count or sum within the window reaches
    `at_least` (not decayed)."""
    value = aggregate_value(rule, facts, today)
    if rule.at_least is None or value < rule.at_least:
        return None
    return rule.points, (
        f"{rule.label} in {rule.window_days} days: {_number_text(value)} ≥ {_number_text(rule.at_least)} → {_signed(rule.points)}"
    )


def score(facts: LeadFacts, model: ModelSpec, now: datetime | date) -> ScoreResult:
    """Score a lead. `facts`: LeadFacts; `model`: ModelSpec; `now`: the scoring moment."""
    today = epoch_day(now)
    contributions: list[Contribution] = []
    fit = 0
    for rule in model.fit_rules:
        if fit_matches(rule, facts):
            fit += rule.points
            shown = _shown(rule, fit_fact(rule, facts))
            text = f"{rule.label} ({shown}): {_signed(rule.points)}" if shown else f"{rule.label}: {_signed(rule.points)}"
            contributions.append(Contribution(rule.id, "fit", rule.label, from_tenths(rule.points), text, shown))
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


def _shown(rule: FitRuleSpec, value: Any) -> str:
    """The lead's value as the explanation shows it ("" when empty: “Occupation is empty: −10”)."""
    if not is_present(value):
        return ""
    if rule.field == FitField.ANNUAL_REVENUE:
        return f"${float(value):,.0f}"
    if rule.field_kind == "number":
        return _number_text(float(value))
    if rule.field_kind == "boolean":
        return "yes" if value == "true" else "no"
    return str(value)


def _signed(tenths: int) -> str:
    return ("+" if tenths > 0 else "−") + _fmt(abs(tenths))
