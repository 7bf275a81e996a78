"""Keep the evaluation set out of training: excluded repositories and near-duplicate images.

An independent evaluation set was drawn from the sources listed in ``EXCLUDE_REPOS.txt`` (GitHub
``owner/name``, ``pypi:<package>`` and ``debian:<package>`` lines), and ``EXCLUDE_HASHES.txt`` holds the 64-bit dHashes of
its images. Training refuses an image published in an excluded repository (a data error: the
manifest is wrong) and drops any image whose dHash of the whole image or of its centre square lies
within ``MAX_DISTANCE`` bits of an excluded hash (a crop or resize of an evaluation image).

The hash is the one of ``../shared/data/pool2/dedupe.py`` (9x8 greyscale, Lanczos), so the two
agree bit for bit (tests check it). Hashes are cached by path, size and mtime: hashing decodes
every image once.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageOps

from model.atomic import atomic_write_bytes
from training import REPO

from .datasets import DataError, Sample

MAX_DISTANCE = 6
DEFAULT_EXCLUDE_DIR = REPO.parent / "shared" / "data"
REPOS_FILE, HASHES_FILE = "EXCLUDE_REPOS.txt", "EXCLUDE_HASHES.txt"


@dataclass
class Exclusions:
    repos: frozenset[str]
    hashes: list[int]

    @classmethod
    def load(cls, folder: str | os.PathLike = DEFAULT_EXCLUDE_DIR) -> "Exclusions":
        folder = Path(folder)
        missing = [name for name in (REPOS_FILE, HASHES_FILE) if not (folder / name).is_file()]
        if missing:
            raise DataError(f"the exclusion lists {', '.join(missing)} are not in {folder}: training refuses to "
                            "start without them (an evaluation set must stay out of training); "
                            "pass --exclusions DIR")
        repos = {_repo_key(line) for line in _lines(folder / REPOS_FILE)}
        hashes = [int(line, 16) for line in _lines(folder / HASHES_FILE)]
        return cls(frozenset(repos), hashes)

    def excludes_repo(self, repo: str) -> bool:
        key = _repo_key(repo)
        # pypi:scikit-image==0.26.0 is excluded by pypi:scikit-image, and
        # debian:some-wallpapers=4:5.27.5-2 by debian:some-wallpapers
        return key in self.repos or _unversioned(key) in self.repos

    def distance(self, image_hashes: Sequence[int]) -> int:
        return min((bin(h ^ k).count("1") for h in image_hashes for k in self.hashes), default=64)


@dataclass
class ExclusionReport:
    kept: list[Sample]
    dropped: list[tuple[Sample, int]] = field(default_factory=list)  # (sample, bits from an evaluation image)
    unreadable: int = 0

    def summary(self) -> dict:
        return {"checked": len(self.kept) + len(self.dropped), "dropped_near_duplicates": len(self.dropped),
                "max_distance_bits": MAX_DISTANCE, "unhashable": self.unreadable,
                "dropped": [{"path": s.path, "source": s.source, "bits": d} for s, d in self.dropped]}


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def _repo_key(repo: str) -> str:
    return repo.split(" ")[0].strip().lower().removesuffix(".git")


def _unversioned(key: str) -> str:
    """A package key without its version: ``pypi:NAME==V`` and ``debian:NAME=V`` name NAME."""
    if key.startswith(("pypi:", "debian:")):
        return key.split("=")[0]
    return key


def dhash(image: Image.Image) -> int:
    """64-bit difference hash of a 9x8 greyscale thumbnail (as dedupe.py computes it)."""
    gray = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = gray.tobytes()
    bits = 0
    for y in range(8):
        for x in range(8):
            bits = bits << 1 | (pixels[y * 9 + x] > pixels[y * 9 + x + 1])
    return bits


def hashes_of(image: Image.Image) -> tuple[int, int]:
    """dHash of the whole image and of its centre square (a crop of an evaluation image lands close)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return dhash(image), dhash(image.crop((left, top, left + side, top + side)))


def image_hashes(path: str | os.PathLike) -> tuple[int, int]:
    """:func:`hashes_of` the file, upright (EXIF orientation applied)."""
    with Image.open(path) as opened:
        return hashes_of(ImageOps.exif_transpose(opened))


def check_samples(samples: Sequence[Sample], exclusions: Exclusions, cache_file: Path | None = None,
                  log=print) -> ExclusionReport:
    """Refuse excluded repositories; drop near-duplicates of evaluation images."""
    banned = sorted({s.repo for s in samples if s.repo and exclusions.excludes_repo(s.repo)})
    if banned:
        raise DataError(f"training data comes from excluded source(s) {', '.join(banned)} "
                        f"({REPOS_FILE}): remove them from the manifest")
    cache = _read_cache(cache_file)
    report = ExclusionReport(kept=[])
    for sample in samples:
        key = _cache_key(sample.path)
        if key not in cache:
            try:
                cache[key] = list(image_hashes(sample.path))
            except Exception:  # an unreadable image is dropped later by the loader, and counted there
                cache[key] = []
        hashes = cache[key]
        report.unreadable += not hashes
        distance = exclusions.distance(hashes) if hashes else 64
        if distance <= MAX_DISTANCE:
            report.dropped.append((sample, distance))
        else:
            report.kept.append(sample)
    if cache_file:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache_file, json.dumps(cache).encode("utf-8"))
    log(f"exclusion check: {len(samples)} images, {len(report.dropped)} dropped within {MAX_DISTANCE} bits "
        f"of an evaluation image, {report.unreadable} could not be hashed")
    return report


def _cache_key(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{path}|{info.st_size}|{info.st_mtime_ns}"


def _read_cache(cache_file: Path | None) -> dict[str, list[int]]:
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        return json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
