"""Which frozen features carry the evidence: ``python -m training.recipes.default.probe_views --work runs/default``.

A linear probe (logistic regression, class+source balanced, trained on all three tiers) per feature set,
on a rebuild's cached tower outputs and its own leave-source-out folds, scored per tier. It is how the
recipe chose the CLIP blocks its preset reads (training/README.md); rerun it after the data changes.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from model.clip_outputs import ClipOutputs

from ...data import datasets as ds
from ...data.tiers import TIERS
from ...evaluation.folds import held_out_folds
from ...evaluation.metrics import roc_auc
from ...evaluation.text import number, percent
from ...evaluation.tier_report import caught_at_fpr, kind_of
from ..tier_features import CLIP_BLOCKS, FeatureCache, select_clip
from .rebuild import repo_path, saved_features

FEATURE_SETS = {  # name: (CNN block statistics?, CLIP outputs or None)
    "CNN statistics": (True, None),
    "CLIP embedding": (False, ClipOutputs(())),
    "CLIP embedding + block 11": (False, ClipOutputs((11,))),
    "CLIP embedding + blocks 5, 7": (False, ClipOutputs((5, 7))),
    "CLIP embedding + blocks 3, 5, 7": (False, ClipOutputs((3, 5, 7))),
    "CLIP embedding + blocks 3-11": (False, ClipOutputs(CLIP_BLOCKS)),
    "CLIP blocks 5, 7 (tower cut after block 7)": (False, ClipOutputs((5, 7), embedding=False)),
    "CLIP blocks 3, 5, 7 (tower cut after block 7)": (False, ClipOutputs((3, 5, 7), embedding=False)),
    "CLIP blocks 5, 7, 9 (tower cut after block 9)": (False, ClipOutputs((5, 7, 9), embedding=False)),
    "CLIP blocks 3, 5, 7, 9 (tower cut after block 9)": (False, ClipOutputs((3, 5, 7, 9), embedding=False)),
    "CNN + CLIP embedding + blocks 3, 5, 7": (True, ClipOutputs((3, 5, 7))),
}


def features(cache: FeatureCache, samples: list[ds.Sample], cnn: bool,
             clip: ClipOutputs | None) -> dict[str, np.ndarray]:
    """Per tier, one row per image: the CNN statistics averaged over its crops and/or its CLIP features."""
    rows: dict[str, list[np.ndarray]] = {t: [] for t in TIERS}
    for sample in samples:
        with np.load(cache.file_for(sample.path)) as data:
            for tier in TIERS:
                parts = [data[f"cnn_{tier}"].astype(np.float32).mean(0)] if cnn else []
                if clip is not None:
                    parts.append(select_clip(data[f"clip_{tier}"], clip)[0].astype(np.float32))
                rows[tier].append(np.concatenate(parts))
    return {tier: np.stack(r) for tier, r in rows.items()}


def fit_probe(x: np.ndarray, y: np.ndarray, w: np.ndarray, decay: float = 1e-3):
    """Standardised logistic regression (L-BFGS, L2): returns a scoring function."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xt, yt, wt = (torch.tensor(a, dtype=torch.float32) for a in ((x - mean) / scale, y, w))
    linear = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(linear(xt).squeeze(1), yt, reduction="none")
                * wt).mean() + decay * (linear.weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda z: linear(torch.tensor((z - mean) / scale, dtype=torch.float32)).squeeze(1).detach().numpy()


def probe(cache: FeatureCache, samples: list[ds.Sample], folds: np.ndarray, cnn: bool,
          clip: ClipOutputs | None) -> dict:
    x = features(cache, samples, cnn, clip)
    y = np.array([s.label for s in samples])
    weights = ds.sample_weights(samples, "class+source")
    scores = {t: np.zeros(len(y)) for t in TIERS}
    for fold in np.unique(folds):
        train, held = folds != fold, folds == fold
        model = fit_probe(np.concatenate([x[t][train] for t in TIERS]), np.tile(y[train], len(TIERS)),
                          np.tile(weights[train], len(TIERS)))
        for tier in TIERS:
            scores[tier][held] = model(x[tier][held])
    kinds = np.array([kind_of(s) for s in samples])
    out = {}
    for tier, s in scores.items():
        level = np.sort(s[y == 0])[::-1][int(0.05 * (y == 0).sum())]
        out[tier] = {"auc": roc_auc(y, s), "caught_at_5pct": caught_at_fpr(y, s),
                     "photo_above": float((s[kinds == "photo"] > level).mean()),
                     "art_above": float((s[kinds == "art"] > level).mean())}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.recipes.default.probe_views", description=__doc__)
    parser.add_argument("--work", default="runs/default", help="a rebuild's work folder (after its outputs stage)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small fits; leaves the other core to whatever else runs
    work = repo_path(args.work)
    cache, settings = saved_features(work)
    samples = ds.load_samples(work / "samples.json", "images")
    folds = held_out_folds(samples, settings["folds"], seed=0)
    lines = ["| features | " + " | ".join(f"{t}: AUC / AI caught at 5% (photos, art above that level)" for t in TIERS)
             + " |", "|---|" + "---|" * len(TIERS)]
    for name, (cnn, clip) in FEATURE_SETS.items():
        result = probe(cache, samples, folds, cnn, clip)
        cells = [f"{number(r['auc'])} / {percent(r['caught_at_5pct'])} ({percent(r['photo_above'])}, "
                 f"{percent(r['art_above'])})" for r in result.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    text = f"Linear probes on {len(samples)} images, {settings['folds']} leave-source-out folds\n\n" + "\n".join(lines)
    (work / "probe_views.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
