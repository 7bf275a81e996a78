"""Native-resolution regions of the training images, decoded once and kept as lossless PNGs.

On 2 CPU cores, decoding full-size photos every epoch costs more than the network's training
step. A view needs only a crop of the file's own pixels (plus an optional downscale), so each
image is decoded once and ``regions`` squares of ``region`` px are cut at random positions and
stored; every epoch then draws one region, augments it and takes a random crop inside it. A
region of 576 px still holds a 224 px crop after the smallest rescale (0.4x). Images whose both
sides fit in a region are stored whole. Files are named by the image's path, size and mtime, so an
edited image is cut again, and they are written atomically, so parallel loaders never see half a file.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from model.atomic import atomic_write_bytes
from model.imageio import ImageLoadError, load_image

DEFAULT_REGION = 576
DEFAULT_REGIONS = 3


class CropCache:
    def __init__(self, folder: str | os.PathLike, region: int = DEFAULT_REGION, regions: int = DEFAULT_REGIONS,
                 seed: int = 0):
        self.folder, self.region, self.regions, self.seed = Path(folder), region, regions, seed
        self.folder.mkdir(parents=True, exist_ok=True)
        self._stored: dict[str, list[Path]] | None = None  # stem -> region files, listed once

    def _stored_regions(self, stem: str) -> list[Path]:
        if self._stored is None:
            self._stored = {}
            for path in sorted(self.folder.glob("*_*.png")):
                self._stored.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)
        return self._stored.get(stem, [])

    def _stem(self, path: str) -> str:
        info = os.stat(path)
        key = f"{os.path.abspath(path)}|{info.st_size}|{info.st_mtime_ns}|{self.region}|{self.regions}|{self.seed}"
        return hashlib.sha1(key.encode("utf-8")).hexdigest()

    def regions_of(self, path: str) -> list[Path]:
        """The stored regions of ``path``, cut now if missing. Raises ImageLoadError for a bad file."""
        try:
            stem = self._stem(path)
        except OSError as exc:
            raise ImageLoadError(f"could not read the file: {exc.strerror or exc}") from None
        found = self._stored_regions(stem)
        if found:
            return found
        image = load_image(path).image
        boxes = region_boxes(image.size, self.region, self.regions,
                             np.random.default_rng([self.seed, int(stem[:8], 16)]))
        paths = []
        for k, box in enumerate(boxes):
            buffer = io.BytesIO()
            image.crop(box).save(buffer, "PNG", compress_level=1)
            target = self.folder / f"{stem}_{k}.png"
            atomic_write_bytes(target, buffer.getvalue())
            paths.append(target)
        self._stored[stem] = paths
        return paths

    def load(self, path: str, rng: np.random.Generator) -> Image.Image:
        """One of ``path``'s regions, drawn with ``rng``, as RGB."""
        regions = self.regions_of(path)
        with Image.open(regions[int(rng.integers(len(regions)))]) as opened:
            return opened.convert("RGB")

    def fill(self, paths: Sequence[str], log=print) -> int:
        """Cut every image's regions ahead of training; returns how many files could not be read."""
        bad = 0
        for done, path in enumerate(paths, 1):
            try:
                self.regions_of(path)
            except ImageLoadError:
                bad += 1
            if done % 250 == 0 or done == len(paths):
                log(f"crop cache: {done}/{len(paths)} images ({bad} unreadable) in {self.folder}")
        return bad


def region_boxes(size: tuple[int, int], region: int, count: int, rng: np.random.Generator) -> list[tuple]:
    """``count`` random ``region``-px squares inside ``size`` (the whole image when it fits in one)."""
    width, height = size
    if width <= region and height <= region:
        return [(0, 0, width, height)]
    w, h = min(width, region), min(height, region)
    boxes = []
    for _ in range(count):
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        boxes.append((left, top, left + w, top + h))
    return boxes
