"""Scoring rules in plain words, and what a rule scores (its identity across model versions).

A copied model gets new rule rows (new ids), so "the same rule" in two versions is the rule
that scores the same thing: for a fit rule its field, operator and value (value compared
without case or spacing), for an engagement rule its activity kind and condition. Points,
caps, windows and labels may differ between versions; that is what a rule's history shows.
"""

from decimal import Decimal

from . import engine, language
from .choices import FitField, Operator

FIT, ENGAGEMENT, NEGATIVE = "fit", "engagement", "negative"
GROUP_TITLES = {FIT: "Fit rules", ENGAGEMENT: "Engagement rules", NEGATIVE: "Negative rules"}


def points_text(points):
    """+10, −10 (a real minus sign), +2.5."""
    if points is None:
        return "?"
    points = Decimal(points).normalize()
    text = f"{abs(points):f}"
    return ("−" if points < 0 else "+") + text


def _fit_subject(field, operator, value, labels=None):
    key = language.attribute_key(field)
    if key is not None:
        label = (labels or {}).get(key, key)
    else:
        label = FitField(field).label if field in FitField.values else field
    op = Operator(operator).label if operator in Operator.values else operator
    if operator in (Operator.IS_EMPTY, Operator.IS_NOT_EMPTY):
        value = ""
    return f"{label} {op} {value}".strip()


def _engagement_subject(rule):
    subject = engine.describe_engagement(rule.kind, rule.conditions or [], rule.aggregate, rule.aggregate_property)
    if rule.aggregate and rule.at_least is not None:
        subject += f" ≥ {rule.at_least:g} in {rule.window_days} days"
    return subject


def fit_sentence(rule, labels=None):
    """“Title contains Consultant: −10”; custom fields by their label (`labels`: {key: label})."""
    return f"{_fit_subject(rule.field, rule.operator, (rule.value or '').strip(), labels)}: {points_text(rule.points)}"


def engagement_sentence(rule):
    """“Pricing page view: +10 each, at most 30, last 30 days”; “Page view: total minutes ≥ 10 in 30 days: +20”."""
    subject = _engagement_subject(rule)
    if rule.aggregate:
        return f"{subject}: {points_text(rule.points)}"
    parts = [f"{points_text(rule.points)} each"]
    if rule.cap is not None:
        parts.append(f"at most {Decimal(rule.cap).normalize():f}")
    if rule.window_days:
        parts.append(f"last {rule.window_days} days")
    return f"{subject}: {', '.join(parts)}"


def sentence(rule, labels=None):
    return fit_sentence(rule, labels) if hasattr(rule, "field") else engagement_sentence(rule)


def custom_labels(rules):
    """{custom field key: label} for the custom fields `rules` read (no query when none does)."""
    keys = {language.attribute_key(r.field) for r in rules if hasattr(r, "field")} - {None}
    if not keys:
        return {}
    from leadhub.models import LeadField

    return dict(LeadField.objects.filter(key__in=keys).values_list("key", "label"))


def group_of(rule):
    """fit, engagement or negative (a fit rule with points below 0)."""
    if not hasattr(rule, "field"):
        return ENGAGEMENT
    return NEGATIVE if rule.points is not None and rule.points < 0 else FIT


def _norm(value):
    return ",".join(part.strip().casefold() for part in str(value or "").split(","))


def signature(rule):
    """What a rule scores, the same for its copies in every version (see the module's doc)."""
    if hasattr(rule, "field"):
        return ("fit", rule.field, rule.operator, _norm(rule.value))
    at_least = "" if rule.at_least is None else f"{float(rule.at_least):g}"
    return (
        "engagement",
        rule.kind,
        _norm(language.conditions_text(rule.conditions)),
        rule.aggregate,
        rule.aggregate_property,
        at_least,
    )


def subject(rule):
    """The rule without its points: “Title contains Consultant”, “Demo request”."""
    if hasattr(rule, "field"):
        return _fit_subject(rule.field, rule.operator, (rule.value or "").strip())
    return _engagement_subject(rule)


def _terms(rule):
    """The parts of a rule besides what it scores, as (name, value) for a change's description."""
    if hasattr(rule, "field"):
        return {"points": rule.points}
    return {"points": rule.points, "cap": rule.cap, "window": rule.window_days}


def rule_changes(published_rules, draft_rules):
    """The draft's rule changes against the published model: a list of
    {"change": "added" | "removed" | "changed", "sentence", "was" (sentence before, for changed),
    "delta" (points difference, for changed)} in fit, engagement, negative order."""
    before = {signature(r): r for r in published_rules}
    after = {signature(r): r for r in draft_rules}
    changes = []
    for key, rule in after.items():
        old = before.get(key)
        if old is None:
            changes.append({"change": "added", "sentence": sentence(rule), "group": group_of(rule)})
        elif _terms(old) != _terms(rule):
            delta = (rule.points or 0) - (old.points or 0)
            changes.append(
                {
                    "change": "changed",
                    "sentence": sentence(rule),
                    "was": sentence(old),
                    "group": group_of(rule),
                    "delta": points_text(delta) if delta else "",
                }
            )
    for key, rule in before.items():
        if key not in after:
            changes.append({"change": "removed", "sentence": sentence(rule), "group": group_of(rule)})
    order = {FIT: 0, ENGAGEMENT: 1, NEGATIVE: 2}
    return sorted(changes, key=lambda c: order[c["group"]])
