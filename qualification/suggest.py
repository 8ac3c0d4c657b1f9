"""Suggested weights: a regularised logistic regression on outcomes, turned into a draft model.

The features are things the rule language can say, so the fitted coefficients become rules:
each rule of the model the suggestion starts from (fires or not; an engagement rule's decayed
count), each value of the choice fields (channel, industry, country, custom choice fields) that
enough leads have, quantile bins of the number fields (company size, revenue, custom numbers),
and the decayed count of each activity kind in a window. Leads and facts come from
suggest_data (set-based SQL into numpy). The leads are split by creation date (train on the
older 80%, test on the newer 20%) or, when their dates do not allow it, at random with a fixed
seed. Coefficients are scaled to the model's points (the largest to the largest rule's points,
at least MIN_TOP_POINTS) and rounded to whole points; the threshold gives the chosen MQL rate
(default: the starting model's, on the same leads) or precision, and the grade bands keep the
share of leads at each grade. The result is always a **draft**: nothing is published here.

Its held-out AUC is measured on the draft's own rounded rules, next to the published model's
on the same held-out leads.
"""

import logging
import math
import time
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from leadhub.choices import Grade
from leadhub.errors import ValidationFailed

from . import model_json, selectors
from . import suggest_data as data
from .choices import ModelStatus
from .models import EngagementRule, FitRule
from .suggest_models import SuggestionRun, SuggestionStatus

log = logging.getLogger(__name__)

MIN_TOP_POINTS = 30  # the largest coefficient becomes at least this many points
MAX_VALUES = 25  # most values of one choice field taken as features
MIN_LEADS, MIN_CLASS = 50, 10


@dataclass
class Options:
    label: str = "outcome"
    horizon_days: int = 180
    channel: str = ""
    campaign: str = ""
    field: str = ""
    field_value: str = ""
    created_from: date | None = None
    created_to: date | None = None
    mql_rate: float | None = None  # share of leads that should qualify; default: the starting model's
    precision: float | None = None  # or: the lowest threshold with at least this precision
    window_days: int = 30
    bins: int = 5
    min_leads: int = 30
    C: float = 1.0
    seed: int = 0
    test_share: float = 0.2
    max_train: int = 400_000

    @property
    def filters(self):
        return data.Filters(
            channel=self.channel,
            campaign=self.campaign,
            field=self.field,
            field_value=self.field_value,
            created_from=self.created_from,
            created_to=self.created_to,
        )

    def as_json(self):
        out = asdict(self)
        for key in ("created_from", "created_to"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def parse_options(raw):
    """Options from a dict of plain values (the API's body, the admin's form); ValidationFailed lists every bad one."""
    raw = dict(raw or {})
    errors = {}
    options = Options()
    known = {f for f in Options.__dataclass_fields__}
    for key, value in raw.items():
        if key not in known:
            errors[key] = [f"Unknown option; the options are: {', '.join(sorted(known))}."]
            continue
        if value is None or value == "":
            continue
        try:
            if key == "label":
                if value not in data.LABELS:
                    raise ValueError(f"Choose one of: {', '.join(data.LABELS)}.")
            elif key in ("horizon_days", "window_days", "bins", "min_leads", "seed", "max_train"):
                value = int(value)
                low, high = {"horizon_days": (1, 3650), "window_days": (1, 365), "bins": (2, 20)}.get(key, (0, 10_000_000))
                if not low <= value <= high:
                    raise ValueError(f"Give a whole number from {low} to {high}.")
            elif key in ("mql_rate", "precision", "test_share"):
                value = float(value)
                if not 0 < value < 1:
                    raise ValueError("Give a share between 0 and 1, e.g. 0.1 for 10%.")
            elif key == "C":
                value = float(value)
                if not value > 0:
                    raise ValueError("Give a positive number.")
            elif key in ("created_from", "created_to"):
                value = value if isinstance(value, date) else date.fromisoformat(str(value))
            else:
                value = str(value).strip()
        except (TypeError, ValueError) as exc:
            errors[key] = [str(exc) if "Give" in str(exc) or "Choose" in str(exc) else f"“{value}” is not valid here."]
            continue
        setattr(options, key, value)
    if options.mql_rate is not None and options.precision is not None:
        errors["precision"] = ["Choose an MQL rate or a precision, not both."]
    if bool(options.field) != bool(options.field_value):
        errors["field_value" if options.field else "field"] = ["Filter on a custom field needs its key and a value."]
    if options.field and not data.KEY_PATTERN.match(options.field):
        errors["field"] = [f"“{options.field}” is not a custom field key."]
    if errors:
        raise ValidationFailed(f"The suggestion was not started: {next(iter(errors.values()))[0]}", field_errors=errors)
    return options


# --- features ---------------------------------------------------------------------------------


@dataclass
class Feature:
    kind: str  # "fit" or "engagement"
    text: str  # what it says, for labels
    values: np.ndarray
    origin: str  # "rule" (of the starting model), "value", "bin", "activity"
    field: str = ""
    operator: str = ""
    value: str = ""
    activity: str = ""
    window_days: int = 0
    condition: tuple | None = None  # (property, operator, value)
    cap_count: float | None = None  # an engagement rule's cap in occurrences
    rule_label: str = ""
    rule: object = None  # the starting model's rule it stands for
    coef: float = 0.0
    points: int = 0


def _number_text(x):
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _fit_rule_accepted(field_name, operator, value):
    """None when FitRule validation on this code base accepts the rule, else why not."""
    rule = FitRule(field=field_name, operator=operator, value=value, points=Decimal("1"))
    try:
        rule.full_clean(exclude=["model"], validate_constraints=False)
    except ValidationError as exc:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return None


def _engagement_rule_accepted(kind, window_days):
    rule = EngagementRule(kind=kind, points=Decimal("1"), window_days=window_days)
    try:
        rule.full_clean(exclude=["model"], validate_constraints=False)
    except ValidationError as exc:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return None


def _rule_features(model, ds, skipped, engagement):
    features = []
    for rule in model.fit_rules.all():
        column = ds.columns.get(rule.field)
        try:
            if column is None:
                raise ValueError(f"the field {rule.field} is not read")
            fires = data.fit_fires(column, rule.operator, rule.value)
        except ValueError as exc:
            skipped.append(f"Rule “{rule.describe()}” left out: {exc}.")
            continue
        features.append(
            Feature(
                "fit",
                rule.describe(),
                fires.astype(np.float32),
                "rule",
                field=rule.field,
                operator=rule.operator,
                value=rule.value,
                rule_label=rule.describe(),
                rule=rule,
            )
        )
    for rule in model.engagement_rules.all():
        conditions = rule.conditions or []
        # The features read the daily rollups (count and minutes per kind and day): an
        # aggregate rule, or a condition on another property than minutes, is not one of them.
        if rule.aggregate or len(conditions) > 1 or any(c.get("property") != "minutes" for c in conditions):
            continue
        condition = (conditions[0]["operator"], conditions[0]["value"]) if conditions else None
        counts = data.decayed_counts(
            ds,
            engagement,
            kinds=[rule.kind],
            window_days=rule.window_days,
            half_life_days=model.half_life_days,
            condition=condition,
        )[rule.kind]
        cap_count = float(rule.cap / rule.points) if rule.cap is not None else None
        if cap_count is not None:
            counts = np.minimum(counts, cap_count)
        features.append(
            Feature(
                "engagement",
                rule.describe(),
                counts.astype(np.float32),
                "rule",
                activity=rule.kind,
                window_days=rule.window_days,
                condition=("minutes", *condition) if condition else None,
                cap_count=cap_count,
                rule_label=rule.describe(),
                rule=rule,
            )
        )
    return features


def _choice_candidates(ds, names, options, taken):
    out = []
    for name in names:
        column = ds.columns.get(name)
        if column is None or column.numeric:
            continue
        counts = np.bincount(column.values[column.values >= 0], minlength=len(column.vocab))
        order = np.argsort(-counts)[:MAX_VALUES]
        for code in order:
            if counts[code] < options.min_leads or counts[code] > ds.n - options.min_leads:
                continue
            value = column.vocab[code]
            if ("fit", name, "equals", data.engine.fold(value)) in taken:
                continue
            out.append(
                Feature("fit", f"{name} = {value}", (column.values == code).astype(np.float32), "value", name, "equals", value)
            )
    return out


def _bin_candidates(ds, names, options):
    out = []
    for name in names:
        column = ds.columns.get(name)
        if column is None or not column.numeric:
            continue
        x = column.values
        present = x[~np.isnan(x)]
        if len(present) < 2 * options.min_leads:
            continue
        edges = np.unique(np.quantile(present, np.linspace(0, 1, options.bins + 1)[1:-1]))
        which = np.searchsorted(edges, present, side="right")
        groups = [present[which == b] for b in range(len(edges) + 1)]
        groups = [g for g in groups if len(g)]
        for i, group in enumerate(groups):
            low, high = group.min(), group.max()
            if len(groups) == 1:
                break
            if i == 0:
                operator, value = "lte", _number_text(high)
            elif i == len(groups) - 1:
                operator, value = "gte", _number_text(low)
            else:
                operator, value = "between", f"{_number_text(low)}, {_number_text(high)}"
            fires = data.fit_fires(column, operator, value)
            if fires.sum() < options.min_leads:
                continue
            shown = {"lte": "≤", "gte": "≥"}.get(operator, "between")
            out.append(Feature("fit", f"{name} {shown} {value}", fires.astype(np.float32), "bin", name, operator, value))
    return out


def _activity_candidates(ds, engagement, model, options, taken_kinds):
    kinds = [k for k in data.kinds_seen(ds, engagement, options.window_days, options.min_leads) if k not in taken_kinds]
    counts = data.decayed_counts(
        ds, engagement, kinds=kinds, window_days=options.window_days, half_life_days=model.half_life_days
    )
    return [
        Feature(
            "engagement",
            f"each {kind} in {options.window_days} days (decayed)",
            counts[kind].astype(np.float32),
            "activity",
            activity=kind,
            window_days=options.window_days,
        )
        for kind in kinds
    ]


def build_features(model, ds, engagement, options, skipped, rule_features=None):
    features = list(rule_features) if rule_features is not None else _rule_features(model, ds, skipped, engagement)
    taken = {("fit", f.field, f.operator, data.engine.fold(f.value)) for f in features if f.kind == "fit"}
    choice = ["channel", "industry", "country", *[data.ATTR + k for k in ds.choice_attributes]]
    numbers = ["employee_count", "annual_revenue", *[data.ATTR + k for k in ds.numeric_attributes]]
    candidates = _choice_candidates(ds, choice, options, taken) + _bin_candidates(ds, numbers, options)
    refused = {}
    for feature in candidates:
        why = _fit_rule_accepted(feature.field, feature.operator, feature.value)
        if why is None:
            features.append(feature)
        else:
            refused.setdefault(feature.field, (feature.text, why))
    for name, (text, why) in refused.items():
        skipped.append(f"Features of {name} left out: the rule language here does not accept “{text}” ({why}).")
    taken_kinds = {f.activity for f in features if f.kind == "engagement"}
    for feature in _activity_candidates(ds, engagement, model, options, taken_kinds):
        why = _engagement_rule_accepted(feature.activity, feature.window_days)
        if why is None:
            features.append(feature)
        else:
            skipped.append(f"Activity kind {feature.activity} left out: {why}.")
    return features


# --- split, fit, points -------------------------------------------------------------------------


def split(ds, options):
    """(train mask, test mask, how, first test day or None): by creation date when the newer
    `test_share` of the leads has both labels, else a seeded random split."""
    if ds.n and len(np.unique(ds.created)) > 1:
        cutoff = int(np.quantile(ds.created, 1 - options.test_share, method="higher"))
        test = ds.created >= cutoff
        train = ~test
        if min(train.sum(), test.sum()) >= 0.05 * ds.n and all(0 < ds.y[m].sum() < m.sum() for m in (train, test)):
            return train, test, "time", data.epoch_date(cutoff)
    rng = np.random.default_rng(options.seed)
    test = rng.random(ds.n) < options.test_share
    return ~test, test, "random", None


def _fit(X, y, options):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=options.C, max_iter=300)
    model.fit(X, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def _round1(x):
    return np.floor(x * 10 + 0.5) / 10


def scores(features, points_of, cap_of=None):
    """(total, fit) arrays: fit rules add their points where they fire; engagement rules add
    points × decayed count, rounded to 0.1 per rule and capped, as the engine does."""
    n = len(features[0].values) if features else 0
    fit = np.zeros(n)
    engagement = np.zeros(n)
    for i, feature in enumerate(features):
        points = points_of[i]
        if not points:
            continue
        if feature.kind == "fit":
            fit += points * feature.values
        else:
            contribution = _round1(points * feature.values.astype(np.float64))
            cap = cap_of[i] if cap_of else None
            engagement += np.minimum(contribution, cap) if cap is not None else contribution
    return fit + engagement, fit


def auc(y, score):
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, score)), 4)


def grade_shares(model, fit):
    """Share of leads at or above each grade band of `model` by fit."""
    return {
        Grade.A: float(np.mean(fit >= float(model.grade_a_min))),
        Grade.B: float(np.mean(fit >= float(model.grade_b_min))),
        Grade.C: float(np.mean(fit >= float(model.grade_c_min))),
    }


def _band(fit, share):
    if share >= 1:
        return math.floor(fit.min()) if len(fit) else 0
    if share <= 0:
        return math.floor(fit.max()) if len(fit) else 0
    return math.floor(float(np.quantile(fit, 1 - share)))


def _grade_ok(fit, bands, min_grade):
    if min_grade == Grade.D:
        return np.ones(len(fit), dtype=bool)
    return fit >= bands[min_grade]


def model_scores(model, ds, engagement, skipped, features=None):
    """The model's (total, fit, qualifies) on the labelled leads (required fields and cooldowns aside)."""
    features = _rule_features(model, ds, skipped, engagement) if features is None else features
    points = [float(f.rule.points) for f in features]
    # Engagement features are capped counts already; the cap in points is the same bound.
    caps = [float(f.rule.cap) if f.kind == "engagement" and f.rule.cap is not None else None for f in features]
    total, fit = scores(features, points, caps)
    bands = {Grade.A: float(model.grade_a_min), Grade.B: float(model.grade_b_min), Grade.C: float(model.grade_c_min)}
    qualifies = (total >= float(model.mql_threshold)) & _grade_ok(fit, bands, model.min_grade)
    return total, fit, qualifies


# --- the whole suggestion -----------------------------------------------------------------------


def _text_fields(*models):
    fields = set()
    for model in models:
        if model is not None:
            fields.update(r.field for r in model.fit_rules.all())
    return sorted(f for f in fields if f not in ("channel", "industry", "country", "employee_count", "annual_revenue"))


def suggest(*, model, options=None, by=None, progress=None, now=None):
    """Fit, and create the suggested draft. Returns (draft, result dict). Never publishes."""
    options = options or Options()
    progress = progress or (lambda pct, step: None)
    started = time.monotonic()
    now = now or timezone.now()
    published = selectors.published_model()
    skipped: list[str] = []
    progress(5, "Reading the labelled leads")
    ds = data.load(
        label=options.label,
        horizon_days=options.horizon_days,
        filters=options.filters,
        today=now.date(),
        text_fields=_text_fields(model, published),
    )
    positives = int(ds.y.sum())
    where = f"{data.LABELS[options.label]}; {options.filters.describe()}"
    if ds.n < MIN_LEADS or positives < MIN_CLASS or ds.n - positives < MIN_CLASS:
        raise ValidationFailed(
            f"Not enough labelled leads to learn from ({ds.n:,} leads, {positives:,} positive; {where}): "
            f"at least {MIN_LEADS} leads with {MIN_CLASS} of each label are needed."
        )
    progress(20, f"Building features for {ds.n:,} leads")
    windows = [options.window_days] + [
        r.window_days for m in (model, published) if m is not None for r in m.engagement_rules.all()
    ]
    engagement = data.load_engagement(ds, max(windows))
    own = _rule_features(model, ds, skipped, engagement)
    features = build_features(model, ds, engagement, options, skipped, rule_features=own)
    if not features:
        raise ValidationFailed("No feature the rule language can express has enough leads.")
    train, test, how, test_from = split(ds, options)
    progress(45, f"Fitting on {int(train.sum()):,} leads")
    rng = np.random.default_rng(options.seed)
    fit_rows = np.flatnonzero(train)
    if len(fit_rows) > options.max_train:
        fit_rows = np.sort(rng.choice(fit_rows, options.max_train, replace=False))
    constant = [f for f in features if float(f.values[fit_rows].min()) == float(f.values[fit_rows].max())]
    for feature in constant:
        skipped.append(f"“{feature.text}” left out: it is the same for every training lead (it never fires, or always does).")
    features = [f for f in features if all(f is not c for c in constant)]
    if not features:
        raise ValidationFailed("No feature the rule language can express differs between these leads.")
    X = np.column_stack([f.values for f in features]).astype(np.float32)
    coef, _ = _fit(X[fit_rows], ds.y[fit_rows], options)
    # Engagement rules give positive points only: kinds that point down are refitted without
    # (until none does: dropping one can turn another).
    for _ in range(5):
        negative = [i for i, f in enumerate(features) if f.kind == "engagement" and coef[i] <= 0]
        if not negative:
            break
        for i in negative:
            skipped.append(
                f"“{features[i].text}” left out: it lowers the odds (coef {coef[i]:+.2f}), and engagement rules only add points."
            )
        keep = [i for i in range(len(features)) if i not in set(negative)]
        features = [features[i] for i in keep]
        X = X[:, keep]
        progress(60, "Refitting without the engagement that lowers the odds")
        coef, _ = _fit(X[fit_rows], ds.y[fit_rows], options)
    direct_auc = auc(ds.y[test], X[test] @ coef)
    del X
    progress(75, "Turning coefficients into points")
    current_points = [abs(float(r.points)) for r in [*model.fit_rules.all(), *model.engagement_rules.all()]]
    top = max([MIN_TOP_POINTS, *current_points])
    scale = top / max(float(np.abs(coef).max()), 1e-9)
    kept = []
    for feature, c in zip(features, coef, strict=True):
        feature.coef = float(c)
        feature.points = int(round(c * scale))
        if feature.points == 0:
            skipped.append(f"“{feature.text}” left out: its coefficient ({c:+.3f}) rounds to 0 points.")
        elif feature.kind == "engagement" and feature.points < 0:
            skipped.append(
                f"“{feature.text}” left out: it lowers the odds (coef {c:+.2f}), and engagement rules only add points."
            )
        else:
            kept.append(feature)
    caps = [round(f.points * f.cap_count, 1) if f.cap_count is not None else None for f in kept]
    total, fit = scores(kept, [f.points for f in kept], caps)
    # Grade bands keep the starting model's share of leads at each grade; the threshold gives the MQL rate.
    base_total, base_fit, base_qualifies = model_scores(model, ds, engagement, [], features=own)
    shares = grade_shares(model, base_fit)
    bands = {g: _band(fit, shares[g]) for g in (Grade.A, Grade.B, Grade.C)}
    bands[Grade.B] = min(bands[Grade.B], bands[Grade.A])
    bands[Grade.C] = min(bands[Grade.C], bands[Grade.B])
    eligible = _grade_ok(fit, bands, model.min_grade)
    if options.precision is not None:
        threshold, how_threshold = _threshold_for_precision(total[train & eligible], ds.y[train & eligible], options.precision)
    else:
        rate = options.mql_rate if options.mql_rate is not None else float(base_qualifies.mean()) or 0.1
        ranked = np.sort(total[eligible])[::-1]
        k = min(max(int(round(rate * ds.n)), 1), len(ranked)) if len(ranked) else 0
        threshold = math.floor(ranked[k - 1]) if k else 0
        how_threshold = f"MQL rate {rate:.1%}" + (" (the starting model's)" if options.mql_rate is None else "")
    qualifies = (total >= threshold) & eligible
    published_auc = None
    if published is not None:
        published_total = base_total if published.pk == model.pk else model_scores(published, ds, engagement, [])[0]
        published_auc = auc(ds.y[test], published_total[test])
    result = {
        "auc": auc(ds.y[test], total[test]),
        "auc_direct": direct_auc,
        "auc_published": published_auc,
        "published_version": published.version if published is not None else None,
        "auc_source": auc(ds.y[test], base_total[test]),
        "source_version": model.version,
        "label": options.label,
        "label_text": data.LABELS[options.label],
        "filters": options.filters.describe(),
        "n": ds.n,
        "positives": positives,
        "train": int(train.sum()),
        "test": int(test.sum()),
        "test_positives": int(ds.y[test].sum()),
        "split": how,
        "test_from": test_from.isoformat() if test_from else None,
        "threshold": threshold,
        "threshold_from": how_threshold,
        "mql_rate": round(float(qualifies.mean()), 4),
        "mql_precision": round(float(ds.y[qualifies].mean()), 4) if qualifies.any() else None,
        "scale": round(scale, 4),
        "rules": [
            {"kind": f.kind, "feature": f.text, "origin": f.origin, "coef": round(f.coef, 4), "points": f.points} for f in kept
        ],
        "skipped": skipped,
    }
    progress(90, "Creating the draft")
    draft = _create_draft(model, kept, caps, bands, threshold, options, result)
    result["draft_id"] = draft.pk
    result["draft_version"] = draft.version
    result["seconds"] = round(time.monotonic() - started, 1)
    return draft, result


def _threshold_for_precision(total, y, precision):
    order = np.argsort(-total, kind="stable")
    hits = np.cumsum(y[order])
    precisions = hits / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precisions >= precision)
    if not len(ok):
        return math.floor(total.max()) if len(total) else 0, f"precision {precision:.0%} (not reached: the highest score)"
    return math.floor(total[order][ok[-1]]), f"precision {precision:.0%} on the training leads"


def _label(feature):
    return f"suggested: coef {feature.coef:+.2f} for {feature.text}"[:120]


def _create_draft(model, kept, caps, bands, threshold, options, result):
    fit_rules, engagement_rules = [], []
    for feature, cap in zip(kept, caps, strict=True):
        if feature.kind == "fit":
            fit_rules.append(
                {
                    "field": feature.field,
                    "operator": feature.operator,
                    "value": feature.value,
                    "points": feature.points,
                    "label": _label(feature),
                }
            )
        else:
            prop, op, value = feature.condition or ("", "", None)
            rule = {
                "kind": feature.activity,
                "points": feature.points,
                "window_days": feature.window_days,
                "cap": max(cap, feature.points) if cap is not None else None,
                "label": _label(feature),
            }
            if prop:
                rule["conditions"] = [{"property": prop, "operator": op, "value": value}]
            engagement_rules.append(rule)
    document = {
        "format": model_json.FORMAT,
        "name": f"Suggested from v{model.version} ({options.label}, {options.filters.describe()})"[:120],
        "settings": {
            "mql_threshold": threshold,
            "min_grade": model.min_grade,
            "grade_a_min": bands[Grade.A],
            "grade_b_min": bands[Grade.B],
            "grade_c_min": bands[Grade.C],
            "required_fields": list(model.required_fields or []),
            "half_life_days": model.half_life_days,
        },
        "fit_rules": fit_rules,
        "engagement_rules": engagement_rules,
    }
    draft = model_json.import_model(document, copied_from=model)
    assert draft.status == ModelStatus.DRAFT
    return draft


# --- runs (the Celery task's body) ----------------------------------------------------------------


def start_suggestion(*, model, by=None, options=None, enqueue=True):
    """Record a run and queue the task on commit. Returns the run."""
    options = options or Options()
    with transaction.atomic():
        run = SuggestionRun.objects.create(model=model, created_by=by, options=options.as_json(), step="Waiting for a worker")
        if enqueue:
            from .tasks import suggest_weights

            transaction.on_commit(lambda: suggest_weights.delay(run.pk))
    return run


def _options_from_json(stored):
    return parse_options({k: v for k, v in (stored or {}).items() if v is not None})


def run_suggestion(run_id):
    """Do a run: fit, create the draft, record the result (or a sentence why it failed)."""
    run = SuggestionRun.objects.select_related("model").get(pk=run_id)
    if run.status == SuggestionStatus.DONE:
        return run
    SuggestionRun.objects.filter(pk=run.pk).update(status=SuggestionStatus.RUNNING, started_at=timezone.now(), error="")

    def progress(pct, step):
        SuggestionRun.objects.filter(pk=run.pk).update(progress=pct, step=step)

    try:
        draft, result = suggest(model=run.model, options=_options_from_json(run.options), by=run.created_by, progress=progress)
    except ValidationFailed as exc:
        SuggestionRun.objects.filter(pk=run.pk).update(
            status=SuggestionStatus.FAILED, error=exc.message, finished_at=timezone.now()
        )
        log.info("suggestion %s did not finish: %s", run.pk, exc.message)
    except Exception as exc:
        SuggestionRun.objects.filter(pk=run.pk).update(
            status=SuggestionStatus.FAILED, error=f"The suggestion failed: {exc}", finished_at=timezone.now()
        )
        raise
    else:
        SuggestionRun.objects.filter(pk=run.pk).update(
            status=SuggestionStatus.DONE,
            progress=100,
            step="Done",
            draft=draft,
            result=result,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run
