"""Path helpers shared by the worker and the widgets (no Qt, no torch)."""
from __future__ import annotations

import os


def path_key(path: str | os.PathLike) -> str:
    """The identity of a file for de-duplication (the same rule as model.files.expand_paths)."""
    return os.path.normcase(os.path.abspath(path))
