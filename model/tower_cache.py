"""The CLIP graph edited for one view, kept in the app's cache folder so that a start needs no ``onnx``.

Editing the export (:func:`model.clip_view.edit_graph`) takes the ``onnx`` package (about a second to
import) and half a second to parse and write 90 MB, in every decoder process at every start; the
first verdict waits for it. The edited graph is written once, named by the export's digest and the
view, and used only when its bytes hash to the digest recorded beside it. It was made from the export
after its sha256 check; the engine checks the export itself once per start (model/engine.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import atomic_write_bytes

if TYPE_CHECKING:
    from .clip_view import ClipOutputs

log = logging.getLogger(__name__)


def edited_graph(export: Path, outputs: ClipOutputs, cache_dir: Path | None) -> bytes:
    """The serialised graph answering ``outputs``: from ``cache_dir`` when kept there, else edited from
    ``export`` (checked) and kept."""
    kept = _read_kept(cache_dir, outputs) if cache_dir is not None else None
    if kept is not None:
        return kept
    import onnx

    from .clip_view import check_clip_file, edit_graph

    data = edit_graph(onnx.load_from_string(check_clip_file(export).read_bytes()), outputs).SerializeToString()
    if cache_dir is not None:
        _keep(cache_dir, outputs, data)
    return data


def _files(cache_dir: Path, outputs: ClipOutputs) -> tuple[Path, Path]:
    from .clip_view import CLIP_SHA256

    view = ("embedding-" if outputs.embedding else "") + "-".join(map(str, outputs.blocks))
    stem = f"clip-{CLIP_SHA256[:16]}-{view}"
    return cache_dir / f"{stem}.onnx", cache_dir / f"{stem}.json"


def _read_kept(cache_dir: Path, outputs: ClipOutputs) -> bytes | None:
    graph, record = _files(cache_dir, outputs)
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))["sha256"]
        data = graph.read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        log.warning("ignoring the kept CLIP graph %s: its bytes changed", graph.name)
        return None
    return data


def _keep(cache_dir: Path, outputs: ClipOutputs, data: bytes) -> None:
    """Atomically, graph first; a folder that cannot be written only costs the next start the edit."""
    graph, record = _files(cache_dir, outputs)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(graph, data)
        atomic_write_bytes(record, json.dumps({"sha256": hashlib.sha256(data).hexdigest()}).encode())
    except OSError as exc:
        log.warning("could not keep the CLIP graph in %s: %s", cache_dir, exc)
