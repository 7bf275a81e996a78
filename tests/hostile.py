"""Decoders that misbehave on chosen files, for the decoder-isolation tests and the fuzz check.

The decoder processes import this module by name, so it stays light (no torch, no pytest). A file
whose name starts with ``abort``, ``segfault`` or ``hang`` makes the decoder abort, read address 0
or sleep for an hour; ``probe`` reports which heavy modules the decoder process has imported.
Every other file is decoded by the real decoder."""
from __future__ import annotations

import ctypes
import os
import sys
import time

from model.decoding import decode_crops
from model.imageio import ImageLoadError


def hostile(path: str, cfg):
    name = os.path.basename(path)
    if name.startswith("abort"):
        os.abort()
    if name.startswith("segfault"):
        ctypes.string_at(0)
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("probe"):
        raise ImageLoadError("imported: " + ",".join(m for m in ("torch", "PySide6", "pytest") if m in sys.modules))
    return decode_crops(path, cfg)


def seen(path: str) -> dict:
    """An annotator (extra columns), run by the decoder process after the pixels; ``probe`` files say
    which heavy modules that process holds by then, ``reader-segfault`` files crash it."""
    name = os.path.basename(path)
    if name.startswith("probe"):
        return {"provenance": ",".join(m for m in ("torch", "PySide6", "pytest") if m in sys.modules)}
    if name.startswith("reader-segfault"):  # a native metadata reader crashing on this file
        ctypes.string_at(0)
    return {"provenance": f"seen {name}"}


def slow_row_columns(path: str) -> dict:
    """The app's row columns, 50 ms late: a scan slow enough for a test to act in the middle of it."""
    from model.columns import row_columns

    time.sleep(0.05)
    return row_columns(path)
