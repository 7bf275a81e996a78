"""The ``evaluate`` stage: the held-out scores under the calibrated band, per tier, with the robustness rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.checkpoint import read_info

from ...data import datasets as ds
from ...evaluation.evaluate import ROBUSTNESS, decision_threshold, markdown_report, summarize_scores
from ...evaluation.metrics import binary_metrics, clean
from ...evaluation.text import number as _f
from ...evaluation.tier_report import tier_markdown, tier_report
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
    """Held-out scores of the web and hard copies against the files as saved, and the app-path checks of the
    folds (pooled): the app's own scoring against the cached outputs' scores, then JPEG q90 and 256 px crops
    against the app's scoring."""
    labels = np.array([s.label for s in samples])
    rows = [_change_row(tier, label, labels, p["clean"], p[tier], threshold) for tier, label in
            (("web", "web copy: longer side 768-1600 px, JPEG or WebP q60-90"),
             ("hard", "hard copy: longer side <= 512 px, JPEG q35-60 or a PNG screenshot"))]
    cached = dict(zip((s.path for s in samples), p["clean"]))
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
    samples, p = held_out_scores(rb.work)
    info = read_info(model)
    threshold = decision_threshold(info)
    report = {"model": str(model), "name": info.name, "preset": info.preset,
              "preprocess": info.to_dict()["preprocess"], "thresholds": info.to_dict()["thresholds"],
              "decision_threshold": threshold, "images": len(samples),
              "description": (f"Every one of these {len(samples)} images was scored by a model trained without its "
                              f"generator family or its source ({rb.args.folds} folds, loso/summary.md), under the "
                              "calibrated band."),
              **summarize_scores(samples, p["clean"], info, threshold),
              "robustness": robustness_rows(rb, samples, p, threshold),
              "tiers": tier_report(samples, p, info.thresholds)}
    report = clean(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown_report(report) + "\n## Per tier\n\n" + tier_markdown(report["tiers"]),
                                   encoding="utf-8")
    report_file.write_text(json.dumps(report, indent=2), encoding="utf-8")  # last: its presence means done
    tiers = "; ".join(f"{t}: AUC {_f(v['auc'])}, caught at 5% {_f(v['caught_at_5pct'])}, photos called AI "
                      f"{_f(v['photo']['called_ai'])}, art {_f(v['art']['called_ai'])}"
                      for t, v in report["tiers"]["tiers"].items())
    log(f"evaluate: held-out {tiers} -> {out / 'report.md'}")
    return report_file
