"""The image checks (size, transparency, flat designs), the downscale of large files, and the manifest rows."""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps, ImageStat

MANIFEST_COLUMNS = [
    "label", "kind", "generator_or_source", "repo", "commit",
    "path_in_repo", "width", "height", "bytes", "relpath",
]
TRANSFORM_COLUMNS = [
    "relpath", "transform", "orig_width", "orig_height", "orig_bytes", "orig_sha256",
]

MAX_LONG_SIDE = 2048       # larger images are downscaled to this long side ...
JPEG_QUALITY = 95          # ... and stored as JPEG at this quality
MIN_SHORT_SIDE = 256       # skip icons and thumbnails
MAX_NON_OPAQUE = 0.01      # skip cut-outs / semi-transparent overlays
MIN_EDGE_MEAN = 1.5        # below: a plain gradient (mean FIND_EDGES response on a 256 px grey thumbnail)
MIN_COLOURS = 64           # below: a flat pattern (distinct colours in a 64x64 thumbnail)
RASTER_EXTS = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class Row:
    label: str
    kind: str
    generator_or_source: str
    repo: str
    path_in_repo: str
    width: int
    height: int
    nbytes: int
    relpath: str
    transform: str = "copy"
    orig: tuple = ()           # (width, height, bytes, sha256) of the package file
    source_slug: str = ""

    def manifest(self) -> list:
        return [self.label, self.kind, self.generator_or_source, self.repo, "",
                self.path_in_repo, str(self.width), str(self.height), str(self.nbytes), self.relpath]


def inspect_image(blob: bytes) -> tuple:
    """Return (image, reason); reason is None when the image is usable."""
    try:
        im = Image.open(io.BytesIO(blob))
        im.load()
    except Exception as e:  # noqa: BLE001 - any decoder error means "not an image we can use"
        return None, f"unreadable ({e.__class__.__name__})"
    w, h = im.size
    if min(w, h) < MIN_SHORT_SIDE:
        return im, "small"
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        a = im.convert("RGBA").getchannel("A")
        a.thumbnail((256, 256))
        hist = a.histogram()
        if 1 - hist[255] / max(1, sum(hist)) > MAX_NON_OPAQUE:
            return im, "transparent"
    grey = im.convert("L")
    grey.thumbnail((256, 256))
    edges = grey.filter(ImageFilter.FIND_EDGES).crop((1, 1, grey.width - 1, grey.height - 1))
    if ImageStat.Stat(edges).mean[0] < MIN_EDGE_MEAN:
        return im, "flat"
    small = im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    if len(set(small.tobytes()[i:i + 3] for i in range(0, 64 * 64 * 3, 3))) < MIN_COLOURS:
        return im, "flat"
    return im, None


def safe_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", path.strip("/").replace("/", "__"))


def encode_downscaled(im: Image.Image) -> tuple:
    """Downscale to MAX_LONG_SIDE on the long side and encode as JPEG q95."""
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im = im.copy()
    im.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    kw = {"quality": JPEG_QUALITY}
    if icc:
        kw["icc_profile"] = icc
    im.save(buf, "JPEG", **kw)
    return buf.getvalue(), im.size


def write_file(dest: Path, blob: bytes) -> None:
    if dest.exists() and dest.stat().st_size == len(blob) and dest.read_bytes() == blob:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, dest)
