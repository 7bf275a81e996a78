"""PNG plots for training and evaluation reports (matplotlib, headless).

matplotlib is an optional dependency of the training pipeline: without it every function here
returns None and the reports simply have no pictures (the numbers are in the CSV/JSON files).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .metrics import roc_auc, roc_curve


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig, plt, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(history: Sequence[dict], path: str | os.PathLike) -> Path | None:
    """Training and validation loss per epoch, and validation AUC / balanced accuracy."""
    plt = _pyplot()
    if plt is None or not history:
        return None
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(epochs, [row.get("train_loss") for row in history], "o-", label="training")
    if any(row.get("val_loss") is not None for row in history):
        left.plot(epochs, [row.get("val_loss") for row in history], "o-", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss (BCE)")
    left.legend()
    left.grid(alpha=0.3)
    for key, label in (("val_auc", "ROC-AUC"), ("val_balanced_accuracy", "balanced accuracy")):
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            right.plot(epochs, [np.nan if v is None else v for v in values], "o-", label=label)
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.set_title("validation")
    right.legend()
    right.grid(alpha=0.3)
    return _save(fig, plt, path)


def roc_plot(curves: dict[str, tuple[Sequence, Sequence]], path: str | os.PathLike) -> Path | None:
    """ROC curves, one per named (labels, scores) pair."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for name, (labels, scores) in curves.items():
        if len(set(np.asarray(labels).tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false positive rate (human called AI)")
    ax.set_ylabel("true positive rate (AI called AI)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def confusion_plot(counts: dict[str, int], path: str | os.PathLike, title: str = "") -> Path | None:
    plt = _pyplot()
    if plt is None:
        return None
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black", fontsize=12)
    ax.set_xticks([0, 1], ["human", "ai"])
    ax.set_yticks([0, 1], ["human", "ai"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, plt, path)


def score_histogram(labels: Sequence, scores: Sequence, path: str | os.PathLike,
                    band: tuple[float, float] | None = None) -> Path | None:
    """Distribution of p_ai per true class, with the uncertain band shaded."""
    plt = _pyplot()
    if plt is None:
        return None
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    bins = np.linspace(0, 1, 26)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label="human-made")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label="AI-generated")
    if band:
        ax.axvspan(band[0], band[1], color="grey", alpha=0.15, label="uncertain band")
    ax.set_xlabel("p_ai")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)
