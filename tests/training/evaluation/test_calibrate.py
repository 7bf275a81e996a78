"""Calibration: thresholds that reach the target precision, and a band narrowed to the uncertain share."""
from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.calibrate import choose_thresholds


def test_thresholds_reach_the_target_precision_outside_the_band():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(200), np.zeros(200)].astype(int)
    scores = np.clip(np.r_[rng.normal(0.7, 0.15, 200), rng.normal(0.3, 0.15, 200)], 0, 1)
    band, t, details = choose_thresholds(labels, scores, target_precision=0.95)
    assert band.human_below <= t <= band.ai_above
    assert 0.4 < t < 0.6
    called_ai, called_human = scores >= band.ai_above, scores < band.human_below
    assert labels[called_ai].mean() >= 0.95 and (1 - labels[called_human]).mean() >= 0.95
    assert details["ai_side_rule"] == details["human_side_rule"] == "precision"
    # a human image at the very top and an AI one at the bottom: no cut reaches precision 1, so the
    # error-quantile rule takes over on both sides and the band still contains t
    labels, scores = np.r_[labels, 0, 1], np.r_[scores, 1.0, 0.0]
    band, t, details = choose_thresholds(labels, scores, target_precision=1.0, error_quantile=0.8)
    assert details["ai_side_rule"] == details["human_side_rule"] == "error-quantile"
    assert band.human_below <= t <= band.ai_above
    false_ai = scores[(labels == 0) & (scores >= t)]
    assert np.mean((false_ai < band.ai_above)) >= 0.8  # the band absorbs 80% of the false "AI" calls
    with pytest.raises(ValueError, match="both classes"):
        choose_thresholds([1, 1], [0.2, 0.9])


def test_band_is_narrowed_to_the_uncertain_share():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200), np.ones(200)]
    scores = np.clip(np.r_[rng.normal(0.4, 0.15, 200), rng.normal(0.6, 0.15, 200)], 0, 1)  # weakly separated
    wide, t, _ = choose_thresholds(labels, scores)
    inside = np.mean((scores >= wide.human_below) & (scores < wide.ai_above))
    assert inside > 0.3
    band, t2, details = choose_thresholds(labels, scores, max_uncertain=0.1)
    inside = np.mean((scores >= band.human_below) & (scores < band.ai_above))
    assert t2 == t and 0.07 <= inside <= 0.1 and band.human_below <= t <= band.ai_above
    assert details["band"]["coverage"] >= 0.9
