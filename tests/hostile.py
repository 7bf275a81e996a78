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
