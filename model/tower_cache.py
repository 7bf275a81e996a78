"""The CLIP graph edited for one view, kept in the app's cache folder so that a start needs no ``onnx``.

Editing the export (:func:`model.clip_view.edit_graph`) takes the ``onnx`` package (about a second to
import) and half a second to parse and write 90 MB, in every decoder process at every start; the
first verdict waits for it. The edited graph is written once, named by the export's digest and the
view, and used only when its bytes hash to the digest recorded beside it. It was made from the export
after its sha256 check; the engine checks the export itself once per start (model/engine.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .clip_outputs import ClipOutputs
from .kept_files import keep, read_kept

log = logging.getLogger(__name__)


def edited_graph(export: Path, outputs: ClipOutputs, cache_dir: Path | None) -> bytes:
    """The serialised graph answering ``outputs``: from ``cache_dir`` when kept there, else edited from
    ``export`` (checked) and kept (a folder that cannot be written only costs the next start the edit)."""
    files = _files(cache_dir, outputs) if cache_dir is not None else None
    kept = read_kept(*files, "kept CLIP graph") if files else None
    if kept is not None:
        return kept[0]
    import onnx

    from .clip_view import check_clip_file, edit_graph

    data = edit_graph(onnx.load_from_string(check_clip_file(export).read_bytes()), outputs).SerializeToString()
    if files:
        try:
            keep(*files, data)
        except OSError as exc:
            log.warning("could not keep the CLIP graph in %s: %s", cache_dir, exc)
    return data


def _files(cache_dir: Path, outputs: ClipOutputs) -> tuple[Path, Path]:
    from .clip_view import CLIP_SHA256

    view = ("embedding-" if outputs.embedding else "") + "-".join(map(str, outputs.blocks))
    stem = f"clip-{CLIP_SHA256[:16]}-{view}"
    return cache_dir / f"{stem}.onnx", cache_dir / f"{stem}.json"
