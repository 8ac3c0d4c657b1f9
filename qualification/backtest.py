"""The backtest in the preview: how the draft would have ranked past leads, next to the published
model, on the same labelled leads, the same label and the same moment (quality.report's rules:
leads created in a period, scores as of its end).

Figures per side: AUC with its DeLong interval, the MQL rule's precision and recall (each
model's own threshold, grade and required fields), and the converters it misses. The verdict
says in plain words when the draft ranks past leads worse.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from . import quality, selectors
from .models import ScoringModel
from .quality_forms import QualityForm
from .quality_labels import ACCEPTANCE, LABELS, OUTCOME, SHORT, Period, labels

WORSE_BY = 0.005  # an AUC drop smaller than this is "about the same"
DEFAULT_DAYS = 365


def default_period(now: datetime, label: str = OUTCOME) -> Period:
    today = timezone.localdate(now)
    return Period(date_from=today - timedelta(days=DEFAULT_DAYS - 1), date_to=today, label=label)


def backtest(draft: ScoringModel, period: Period | None = None, now: datetime | None = None) -> dict:
    """The draft against the published model on the period's labelled leads (without a period:
    the last year by outcome, or by SDR acceptance when outcomes give no leads of both kinds)."""
    now = now or timezone.now()
    published = selectors.published_model()

    def labelled_leads(period):  # with the published model's stored scores, read in the same pass
        as_of = period.as_of(now)
        return labels(period, now, quality.stored_columns(published, as_of) if published is not None else ())

    if period is None:
        period = default_period(now)
        labelled = labelled_leads(period)
        if not labelled.positives or labelled.positives == labelled.n:
            fallback = default_period(now, ACCEPTANCE)
            other = labelled_leads(fallback)
            if other.positives and other.positives < other.n:
                period, labelled = fallback, other
    else:
        labelled = labelled_leads(period)
    as_of = period.as_of(now)
    sides = []
    for model in ([published] if published is not None and published.pk != draft.pk else []) + [draft]:
        spec = selectors.snapshot(model)
        scored = quality.score(spec, labelled.ids, as_of, with_rules=False, read=labelled.extra)
        sides.append({"version": model.version, "id": model.pk, **quality.figures(spec, labelled, scored)})
    out = {
        "label": period.label,
        "label_text": LABELS[period.label],
        "positive_word": SHORT[period.label],
        "period": period.describe(),
        "horizon_days": period.horizon_days,
        "as_of": as_of,
        "n": labelled.n,
        "positives": labelled.positives,
        "left_out": labelled.left_out,
        "published": sides[0] if len(sides) == 2 else None,
        "draft": sides[-1],
        "missed_url": quality.missed_url(draft, period),
    }
    out.update(_verdict(out))
    return out


def _verdict(out: dict) -> dict:
    draft, published = out["draft"], out["published"]
    if draft["auc"] is None:
        return {"worse": False, "verdict": "Not enough labelled leads of both kinds to compare the ranking."}
    if published is None or published["auc"] is None:
        worse = draft["auc_high"] is not None and draft["auc_high"] < 0.5
        text = f"The draft would have ranked these leads at AUC {draft['auc']:.2f}."
        if worse:
            text = f"This draft ranks past leads worse than random (AUC {draft['auc']:.2f})."
        return {"worse": worse, "verdict": text}
    change = draft["auc"] - published["auc"]
    missed = draft["mql"]["missed"] - published["mql"]["missed"]
    missed_text = (
        f" It would miss {missed:,} more converters."
        if missed > 0
        else f" It would miss {-missed:,} fewer converters."
        if missed < 0
        else ""
    )
    if change < -WORSE_BY:
        return {
            "worse": True,
            "verdict": f"This draft ranks past leads worse than the published model v{published['version']}: AUC "
            f"{published['auc']:.2f} → {draft['auc']:.2f}.{missed_text} Check the rules before you publish.",
        }
    if change > WORSE_BY:
        return {
            "worse": False,
            "verdict": f"This draft ranks past leads better than v{published['version']}: AUC "
            f"{published['auc']:.2f} → {draft['auc']:.2f}.{missed_text}",
        }
    return {"worse": False, "verdict": f"This draft ranks past leads about as well as v{published['version']}.{missed_text}"}


def for_preview(draft: ScoringModel, params=None, now: datetime | None = None) -> dict:
    """The preview page's backtest: {"form", "result" or "error"}; the period, label and filters
    come from `params` (the page's GET, fields prefixed "bt"), else backtest's defaults."""
    chosen = params is not None and any(key.startswith("bt-") for key in params)
    form = QualityForm(params if chosen else None, with_model=False, prefix="bt")
    try:
        if chosen:
            if not form.is_valid():
                return {"form": form, "error": "Check the backtest's choices."}
            return {"form": form, "result": backtest(draft, form.period(), now=now)}
        return {"form": form, "result": backtest(draft, now=now)}
    except ValueError as exc:  # a rule value that does not parse
        return {"form": form, "error": str(exc)}
