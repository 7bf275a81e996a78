"""What a model file says about itself, read without torch: the app starts its decoder processes
(which need only the preprocessing) while torch is still being imported.

A model file is .safetensors with the ModelInfo as JSON in its header; pickles are refused."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open

from .config import ModelInfo

METADATA_KEY = "convitx"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")
CONVERTER_HINT = "python -m training.convert_checkpoint --preset convitx_large IN.pth OUT.safetensors"


class CheckpointError(Exception):
    """A model file that cannot be used; the message is written for the user."""


def read_info(path: str | os.PathLike) -> ModelInfo:
    """Read only the metadata (fast: the header, not the tensors)."""
    path = checked_path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable .safetensors file ({exc})") from exc
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path.name} has no ConViTX metadata; export it with training/evaluation/export.py")
    try:
        return ModelInfo.from_dict(json.loads(metadata[METADATA_KEY]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path.name} has unusable ConViTX metadata: {exc}") from exc


def checked_path(path: str | os.PathLike) -> Path:
    """``path`` when it names an existing .safetensors file; CheckpointError saying why not."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path.name} is a PyTorch pickle file, which can run arbitrary code and is never loaded here. "
            f"Convert it once with: {CONVERTER_HINT}"
        )
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(f"{path.name} is not a model file: expected a .safetensors file")
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256, read in blocks (what a saved frozen copy of its network is filed under)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
