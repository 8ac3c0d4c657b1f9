"""Pure statistics for the model quality report (no database, no Django): ROC AUC with its
DeLong interval, ROC curve points, deciles (lift, gain), Wilson intervals, bands (calibration),
precision and recall.

Scores are numbers (higher = more likely to convert), labels are 0/1. Every function takes
plain sequences and returns plain values, so the figures can be checked by hand on a few
leads (tests/qualification/test_quality_stats.py).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion k/n (as fractions 0..1), or None when n == 0.

    p = k/n, centre = (p + z²/2n) / (1 + z²/n), half width = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n)."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Starts of runs of equal values.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks_sorted = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = ranks_sorted
    return ranks


def auc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """ROC AUC: the probability that a random positive scores above a random negative, ties
    counting one half (the Mann–Whitney U over n₊·n₋). None without both classes."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    ranks = _midranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class AucInterval:
    auc: float
    low: float
    high: float
    se: float


def delong(scores: Sequence[float], labels: Sequence[int], z: float = Z95) -> AucInterval | None:
    """AUC with its DeLong (1988) confidence interval (95 % by default), or None without both
    classes. The variance is V₁₀/n₊ + V₀₁/n₋, the variances of the structural components
    (each positive's share of negatives it outranks, each negative's share of positives that
    outrank it), computed from midranks (Sun and Xu, 2014) in O(n log n). The interval is
    clipped to 0..1."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    m, n = len(pos), len(neg)
    if not m or not n:
        return None
    all_ranks = _midranks(np.concatenate([pos, neg]))
    pos_ranks, neg_ranks = _midranks(pos), _midranks(neg)
    v10 = (all_ranks[:m] - pos_ranks) / n  # per positive: share of negatives below it
    v01 = 1.0 - (all_ranks[m:] - neg_ranks) / m  # per negative: share of positives above it
    value = float(v10.mean())
    s10 = float(v10.var(ddof=1)) if m > 1 else 0.0
    s01 = float(v01.var(ddof=1)) if n > 1 else 0.0
    se = math.sqrt(s10 / m + s01 / n)
    return AucInterval(value, max(0.0, value - z * se), min(1.0, value + z * se), se)


def roc_points(scores: Sequence[float], labels: Sequence[int], max_points: int = 101) -> list[tuple[float, float]]:
    """The ROC curve as (false positive rate, true positive rate) from (0, 0) to (1, 1), one
    point per distinct score (thinned to at most max_points, the ends kept)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return []
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    tp = np.cumsum(y_sorted)[last_of_run]
    fp = (last_of_run + 1) - tp
    points = [(0.0, 0.0)] + [(float(f / n_neg), float(t / n_pos)) for f, t in zip(fp, tp, strict=True)]
    if len(points) > max_points:
        keep = np.unique(np.linspace(0, len(points) - 1, max_points).round().astype(int))
        points = [points[i] for i in keep]
    return points


@dataclass(frozen=True)
class Group:
    """Leads of one decile or band: how many, how many converted, their rate and its interval,
    lift (rate ÷ the overall rate) and, for deciles, the cumulative gain (share of all
    positives in this and the higher deciles) and the score range."""

    label: str
    n: int
    positives: int
    rate: float | None
    low: float | None
    high: float | None
    lift: float | None
    gain: float | None = None
    score_min: float | None = None
    score_max: float | None = None


def _group(label, n, k, base, **extra) -> Group:
    interval = wilson(k, n)
    rate = k / n if n else None
    return Group(
        label,
        n,
        k,
        rate,
        interval[0] if interval else None,
        interval[1] if interval else None,
        (rate / base) if rate is not None and base else None,
        **extra,
    )


def deciles(
    scores: Sequence[float], labels: Sequence[int], tiebreak: Sequence[int] | None = None, groups: int = 10
) -> list[Group]:
    """Deciles of the data: the leads sorted by score, highest first (ties by `tiebreak`, e.g.
    the lead id, ascending), cut into `groups` groups of equal size (the first ones one
    larger when n does not divide). Each with its rate, Wilson interval, lift and cumulative
    gain. Fewer leads than groups: one group per lead."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=int)
    n = len(s)
    if not n:
        return []
    keys = np.asarray(tiebreak if tiebreak is not None else np.arange(n))
    order = np.lexsort((keys, -s))
    total_pos = int(y.sum())
    base = total_pos / n
    out, seen_pos = [], 0
    for i, part in enumerate(np.array_split(order, min(groups, n))):
        k = int(y[part].sum())
        seen_pos += k
        out.append(
            _group(
                f"{i + 1}",
                len(part),
                k,
                base,
                gain=(seen_pos / total_pos) if total_pos else None,
                score_min=float(s[part].min()),
                score_max=float(s[part].max()),
            )
        )
    return out


def bands(scores: Sequence[float], labels: Sequence[int], edges: Sequence[tuple[str, float | None, float | None]]) -> list[Group]:
    """Conversion per score band: edges are (label, low inclusive or None, high exclusive or
    None), in order; a lead falls in the first band that holds its score."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=int)
    base = float(y.mean()) if len(y) else 0.0
    taken = np.zeros(len(s), dtype=bool)
    out = []
    for label, low, high in edges:
        inside = ~taken
        if low is not None:
            inside &= s >= low
        if high is not None:
            inside &= s < high
        taken |= inside
        out.append(_group(label, int(inside.sum()), int(y[inside].sum()), base))
    return out


@dataclass(frozen=True)
class Confusion:
    """At a cut (the MQL rule): qualified leads that converted (tp) or not (fp), converters
    the cut missed (fn); precision = tp/(tp+fp), recall = tp/(tp+fn)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def selected(self) -> int:
        return self.tp + self.fp


def confusion(selected: Sequence[bool], labels: Sequence[int]) -> Confusion:
    p = np.asarray(selected, dtype=bool)
    y = np.asarray(labels, dtype=bool)
    return Confusion(int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum()), int((~p & ~y).sum()))


@dataclass(frozen=True)
class RuleLift:
    """How often a rule fired among converters and non-converters, and the conversion rate
    of the leads it fired on against those it did not (lift = rate when fired ÷ overall rate)."""

    fired_pos: int
    fired_neg: int
    positives: int
    negatives: int

    @property
    def share_pos(self) -> float | None:
        return self.fired_pos / self.positives if self.positives else None

    @property
    def share_neg(self) -> float | None:
        return self.fired_neg / self.negatives if self.negatives else None

    @property
    def fired(self) -> int:
        return self.fired_pos + self.fired_neg

    @property
    def rate(self) -> float | None:
        return self.fired_pos / self.fired if self.fired else None

    @property
    def lift(self) -> float | None:
        base = self.positives / (self.positives + self.negatives) if self.positives + self.negatives else 0
        return self.rate / base if self.rate is not None and base else None
