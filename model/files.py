"""Expand files and folders into the list of images to score. Never loops, never stops on one bad folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
    ".heic", ".heif", ".avif", ".jp2", ".j2k", ".ppm", ".pgm", ".pbm", ".tga", ".ico",
})


@dataclass(frozen=True)
class ScanItem:
    """One row to be: an image path, or a path that failed while listing (``error`` says why)."""

    path: Path
    error: str = ""


def path_key(path: str | os.PathLike) -> str:
    """A file's identity for de-duplication: the same file named two ways is scored once."""
    return os.path.normcase(os.path.abspath(path))


def file_columns(path: str | os.PathLike) -> dict:
    """The file's size in bytes and its modification time (UTC, to the microsecond), as the result
    columns ``file_size`` and ``file_modified``; empty when it cannot be read. A resumed scan keeps a
    row only while both still match, so an edited or replaced file is scored again."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return {}
    modified = datetime.fromtimestamp(info.st_mtime, timezone.utc).isoformat(timespec="microseconds")
    return {"file_size": info.st_size, "file_modified": modified}


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def expand_paths(paths: Iterable[str | os.PathLike], recursive: bool = True) -> Iterator[ScanItem]:
    """Files given by name are always kept (a wrong one becomes an error row); inside folders only
    image file names are. Each path appears once, in the order given, folders sorted by name."""
    seen: set[str] = set()
    visited_dirs: set[tuple[int, int]] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            items = _walk(path, recursive, visited_dirs)
        else:
            items = iter([ScanItem(path)])
        for item in items:
            key = path_key(item.path)
            if key not in seen:
                seen.add(key)
                yield item


def _walk(folder: Path, recursive: bool, visited: set[tuple[int, int]]) -> Iterator[ScanItem]:
    try:
        info = folder.stat()
        identity = (info.st_dev, info.st_ino)
        if identity in visited:  # a symlink loop or the same folder twice
            return
        visited.add(identity)
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        yield ScanItem(folder, f"folder could not be read: {exc.strerror or exc}")
        return
    subfolders = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            subfolders.append(Path(entry.path))
        elif is_image_name(Path(entry.name)):
            yield ScanItem(Path(entry.path))
    if recursive:
        for sub in subfolders:
            yield from _walk(sub, recursive, visited)
