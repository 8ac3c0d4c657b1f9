"""A scoring model as a JSON document: export, and import as a new draft (docs/scoring-model-json.md).

One format for the API (`GET /api/scoring-models/{id}/`, `POST /api/scoring-models/`) and the
admin ("Export as JSON", "Import from JSON"). Import validates like the editor does (full_clean
of the model and of every rule, then the reachability of the threshold and the minimum grade)
and writes nothing unless all of it is valid; every error is returned at once, keyed by where
it is in the document ("mql_threshold", "fit_rules.2.operator", ...).

Rule fields are read from the rule models themselves, so fields the rule language gains later
export and import without a change here.
"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models, transaction

from leadhub.errors import ValidationFailed

from .choices import ModelStatus
from .models import EngagementRule, FitRule, ScoringModel

FORMAT = "leadhub.scoring-model/1"
SETTINGS = ["mql_threshold", "min_grade", "grade_a_min", "grade_b_min", "grade_c_min", "required_fields", "half_life_days"]
RULE_LISTS = {"fit_rules": FitRule, "engagement_rules": EngagementRule}
TOP_KEYS = {"format", "name", "settings", *RULE_LISTS}


def rule_fields(rule_model):
    """The rule's fields a document carries: every editable concrete field but its id and model."""
    return [
        f
        for f in rule_model._meta.concrete_fields
        if f.editable and not f.primary_key and f.name != "model" and not f.is_relation
    ]


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def export_model(model):
    """The model as a JSON-ready dict (the document import_model reads)."""
    document = {
        "format": FORMAT,
        "name": model.name,
        "version": model.version,
        "status": model.status,
        "settings": {name: _plain(getattr(model, name)) for name in SETTINGS},
    }
    for key, rule_model in RULE_LISTS.items():
        fields = rule_fields(rule_model)
        rules = getattr(model, key).all()
        document[key] = [{f.name: _plain(getattr(rule, f.name)) for f in fields} for rule in rules]
    return document


def _coerce(field, value):
    """A JSON value for a model field, of the JSON type the schema gives it (numbers for
    decimals, integers for whole numbers, text for text): "5" for a number is an error."""
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(field, models.DecimalField):
        if not number:
            raise ValidationError("Give a number.")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValidationError(f"“{value}” is not a number.")
    if isinstance(field, models.IntegerField):
        if not number or not float(value).is_integer():
            raise ValidationError("Give a whole number.")
        return int(value)
    if isinstance(field, models.FloatField):
        if not number:
            raise ValidationError("Give a number.")
        return float(value)
    if isinstance(field, models.BooleanField) and not isinstance(value, bool):
        raise ValidationError("Give true or false.")
    if isinstance(field, (models.CharField, models.TextField)) and not isinstance(value, str):
        raise ValidationError("Give text.")
    return value


def _messages(exc):
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _build(instance, fields, data, prefix, errors):
    """Set `data`'s fields on `instance`; unknown keys and unusable values are errors under `prefix`."""
    if not isinstance(data, dict):
        errors.setdefault(prefix.rstrip(".") or "__all__", []).append("Give an object of fields.")
        return
    by_name = {f.name: f for f in fields}
    for key in data:
        if key not in by_name:
            errors.setdefault(f"{prefix}{key}", []).append(f"Unknown field “{key}”; the fields are: {', '.join(by_name)}.")
    for name, field in by_name.items():
        if name not in data:
            continue
        try:
            setattr(instance, field.attname, _coerce(field, data[name]))
        except ValidationError as exc:
            errors.setdefault(f"{prefix}{name}", []).extend(exc.messages)


def parse_model(document):
    """(model, fit rules, engagement rules), unsaved, from a document; raises ValidationFailed
    with every error found (the model's settings, each rule, reachability)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(document, dict):
        raise ValidationFailed("The scoring model must be a JSON object.", field_errors={"__all__": ["Give a JSON object."]})
    for key in document:
        if key not in TOP_KEYS | {"version", "status"}:
            errors.setdefault(key, []).append(f"Unknown key “{key}”; a model has: {', '.join(sorted(TOP_KEYS))}.")
    if document.get("format", FORMAT) != FORMAT:
        errors.setdefault("format", []).append(f"Unknown format; this server reads “{FORMAT}”.")
    model = ScoringModel(status=ModelStatus.DRAFT, name=document.get("name") or "")
    if not isinstance(model.name, str):
        errors.setdefault("name", []).append("Give text.")
        model.name = ""
    settings_fields = [ScoringModel._meta.get_field(name) for name in SETTINGS]
    _build(model, settings_fields, document.get("settings", {}), "settings.", errors)
    try:
        model.full_clean(exclude=["version", "copied_from", "published_by"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for key, messages in _messages(exc).items():
            errors.setdefault(f"settings.{key}" if key in SETTINGS else key, []).extend(messages)
    built = {}
    for key, rule_model in RULE_LISTS.items():
        rows = document.get(key, [])
        if not isinstance(rows, list):
            errors.setdefault(key, []).append("Give a list of rules.")
            rows = []
        rules = []
        for index, row in enumerate(rows):
            rule = rule_model()
            prefix = f"{key}.{index}."
            before = len(errors)
            _build(rule, rule_fields(rule_model), row, prefix, errors)
            if len(errors) == before:
                try:
                    rule.full_clean(exclude=["model"], validate_unique=False, validate_constraints=False)
                except ValidationError as exc:
                    for field, messages in _messages(exc).items():
                        errors.setdefault(f"{prefix}{field}", []).extend(messages)
            rules.append(rule)
        built[key] = rules
    if not built["fit_rules"] and not built["engagement_rules"]:
        errors.setdefault("__all__", []).append("A model needs at least one rule.")
    if not errors:
        for field, message in model.reachability_problems(
            fit_rules=built["fit_rules"], engagement_rules=built["engagement_rules"]
        ).items():
            errors.setdefault(f"settings.{field}", []).append(message)
    if errors:
        count = sum(len(v) for v in errors.values())
        where, messages = next(iter(errors.items()))
        first = f"{where}: {messages[0]}" if where != "__all__" else messages[0]
        more = f" ({count - 1} more below)" if count > 1 else ""
        raise ValidationFailed(f"The scoring model was not created: {first}{more}", field_errors=errors)
    return model, built["fit_rules"], built["engagement_rules"]


@transaction.atomic
def import_model(document, *, copied_from=None):
    """Create a draft from a document (see parse_model); all of it or nothing."""
    model, fit_rules, engagement_rules = parse_model(document)
    model.copied_from = copied_from
    model.save()
    for rule in fit_rules:
        rule.model = model
    for rule in engagement_rules:
        rule.model = model
    FitRule.objects.bulk_create(fit_rules)
    EngagementRule.objects.bulk_create(engagement_rules)
    return model
