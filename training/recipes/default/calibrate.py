"""The ``calibrate`` stage: threshold and uncertain band from the folds' held-out scores in all tiers together
(a band set on files as saved alone would call many a re-saved human photo AI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...evaluation.calibrate import calibrate
from .rebuild import MAX_UNCERTAIN, Rebuild, held_out_scores, log, newer


def stage_calibrate(rb: Rebuild, run: Path, force: bool) -> Path:
    out = rb.work / "calibrated.safetensors"
    model, scores = run / "model.safetensors", rb.work / "loso" / "scores.csv"
    if newer(out, model) and newer(out, scores) and not force:
        log(f"calibrate: {out} is up to date")
        return out
    samples, p = held_out_scores(rb.work)
    labels = [s.label for s in samples] * len(p)
    details = calibrate(model, out, labels, np.concatenate(list(p.values())), max_uncertain=MAX_UNCERTAIN)
    band = details["band"]
    log(f"calibrate: on {len(labels)} held-out scores ({len(samples)} images x {len(p)} tiers): threshold {details['decision_threshold']:.3f}, "
         f"band [{band['human_below']:.3f}, {band['ai_above']:.3f})")
    return out
