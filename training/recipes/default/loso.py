"""The ``loso`` stage: every image scored, in every tier, by a model trained without its fold; a sample of each
fold also scored the way the app scores (the app-path check)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.checkpoint import save_checkpoint

from ...data import datasets as ds
from ...data.families import family
from ...evaluation.evaluate import evaluate, summarize_scores
from ...evaluation.folds import held_out_folds, loso_markdown, summarize_folds
from ...evaluation.metrics import roc_auc
from ...evaluation.text import number as _f
from ...data.tiers import TIERS
from ..frozen_heads import score_outputs, train_head
from .rebuild import CHECK_CONDITIONS, DEFAULT_NAME, HEAD, Rebuild, log, read_rows, write_rows


def stage_loso(rb: Rebuild, force: bool) -> Path:
    """Every image scored in every tier by a model trained without its fold; a sample of each fold also scored by
    the app's path."""
    root = rb.work / "loso"
    summary_file = root / "summary.json"
    if summary_file.exists() and not force:
        log(f"loso: {summary_file} is up to date")
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
            log(f"loso: fold {fold + 1}/{rb.args.folds} already done")
        else:
            trained = np.where(folds != fold)[0]
            log(f"loso: fold {fold + 1}/{rb.args.folds}: training on {len(trained)} images, {len(held)} held out")
            network = train_head(rb.new_network(), [samples[i] for i in trained], [outputs[i] for i in trained],
                                 rb.head(), log=log)
            held_outputs = [outputs[i] for i in held]
            p = {tier: score_outputs(network, held_outputs, view=view) for view, tier in enumerate(TIERS)}
            model = fold_dir / "model.safetensors"
            fold_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(network, rb.info(f"{DEFAULT_NAME} (held-out fold {fold + 1}/{rb.args.folds})"), model)
            check = ds.subsample([samples[i] for i in held], rb.args.check_images, seed=HEAD.seed, spread=family)
            evaluate(model, check, fold_dir / "eval", robustness=CHECK_CONDITIONS, device=rb.args.device,
                     plots=False, log=log)
            write_rows(held_file, [{"path": samples[i].path, "fold": fold + 1,
                                     **{f"p_ai_{tier}": f"{p[tier][n]:.6f}" for tier in TIERS}}
                                    for n, i in enumerate(held)])
        fold_rows = read_rows(held_file)
        rows += fold_rows
        held_samples = [samples[i] for i in held]
        report = summarize_scores(held_samples, np.array([float(r["p_ai_clean"]) for r in fold_rows]), uncalibrated,
                                  0.5)
        reports.append({"images": len(held), "decision_threshold": 0.5, **report})
    write_rows(root / "scores.csv", rows)
    summary = summarize_folds(reports)
    by_path = {s.path: s.label for s in samples}
    summary["pooled_auc"] = roc_auc([by_path[r["path"]] for r in rows], [float(r["p_ai_clean"]) for r in rows])
    summary["pooled_auc_by_tier"] = {tier: roc_auc([by_path[r["path"]] for r in rows],
                                                   [float(r[f"p_ai_{tier}"]) for r in rows]) for tier in TIERS}
    summary["how"] = (f"{rb.args.folds} folds: each holds out whole AI generator families and whole human sources "
                      "(an aligned pair stays with its real image); a model trained like the final one, without "
                      "them, scores them, as saved and in their web and hard copies")
    summary["app_path_check"] = app_path_check(root, rb.args.folds, rows)
    summary_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (root / "summary.md").write_text(loso_markdown(summary), encoding="utf-8")
    check = summary["app_path_check"]
    tiers = ", ".join(f"{t} {_f(a)}" for t, a in summary["pooled_auc_by_tier"].items())
    log(f"loso: pooled AUC {tiers}; clean fold AUC mean {_f(summary['auc_mean'])} "
         f"(min {_f(summary['auc_min'])}); app path vs cached outputs on {check['images']} images: "
         f"mean |p_ai difference| {_f(check['mean_abs_difference'])} -> {root / 'summary.md'}")
    return summary_file


def eval_rows(root: Path, folds: int) -> list[dict]:
    rows = []
    for fold in range(folds):
        rows += read_rows(root / f"fold{fold}" / "eval" / "scores.csv")
    return rows


def app_path_check(root: Path, folds: int, rows: list[dict]) -> dict:
    """How far the app's scoring (decode, crops, frozen network) lands from the cached outputs' scores."""
    cached = {r["path"]: float(r["p_ai_clean"]) for r in rows}
    pairs = [(float(r["p_ai"]), cached[r["path"]]) for r in eval_rows(root, folds) if r["p_ai"] and r["path"] in cached]
    diff = np.abs(np.array([a - b for a, b in pairs])) if pairs else np.array([np.nan])
    return {"images": len(pairs), "mean_abs_difference": float(diff.mean()), "max_abs_difference": float(diff.max())}
