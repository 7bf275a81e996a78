"""The scan variants measured for bench/NOTES.md, interleaved in one run on the same images, so that a
loaded or noisy machine moves all of them alike: read the ratios to the baseline in the same round.

  decode path per file: which path each file of the mix takes, and its CPU time against a full decode
  decode path in the scan: JPEG rows down to the crops only (model/jpeg_rows.py) against a full decode
  decoder processes x torch threads: what model/decoding.py's choice is measured against

python bench/experiments.py [--model FILE] [--images N] [--rounds N] [--workers 1,2,3] [--threads 1,2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from benchmark import ROOT, make_folder, scan_img_s
from images import REALISTIC_MIX

from model import Detector  # noqa: E402
from model.config import PreprocessConfig  # noqa: E402
from model.decoding import DecodedPixels, decode_crops, decode_workers, torch_threads  # noqa: E402
from model.device import cpu_threads  # noqa: E402
from model.imageio import load_image  # noqa: E402
from model.model_file import read_info  # noqa: E402
from model.preprocess import scoring_region  # noqa: E402
from model.resources import default_model_path  # noqa: E402


def full_decode_crops(path: str, cfg: PreprocessConfig) -> DecodedPixels:
    """The scan's decoder as before the rows-only path: the same crops (multicrop that never shrinks cuts
    what native does) with every JPEG decoded whole, and the rest (copy history) as in the scan."""
    return decode_crops(path, replace(cfg, mode="multicrop", max_short_side=1 << 30))


def decode_costs(paths: list[Path], cfg: PreprocessConfig, rounds: int = 5) -> None:
    """Per file of the mix (one of each kind): the path it takes and the median CPU time of the scan's
    decoder against a full decode, run in turn in this process (CPU time: the machine's load moves it less)."""
    print(f"{'file':<28}{'path':<12}{'full ms':>9}{'scan ms':>9}")
    totals = [0.0, 0.0]
    for path in paths:
        times: list[list[float]] = [[], []]
        for round_ in range(rounds):
            for which in ((0, 1) if round_ % 2 else (1, 0)):
                started = time.process_time()
                (full_decode_crops if which == 0 else decode_crops)(str(path), cfg)
                times[which].append(time.process_time() - started)
        medians = [statistics.median(t) * 1000 for t in times]
        totals = [a + b for a, b in zip(totals, medians)]
        part = load_image(path, region=partial(scoring_region, cfg=cfg)).box is not None
        print(f"{path.name:<28}{'rows only' if part else 'whole':<12}{medians[0]:>9.0f}{medians[1]:>9.0f}")
    print(f"{'all':<40}{totals[0]:>9.0f}{totals[1]:>9.0f}   ({totals[0] / totals[1]:.2f}x)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,3", help="decoder processes to try")
    parser.add_argument("--threads", default="1,2", help="torch threads to try")
    parser.add_argument("--skip-decode-path", action="store_true", help="no full-decode scan variant")
    args = parser.parse_args()
    paths = make_folder(ROOT / "bench" / "out" / "realistic", args.images)
    decode_costs(paths[:len(REALISTIC_MIX)], read_info(args.model).preprocess)
    workers = [int(w) for w in args.workers.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    detectors = {w: Detector.from_file(args.model, device="cpu", decode_workers=w) for w in workers}
    variants = {f"{w} decoders x {t} torch threads": (detectors[w], t) for w in workers for t in threads}
    if not args.skip_decode_path:
        full = Detector.from_file(args.model, device="cpu", decode_workers=2, decoder=full_decode_crops)
        variants["full JPEG decode, 2 decoders x 2 threads"] = (full, 2)
    cores = cpu_threads()
    baseline = f"{decode_workers(cores)} decoders x {torch_threads(cores)} torch threads"  # the engine's choice
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for detector in detectors.values():
        scan_img_s(detector, paths[:4])  # workers started and warm
    for round_ in range(args.rounds):
        order = list(variants)[round_ % len(variants):] + list(variants)[:round_ % len(variants)]
        for name in order:
            detector, count = variants[name]
            torch.set_num_threads(count)
            rates[name].append(scan_img_s(detector, paths))
            print(f"round {round_ + 1}  {name:<42}{rates[name][-1]:>8.2f} img/s", flush=True)
    print(f"\n{'variant':<42}{'median img/s':>14}{'per round, over ' + baseline:>60}")
    for name, values in rates.items():
        ratios = " ".join(f"{v / b:.2f}" for v, b in zip(values, rates[baseline]))
        print(f"{name:<42}{statistics.median(values):>14.2f}   {ratios}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import experiments  # the decoder processes import full_decode_crops from this module, not from __main__

    experiments.main()
