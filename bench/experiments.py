"""The variants tried for bench/NOTES.md, each measured in this one run on the same images.

python bench/experiments.py [--model FILE] [--images N]
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager, nullcontext

import torch

from benchmark import ROOT, forward_img_s, make_folder, scan_img_s

import model.engine as engine  # noqa: E402
from model import Detector  # noqa: E402
from model.preprocess import crops_to_tensor, scoring_boxes, working_image  # noqa: E402
from model.resources import default_model_path  # noqa: E402


@contextmanager
def nchw(detector: Detector):
    """Undo channels_last (on an eager detector): the engine's default memory format on every device."""
    detector.network = detector.network.to(memory_format=torch.contiguous_format)
    original = torch.Tensor.contiguous
    torch.Tensor.contiguous = lambda self, memory_format=torch.contiguous_format: original(self)
    try:
        yield
    finally:
        torch.Tensor.contiguous = original
        detector.network = detector.network.to(memory_format=torch.channels_last)


@contextmanager
def whole_working_image():
    """Resample the whole working image, then cut the crops (before crop-only resampling)."""
    original = engine.preprocess
    engine.preprocess = lambda image, cfg: crops_to_tensor(
        work := working_image(image, cfg), scoring_boxes(work.size, cfg), cfg)
    try:
        yield
    finally:
        engine.preprocess = original


@contextmanager
def full_decode():
    """Decode JPEGs at full size, as without Pillow's draft mode."""
    original = engine.decode_short_side
    engine.decode_short_side = lambda cfg: None
    try:
        yield
    finally:
        engine.decode_short_side = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    paths = make_folder(ROOT / "bench" / "out" / "realistic", args.images)

    def measure(name: str, detector: Detector, context=None) -> None:
        with context if context is not None else nullcontext():
            forward, scan = forward_img_s(detector, paths), scan_img_s(detector, paths)
        print(f"{name:<42}{forward:>9.2f}{scan:>9.2f}{scan / forward:>8.2f}", flush=True)

    print(f"{'variant':<42}{'forward':>9}{'scan':>9}{'ratio':>8}")

    def detector(**kwargs) -> Detector:
        settings = dict(device="cpu", batch_size=8, decode_workers=2) | kwargs
        return Detector.from_file(args.model, **settings)

    base = detector()
    measure("baseline: frozen, batch 8, 2 decoders, NHWC", base)
    eager = detector(optimize=False)
    measure("eager network (not frozen)", eager)
    measure("eager network, NCHW (no channels_last)", eager, nchw(eager))
    measure("whole working image resampled", base, whole_working_image())
    measure("JPEG decoded at full size (no draft)", base, full_decode())
    measure("1 decode thread", detector(decode_workers=1))
    measure("3 decode threads", detector(decode_workers=3))
    measure("batch 4", detector(batch_size=4))
    measure("batch 16", detector(batch_size=16))
    measure("torch 1 thread + 2 decode threads", one_thread(detector()))


def one_thread(detector: Detector) -> Detector:
    torch.set_num_threads(1)
    return detector


if __name__ == "__main__":
    main()
