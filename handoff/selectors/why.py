"""The "why it scored" of a queue row: the top contributions scoring gives for a lead, as short
labels ("+17.5 Pricing page ×3"), else the fit/engagement split. The queue prints the same few
rules' labels all day, so labels are kept in this process (bounded caches below)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import qualification.selectors as qualification_selectors
from leadhub.models import Lead

WHY_LIMIT = 3
_WHY_LABELS: dict[tuple[str, Any], str] = {}


def _why_label(item: Mapping[str, Any] | str) -> str:
    """One 'why it scored' entry from whatever the scoring app returns (text or a dict)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        label = item.get("label") or item.get("rule") or item.get("name") or ""
        points = item.get("points")
        key = (label, points)
        if key not in _WHY_LABELS:  # the queue prints the same few rules' labels all day
            if len(_WHY_LABELS) > 10_000:
                _WHY_LABELS.clear()
            # Points first: a long rule name is cut short in the cell, the number must stay visible.
            _WHY_LABELS[key] = f"{float(points):+g} {label}" if points not in (None, "") else str(label)
        return _WHY_LABELS[key]
    return str(item)


def scoring_reasons(leads: Sequence[Lead | qualification_selectors.LeadRef]) -> dict[int, list[str]]:
    """{lead id: ["+17.5 Pricing page ×3", ...]} from scoring's top contributions, for the
    leads scoring can explain (Lead objects or qualification.selectors.LeadRef)."""
    if not leads:
        return {}
    found = qualification_selectors.lead_top_reasons(leads)
    return {pk: _labels(items) for pk, items in found.items() if items}


# Scoring keeps each lead's answer (the same list, never changed) while the lead is scored the
# same; so are its labels kept here, by that list (held, so that its id stays its own).
_LABELS: dict[int, tuple[Sequence[Mapping[str, Any] | str], list[str]]] = {}


def _labels(items: Sequence[Mapping[str, Any] | str]) -> list[str]:
    kept = _LABELS.get(id(items))
    if kept is not None and kept[0] is items:
        return kept[1]
    if len(_LABELS) > 20_000:
        _LABELS.clear()
    labels = [_why_label(item) for item in items][:WHY_LIMIT]
    _LABELS[id(items)] = (items, labels)
    return labels


def top_reasons(leads: Iterable[Lead]) -> dict[int, list[str]]:
    """{lead id: ["+17.5 Pricing page ×3", ...]}: scoring's top contributions when the scoring
    app provides them, else the fit/engagement split the lead row already carries."""
    given = list(leads)
    reasons = scoring_reasons(given)
    for lead in given:
        if not reasons.get(lead.pk):
            reasons[lead.pk] = [f"Fit {lead.fit_score:.0f}", f"Engagement {lead.engagement_score:.0f}"]
    return reasons
