"""``python -m training.recipes.default``: its settings, the work folder's fingerprint, the stages in order."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ...data import datasets as ds
from ...data.exclusion import DEFAULT_EXCLUDE_DIR
from . import __doc__ as RECIPE
from .calibrate import stage_calibrate
from .evaluate import stage_evaluate
from .export import stage_export
from .loso import stage_loso
from .rebuild import (DEFAULT_BACKBONE, DEFAULT_CLIP, DEFAULT_DATA, DEFAULT_OUT, DEFAULT_PRESET, DEFAULT_WORK, HEAD,
                      STAGES, Rebuild, log, repo_path, stage_outputs)
from .train import stage_train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.recipes.default", description=RECIPE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = ", ".join(f"{path}:{limit}" for path, limit in DEFAULT_DATA)
    p.add_argument("--data", action="append", metavar="PATH[:N]",
                   help=f"a manifest or folder, and at most N of its images spread over its sources (0 or none: all); "
                        f"repeatable; default {defaults}")
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
    p.add_argument("--clip", default=DEFAULT_CLIP, metavar="PATH",
                   help=f"the CLIP tower's file (default {DEFAULT_CLIP}, put there by packaging/fetch_clip.py)")
    p.add_argument("--head-seed", type=int, default=HEAD.seed, metavar="N",
                   help=f"seed of the Swin branch's and the head's start and batch order (default {HEAD.seed}); "
                        "data, tiers and folds stay: a second seed tells a real difference from luck")
    p.add_argument("--positive-head", action="store_true",
                   help="keep the head's last layer non-negative (only evidence of generation raises the score)")
    p.add_argument("--preset", default=DEFAULT_PRESET, help="architecture (tests use convitx_clip_test)")
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
    p.add_argument("--workers", type=int, default=2,
                   help="processes computing the towers' outputs (default 2; 0: in this process)")
    return p


def _data_spec(spec: str) -> tuple[str, int]:
    path, _, limit = spec.rpartition(":") if spec.rpartition(":")[2].isdigit() else (spec, "", "0")
    return str(Path(path).resolve()), int(limit)


def _fingerprint(args: argparse.Namespace, data: list[str]) -> str:
    import hashlib

    keys = {"data": data, "preset": args.preset, "pretrained": args.pretrained, "clip": args.clip, "limit": args.limit,
            "folds": args.folds, "exclusions": args.exclusions, "positive_head": args.positive_head}
    if args.head_seed != HEAD.seed:  # work folders of the default seed keep the fingerprint they had
        keys["head_seed"] = args.head_seed
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.limit = args.limit or 80
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
        print(f"default recipe: unknown stage(s) {sorted(unknown)}; stages: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    work = Path(args.work) if Path(args.work).is_absolute() else repo_path(args.work)
    out = Path(args.out) if Path(args.out).is_absolute() else repo_path(args.out)
    data = [_data_spec(d) for d in args.data] if args.data else \
        [(str(repo_path(d)), n) for d, n in DEFAULT_DATA if repo_path(d).exists() or d == DEFAULT_DATA[0][0]]
    for d, _ in ([] if args.data else [(d, n) for d, n in DEFAULT_DATA if not repo_path(d).exists()]):
        log(f"warning: {d} not found (training/README.md says how to build it); training without it")
    args.exclusions = str(Path(args.exclusions).resolve())
    if args.pretrained != "none" and not repo_path(args.pretrained).is_file():
        print(f"default recipe: backbone weights {args.pretrained} not found: run "
              "`python -m training.data.public --out data/public` first (or --pretrained none)", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    recipe_file = work / "recipe.json"
    fingerprint = _fingerprint(args, data)
    if recipe_file.exists() and "outputs" not in force:
        if json.loads(recipe_file.read_text(encoding="utf-8")).get("fingerprint") != fingerprint:
            print(f"default recipe: {work} holds a run with other settings (data, preset or limits changed); "
                  "use --force all, or another --work", file=sys.stderr)
            return 2
    rb = Rebuild(args, work, data)
    recipe_file.write_text(json.dumps({"fingerprint": fingerprint, "settings": vars(args), "data": data,
                                       "head": asdict(rb.head())}, indent=2), encoding="utf-8")
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
            stage_export(rb, model, run, report, loso, out)
    except (ds.DataError, ValueError, OSError) as exc:
        print(f"default recipe: {exc}", file=sys.stderr)
        return 2
    return 0
