"""Evaluate a saved checkpoint exactly as the app scores: ``python -m training.evaluation.evaluate --help``.

Images go through :class:`model.engine.Detector` (the app's loader, working resolution and
multicrop averaging from the checkpoint's own metadata). The report has:

* overall: accuracy, balanced accuracy, F1 (AI and macro), ROC-AUC, at the checkpoint's decision
  threshold (the calibrated one, or the middle of its uncertain band);
* the three-way verdict: coverage outside the uncertain band and accuracy on the decided images;
* per source (generator or photo collection) and per kind (photo / art / generated);
* robustness: the same images re-encoded as JPEG q90 and q75, and resized to 0.5x (saved as PNG,
  so only the resize changes), each scored from a real file like a user's.

Writes ``report.md``, ``report.json``, ``scores.csv`` and PNG plots to ``--out``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from model.checkpoint import CheckpointError, load_checkpoint
from model.config import ModelInfo, PreprocessConfig
from model.engine import Detector
from model.imageio import ImageLoadError, load_image

from ..data import datasets as ds
from ..data.families import family
from ..data.image_edits import resize_by
from .metrics import band_metrics, binary_metrics, clean
from .text import number as _f, percent as _pct

ROBUSTNESS = {
    "jpeg_q90": {"label": "JPEG quality 90", "suffix": ".jpg", "save": {"format": "JPEG", "quality": 90}},
    "jpeg_q75": {"label": "JPEG quality 75", "suffix": ".jpg", "save": {"format": "JPEG", "quality": 75}},
    "resize_0.5": {"label": "resized to 0.5x (PNG)", "suffix": ".png", "save": {"format": "PNG", "compress_level": 1},
                   "resize": 0.5},
    "crop_256": {"label": "256 px centre crop (PNG)", "suffix": ".png", "save": {"format": "PNG", "compress_level": 1},
                 "crop": 256},
}
CHUNK = 128


def decision_threshold(info: ModelInfo) -> float:
    """The calibrated decision point when calibration stored one, else the middle of the band."""
    calibrated = (info.metrics or {}).get("calibration", {}).get("decision_threshold")
    if calibrated is not None:
        return float(calibrated)
    return (info.thresholds.human_below + info.thresholds.ai_above) / 2


def score_paths(detector: Detector, paths: Sequence[str]) -> np.ndarray:
    """p_ai per file through the app's scan path; NaN where the file could not be read."""
    scores = np.full(len(paths), np.nan)
    for i, result in enumerate(detector.scan(list(paths))):
        if result.p_ai is not None:
            scores[i] = result.p_ai
    return scores


def _make_variant(source: str, target: Path, spec: dict) -> bool:
    try:
        image = load_image(source).image
    except ImageLoadError:
        return False
    if spec.get("resize"):
        image = resize_by(image, spec["resize"])
    if spec.get("crop"):
        width, height = (min(side, spec["crop"]) for side in image.size)
        left, top = (image.size[0] - width) // 2, (image.size[1] - height) // 2
        image = image.crop((left, top, left + width, top + height))
    image.save(target, **spec["save"])
    return True


def score_variant(detector: Detector, paths: Sequence[str], spec: dict, workers: int = 2) -> np.ndarray:
    """Write each image as the variant (full-resolution decode, change, save to a temporary file)
    and score the files, ``CHUNK`` at a time."""
    scores = np.full(len(paths), np.nan)
    with tempfile.TemporaryDirectory(prefix="convitx-eval-") as tmp, ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(paths), CHUNK):
            chunk = list(range(start, min(start + CHUNK, len(paths))))
            targets = [Path(tmp) / f"{i}{spec['suffix']}" for i in chunk]
            made = list(pool.map(lambda pair: _make_variant(paths[pair[0]], pair[1], spec), zip(chunk, targets)))
            ok = [(i, t) for i, t, good in zip(chunk, targets, made) if good]
            if ok:
                scores[[i for i, _ in ok]] = score_paths(detector, [str(t) for _, t in ok])
            for target in targets:
                target.unlink(missing_ok=True)
    return scores


def _group_rows(samples: Sequence[ds.Sample], scores: np.ndarray, key: Callable[[ds.Sample], tuple],
                threshold: float, info: ModelInfo) -> list[dict]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        if not math.isnan(scores[i]):
            groups[key(sample)].append(i)
    rows = []
    for group_key, indices in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        y = np.array([samples[i].label for i in indices])
        s = scores[indices]
        band = band_metrics(y, s, info.thresholds)
        correct = ((s >= threshold) == (y == 1)).mean()
        row = {"n": len(indices), "n_ai": int(y.sum()), "mean_p_ai": float(s.mean()), "accuracy": float(correct),
               "called_ai": float((s >= info.thresholds.ai_above).mean()),
               "uncertain": float(((s >= info.thresholds.human_below) & (s < info.thresholds.ai_above)).mean()),
               "called_human": float((s < info.thresholds.human_below).mean()),
               "decided_accuracy": band["decided_accuracy"]}
        if 0 < y.sum() < len(y):
            row["auc"] = binary_metrics(y, s, threshold)["auc"]
        rows.append({"group": list(group_key), **row})
    return rows


def summarize_scores(samples: Sequence[ds.Sample], scores: np.ndarray, info: ModelInfo,
                     threshold: float | None = None) -> dict:
    """All numbers for one set of scores (NaN scores = unreadable images, left out and counted)."""
    threshold = decision_threshold(info) if threshold is None else threshold
    ok = ~np.isnan(scores)
    y = np.array([s.label for s in samples])[ok]
    s = scores[ok]
    return {
        "unreadable": int((~ok).sum()),
        "overall": binary_metrics(y, s, threshold),
        "band": band_metrics(y, s, info.thresholds),
        "per_source": _group_rows(samples, scores, lambda x: (x.label_name, x.source), threshold, info),
        "per_kind": _group_rows(samples, scores, lambda x: (x.kind or "unknown",), threshold, info),
        "per_family": _group_rows(samples, scores, lambda x: (family(x),), threshold, info),
    }


def evaluate(model_path: str | os.PathLike, samples: Sequence[ds.Sample], out: str | os.PathLike,
             robustness: bool | Sequence[str] = True, device: str = "auto", batch_size: int = 16, plots: bool = True,
             log=print, max_crops: int | None = None) -> dict:
    """Score ``samples`` as the app does; ``robustness`` adds every ROBUSTNESS row (True) or the named ones.
    ``max_crops`` scores with another crop cap than the checkpoint's (to choose it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_checkpoint(model_path)
    if max_crops:
        pre = replace(loaded.info.preprocess, max_crops=max_crops)
        loaded = replace(loaded, info=replace(loaded.info, preprocess=pre))
    detector = Detector(loaded, device=device, batch_size=batch_size)
    info = detector.info
    threshold = decision_threshold(info)
    paths = [s.path for s in samples]
    log(f"scoring {len(paths)} images with {info.name} ({detector.device_label})")
    scores = {"original": score_paths(detector, paths)}
    conditions = list(ROBUSTNESS) if robustness is True else list(robustness or [])
    for key in conditions:
        log(f"robustness: {ROBUSTNESS[key]['label']}")
        scores[key] = score_variant(detector, paths, ROBUSTNESS[key], workers=detector.decode_workers)
    report = {"model": str(model_path), "name": info.name, "preset": info.preset,
              "preprocess": info.to_dict()["preprocess"], "thresholds": info.to_dict()["thresholds"],
              "decision_threshold": threshold, "images": len(samples),
              **summarize_scores(samples, scores["original"], info, threshold)}
    rows = []
    base = scores["original"]
    for key in scores:
        if key == "original":
            continue
        variant = summarize_scores(samples, scores[key], info, threshold)["overall"]
        both = ~np.isnan(base) & ~np.isnan(scores[key])
        flips = ((base[both] >= threshold) != (scores[key][both] >= threshold)).mean() if both.any() else float("nan")
        rows.append({"condition": key, "label": ROBUSTNESS[key]["label"], "auc": variant["auc"],
                     "balanced_accuracy": variant["balanced_accuracy"], "accuracy": variant["accuracy"],
                     "mean_abs_change": float(np.abs(base[both] - scores[key][both]).mean()) if both.any() else None,
                     "mean_change": float((scores[key][both] - base[both]).mean()) if both.any() else None,
                     "decision_flips": flips})
    report["robustness"] = rows
    report = clean(report)
    _write_scores(out / "scores.csv", samples, scores)
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if plots:
        _plots(out, samples, scores, report)
    (out / "report.md").write_text(markdown_report(report), encoding="utf-8")
    log(f"AUC {_f(report['overall']['auc'])}, balanced accuracy {_f(report['overall']['balanced_accuracy'])} "
        f"-> {out / 'report.md'}")
    return report


def _write_scores(path: Path, samples: Sequence[ds.Sample], scores: dict[str, np.ndarray]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        columns = [f"p_ai_{k}" if k != "original" else "p_ai" for k in scores]
        writer.writerow(["path", "label", "source", "kind", *columns])
        for i, s in enumerate(samples):
            writer.writerow([s.path, s.label_name, s.source, s.kind,
                             *["" if math.isnan(v[i]) else f"{v[i]:.6f}" for v in scores.values()]])


def read_scores(path: str | os.PathLike) -> tuple[list[ds.Sample], np.ndarray]:
    """The samples and original p_ai of a ``scores.csv`` (rows without a score are dropped)."""
    samples, scores = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["p_ai"] == "":
                continue
            samples.append(ds.Sample(row["path"], ds.parse_label(row["label"]), row["source"], row["kind"]))
            scores.append(float(row["p_ai"]))
    return samples, np.array(scores)


def _plots(out: Path, samples, scores: dict[str, np.ndarray], report: dict) -> None:
    from . import plots

    labels = np.array([s.label for s in samples])
    curves = {}
    for key, values in scores.items():
        ok = ~np.isnan(values)
        curves["original" if key == "original" else ROBUSTNESS[key]["label"]] = (labels[ok], values[ok])
    plots.roc_plot(curves, out / "roc.png")
    plots.confusion_plot(report["overall"]["confusion"], out / "confusion.png",
                         f"p_ai >= {report['decision_threshold']:.3f}")
    ok = ~np.isnan(scores["original"])
    plots.score_histogram(labels[ok], scores["original"][ok], out / "scores.png",
                          (report["thresholds"]["human_below"], report["thresholds"]["ai_above"]))


def markdown_report(report: dict) -> str:
    o, b = report["overall"], report["band"]
    lines = [
        f"# Evaluation: {report['name']}",
        "",
        f"Model file `{report['model']}` (preset `{report['preset']}`), {report['images']} images"
        + (f", {report['unreadable']} unreadable" if report["unreadable"] else "") + ".",
        f"Scored like the app: {PreprocessConfig(**report['preprocess']).describe()}.",
        "",
        "## Overall",
        "",
        f"Binary decision: AI when p_ai >= {report['decision_threshold']:.3f}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| ROC-AUC | {_f(o['auc'])} |",
        f"| accuracy | {_f(o['accuracy'])} |",
        f"| balanced accuracy | {_f(o['balanced_accuracy'])} |",
        f"| F1 (AI) | {_f(o['f1'])} |",
        f"| F1 (macro) | {_f(o['f1_macro'])} |",
        f"| AI images called AI (TPR) | {_f(o['tpr'])} |",
        f"| human images called human (TNR) | {_f(o['tnr'])} |",
        f"| images (AI / human) | {o['n_ai']} / {o['n_human']} |",
        "",
        "## Three-way verdict",
        "",
        f"Uncertain band: {b['human_below']:.3f} <= p_ai < {b['ai_above']:.3f}. "
        f"Coverage (not uncertain): {_pct(b['coverage'])}; accuracy on decided images: {_f(b['decided_accuracy'])}.",
        "",
        "| true class | called AI | uncertain | called human |",
        "|---|---|---|---|",
    ]
    for name in ("ai", "human"):
        row = b[f"{name}_images"]
        lines.append(f"| {name} | {_pct(row['called_ai'])} | {_pct(row['uncertain'])} | {_pct(row['called_human'])} |")
    lines += ["", "## Per source", "",
              "| class | source | images | mean p_ai | accuracy | called AI | uncertain | called human |",
              "|---|---|---|---|---|---|---|---|"]
    for row in report["per_source"]:
        label, source = row["group"]
        lines.append(f"| {label} | {source} | {row['n']} | {_f(row['mean_p_ai'])} | {_f(row['accuracy'])} | "
                     f"{_pct(row['called_ai'])} | {_pct(row['uncertain'])} | {_pct(row['called_human'])} |")
    lines += ["", "## Per generator family and human kind", "",
              "| family | images | called AI | uncertain | called human | accuracy at the threshold |", "|---|---|---|---|---|---|"]
    for row in report.get("per_family", []):
        lines.append(f"| {row['group'][0]} | {row['n']} | {_pct(row['called_ai'])} | {_pct(row['uncertain'])} | "
                     f"{_pct(row['called_human'])} | {_f(row['accuracy'])} |")
    lines += ["", "## Per kind", "", "| kind | images | AI images | AUC | accuracy | called AI | uncertain |",
              "|---|---|---|---|---|---|---|"]
    for row in report["per_kind"]:
        lines.append(f"| {row['group'][0]} | {row['n']} | {row['n_ai']} | {_f(row.get('auc'))} | "
                     f"{_f(row['accuracy'])} | {_pct(row['called_ai'])} | {_pct(row['uncertain'])} |")
    if report.get("robustness"):
        lines += ["", "## Robustness", "",
                  "The same images re-saved, then scored from the file.", "",
                  "| condition | AUC | balanced accuracy | accuracy | mean change of p_ai | mean abs change | "
                  "decisions flipped |", "|---|---|---|---|---|---|---|",
                  f"| original | {_f(o['auc'])} | {_f(o['balanced_accuracy'])} | {_f(o['accuracy'])} | | | |"]
        for row in report["robustness"]:
            lines.append(f"| {row['label']} | {_f(row['auc'])} | {_f(row['balanced_accuracy'])} | "
                         f"{_f(row['accuracy'])} | {_f(row['mean_change'])} | {_f(row['mean_abs_change'])} | "
                         f"{_pct(row['decision_flips'])} |")
    lines += ["", "Plots: `roc.png`, `confusion.png`, `scores.png` (when matplotlib is installed).", ""]
    return "\n".join(lines)


def load_eval_samples(data: Sequence[str], samples_spec: str | None) -> list[ds.Sample]:
    """``--samples RUN/split.json:val`` (a list of a split file), else every image of ``--data``."""
    if samples_spec:
        path, _, name = samples_spec.rpartition(":") if samples_spec.endswith((":val", ":train")) \
            else (samples_spec, "", "val")
        return ds.load_samples(path, name)
    return ds.load_data(data, log=ds.stderr_log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="FILE.safetensors", help="checkpoint to evaluate")
    parser.add_argument("--data", action="append", default=[], metavar="PATH",
                        help="images to evaluate on: folder, manifest .tsv or Kaggle .csv (repeatable)")
    parser.add_argument("--samples", metavar="split.json[:val]",
                        help="evaluate on a list of a training run's split file (default list: val)")
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    parser.add_argument("--no-robustness", action="store_true", help="skip the JPEG / resize rows")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="at most N images, spread over sources")
    parser.add_argument("--spread", default="source", choices=["source", "family"],
                        help="what --limit spreads the images over (default source)")
    parser.add_argument("--max-crops", type=int, metavar="N", help="score with at most N crops per image "
                        "instead of the checkpoint's own number (to choose it)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if not args.data and not args.samples:
        parser.error("give --data or --samples")
    try:
        samples = ds.subsample(load_eval_samples(args.data, args.samples), args.limit,
                               spread=family if args.spread == "family" else lambda s: s.source)
        evaluate(args.model, samples, args.out, robustness=not args.no_robustness, device=args.device,
                 batch_size=args.batch_size, plots=not args.no_plots, log=ds.stderr_log, max_crops=args.max_crops)
    except (ds.DataError, CheckpointError, ValueError, OSError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
