"""Generate a folder of realistic test images for the benchmark: camera-sized JPEGs and AI-sized PNGs.

Content is smooth multi-scale noise plus fine grain, so files compress (and decode) like photos,
not like flat colour or white noise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# (width, height, format): camera JPEGs of 12-24 MP, phone-size JPEGs, and AI-generator-size PNGs.
REALISTIC_MIX = [
    (6000, 4000, "JPEG"), (4000, 3000, "JPEG"), (4032, 3024, "JPEG"), (3000, 4000, "JPEG"),
    (2048, 1536, "JPEG"), (1024, 1024, "PNG"), (1216, 832, "PNG"), (1536, 1024, "PNG"),
    (1280, 960, "JPEG"), (2048, 2048, "PNG"),
]


def textured(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((4, 0.55), (32, 0.3), (256, 0.15)):
        small = rng.random((max(2, height * cells // max(width, height)), cells, 3), dtype=np.float32)
        layer = Image.fromarray((small * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
        canvas += np.asarray(layer, np.float32) * weight
    canvas += rng.normal(0, 4, (height, width, 1)).astype(np.float32)  # sensor-like grain
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")


def make_folder(folder: Path, count: int, mix=REALISTIC_MIX, seed: int = 0) -> list[Path]:
    """``count`` images cycling through ``mix``; existing files are reused so reruns are cheap."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        width, height, fmt = mix[i % len(mix)]
        path = folder / f"{i:05d}_{width}x{height}.{'jpg' if fmt == 'JPEG' else 'png'}"
        if not path.exists():
            image = textured(width, height, seed + i)
            image.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 6}))
        paths.append(path)
    return paths
