"""Find files in resources/ both from a source checkout and inside a PyInstaller bundle."""
from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_MODEL_NAME = "convitx_default.safetensors"


def resources_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def default_model_path() -> Path:
    return resource_path("models", DEFAULT_MODEL_NAME)
