"""Columns a scan adds beside the score, computed by the decoder processes after the pixels
(model/decoding.py's Annotator): importable by name there, and light (no torch, no Qt)."""
from __future__ import annotations

from pathlib import Path

from .files import file_columns


def provenance_columns(path: str | Path) -> dict[str, str]:
    """C2PA and generator metadata (what ``convitx scan`` adds unless --no-provenance)."""
    from provenance import read_provenance

    found = read_provenance(Path(path))
    return {"provenance": found.status, "provenance_detail": found.detail}


def row_columns(path: str | Path) -> dict:
    """What an app row carries beside the score: provenance, and the file's size and time (as ``convitx scan``
    writes them, so an exported CSV can be resumed or compared with the command line's)."""
    return {**provenance_columns(path), **file_columns(path)}
