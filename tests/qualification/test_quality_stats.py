"""qualification.stats against figures worked out by hand on a few leads."""

import math

import pytest
from sklearn.metrics import roc_auc_score

from qualification import stats

# Six leads: scores and outcomes. Pairs (positive, negative): 3 × 3 = 9.
SCORES = [90, 80, 70, 60, 50, 40]
LABELS = [1, 0, 1, 1, 0, 0]


def test_auc_counts_pairs_ranked_right_and_ties_as_half():
    # Positives 90, 70, 60 against negatives 80, 50, 40: 90 beats 3, 70 beats 2, 60 beats 2 -> 7 of 9.
    assert stats.auc(SCORES, LABELS) == pytest.approx(7 / 9)
    # A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
    assert stats.auc([5, 5, 1], [1, 0, 0]) == pytest.approx(0.75)
    assert stats.auc([1, 2], [1, 1]) is None


def test_delong_interval_by_hand():
    # Structural components: V10 per positive = share of negatives below it: 1, 2/3, 2/3;
    # V01 per negative = share of positives above it: 1/3 (80), 1 (50), 1 (40).
    result = stats.delong(SCORES, LABELS)
    v10 = [1, 2 / 3, 2 / 3]
    v01 = [1 / 3, 1, 1]

    def var(xs):
        mean = sum(xs) / len(xs)
        return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)

    se = math.sqrt(var(v10) / 3 + var(v01) / 3)
    assert result.auc == pytest.approx(7 / 9)
    assert result.se == pytest.approx(se)
    assert result.low == pytest.approx(max(0, 7 / 9 - 1.959964 * se), abs=1e-6)
    assert result.high == pytest.approx(min(1, 7 / 9 + 1.959964 * se), abs=1e-6)


def test_auc_equals_scikit_learn_with_many_ties():
    import random

    rng = random.Random(3)
    scores = [rng.choice([0, 10, 20, 25, 40]) for _ in range(500)]
    labels = [int(rng.random() < 0.2 + s / 80) for s in scores]
    assert stats.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert stats.delong(scores, labels).auc == pytest.approx(roc_auc_score(labels, scores))


def test_wilson_interval_by_hand():
    # k = 3, n = 10, z = 1.96: centre (0.3 + 0.19208) / 1.38415 = 0.355452, half 0.246...
    low, high = stats.wilson(3, 10)
    z = stats.Z95
    centre = (0.3 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.3 * 0.7 / 10 + z * z / 400) / (1 + z * z / 10)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert (round(low, 4), round(high, 4)) == (0.1078, 0.6032)
    assert stats.wilson(0, 0) is None
    assert stats.wilson(0, 5)[0] == 0.0


def test_roc_points_one_per_distinct_score():
    points = stats.roc_points(SCORES, LABELS)
    # Down the scores: 90 (+), 80 (-), 70 (+), 60 (+), 50 (-), 40 (-).
    expected = [(0, 0), (0, 1 / 3), (1 / 3, 1 / 3), (1 / 3, 2 / 3), (1 / 3, 1), (2 / 3, 1), (1, 1)]
    assert len(points) == len(expected)
    assert [c for p in points for c in p] == pytest.approx([c for p in expected for c in p])


def test_deciles_lift_and_gain():
    # Five groups of the six leads (sizes 2, 1, 1, 1, 1), highest first.
    groups = stats.deciles(SCORES, LABELS, groups=5)
    assert [(g.n, g.positives) for g in groups] == [(2, 1), (1, 1), (1, 1), (1, 0), (1, 0)]
    base = 3 / 6
    assert groups[0].rate == 0.5 and groups[0].lift == pytest.approx(0.5 / base)
    assert groups[1].lift == pytest.approx(2.0)
    assert [g.gain for g in groups] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert (groups[0].score_min, groups[0].score_max) == (80, 90)
    # Ties broken by the given key (e.g. the lead id), ascending.
    tied = stats.deciles([1, 1, 1, 1], [1, 0, 0, 0], tiebreak=[4, 3, 2, 1], groups=2)
    assert [(g.n, g.positives) for g in tied] == [(2, 0), (2, 1)]


def test_bands_calibration():
    bands = stats.bands(SCORES, LABELS, [("under 50", None, 50), ("50 to under 75", 50, 75), ("75 and up", 75, None)])
    assert [(b.label, b.n, b.positives) for b in bands] == [("under 50", 1, 0), ("50 to under 75", 3, 2), ("75 and up", 2, 1)]
    assert bands[1].rate == pytest.approx(2 / 3)
    assert (bands[1].low, bands[1].high) == pytest.approx(stats.wilson(2, 3))
    assert bands[1].lift == pytest.approx((2 / 3) / 0.5)


def test_confusion_and_rule_lift():
    cut = stats.confusion([s >= 70 for s in SCORES], LABELS)
    assert (cut.tp, cut.fp, cut.fn, cut.tn) == (2, 1, 1, 2)
    assert cut.precision == pytest.approx(2 / 3) and cut.recall == pytest.approx(2 / 3)
    rule = stats.RuleLift(fired_pos=2, fired_neg=1, positives=3, negatives=3)
    assert rule.share_pos == pytest.approx(2 / 3) and rule.share_neg == pytest.approx(1 / 3)
    assert rule.lift == pytest.approx((2 / 3) / 0.5)
