"""How good is a scoring model: the quality report of any version over the labelled leads of a
period (qualification.quality_labels), from scores computed set-based without writing.

Scores: every version is scored with the rescoring SQL (scoring_sql.parallel_scores_sql) over
the labelled leads, as of one moment: the end of the period, or now when the period has not
ended (Period.as_of). The lead's facts are as they are today; engagement counts its activities
decayed to that moment. So two versions (the published model and a draft) are always measured
on the same leads, the same label and the same moment.

Per rule: whether each rule gave a lead points at that moment, from the same compiled SQL: a
"probe" copy of the model whose rules are worth distinct powers of two (fit) or are capped at
one (engagement), so one scoring pass returns each lead's fired rules as bits (_probes).

The figures (pure, qualification.stats): ROC AUC with its DeLong 95 % interval, the ROC curve,
deciles of the data (conversion, Wilson interval, lift, gain), calibration by bands that follow
the model (its MQL threshold and its grade bands), precision and recall of the model's MQL rule
(threshold, grade, required fields) and the converters it misses, and the lift of each rule.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import numpy as np
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from leadhub.sql import SQL, Leads, db_datetime, is_postgresql

from . import bulk, engine, selectors, stats
from .models import PendingRescore, ScoringModel
from .quality_labels import LABELS, SHORT, Labels, Period, labels

PG_PARTS = 4  # id lists scored in parallel parts on PostgreSQL
SQLITE_CHUNK = 2000  # ids per statement on SQLite (its parameter limit)
FIT_BITS, ENGAGEMENT_BITS = 30, 8  # rules per probe: an int4 of fit bits; engagement products within bigint
RULE_SAMPLE = 10_000  # per-rule firing on at most this many labelled leads (a fixed, seeded sample)


@dataclass
class Scored:
    """The labelled leads' scores under one model version, aligned with Labels.ids."""

    total: np.ndarray  # tenths
    fit: np.ndarray  # tenths
    grade: np.ndarray  # "A".."D"
    qualifies: np.ndarray  # the model's MQL rule: threshold, grade, required fields
    fired: dict  # {(kind, rule id): bool array}, over the leads `sample` picks
    sample: np.ndarray | None = None  # indexes of the leads per-rule firing was computed on (None: all)


def _parts(ids: np.ndarray) -> list[Leads]:
    if not len(ids):
        return []
    if is_postgresql():
        return [Leads(ids=tuple(int(i) for i in part)) for part in np.array_split(ids, min(PG_PARTS, len(ids))) if len(part)]
    return [Leads(ids=tuple(int(i) for i in ids[i : i + SQLITE_CHUNK])) for i in range(0, len(ids), SQLITE_CHUNK)]


def _fresh_sql(published: ScoringModel, today: int) -> SQL:
    """True for a lead `l` whose stored scores are `published`'s as of epoch day `today`: scored
    by it that day, and nothing waiting to rescore it (every change of its facts marks it).
    The preview's rule too (qualification.preview)."""
    day_start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=today)
    return SQL().add(
        "(COALESCE(l.score_model_version, -1) = %s AND l.scored_at IS NOT NULL AND l.scored_at >= %s AND l.scored_at < %s"
        f" AND l.id NOT IN (SELECT p.lead_id FROM {PendingRescore._meta.db_table} p))",
        published.version,
        db_datetime(day_start),
        db_datetime(day_start + timedelta(days=1)),
    )


def stored_columns(model: ScoringModel, as_of: datetime) -> tuple[tuple[str, SQL], ...]:
    """Columns for quality_labels.labels that read the leads' stored scores, when `model` is the
    published model: its fit and engagement in tenths, its required fields present, and whether
    the stored scores are its scores as of `as_of` (_fresh_sql). Empty for any other model (a
    draft's scores are never stored)."""
    published = selectors.published_model()
    if published is None or published.pk != model.pk:
        return ()
    spec = selectors.snapshot(published)
    fresh = _fresh_sql(published, engine.epoch_day(as_of))
    return (
        ("fit", SQL().add("CAST(ROUND(COALESCE(l.fit_score, 0) * 10) AS INTEGER)")),
        ("eng", SQL().add("CAST(ROUND(COALESCE(l.engagement_score, 0) * 10) AS BIGINT)")),
        ("rq", SQL().add(f"CASE WHEN {bulk.required_sql(spec)} THEN 1 ELSE 0 END")),
        ("fresh", SQL().add("CASE WHEN ").extend(fresh).add(" THEN 1 ELSE 0 END")),
    )


def _run(
    spec: engine.ModelSpec, today: int, parts: list[Leads], columns: str, carry=(), stored=None, all_fresh=False
) -> list[tuple]:
    """Rows of `columns` (over the scored leads `s`) for the leads of `parts`. With `stored`
    (the published model's spec and its ScoringModel), leads whose stored scores are that
    model's as of `today` are scored from them plus the rules that differ (the preview's
    shortcut, bulk.preview_scores_sql: exact), the others in full; `all_fresh` says the leads
    of `parts` are all such leads (read just before), so none is looked for among the others."""
    if not parts:
        return []  # no labelled leads
    groups = [parts] if is_postgresql() else [[part] for part in parts]
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for group in groups:
            if stored is not None:
                published_spec, published = stored
                fresh = SQL().add("1 = 1") if all_fresh else _fresh_sql(published, today)
                with_decay, body = bulk.preview_scores_sql(spec, today, group, carry, published=published_spec, fresh=fresh)
            else:
                with_decay, body = bulk.parallel_scores_sql(spec, today, group, carry)
            sql = SQL().add(f"{with_decay} SELECT {columns} FROM (").extend(body).add(") s")
            cursor.execute(sql.text, sql.params)
            rows.extend(cursor.fetchall())
    return rows


def _probes(spec: engine.ModelSpec) -> list[tuple[engine.ModelSpec, list, list]]:
    """Copies of `spec` whose scores say which rules fired: fit rule i of a probe is worth 2^i
    tenths, so the fit is the sum of the fired rules' bits; engagement rule i is capped at
    2^i tenths and worth 2^i × 10^6 per occurrence, so any counted activity (decayed weight
    ≥ one millionth) gives exactly 2^i. Returns (probe, its fit rules, its engagement rules)."""
    fits, engagements = list(spec.fit_rules), list(spec.engagement_rules)
    out = []
    while fits or engagements:
        f, fits = fits[:FIT_BITS], fits[FIT_BITS:]
        e, engagements = engagements[:ENGAGEMENT_BITS], engagements[ENGAGEMENT_BITS:]
        probe = replace(
            spec,
            fit_rules=tuple(replace(rule, points=1 << i) for i, rule in enumerate(f)),
            engagement_rules=tuple(replace(rule, points=(1 << i) * engine.MICRO, cap=1 << i) for i, rule in enumerate(e)),
        )
        out.append((probe, f, e))
    return out


def rule_sample(n: int) -> np.ndarray | None:
    """Which of n labelled leads per-rule firing is computed on: all (None) up to RULE_SAMPLE,
    else RULE_SAMPLE of them drawn with a fixed seed (the same leads on every run)."""
    if n <= RULE_SAMPLE:
        return None
    return np.sort(np.random.default_rng(16).choice(n, RULE_SAMPLE, replace=False))


def score(spec: engine.ModelSpec, ids: np.ndarray, as_of: datetime, with_rules: bool = True, read: dict | None = None) -> Scored:
    """Score the leads `ids` (ascending) under `spec` as of `as_of`, without writing. Leads
    holding the published model's scores of that day start from them (see _run). `read` is
    Labels.extra as stored_columns(the published model, as_of) read it: under the published
    model, the leads it marks fresh take their stored scores as they are and only the others are
    scored; under another model (a draft), the fresh ones are scored from their stored scores
    plus the rules that differ, and only the others in full."""
    today = engine.epoch_day(as_of)
    published = selectors.published_model()
    stored = (selectors.snapshot(published), published) if published is not None else None
    grades = bulk.grades_at_least(spec.min_grade)
    carry = [("rq", SQL().add(f"CASE WHEN {bulk.required_sql(spec)} THEN 1 ELSE 0 END"))]
    n = len(ids)
    total, fit = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    grade = np.full(n, "D", dtype="<U1")
    required = np.zeros(n, dtype=bool)
    fired: dict = {}
    columns = "s.id, s.fit, s.total, s.grade, s.rq"
    with transaction.atomic():
        bulk.tune_for_preview()
        if read and len(read.get("fresh", ())) == n and published is not None:
            fresh = read["fresh"].astype(bool)
            if spec.id == published.pk:
                fit[fresh] = read["fit"][fresh].astype(np.int64)
                total[fresh] = fit[fresh] + read["eng"][fresh].astype(np.int64)
                required[fresh] = read["rq"][fresh].astype(bool)
                grade[fresh] = _grades(spec, fit[fresh])
                rows = []
            else:
                rows = _run(spec, today, _parts(ids[fresh]), columns, carry, stored, all_fresh=True)
            rows += _run(spec, today, _parts(ids[~fresh]), columns, carry)
        else:
            rows = _run(spec, today, _parts(ids), columns, carry, stored)
        if rows:
            got = np.array([r[0] for r in rows], dtype=np.int64)
            at = np.searchsorted(ids, got)
            fit[at] = [r[1] for r in rows]
            total[at] = [r[2] for r in rows]
            grade[at] = [r[3] for r in rows]
            required[at] = [bool(r[4]) for r in rows]
        sample = rule_sample(n) if with_rules else None
        probed = ids if sample is None else ids[sample]
        if with_rules:
            probe_parts = _parts(probed)
            for probe, fit_rules, engagement_rules in _probes(spec):
                rows = _run(probe, today, probe_parts, "s.id, s.fit, s.eng")
                got = np.array([r[0] for r in rows], dtype=np.int64)
                at = np.searchsorted(probed, got)
                m = len(probed)
                fit_bits, eng_bits = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
                if rows:
                    fit_bits[at] = [int(r[1]) for r in rows]
                    eng_bits[at] = [int(r[2]) for r in rows]
                for i, rule in enumerate(fit_rules):
                    fired[("fit", rule.id)] = (fit_bits >> i) & 1 == 1
                for i, rule in enumerate(engagement_rules):
                    fired[("engagement", rule.id)] = (eng_bits >> i) & 1 == 1
    qualifies = (total >= spec.threshold) & np.isin(grade, grades) & required
    return Scored(total=total, fit=fit, grade=grade, qualifies=qualifies, fired=fired, sample=sample)


def _grades(spec: engine.ModelSpec, fit: np.ndarray) -> np.ndarray:
    """The grade letters of fit scores (tenths) under `spec`'s bands, as the scoring SQL gives them."""
    return np.select([fit >= spec.grade_a, fit >= spec.grade_b, fit >= spec.grade_c], ["A", "B", "C"], default="D")


# --- bands that follow the model ------------------------------------------------------------


def _nice_step(threshold: Decimal | float) -> int:
    """A round step for bands above the threshold: about a quarter of it, in fives."""
    quarter = float(threshold) / 4
    return max(5, int(round(quarter / 5)) * 5) if quarter >= 5 else max(1, int(round(quarter)) or 1)


def score_bands(threshold: Decimal | float, below: bool = True) -> list[tuple[str, float | None, float | None]]:
    """Total-score bands around a model's MQL threshold T, in points: with `below`, "under T/2"
    and "T/2 to T"; else "under T"; then three bands of a round step (about T/4) from T, and
    the rest. (label, low inclusive, high exclusive)."""
    t = float(threshold)
    step = _nice_step(threshold)
    edges: list[tuple[str, float | None, float | None]] = []
    fmt = _fmt_points
    if below and t > 0:
        half = t / 2
        edges += [(f"under {fmt(half)}", None, half), (f"{fmt(half)} to under {fmt(t)}", half, t)]
    else:
        edges.append((f"under {fmt(t)}", None, t))
    low = t
    for _ in range(3):
        edges.append((f"{fmt(low)} to under {fmt(low + step)}" + (" (MQL threshold)" if low == t else ""), low, low + step))
        low += step
    edges.append((f"{fmt(low)} and up", low, None))
    return edges


def _fmt_points(value: float) -> str:
    return f"{value:g}"


def grade_bands(model: ScoringModel) -> list[tuple[str, float | None, float | None]]:
    """Fit-score bands of the model's grades (A from grade_a_min, ...), A first."""
    a, b, c = float(model.grade_a_min), float(model.grade_b_min), float(model.grade_c_min)
    return [
        (f"A (fit {a:g}+)", a, None),
        (f"B (fit {b:g} to under {a:g})", b, a),
        (f"C (fit {c:g} to under {b:g})", c, b),
        (f"D (fit under {c:g})", None, c),
    ]


# --- the report -----------------------------------------------------------------------------


def _pct(value):
    return None if value is None else round(100 * value, 1)


def _group_json(group: stats.Group) -> dict:
    return {
        "label": group.label,
        "n": group.n,
        "positives": group.positives,
        "rate": _pct(group.rate),
        "rate_low": _pct(group.low),
        "rate_high": _pct(group.high),
        "lift": None if group.lift is None else round(group.lift, 2),
        **({"gain": _pct(group.gain)} if group.gain is not None else {}),
        **({"score_min": group.score_min, "score_max": group.score_max} if group.score_min is not None else {}),
    }


def lead_list_params(model: ScoringModel, period: Period) -> dict:
    """The /leads/ filters of the converters `model` misses in `period` (leadhub.filters)."""
    params = {
        "missed_for": model.pk,
        "missed_label": period.label,
        "missed_horizon": period.horizon_days,
        "created_after": period.date_from.isoformat(),
        "created_before": period.date_to.isoformat(),
    }
    if period.channel:
        params["source"] = period.channel
    if period.campaign:
        params["campaign"] = period.campaign
    if period.field_key:
        params["missed_field"] = f"{period.field_key}={period.field_value}"
    return params


def missed_url(model: ScoringModel, period: Period) -> str:
    return f"{reverse('leads:list')}?{urlencode(lead_list_params(model, period))}"


def figures(spec: engine.ModelSpec, labelled: Labels, scored: Scored) -> dict:
    """The model-independent part of the report for one scoring of the labelled leads: AUC and
    its interval, deciles, and the MQL rule's precision, recall and misses."""
    points = scored.total / 10.0
    interval = stats.delong(points, labelled.y)
    cut = stats.confusion(scored.qualifies, labelled.y)
    return {
        "auc": None if interval is None else round(interval.auc, 4),
        "auc_low": None if interval is None else round(interval.low, 4),
        "auc_high": None if interval is None else round(interval.high, 4),
        "mql": {
            "threshold": float(engine.from_tenths(spec.threshold)),
            "min_grade": spec.min_grade,
            "selected": cut.selected,
            "converted": cut.tp,
            "precision": _pct(cut.precision),
            "recall": _pct(cut.recall),
            "missed": cut.fn,
        },
    }


def report(model: ScoringModel, period: Period, now: datetime | None = None, labelled: Labels | None = None) -> dict:
    """The quality report of `model` over `period` (see the module docstring), as JSON-able data."""
    now = now or timezone.now()
    as_of = period.as_of(now)
    labelled = labelled if labelled is not None else labels(period, now, stored_columns(model, as_of))
    spec = selectors.snapshot(model)
    scored = score(spec, labelled.ids, as_of, read=labelled.extra)
    y = labelled.y
    points = scored.total / 10.0
    out = {
        "model": {"id": model.pk, "version": model.version, "name": model.name, "status": model.status},
        "label": period.label,
        "label_text": LABELS[period.label],
        "positive_word": SHORT[period.label],
        "period": {
            "date_from": period.date_from.isoformat(),
            "date_to": period.date_to.isoformat(),
            "horizon_days": period.horizon_days,
            "channel": period.channel,
            "campaign": period.campaign,
            "field": f"{period.field_key}={period.field_value}" if period.field_key else "",
            "text": period.describe(),
        },
        "as_of": as_of.isoformat(),
        "n": labelled.n,
        "positives": labelled.positives,
        "left_out": labelled.left_out,
        "base_rate": _pct(labelled.positives / labelled.n) if labelled.n else None,
        **figures(spec, labelled, scored),
    }
    out["mql"]["missed_url"] = missed_url(model, period)
    out["roc"] = [[round(f, 4), round(t, 4)] for f, t in stats.roc_points(points, y)]
    out["deciles"] = [_group_json(g) for g in stats.deciles(points, y, tiebreak=labelled.ids)]
    out["bands"] = [_group_json(g) for g in stats.bands(points, y, score_bands(model.mql_threshold))]
    out["grades"] = [_group_json(g) for g in stats.bands(scored.fit / 10.0, y, grade_bands(model))]
    out["rules"] = _rule_rows(spec, scored, y)
    out["rules_n"] = labelled.n if scored.sample is None else len(scored.sample)
    out["rules_positives"] = labelled.positives if scored.sample is None else int(y[scored.sample].sum())
    out["verdict"] = verdict(out)
    return out


def _rule_rows(spec: engine.ModelSpec, scored: Scored, y: np.ndarray) -> list[dict]:
    if scored.sample is not None:
        y = y[scored.sample]
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    yb = y.astype(bool)
    rows = []
    for kind, rules in (("fit", spec.fit_rules), ("engagement", spec.engagement_rules)):
        for rule in rules:
            fired = scored.fired.get((kind, rule.id))
            if fired is None:
                continue
            lift = stats.RuleLift(int((fired & yb).sum()), int((fired & ~yb).sum()), positives, negatives)
            points = float(engine.from_tenths(rule.points))
            direction = ""
            if lift.lift is not None and lift.fired >= 20:
                if lift.lift < 0.9 and points > 0:
                    direction = "points the wrong way: its leads convert less than average"
                elif lift.lift > 1.1 and points < 0:
                    direction = "takes points from leads that convert more than average"
            rows.append(
                {
                    "kind": kind,
                    "id": rule.id,
                    "label": rule.label,
                    "points": points,
                    "fired": lift.fired,
                    "fired_positives": lift.fired_pos,
                    "fired_negatives": lift.fired_neg,
                    "share_positives": _pct(lift.share_pos),
                    "share_negatives": _pct(lift.share_neg),
                    "rate": _pct(lift.rate),
                    "lift": None if lift.lift is None else round(lift.lift, 2),
                    "warning": direction,
                }
            )
    rows.sort(key=lambda r: (r["lift"] is None, -(r["lift"] or 0)))
    return rows


def verdict(out: dict) -> str:
    """One plain sentence on the AUC."""
    auc, low, high = out.get("auc"), out.get("auc_low"), out.get("auc_high")
    if auc is None:
        return "Not enough labelled leads of both kinds to measure the ranking."
    if high is not None and high < 0.5:
        return "This model ranks these leads worse than random: converters score lower than the rest."
    if low is not None and low <= 0.5:
        return "This model ranks these leads no better than chance (the interval includes 0.5)."
    if auc >= 0.8:
        return "This model ranks these leads well."
    if auc >= 0.7:
        return "This model ranks these leads fairly well."
    return "This model ranks these leads only a little better than chance."


def missed_ids(model: ScoringModel, period: Period, now: datetime | None = None) -> list[int]:
    """The converters of `period` that `model`'s MQL rule does not qualify (for /leads/)."""
    now = now or timezone.now()
    as_of = period.as_of(now)
    labelled = labels(period, now, stored_columns(model, as_of))
    scored = score(selectors.snapshot(model), labelled.ids, as_of, with_rules=False, read=labelled.extra)
    missed = labelled.y.astype(bool) & ~scored.qualifies
    return [int(pk) for pk in labelled.ids[missed]]
