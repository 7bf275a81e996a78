"""User settings: one small JSON file in the user config dir, and where the app keeps its data and logs.

File ``settings.json`` (format version ``SETTINGS_VERSION``), keys:

* ``version``          int, the file format; another value means "old format": defaults are used
* ``last_image_folder`` str, where File ▸ Add images/Add folder last looked
* ``last_export_folder`` str, where the last export went
* ``window_geometry``  str, base64 of QMainWindow.saveGeometry()
* ``splitter_state``   str, base64 of the table/detail splitter's state
* ``model_path``       str or null, the model chosen with File ▸ Open model (null = the built-in model)
* ``device``           "auto" | "cpu" | "cuda" | "mps"
* ``sensitivity``      float in [-0.2, 0.2], added to the model's calibrated thresholds
* ``heatmap_opacity``  float in [0, 1]
* ``view_mode``        "overlay" | "original" | "side-by-side"
* ``decode_timeout``   float seconds > 0 (default 30): a file that takes longer to decode becomes an error row

A missing, unreadable or old-format file gives the defaults and one log line, never an error.
Writes are atomic. ``CONVITX_CONFIG_DIR``, ``CONVITX_DATA_DIR``, ``CONVITX_CACHE_DIR`` and ``CONVITX_LOG_DIR`` move the
folders (tests and portable installs use them).
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import platformdirs

from model.atomic import atomic_write_bytes
from model.device import DEVICE_CHOICES

from . import APP_ID

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1
SETTINGS_FILE = "settings.json"
SENSITIVITY_LIMIT = 0.2
VIEW_MODES = ("overlay", "original", "side-by-side")
# Words for the engine's device choices in the menu.
DEVICE_LABELS = dict(zip(DEVICE_CHOICES, ("Automatic (GPU when there is one)", "CPU only", "NVIDIA GPU (CUDA)",
                                          "Apple GPU (MPS)")))
DEFAULT_DECODE_TIMEOUT = 30.0  # model.decoding's default, restated: that module loads numpy and Pillow
_ALLOWED_TYPES = {"model_path": (str, type(None)), "sensitivity": (int, float), "heatmap_opacity": (int, float),
                  "decode_timeout": (int, float)}


def config_dir() -> Path:
    return Path(os.environ.get("CONVITX_CONFIG_DIR") or platformdirs.user_config_dir(APP_ID, appauthor=False))


def data_dir() -> Path:
    return Path(os.environ.get("CONVITX_DATA_DIR") or platformdirs.user_data_dir(APP_ID, appauthor=False))


def cache_dir() -> Path:
    """What the app can rebuild: the frozen network kept between starts (model/frozen.py)."""
    return Path(os.environ.get("CONVITX_CACHE_DIR") or platformdirs.user_cache_dir(APP_ID, appauthor=False))


def log_dir() -> Path:
    return Path(os.environ.get("CONVITX_LOG_DIR") or platformdirs.user_log_dir(APP_ID, appauthor=False))


@dataclass
class Settings:
    """The values; ``load``/``save`` handle the file. Unknown or ill-typed values fall back one by one."""

    last_image_folder: str = ""
    last_export_folder: str = ""
    window_geometry: str = ""
    splitter_state: str = ""
    model_path: str | None = None
    device: str = "auto"
    sensitivity: float = 0.0
    heatmap_opacity: float = 0.5
    view_mode: str = "overlay"
    decode_timeout: float = DEFAULT_DECODE_TIMEOUT

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> "Settings":
        path = Path(folder or config_dir()) / SETTINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s could not be read (%s); using defaults", path, exc)
            return cls()
        if not isinstance(data, dict) or data.get("version") != SETTINGS_VERSION:
            log.warning("settings file %s has an unknown format; using defaults", path)
            return cls()
        return cls._from_dict(data)

    @classmethod
    def _from_dict(cls, data: dict) -> "Settings":
        settings = cls()
        for spec in fields(cls):
            if spec.name not in data:
                continue
            value, allowed = data[spec.name], _ALLOWED_TYPES.get(spec.name, (str,))
            if isinstance(value, bool) or not isinstance(value, allowed):
                log.warning("settings: ignoring %s=%r (wrong type)", spec.name, value)
                continue
            setattr(settings, spec.name, float(value) if isinstance(value, int) else value)
        settings.sensitivity = min(max(settings.sensitivity, -SENSITIVITY_LIMIT), SENSITIVITY_LIMIT)
        settings.heatmap_opacity = min(max(settings.heatmap_opacity, 0.0), 1.0)
        if settings.device not in DEVICE_LABELS:
            settings.device = "auto"
        if settings.view_mode not in VIEW_MODES:
            settings.view_mode = "overlay"
        if not 0 < settings.decode_timeout < math.inf:  # NaN fails too
            log.warning("settings: ignoring decode_timeout=%r (must be a number of seconds above 0)",
                        settings.decode_timeout)
            settings.decode_timeout = DEFAULT_DECODE_TIMEOUT
        return settings

    def save(self, folder: str | os.PathLike | None = None) -> None:
        """Write atomically; a failure is logged (settings are a convenience, never worth a crash)."""
        folder = Path(folder or config_dir())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            document = {"version": SETTINGS_VERSION, **asdict(self)}
            atomic_write_bytes(folder / SETTINGS_FILE, json.dumps(document, indent=2).encode("utf-8"))
        except OSError as exc:
            log.warning("settings could not be saved to %s: %s", folder, exc)
