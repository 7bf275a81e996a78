"""Icons and the style sheet, from a source checkout or a PyInstaller bundle.

Mirrors ``model.resources.resources_dir`` on purpose: importing ``model`` loads torch (seconds), and
the window's icon is needed before that.
"""
from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "resources" if bundle else Path(__file__).resolve().parent.parent / "resources"


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / name


def style_sheet() -> str:
    """The app's style sheet (layout only: colours come from the system palette), or "" if missing."""
    try:
        return (resources_dir() / "style" / "app.qss").read_text(encoding="utf-8")
    except OSError:
        return ""
