"""Leave-source-out folds: which images each fold holds out, and the summary of the folds' scores.

A fold holds out whole AI generator families (so a fold never trains on SDXL while scoring SDXL) and
whole human sources; an aligned pair stays with its real image. The summary pools the folds: each
image is held out in exactly one.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from ..data import datasets as ds
from ..data.families import family
from .text import number as _f


def fold_unit(sample: ds.Sample) -> ds.Sample:
    """The sample with the split group folds hold out whole: an AI image's generator family (so a fold
    never trains on SDXL while scoring SDXL), a human image's source; aligned pairs keep their group."""
    if sample.label == 1 and sample.group == f"source:{sample.source}":
        return replace(sample, group=f"family:{family(sample)}")
    return sample


def held_out_folds(samples: Sequence[ds.Sample], k: int, seed: int = 0) -> np.ndarray:
    """The fold (0..k-1) in which each sample is held out."""
    units = [fold_unit(s) for s in samples]
    fold_of_group = {g: f for f, groups in enumerate(ds.source_folds(units, k, seed)) for g in groups}
    return np.array([fold_of_group[u.split_group] for u in units])


def _stats(values: list) -> tuple[float | None, float | None]:
    good = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return (float(np.mean(good)), float(np.min(good))) if good else (None, None)


def summarize_folds(reports: list[dict]) -> dict:
    aucs = [r["overall"]["auc"] for r in reports]
    bals = [r["overall"]["balanced_accuracy"] for r in reports]
    auc_mean, auc_min = _stats(aucs)
    bal_mean, bal_min = _stats(bals)
    per_source = []
    for fold, report in enumerate(reports):
        for row in report["per_source"]:
            per_source.append({"fold": fold + 1, "label": row["group"][0], "source": row["group"][1],
                               "images": row["n"], "accuracy": row["accuracy"], "mean_p_ai": row["mean_p_ai"]})
    per_source.sort(key=lambda r: (r["label"], r["accuracy"] if r["accuracy"] is not None else 0))
    per_family = pooled_family_rows(reports)
    return {"folds": len(reports), "auc_mean": auc_mean, "auc_min": auc_min, "balanced_accuracy_mean": bal_mean,
            "balanced_accuracy_min": bal_min,
            "per_fold": [{"fold": i + 1, "images": r["images"], "auc": r["overall"]["auc"],
                          "balanced_accuracy": r["overall"]["balanced_accuracy"],
                          "threshold": r["decision_threshold"]} for i, r in enumerate(reports)],
            "per_source": per_source, "per_family": per_family}


def pooled_family_rows(reports: list[dict]) -> list[dict]:
    """Per generator family / human kind over all folds (each image is held out in exactly one fold)."""
    pooled: dict[str, dict] = {}
    for report in reports:
        for row in report.get("per_family", []):
            into = pooled.setdefault(row["group"][0], {"n": 0, "correct": 0.0})
            into["n"] += row["n"]
            into["correct"] += row["accuracy"] * row["n"]
    return [{"family": name, "images": v["n"], "accuracy": v["correct"] / v["n"]}
            for name, v in sorted(pooled.items(), key=lambda item: -item[1]["n"])]


def loso_markdown(summary: dict) -> str:
    lines = ["# Leave-source-out estimate", "",
             f"{summary['how']} (decision at p_ai 0.5, uncalibrated).", "",
             f"- ROC-AUC of all held-out scores together: {_f(summary['pooled_auc'])}",
             f"- ROC-AUC per fold: mean {_f(summary['auc_mean'])}, min {_f(summary['auc_min'])}",
             f"- balanced accuracy: mean {_f(summary['balanced_accuracy_mean'])}, "
             f"min {_f(summary['balanced_accuracy_min'])}", "",
             "| fold | images | AUC | balanced accuracy |", "|---|---|---|---|"]
    for row in summary["per_fold"]:
        lines.append(f"| {row['fold']} | {row['images']} | {_f(row['auc'])} | {_f(row['balanced_accuracy'])} |")
    lines += ["", "| held-out images of | images | right at p_ai 0.5 |", "|---|---|---|"]
    for row in summary.get("per_family", []):
        lines.append(f"| {row['family']} | {row['images']} | {_f(row['accuracy'])} |")
    lines += ["", "| class | held-out source | fold | images | accuracy | mean p_ai |", "|---|---|---|---|---|---|"]
    for row in summary["per_source"]:
        lines.append(f"| {row['label']} | {row['source']} | {row['fold']} | {row['images']} | {_f(row['accuracy'])} | "
                     f"{_f(row['mean_p_ai'])} |")
    return "\n".join(lines) + "\n"
