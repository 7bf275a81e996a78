"""training.evaluation.tier_report: per tier and kind, and AI caught at 5% of human images called AI."""
from __future__ import annotations

import numpy as np
import pytest

from model.config import Thresholds
from training.data import datasets as ds
from training.evaluation.tier_report import caught_at_fpr, tier_markdown, tier_report


def test_caught_at_five_percent_counts_ai_above_the_level_few_human_images_reach():
    labels = np.array([0] * 100 + [1] * 10)
    human = np.linspace(0.0, 0.99, 100)  # the 95th percentile of human scores is about 0.94
    ai = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert caught_at_fpr(labels, np.concatenate([human, ai])) == pytest.approx(0.5)


def test_tier_report_names_each_kind_and_the_weak_sources():
    samples = ([ds.Sample(f"p{i}", 0, "phone", kind="photo") for i in range(20)]
               + [ds.Sample(f"a{i}", 0, "museum", kind="art") for i in range(20)]
               + [ds.Sample(f"g{i}", 1, "StyleGAN2 churches", kind="generated") for i in range(20)])
    clean = np.array([0.1] * 20 + [0.1] * 20 + [0.9] * 20)
    web = np.array([0.9] * 20 + [0.1] * 20 + [0.9] * 20)  # laundered photos called AI
    report = tier_report(samples, {"clean": clean, "web": web}, Thresholds(0.3, 0.6))
    assert report["tiers"]["clean"]["photo"]["called_ai"] == 0 and report["tiers"]["web"]["photo"]["called_ai"] == 1
    assert report["tiers"]["web"]["art"]["called_ai"] == 0 and report["tiers"]["web"]["ai"]["called_ai"] == 1
    text = tier_markdown(report)
    assert "| web | 60 |" in text and "human: phone (20: 100% / 0%)" in text
