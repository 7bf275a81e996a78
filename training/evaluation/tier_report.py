"""Held-out scores judged per tier (clean / web / hard, training/data/tiers.py), per kind and per group.

The headline is the share of AI images caught when 5% of human images are called AI, per tier: a
user lives at a low false-accusation rate, where ROC-AUC alone hides how many generations pass.
Human photos and art are reported apart: a detector can be fair to one and not the other.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from model.config import Thresholds

from ..data import datasets as ds
from ..data.families import family
from .metrics import band_metrics, roc_auc
from .text import number, percent

HUMAN_FPR = 0.05  # the operating point of the headline


def caught_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float = HUMAN_FPR) -> float:
    """Share of AI images scoring above the lowest level that at most ``fpr`` of human images exceed."""
    human, ai = np.sort(scores[labels == 0])[::-1], scores[labels == 1]
    if not len(human) or not len(ai):
        return float("nan")
    level = human[min(int(fpr * len(human)), len(human) - 1)]
    return float((ai > level).mean())


def kind_of(sample: ds.Sample) -> str:
    """'ai', 'photo' or 'art' (human images of other kinds count as photos)."""
    if sample.label == 1:
        return "ai"
    return "art" if sample.kind == "art" else "photo"


def tier_summary(samples: Sequence[ds.Sample], scores: np.ndarray, band: Thresholds) -> dict:
    """One tier's figures: AUC, caught at 5% human FPR, balanced accuracy and coverage under ``band``,
    and the share of each kind called AI / uncertain / human."""
    labels = np.array([s.label for s in samples])
    kinds = np.array([kind_of(s) for s in samples])
    verdict_ai, verdict_human = scores >= band.ai_above, scores < band.human_below
    decided = verdict_ai | verdict_human
    ai_caught = verdict_ai[labels == 1].mean() if (labels == 1).any() else float("nan")
    human_cleared = verdict_human[labels == 0].mean() if (labels == 0).any() else float("nan")
    out = {"n": int(len(labels)), "auc": roc_auc(labels, scores), "caught_at_5pct": caught_at_fpr(labels, scores),
           "balanced_accuracy": float((ai_caught + human_cleared) / 2), "coverage": float(decided.mean()),
           "decided_accuracy": band_metrics(labels, scores, band)["decided_accuracy"]}
    for kind in ("ai", "photo", "art"):
        mask = kinds == kind
        out[kind] = {"n": int(mask.sum()),
                     "called_ai": float(verdict_ai[mask].mean()) if mask.any() else float("nan"),
                     "uncertain": float((~decided)[mask].mean()) if mask.any() else float("nan")}
    return out


def group_rows(samples: Sequence[ds.Sample], scores_by_tier: dict[str, np.ndarray], band: Thresholds,
               key: Callable[[ds.Sample], str]) -> list[dict]:
    """Per group (family or source): its size and, per tier, the share it gets right (AI called AI,
    human called human) and the share called AI."""
    groups: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(key(sample), []).append(index)
    rows = []
    for name, members in sorted(groups.items()):
        label = samples[members[0]].label
        row = {"group": name, "label": "ai" if label else "human", "n": len(members)}
        for tier, scores in scores_by_tier.items():
            s = scores[members]
            called_ai = float((s >= band.ai_above).mean())
            right = called_ai if label else float((s < band.human_below).mean())
            row[tier] = {"right": right, "called_ai": called_ai}
        rows.append(row)
    return rows


def tier_report(samples: Sequence[ds.Sample], scores_by_tier: dict[str, np.ndarray], band: Thresholds) -> dict:
    return {"band": {"human_below": band.human_below, "ai_above": band.ai_above},
            "tiers": {tier: tier_summary(samples, scores, band) for tier, scores in scores_by_tier.items()},
            "families": group_rows(samples, scores_by_tier, band, family),
            "sources": group_rows(samples, scores_by_tier, band, lambda s: f"{s.label_name}: {s.source}")}


def tier_markdown(report: dict, min_rows: int = 20) -> str:
    """The per-tier tables of the model card and the README."""
    tiers = list(report["tiers"])
    lines = ["| tier | images | ROC-AUC | AI caught at 5% human FPR | balanced accuracy | coverage | "
             "AI caught | photos called AI | art called AI |", "|---|---|---|---|---|---|---|---|---|"]
    for tier, t in report["tiers"].items():
        lines.append(f"| {tier} | {t['n']} | {number(t['auc'])} | {percent(t['caught_at_5pct'])} | "
                     f"{number(t['balanced_accuracy'])} | {percent(t['coverage'])} | {percent(t['ai']['called_ai'])} | "
                     f"{percent(t['photo']['called_ai'])} | {percent(t['art']['called_ai'])} |")
    lines += ["", "Right per generator family / human kind (AI called AI, human called human), per tier:", "",
              "| family | images | " + " | ".join(tiers) + " |", "|---|---|" + "---|" * len(tiers)]
    for row in report["families"]:
        lines.append(f"| {row['group']} | {row['n']} | " + " | ".join(percent(row[t]["right"]) for t in tiers) + " |")
    weak = [row for row in report["sources"] if row["n"] >= min_rows and min(row[t]["right"] for t in tiers) < 0.6]
    lines += ["", f"Sources of at least {min_rows} images below 60% right in some tier: "
              + (", ".join(f"{r['group']} ({r['n']}: " + " / ".join(percent(r[t]['right']) for t in tiers) + ")"
                           for r in weak) or "none") + "."]
    return "\n".join(lines) + "\n"
