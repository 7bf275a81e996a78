"""Binary classification metrics in numpy (no sklearn): positive class = AI (label 1).

Conventions: ``labels`` are 0/1, ``scores`` are p_ai in [0, 1] (any monotone score works for
AUC). A prediction is AI when ``score >= threshold``, as in :class:`model.config.Thresholds`.
Metrics that are undefined (AUC with one class, precision with no positive prediction) are NaN.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from model.config import Thresholds


def _arrays(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (human) or 1 (AI)")
    return y, s


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(values)]))
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def roc_auc(labels: Sequence, scores: Sequence) -> float:
    """Area under the ROC curve = P(score of a random AI image > that of a random human one),
    ties counting one half (the Mann-Whitney U statistic)."""
    y, s = _arrays(labels, scores)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1).
    ``thresholds[i]`` is the score at or above which images count as AI for point i."""
    y, s = _arrays(labels, scores)
    n_pos, n_neg = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1] if len(s) else np.array([], int)
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s_sorted[last_of_run]]
    return fpr, tpr, thresholds


def confusion(labels: Sequence, predictions: Sequence) -> dict[str, int]:
    """Counts with AI as the positive class: tp (AI called AI), fp (human called AI), tn, fn."""
    y, p = _arrays(labels, predictions)
    p = p.astype(np.int64)
    return {
        "tp": int(((y == 1) & (p == 1)).sum()), "fp": int(((y == 0) & (p == 1)).sum()),
        "tn": int(((y == 0) & (p == 0)).sum()), "fn": int(((y == 1) & (p == 0)).sum()),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def rates(c: dict[str, int]) -> dict[str, float]:
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    tpr, tnr = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    precision, npv = _ratio(tp, tp + fp), _ratio(tn, tn + fn)
    f1_ai = _ratio(2 * tp, 2 * tp + fp + fn)
    f1_human = _ratio(2 * tn, 2 * tn + fn + fp)
    present = [v for v in (tpr, tnr) if not math.isnan(v)]
    f1s = [v for v in (f1_ai, f1_human) if not math.isnan(v)]
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "balanced_accuracy": sum(present) / len(present) if present else float("nan"),
        "tpr": tpr, "tnr": tnr, "precision": precision, "npv": npv,
        "f1": f1_ai, "f1_human": f1_human,
        "f1_macro": sum(f1s) / len(f1s) if f1s else float("nan"),
    }


def binary_metrics(labels: Sequence, scores: Sequence, threshold: float = 0.5) -> dict:
    """Accuracy, balanced accuracy, F1 (AI and macro), ROC-AUC and the confusion counts."""
    y, s = _arrays(labels, scores)
    c = confusion(y, (s >= threshold).astype(np.int64))
    return {"n": int(len(y)), "n_ai": int(y.sum()), "n_human": int(len(y) - y.sum()),
            "threshold": float(threshold), "auc": roc_auc(y, s), **rates(c), "confusion": c}


def band_metrics(labels: Sequence, scores: Sequence, thresholds: Thresholds) -> dict:
    """How the three-way verdict does: coverage (share not 'uncertain'), accuracy on the decided
    images, and per class the shares called ai / uncertain / human."""
    y, s = _arrays(labels, scores)
    verdict_ai = s >= thresholds.ai_above
    verdict_human = s < thresholds.human_below
    decided = verdict_ai | verdict_human
    correct = (verdict_ai & (y == 1)) | (verdict_human & (y == 0))
    out = {"human_below": thresholds.human_below, "ai_above": thresholds.ai_above,
           "coverage": _ratio(decided.sum(), len(y)),
           "decided_accuracy": _ratio(correct.sum(), decided.sum())}
    for label, name in ((1, "ai"), (0, "human")):
        mask = y == label
        out[f"{name}_images"] = {
            "called_ai": _ratio((verdict_ai & mask).sum(), mask.sum()),
            "uncertain": _ratio((~decided & mask).sum(), mask.sum()),
            "called_human": _ratio((verdict_human & mask).sum(), mask.sum()),
        }
    return out


def log_loss(labels: Sequence, scores: Sequence, eps: float = 1e-7) -> float:
    y, s = _arrays(labels, scores)
    if not len(y):
        return float("nan")
    s = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))


def clean(value):
    """JSON-safe copy: NaN and infinities become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
