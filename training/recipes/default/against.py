"""A rebuild's held-out scores against another model, per tier, on images neither trained on:
``python -m training.recipes.default.against OLD.safetensors --only /pool3/``.

The other model (a ConViTX checkpoint on the same frozen CNN, e.g. the model a rebuild replaces) scores
the rebuild's cached tower outputs of every tier, the first and last of the app's crops as the rebuild's
own scores; pick with ``--only`` images the other model never trained on, or the comparison favours it.
"""
from __future__ import annotations

import argparse

import numpy as np

from model.checkpoint import load_checkpoint

from ...data.tiers import TIERS
from ...evaluation.metrics import roc_auc
from ...evaluation.text import number, percent
from ...evaluation.tier_report import caught_at_fpr
from ..frozen_heads import score_outputs
from .rebuild import held_out_scores, repo_path, saved_features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recipes.default.against", description=__doc__)
    parser.add_argument("model", help="the other model (.safetensors)")
    parser.add_argument("--work", default="runs/default", help="the rebuild's work folder (after its loso stage)")
    parser.add_argument("--only", default="", metavar="TEXT", help="only images whose path contains TEXT")
    args = parser.parse_args(argv)
    work = repo_path(args.work)
    cache, settings = saved_features(work)
    other = load_checkpoint(args.model).network.eval()
    samples, held = held_out_scores(work)
    keep = [i for i, s in enumerate(samples) if args.only in s.path]
    outputs = [cache.read(samples[i].path, other.preset.clip) for i in keep]
    labels = np.array([samples[i].label for i in keep])
    print(f"{len(keep)} images ({int(labels.sum())} AI); ROC-AUC and AI caught at 5% human FPR, other -> rebuild")
    for view, tier in enumerate(TIERS):
        theirs, ours = score_outputs(other, outputs, view=view), held[tier][keep]
        print(f"{tier}: ROC-AUC {number(roc_auc(labels, theirs))} -> {number(roc_auc(labels, ours))}; caught "
              f"{percent(caught_at_fpr(labels, theirs))} -> {percent(caught_at_fpr(labels, ours))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
