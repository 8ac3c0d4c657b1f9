"""Read queries for scoring: model snapshots, lead facts, explanations."""

from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, NotRequired, TypedDict

from django.db import connection
from django.utils import timezone

from leadhub.models import Activity, ActivityKind, Lead

from . import engine, language
from .choices import ModelStatus, RunStatus
from .models import ActivityRollup, RescoreRun, ScoringModel, custom_fields, field_label


def published_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ModelStatus.PUBLISHED).first()


def published_spec() -> engine.ModelSpec | None:
    """The published model's engine.ModelSpec, or None; kept between calls while the model is
    unchanged (rescoring after every ingest batch would rebuild the same rules)."""
    row = ScoringModel.objects.filter(status=ModelStatus.PUBLISHED).values_list(*MODEL_KEY_COLUMNS).first()
    if row is None:
        return None
    version = row[1]
    return _specs_with_keys([version], known={version: row})[version][1]


def _fit_kind(field: str, custom: dict[str, tuple[str, str]]) -> str:
    # A custom field deleted since the rule was written reads as text: only “is empty” fires.
    return language.field_type(field, {k: t for k, (t, _) in custom.items()}) or "text"


def snapshot(model: ScoringModel) -> engine.ModelSpec:
    """The model and its rules as plain data for engine.score and scoring_sql.py."""
    custom = custom_fields()
    kinds = dict(ActivityKind.objects.values_list("key", "label"))
    fit_rules = tuple(
        engine.FitRuleSpec(
            id=r.pk,
            field=r.field,
            operator=r.operator,
            values=engine.parse_fit_value(r.field, r.operator, r.value, _fit_kind(r.field, custom)),
            points=engine.to_tenths(r.points),
            label=r.describe(custom),
            field_kind=_fit_kind(r.field, custom),
        )
        for r in model.fit_rules.all()
    )
    engagement_rules = tuple(
        engine.EngagementRuleSpec(
            id=r.pk,
            kind=r.kind,
            points=engine.to_tenths(r.points),
            conditions=r.condition_specs(),
            cap=engine.to_tenths(r.cap) if r.cap is not None else None,
            window_days=r.window_days,
            label=r.describe(kinds),
            aggregate=r.aggregate or "",
            aggregate_property=r.aggregate_property or "",
            at_least=r.at_least,
        )
        for r in model.engagement_rules.all()
    )
    return engine.ModelSpec(
        id=model.pk,
        version=model.version,
        threshold=engine.to_tenths(model.mql_threshold),
        min_grade=model.min_grade,
        grade_a=engine.to_tenths(model.grade_a_min),
        grade_b=engine.to_tenths(model.grade_b_min),
        grade_c=engine.to_tenths(model.grade_c_min),
        required_fields=tuple(model.required_fields or ()),
        half_life_days=model.half_life_days,
        fit_rules=fit_rules,
        engagement_rules=engagement_rules,
    )


# Snapshots of models that can no longer change (published or archived: only drafts are
# editable), keyed so that a different model row never hits: lists such as the queue explain
# many leads per request and should not rebuild the same rules every time.
# A model row's identity: (id, version, published_at, updated_at); None for a draft.
ModelKey = tuple[int, int, datetime | None, datetime]
# A row of MODEL_KEY_COLUMNS.
ModelRow = tuple[int, int, str, datetime | None, datetime]

_FROZEN_SPECS: dict[ModelKey, engine.ModelSpec] = {}
_FROZEN_SPECS_MAX = 16


MODEL_KEY_COLUMNS = ("id", "version", "status", "published_at", "updated_at")


def _specs_with_keys(
    versions: Iterable[int], known: dict[int, ModelRow] | None = None
) -> dict[int, tuple[ModelKey | None, engine.ModelSpec]]:
    """{version: (key or None for a draft, engine.ModelSpec)}; one small query when cached, none
    when `known` holds each version's MODEL_KEY_COLUMNS row (read along with the leads)."""
    wanted = sorted(set(versions))
    if not wanted:
        return {}
    if known is not None and all(version in known for version in wanted):
        rows: Sequence[ModelRow] = [known[version] for version in wanted]
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(MODEL_KEY_COLUMNS)} FROM {ScoringModel._meta.db_table}"
                f" WHERE version IN ({', '.join(['%s'] * len(wanted))})",
                wanted,
            )
            rows = cursor.fetchall()
    specs: dict[int, tuple[ModelKey | None, engine.ModelSpec]] = {}
    missing: dict[int, ModelKey | None] = {}
    for pk, version, status, published_at, updated_at in rows:
        key: ModelKey | None = (pk, version, published_at, updated_at) if status != ModelStatus.DRAFT else None
        if key is not None and key in _FROZEN_SPECS:
            specs[version] = (key, _FROZEN_SPECS[key])
        else:
            missing[pk] = key
    if missing:
        for model in ScoringModel.objects.filter(pk__in=missing).prefetch_related("fit_rules", "engagement_rules"):
            spec, key = snapshot(model), missing[model.pk]
            if key is not None:
                if len(_FROZEN_SPECS) >= _FROZEN_SPECS_MAX:
                    _FROZEN_SPECS.clear()
                _FROZEN_SPECS[key] = spec
            specs[model.version] = (key, spec)
    return specs


def lead_facts(
    lead: Lead,
    *,
    activities: Iterable[tuple[str, datetime, Any]] | None = None,
    activity_facts: Iterable[engine.ActivityFact] | None = None,
) -> engine.LeadFacts:
    """What the engine knows of a lead, read from the lead, its company and its raw activities
    (or from ready-made `activity_facts`, e.g. built from rollups)."""
    company = lead.company
    if activities is None and activity_facts is None:
        activities = Activity.objects.filter(lead=lead).values_list("kind", "occurred_at", "properties")
    if activity_facts is None:
        assert activities is not None
        activity_facts = tuple(
            engine.ActivityFact(
                kind,
                engine.epoch_day(at),
                engine.numeric_property(props, "minutes"),
                properties=props if isinstance(props, dict) else {},
            )
            for kind, at, props in activities
        )
    return engine.LeadFacts(
        email_domain=(lead.email or "").partition("@")[2],
        title=lead.title or "",
        country=lead.country or (company.country if company else "") or "",
        first_name=lead.first_name or "",
        last_name=lead.last_name or "",
        phone=lead.phone or "",
        has_company=company is not None,
        industry=(company.industry if company else "") or "",
        employee_count=company.employee_count if company else None,
        annual_revenue=float(company.annual_revenue) if company and company.annual_revenue is not None else None,
        channel=lead.source or "",
        campaign=lead.campaign or "",
        company_name=(company.name if company else "") or "",
        company_country=(company.country if company else "") or "",
        attributes=lead.attributes if isinstance(lead.attributes, dict) else {},
        activities=tuple(activity_facts),
    )


def _model_for(lead: Lead) -> tuple[ScoringModel, engine.ModelSpec] | tuple[None, None]:
    """The model the lead was scored with (its explanation must match its stored score) and its
    engine.ModelSpec: one query for the model row; the rules of a model that can no longer
    change come from the process's snapshots."""
    if lead.score_model_version is None:
        return None, None
    model = ScoringModel.objects.filter(version=lead.score_model_version).first()
    if model is None:
        return None, None
    row: ModelRow = (model.pk, model.version, model.status, model.published_at, model.updated_at)
    _key, spec = _specs_with_keys([model.version], known={model.version: row})[model.version]
    return model, spec


def lead_score(lead: Lead) -> engine.ScoreResult | None:
    """engine.ScoreResult re-derived for the lead's stored score (model and moment it was scored at)."""
    model, spec = _model_for(lead)
    if model is None or spec is None:
        return None
    return engine.score(lead_facts(lead), spec, lead.scored_at or timezone.now())


# A lead's top reasons are a function of what it was scored with: the lead as scored (id and
# moment), and a frozen model. The queue shows the same leads all day; keep the answers.
class TopReason(TypedDict):
    rule: str
    points: Decimal


_TOP_REASONS: OrderedDict[tuple[int, datetime, ModelKey, int], list[TopReason]] = OrderedDict()
_TOP_REASONS_MAX = 20_000


# What lead_top_reasons needs of a lead read as a plain row (the queue reads rows, not models):
# `model` is its scoring model's MODEL_KEY_COLUMNS row, or None when not read along.
class LeadRef(NamedTuple):
    pk: int
    scored_at: datetime | None
    score_model_version: int | None
    model: ModelRow | None


def lead_top_reasons(leads: Iterable[Lead | LeadRef | int], limit: int = 3) -> dict[int, list[TopReason]]:
    """{lead id: [{"rule", "points"}, ...]}: the biggest contributions to each lead's stored
    score, for lists such as the queue. `leads` are Lead objects (company loaded), LeadRefs or
    ids. A constant number of queries whatever the number of leads, none for unscored leads:
    activity facts come from the daily rollups, the rules from one query per table; answers
    already computed for the same lead, moment and model are reused (then only the leads'
    models are looked up)."""
    given = list(leads)
    objects: list[Lead | LeadRef] = [lead for lead in given if isinstance(lead, (Lead, LeadRef))]
    if given and not objects:
        ids = [pk for pk in given if isinstance(pk, int)]
        objects = list(Lead.objects.filter(pk__in=ids).select_related("company"))
    known = {lead.model[1]: lead.model for lead in objects if isinstance(lead, LeadRef) and lead.model}
    specs = _specs_with_keys((lead.score_model_version for lead in objects if lead.score_model_version is not None), known)
    if not specs:
        return {}
    reasons: dict[int, list[TopReason]] = {}
    todo: list[tuple[Lead | LeadRef, engine.ModelSpec, tuple[int, datetime, ModelKey, int] | None]] = []
    for lead in objects:
        model_key, spec = (
            specs.get(lead.score_model_version, (None, None)) if lead.score_model_version is not None else (None, None)
        )
        if spec is None:
            continue
        key = (lead.pk, lead.scored_at, model_key, limit) if model_key and lead.scored_at else None
        if key is not None and key in _TOP_REASONS:
            _TOP_REASONS.move_to_end(key)
            reasons[lead.pk] = _TOP_REASONS[key]
        else:
            todo.append((lead, spec, key))
    if not todo:
        return reasons
    refs = [lead.pk for lead, _, _ in todo if not isinstance(lead, Lead)]
    if refs:  # explaining needs the lead's facts: read those leads in full
        loaded = Lead.objects.select_related("company").in_bulk(refs)
        fresh: list[tuple[Lead | LeadRef, engine.ModelSpec, tuple[int, datetime, ModelKey, int] | None]] = []
        for lead, spec, key in todo:
            if isinstance(lead, LeadRef):
                full = loaded.get(lead.pk)
                if full is None or (full.scored_at, full.score_model_version) != (lead.scored_at, lead.score_model_version):
                    continue  # deleted or rescored since the row was read: the next load explains it
                lead = full
            fresh.append((lead, spec, key))
        todo = fresh
    results = _stored_scores([(lead, spec) for lead, spec, _ in todo if isinstance(lead, Lead)])
    for lead, _spec, key in todo:
        top = sorted(results[lead.pk].contributions, key=lambda c: (-abs(c.points), c.rule))[:limit]
        reasons[lead.pk] = [{"rule": c.rule, "points": c.points} for c in top]
        if key is not None:
            _TOP_REASONS[key] = reasons[lead.pk]
            if len(_TOP_REASONS) > _TOP_REASONS_MAX:
                _TOP_REASONS.popitem(last=False)
    return reasons


def _stored_scores(pairs: Sequence[tuple[Lead, engine.ModelSpec]]) -> dict[int, engine.ScoreResult]:
    """{lead id: engine.ScoreResult} for (Lead with company loaded, spec) pairs, each scored at
    the moment it was scored; the activity facts come from the daily rollups in one query."""
    facts: defaultdict[int, list[engine.ActivityFact]] = defaultdict(list)
    ids = [lead.pk for lead, _ in pairs]
    # Rules reading properties the rollups do not keep read the raw activities of their kind:
    # those kinds' facts all come from the raw rows (with every property), the rest from rollups.
    raw_kinds = sorted({r.kind for _, spec in pairs for r in spec.engagement_rules if not r.uses_rollups})
    rollups = ActivityRollup.objects.filter(lead_id__in=ids).exclude(kind__in=raw_kinds)
    for lead_id, kind, day, minutes, count in rollups.values_list("lead_id", "kind", "day", "minutes", "n"):
        facts[lead_id].append(engine.ActivityFact(kind, day, minutes, count))
    if raw_kinds:
        raw = Activity.objects.filter(lead_id__in=ids, kind__in=raw_kinds)
        for lead_id, kind, at, props in raw.values_list("lead_id", "kind", "occurred_at", "properties"):
            props = props if isinstance(props, dict) else {}
            facts[lead_id].append(
                engine.ActivityFact(kind, engine.epoch_day(at), engine.numeric_property(props, "minutes"), properties=props)
            )
    now = timezone.now()
    return {
        lead.pk: engine.score(lead_facts(lead, activity_facts=facts[lead.pk]), spec, lead.scored_at or now)
        for lead, spec in pairs
    }


def lead_scores(leads: Sequence[Lead]) -> dict[int, engine.ScoreResult]:
    """lead_score for many Lead objects (company loaded) in a constant number of queries:
    {lead id: engine.ScoreResult}, without the leads that were never scored."""
    specs = _specs_with_keys(lead.score_model_version for lead in leads if lead.score_model_version is not None)
    return _stored_scores([(lead, specs[lead.score_model_version][1]) for lead in leads if lead.score_model_version in specs])


class Explanation(TypedDict):
    """The API's explanation of a score (lead_explanation); the points only for a scored lead."""

    model_version: int | None
    scored_at: datetime | None
    fit: NotRequired[Decimal]
    engagement: NotRequired[Decimal]
    total: NotRequired[Decimal]
    grade: NotRequired[str]
    qualifies: bool
    missing_required_fields: list[str]
    contributions: list[dict[str, Any]]


def lead_explanation(lead: Lead) -> Explanation:
    """The API's explanation of a lead's score: model version and contributions."""
    result = lead_score(lead)
    if result is None:
        return {"model_version": None, "scored_at": None, "contributions": [], "missing_required_fields": [], "qualifies": False}
    return {
        "model_version": result.model_version,
        "scored_at": lead.scored_at,
        "fit": result.fit,
        "engagement": result.engagement,
        "total": result.total,
        "grade": result.grade,
        "qualifies": result.qualifies,
        "missing_required_fields": list(result.missing_required_fields),
        "contributions": [{"kind": c.kind, "rule": c.rule, "points": c.points, "text": c.text} for c in result.contributions],
    }


def lead_score_context(lead: Lead) -> dict[str, Any]:
    """Template context for the lead page's score section (templates/qualification/_lead_score.html)."""
    model, spec = _model_for(lead)
    if model is None or spec is None:
        return {"score": None, "published_model": published_model()}
    result = engine.score(lead_facts(lead), spec, lead.scored_at or timezone.now())
    fit = [c for c in result.contributions if c.kind == "fit"]
    engagement = [c for c in result.contributions if c.kind == "engagement"]
    custom = custom_fields() if any(language.attribute_key(f) for f in result.missing_required_fields) else {}
    return {
        "score": result,
        "score_model": model,
        "fit_contributions": fit,
        "engagement_contributions": engagement,
        "missing_labels": [field_label(f, custom) for f in result.missing_required_fields],
        "below_threshold": result.total < model.mql_threshold,
        "below_grade": engine.GRADES.index(result.grade) > engine.GRADES.index(model.min_grade),
    }


def active_run() -> RescoreRun | None:
    return RescoreRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).select_related("model").first()


def recent_runs(limit: int = 5) -> list[RescoreRun]:
    return list(RescoreRun.objects.select_related("model")[:limit])
