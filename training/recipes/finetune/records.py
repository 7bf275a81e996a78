"""What a run writes besides checkpoints: metrics, plots, validation scores, and resumable random states."""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data import datasets as ds
from ...evaluation.metrics import binary_metrics, clean


def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(data), indent=2), encoding="utf-8")
    os.replace(tmp, path)


def write_history(out: Path, history: list[dict], best: dict | None) -> None:
    columns = ["epoch", "train_loss", "val_loss", "val_auc", "val_accuracy", "val_balanced_accuracy", "val_f1",
               "val_f1_macro", "lr", "train_images", "val_images", "replaced_unreadable", "seconds",
               "images_per_second", "partial"]
    tmp = out / "metrics.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    os.replace(tmp, out / "metrics.csv")
    write_json(out / "metrics.json", {"history": history, "best": best})


def write_plots(out: Path, history: list[dict], val: list[ds.Sample], best_probs: np.ndarray | None,
                 best_indices: np.ndarray | None) -> None:
    from ...evaluation import plots

    (out / "plots").mkdir(exist_ok=True)
    plots.loss_curves(history, out / "plots" / "loss.png")
    if best_probs is not None and len(best_probs):
        labels = np.array([val[i].label for i in best_indices])
        plots.roc_plot({"validation, best epoch": (labels, best_probs)}, out / "plots" / "roc.png")
        plots.confusion_plot(binary_metrics(labels, best_probs, 0.5)["confusion"], out / "plots" / "confusion.png",
                             "validation, best epoch, p_ai >= 0.5")


def write_val_scores(out: Path, val: list[ds.Sample], indices: np.ndarray, probs: np.ndarray) -> None:
    tmp = out / "val_scores.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "source", "kind", "p_ai"])
        for i, p in zip(indices, probs):
            s = val[i]
            writer.writerow([s.path, s.label_name, s.source, s.kind, f"{p:.6f}"])
    os.replace(tmp, out / "val_scores.csv")


def describe(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    for key, label in (("val_loss", "val loss"), ("val_auc", "AUC"), ("val_balanced_accuracy", "bal. acc")):
        value = row.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{label} {value:.4f}")
    parts.append(f"{row['seconds']:.0f} s")
    return ", ".join(parts) + (" (partial epoch)" if row.get("partial") else "")


def plain_state(value):
    """RNG states as lists/ints/tensors so state.pt loads with weights_only=True."""
    if isinstance(value, tuple):
        return [plain_state(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def tuple_state(value):
    return tuple(tuple_state(v) if isinstance(v, list) else v for v in value)


def numpy_state(value):
    return (value[0], value[1].numpy(), int(value[2]), int(value[3]), float(value[4]))
