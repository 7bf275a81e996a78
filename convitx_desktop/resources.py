"""Icons and the style sheet, found through model.resources (source checkout or PyInstaller bundle)."""
from __future__ import annotations

from pathlib import Path

from model.resources import resource_path


def icon_path(name: str) -> Path:
    return resource_path("icons", name)


def style_sheet() -> str:
    """The app's style sheet (layout only: colours come from the system palette), or "" if missing."""
    try:
        return resource_path("style", "app.qss").read_text(encoding="utf-8")
    except OSError:
        return ""
