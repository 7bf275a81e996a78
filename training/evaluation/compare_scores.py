"""Compare two models' scores on the images both scored: ``python -m training.evaluation.compare_scores A.csv B.csv``.

A is a ``training.evaluation.evaluate`` scores.csv (path, label, p_ai); B any CSV with path and p_ai (e.g. a
rebuild's held-out ``loso/scores.csv``). Prints both ROC-AUCs and a bootstrap interval of B minus A, so
that "better" means more than the noise of a few hundred images.
"""
from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from ..data.datasets import parse_label
from .metrics import roc_auc


def _p_ai(path: str) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["path"]: row for row in csv.DictReader(handle) if row.get("p_ai")}


def compare(a_path: str, b_path: str, rounds: int = 1000, seed: int = 0) -> dict:
    a, b = _p_ai(a_path), _p_ai(b_path)
    both = [path for path in a if path in b]
    labels = np.array([parse_label(a[p]["label"]) for p in both])
    if len(set(labels)) < 2:
        raise ValueError("the images both files scored need both classes")
    sa = np.array([float(a[p]["p_ai"]) for p in both])
    sb = np.array([float(b[p]["p_ai"]) for p in both])
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(rounds):
        pick = rng.integers(0, len(both), len(both))
        if 0 < labels[pick].sum() < len(pick):
            differences.append(roc_auc(labels[pick], sb[pick]) - roc_auc(labels[pick], sa[pick]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"images": len(both), "ai": int(labels.sum()), "auc_a": roc_auc(labels, sa), "auc_b": roc_auc(labels, sb),
            "difference_95": [float(low), float(high)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.compare_scores", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="scores.csv with labels (training.evaluation.evaluate)")
    parser.add_argument("b", help="CSV with path and p_ai")
    args = parser.parse_args(argv)
    try:
        r = compare(args.a, args.b)
    except (OSError, KeyError, ValueError) as exc:
        print(f"compare_scores: {exc}", file=sys.stderr)
        return 2
    print(f"{r['images']} images scored by both ({r['ai']} AI): ROC-AUC A {r['auc_a']:.3f}, B {r['auc_b']:.3f}; "
          f"B - A, 95% bootstrap interval [{r['difference_95'][0]:.3f}, {r['difference_95'][1]:.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
