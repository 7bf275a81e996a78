"""Files the app keeps in its cache folder between starts (the frozen network, the edited CLIP graph):
written atomically, data first, each beside a JSON record of its sha256 and whatever else its owner
checks; read back only while its bytes still hash to that record."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .atomic import atomic_write_bytes

log = logging.getLogger(__name__)


def read_kept(data_file: Path, record_file: Path, what: str) -> tuple[bytes, dict] | None:
    """The kept bytes and their record; None when absent, unreadable or changed (``what`` names it in the log)."""
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        data = data_file.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or hashlib.sha256(data).hexdigest() != record.get("sha256"):
        log.warning("ignoring the %s %s: its bytes changed", what, data_file.name)
        return None
    return data, record


def keep(data_file: Path, record_file: Path, data: bytes, **facts) -> None:
    """Write ``data`` and its record (sha256 and ``facts``); OSError for the caller to report."""
    data_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(data_file, data)
    atomic_write_bytes(record_file, json.dumps({"sha256": hashlib.sha256(data).hexdigest(), **facts}).encode())
