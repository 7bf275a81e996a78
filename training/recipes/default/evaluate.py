"""The ``evaluate`` stage: the held-out scores under the calibrated band, with the robustness rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.checkpoint import read_info

from ...data import datasets as ds
from ...evaluation.evaluate import ROBUSTNESS, decision_threshold, markdown_report, summarize_scores
from ...evaluation.metrics import binary_metrics, clean
from ...evaluation.text import number as _f
from .loso import eval_rows
from .rebuild import CHECK_CONDITIONS, Rebuild, held_out_scores, log, newer


def _change_row(condition: str, label: str, labels: np.ndarray, base: np.ndarray, changed: np.ndarray,
                threshold: float) -> dict:
    """One robustness row: the metrics of ``changed`` and how far it moved from ``base`` (NaN = unreadable)."""
    ok = ~np.isnan(changed) & ~np.isnan(base)
    metrics = binary_metrics(labels[ok], changed[ok], threshold)
    return {"condition": condition, "label": label, "images": int(ok.sum()), "auc": metrics["auc"],
            "balanced_accuracy": metrics["balanced_accuracy"], "accuracy": metrics["accuracy"],
            "mean_change": float((changed[ok] - base[ok]).mean()), "mean_abs_change": float(np.abs(changed[ok] - base[ok]).mean()),
            "decision_flips": float(((base[ok] >= threshold) != (changed[ok] >= threshold)).mean())}


def robustness_rows(rb: Rebuild, samples: list[ds.Sample], p: dict[str, np.ndarray], threshold: float) -> list[dict]:
    """Held-out scores on the augmented view, and the app-path checks of the folds (pooled): the app's own
    scoring against the cached outputs' scores, then JPEG q90 and 256 px crops against the app's scoring."""
    labels = np.array([s.label for s in samples])
    rows = [_change_row("augmented", "a random native region, rescaled and re-encoded as in training", labels,
                        p["p_ai"], p["p_ai_augmented"], threshold)]
    cached = dict(zip((s.path for s in samples), p["p_ai"]))
    checked = [r for r in eval_rows(rb.work / "loso", rb.args.folds) if r["p_ai"] and r["path"] in cached]
    y = np.array([ds.parse_label(r["label"]) for r in checked])
    app = np.array([float(r["p_ai"]) for r in checked])
    rows.append(_change_row("app_path", "scored by the app's own path (decode, crops, network)", y,
                            np.array([cached[r["path"]] for r in checked]), app, threshold))
    for key in CHECK_CONDITIONS:
        changed = np.array([float(r[f"p_ai_{key}"]) if r[f"p_ai_{key}"] else np.nan for r in checked])
        rows.append(_change_row(key, f"{ROBUSTNESS[key]['label']}, app path", y, app, changed, threshold))
    return rows


def stage_evaluate(rb: Rebuild, model: Path, force: bool) -> Path:
    out = rb.work / "eval"
    report_file = out / "report.json"
    if newer(report_file, model) and not force:
        log(f"evaluate: {report_file} is up to date")
        return report_file
    samples, p = held_out_scores(rb)
    info = read_info(model)
    threshold = decision_threshold(info)
    report = {"model": str(model), "name": info.name, "preset": info.preset,
              "preprocess": info.to_dict()["preprocess"], "thresholds": info.to_dict()["thresholds"],
              "decision_threshold": threshold, "images": len(samples),
              "description": (f"Every one of these {len(samples)} images was scored by a model trained without its "
                              f"generator family or its source ({rb.args.folds} folds, loso/summary.md), under the "
                              "calibrated band."),
              **summarize_scores(samples, p["p_ai"], info, threshold),
              "robustness": robustness_rows(rb, samples, p, threshold)}
    report = clean(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown_report(report), encoding="utf-8")
    report_file.write_text(json.dumps(report, indent=2), encoding="utf-8")  # last: its presence means done
    o, b = report["overall"], report["band"]
    log(f"evaluate: held-out AUC {_f(o['auc'])}, balanced accuracy {_f(o['balanced_accuracy'])}, coverage "
         f"{_f(b['coverage'])} -> {out / 'report.md'}")
    return report_file
