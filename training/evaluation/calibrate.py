"""Choose the decision threshold and the uncertain band on validation data, and store them in the
checkpoint: ``python -m training.evaluation.calibrate --help``.

The rule (all on validation p_ai, each class weighted so that AI images make up ``prior_ai`` of
the total; 0.5 by default, so the numbers do not depend on the validation set's class balance):

1. Decision threshold t: the cut that maximises balanced accuracy (ties: the one nearest 0.5).
   Candidate cuts are midpoints between neighbouring distinct scores.
2. ``ai_above``: the lowest cut c >= t such that the images with p_ai >= c are AI with
   (weighted) precision >= ``target_precision``. ``human_below``: the highest cut c <= t such that
   images with p_ai < c are human-made with precision >= the target.
3. If a side cannot reach the target at any cut that still decides some image, that side falls
   back to the error-quantile rule: the edge is moved just past ``error_quantile`` of that side's
   mistakes at t (e.g. 80% of the human images scored above t end up inside the band).
   ``--rule error-quantile`` uses this rule on both sides.

4. With ``max_uncertain`` (e.g. 0.1), a band holding more than that share of the validation images
   is narrowed towards t, both edges by the same factor, until it holds at most that share: a
   band that leaves most images "uncertain" tells the user nothing. Precision outside it then
   falls below the target; the card reports what it reaches.

So outside the band the detector is right at least ``target_precision`` of the time on the
validation data (where the target is reachable and the band is not narrowed), and the band absorbs the rest. The result goes
into ModelInfo.thresholds and the numbers into ModelInfo.metrics["calibration"].
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.config import Thresholds
from model.engine import Detector

from ..data import datasets as ds
from .metrics import band_metrics, binary_metrics, clean
from .text import number as _num, percent as _pct


def _weights(y: np.ndarray, prior_ai: float) -> np.ndarray:
    n_ai, n_human = int(y.sum()), int(len(y) - y.sum())
    return np.where(y == 1, prior_ai / max(n_ai, 1), (1 - prior_ai) / max(n_human, 1))


def _cuts(s: np.ndarray) -> np.ndarray:
    unique = np.unique(s)
    inner = (unique[:-1] + unique[1:]) / 2
    return np.concatenate(([max(0.0, unique[0] - 1e-6)], inner, [min(1.0, unique[-1] + 1e-6)]))


def choose_thresholds(labels: Sequence, scores: Sequence, target_precision: float = 0.95, prior_ai: float = 0.5,
                      rule: str = "precision", error_quantile: float = 0.8,
                      max_uncertain: float | None = None) -> tuple[Thresholds, float, dict]:
    """Return (band, decision threshold t, details) by the rule in this module's docstring."""
    if rule not in ("precision", "error-quantile"):
        raise ValueError("rule must be 'precision' or 'error-quantile'")
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("calibration needs validation images of both classes")
    w = _weights(y, prior_ai)
    cuts = _cuts(s)
    w_ai_above = np.array([w[(y == 1) & (s >= c)].sum() for c in cuts])  # AI weight called AI at cut c
    w_h_above = np.array([w[(y == 0) & (s >= c)].sum() for c in cuts])
    w_ai_total, w_h_total = w[y == 1].sum(), w[y == 0].sum()
    bal_acc = 0.5 * (w_ai_above / w_ai_total + (w_h_total - w_h_above) / w_h_total)
    best = np.flatnonzero(np.isclose(bal_acc, bal_acc.max()))
    t_index = best[np.argmin(np.abs(cuts[best] - 0.5))]
    t = float(cuts[t_index])

    details: dict = {"rule": rule, "target_precision": target_precision, "prior_ai": prior_ai,
                     "error_quantile": error_quantile, "decision_threshold": t,
                     "validation_images": int(len(y)), "validation_ai": int(y.sum())}

    def error_edge(side: str) -> float:
        if side == "ai":  # human images at or above t: put error_quantile of them inside the band
            errors = s[(y == 0) & (s >= t)]
            if not len(errors):
                return t
            return float(min(1.0, np.nextafter(np.quantile(errors, error_quantile, method="higher"), 2)))
        errors = s[(y == 1) & (s < t)]
        return t if not len(errors) else float(max(0.0, np.quantile(errors, 1 - error_quantile, method="lower")))

    ai_above = human_below = None
    if rule == "precision":
        for c, a, h in zip(cuts, w_ai_above, w_h_above):
            if c >= t and a + h > 0 and a / (a + h) >= target_precision:
                ai_above = float(c)
                break
        for c, a, h in reversed(list(zip(cuts, w_ai_above, w_h_above))):
            below_ai, below_h = w_ai_total - a, w_h_total - h
            if c <= t and below_ai + below_h > 0 and below_h / (below_ai + below_h) >= target_precision:
                human_below = float(c)
                break
    details["ai_side_rule"] = "precision" if ai_above is not None else "error-quantile"
    details["human_side_rule"] = "precision" if human_below is not None else "error-quantile"
    ai_above = error_edge("ai") if ai_above is None else ai_above
    human_below = error_edge("human") if human_below is None else human_below
    band = Thresholds(human_below=min(human_below, t), ai_above=max(ai_above, t))
    details["max_uncertain"] = max_uncertain
    if max_uncertain is not None:
        band = narrow_band(s, band, t, max_uncertain)

    called_ai = s >= band.ai_above
    called_human = s < band.human_below
    a, h = w[called_ai & (y == 1)].sum(), w[called_ai & (y == 0)].sum()
    details["precision_ai_side"] = a / (a + h) if a + h else float("nan")
    a, h = w[called_human & (y == 1)].sum(), w[called_human & (y == 0)].sum()
    details["precision_human_side"] = h / (a + h) if a + h else float("nan")
    details["band"] = band_metrics(y, s, band)
    details["at_threshold"] = binary_metrics(y, s, t)
    return band, t, clean(details)


def narrow_band(scores: np.ndarray, band: Thresholds, t: float, max_share: float) -> Thresholds:
    """The widest band [t - f(t - low), t + f(high - t)), 0 <= f <= 1, holding at most ``max_share`` of ``scores``."""
    def scaled(f: float) -> Thresholds:
        return Thresholds(human_below=t - f * (t - band.human_below), ai_above=t + f * (band.ai_above - t))

    def share(b: Thresholds) -> float:
        return float(np.mean((scores >= b.human_below) & (scores < b.ai_above)))

    if share(band) <= max_share:
        return band
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if share(scaled(middle)) <= max_share else (low, middle)
    return scaled(low)


def score_samples(model_path: str | os.PathLike, samples: Sequence[ds.Sample], device: str = "auto",
                  batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    from .evaluate import score_paths

    detector = Detector.from_file(model_path, device=device, batch_size=batch_size)
    scores = score_paths(detector, [s.path for s in samples])
    ok = ~np.isnan(scores)
    return np.array([s.label for s in samples])[ok], scores[ok]


def calibrate(model_path: str | os.PathLike, out_path: str | os.PathLike, labels: Sequence, scores: Sequence,
              **rule) -> dict:
    """Choose the band on (labels, scores) and save the model with it to ``out_path``."""
    band, t, details = choose_thresholds(labels, scores, **rule)
    loaded = load_checkpoint(model_path)
    metrics = dict(loaded.info.metrics or {})
    metrics["calibration"] = details
    save_checkpoint(loaded.network, replace(loaded.info, thresholds=band, metrics=metrics), out_path)
    Path(out_path).with_suffix(".calibration.json").write_text(json.dumps(details, indent=2), encoding="utf-8")
    return details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="FILE.safetensors", help="checkpoint to calibrate")
    parser.add_argument("--out", metavar="FILE.safetensors", help="where to save it (default: overwrite --model)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", metavar="split.json[:val]", help="validation list of a training run")
    source.add_argument("--data", action="append", metavar="PATH", help="validation images (folder/.tsv/.csv)")
    source.add_argument("--scores", metavar="scores.csv",
                        help="p_ai already computed by training.evaluation.evaluate for this model (no re-scoring)")
    parser.add_argument("--target-precision", type=float, default=0.95,
                        help="precision the verdicts outside the band must reach (default 0.95)")
    parser.add_argument("--prior-ai", type=float, default=0.5,
                        help="share of AI images assumed when computing precision (default 0.5)")
    parser.add_argument("--rule", default="precision", choices=["precision", "error-quantile"])
    parser.add_argument("--error-quantile", type=float, default=0.8,
                        help="share of each side's mistakes the band absorbs under the fallback rule (default 0.8)")
    parser.add_argument("--max-uncertain", type=float, metavar="SHARE",
                        help="narrow the band until at most this share of the validation images is inside (e.g. 0.1)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    args = parser.parse_args(argv)
    try:
        if args.scores:
            from .evaluate import read_scores

            samples, scores = read_scores(args.scores)
            labels = np.array([s.label for s in samples])
        else:
            from .evaluate import load_eval_samples

            labels, scores = score_samples(args.model, load_eval_samples(args.data or [], args.samples), args.device)
        details = calibrate(args.model, args.out or args.model, labels, scores,
                            target_precision=args.target_precision, prior_ai=args.prior_ai, rule=args.rule,
                            error_quantile=args.error_quantile, max_uncertain=args.max_uncertain)
    except (ds.DataError, CheckpointError, ValueError, OSError) as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2
    band = details["band"]
    print(f"decision threshold {details['decision_threshold']:.3f}; uncertain band "
          f"[{band['human_below']:.3f}, {band['ai_above']:.3f}) ({details['human_side_rule']} / "
          f"{details['ai_side_rule']} rule); coverage {_pct(band['coverage'])}, decided accuracy "
          f"{_num(band['decided_accuracy'])} -> {args.out or args.model}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
