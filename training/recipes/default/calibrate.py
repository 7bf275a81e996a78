"""The ``calibrate`` stage: threshold and uncertain band from the folds' held-out scores."""
from __future__ import annotations

from pathlib import Path

from ...evaluation.calibrate import calibrate
from .rebuild import MAX_UNCERTAIN, Rebuild, held_out_scores, log, newer


def stage_calibrate(rb: Rebuild, run: Path, force: bool) -> Path:
    out = rb.work / "calibrated.safetensors"
    model, scores = run / "model.safetensors", rb.work / "loso" / "scores.csv"
    if newer(out, model) and newer(out, scores) and not force:
        log(f"calibrate: {out} is up to date")
        return out
    samples, p = held_out_scores(rb)
    details = calibrate(model, out, [s.label for s in samples], p["p_ai"], max_uncertain=MAX_UNCERTAIN)
    band = details["band"]
    log(f"calibrate: on {len(samples)} held-out scores: threshold {details['decision_threshold']:.3f}, "
         f"band [{band['human_below']:.3f}, {band['ai_above']:.3f})")
    return out
