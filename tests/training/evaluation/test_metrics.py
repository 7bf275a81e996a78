"""Binary metrics against hand-computed values: AUC with ties, ROC points, accuracy, F1, the band."""
from __future__ import annotations

import math

import numpy as np
import pytest

from model import Thresholds
from training.evaluation.metrics import band_metrics, binary_metrics, roc_auc, roc_curve


def test_auc_counts_ties_as_half():
    # positives .9 .5 .5, negatives .5 .1 .7: wins 3 + (1 + 0.5) + (1 + 0.5) = 6 of 9 pairs
    assert roc_auc([1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.1, 0.5, 0.7]) == pytest.approx(6 / 9)
    assert roc_auc([1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert roc_auc([1, 1, 0], [0.9, 0.8, 0.1]) == 1.0
    assert roc_auc([0, 0, 1], [0.9, 0.8, 0.1]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_curve_groups_tied_scores():
    fpr, tpr, thresholds = roc_curve([1, 1, 0, 0, 1, 0], [0.9, 0.5, 0.5, 0.1, 0.5, 0.7])
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1, 1])
    assert thresholds[1:].tolist() == [0.9, 0.7, 0.5, 0.1]
    assert np.trapezoid(tpr, fpr) == pytest.approx(6 / 9)  # the curve's area is the AUC, ties included


def test_accuracy_balanced_accuracy_and_f1():
    labels = [1, 1, 1, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.2, 0.6, 0.1]  # tp 3, fn 1, fp 1, tn 1 at 0.5
    m = binary_metrics(labels, scores, 0.5)
    assert m["confusion"] == {"tp": 3, "fp": 1, "tn": 1, "fn": 1}
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert m["f1_human"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert m["f1_macro"] == pytest.approx((0.75 + 0.5) / 2)
    assert m["auc"] == pytest.approx(7 / 8)
    assert binary_metrics(labels, scores, 0.65)["confusion"] == {"tp": 3, "fp": 0, "tn": 2, "fn": 1}


def test_band_metrics_count_the_uncertain_middle():
    b = band_metrics([1, 1, 0, 0], [0.9, 0.5, 0.45, 0.1], Thresholds(0.4, 0.6))
    assert b["coverage"] == 0.5 and b["decided_accuracy"] == 1.0
    assert b["ai_images"] == {"called_ai": 0.5, "uncertain": 0.5, "called_human": 0.0}
