"""Checkpoints: .safetensors weights with the ModelInfo as JSON in the header. Never unpickled."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from .atomic import atomic_write_bytes
from .config import ModelInfo
from .network import ConViTX, create_model

METADATA_KEY = "convitx"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")
CONVERTER_HINT = "python -m training.convert_checkpoint --preset convitx_large IN.pth OUT.safetensors"


class CheckpointError(Exception):
    """A model file that cannot be used; the message is written for the user."""


@dataclass
class LoadedModel:
    network: ConViTX
    info: ModelInfo
    path: Path | None


def save_checkpoint(network: ConViTX, info: ModelInfo, path: str | os.PathLike) -> Path:
    """Save weights and metadata atomically to ``path`` (.safetensors)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"model files are saved as .safetensors, not {path.suffix or 'no extension'}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    metadata = {METADATA_KEY: json.dumps(info.to_dict())}
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata=metadata))
    return path


def read_info(path: str | os.PathLike) -> ModelInfo:
    """Read only the metadata (fast: the header, not the tensors)."""
    path = _checked_path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable .safetensors file ({exc})") from exc
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path.name} has no ConViTX metadata; export it with training/evaluation/export.py")
    try:
        return ModelInfo.from_dict(json.loads(metadata[METADATA_KEY]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path.name} has unusable ConViTX metadata: {exc}") from exc


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the preset the file names and load its tensors, checking every key and shape."""
    path = _checked_path(path)
    info = read_info(path)
    network = create_model(info.preset)
    expected = network.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is damaged: {exc}") from exc
    _check_tensors(path.name, info.preset, expected, tensors)
    network.load_state_dict(tensors, strict=True)
    network.eval().to(device)
    return LoadedModel(network=network, info=info, path=path)


def _checked_path(path: str | os.PathLike) -> Path:
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


def _check_tensors(name: str, preset: str, expected: dict, found: dict) -> None:
    for key, tensor in expected.items():
        if key not in found:
            raise CheckpointError(f"{name} does not match preset {preset}: tensor {key!r} is missing")
        if tuple(found[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{name} does not match preset {preset}: tensor {key!r} has shape "
                f"{tuple(found[key].shape)}, expected {tuple(tensor.shape)}"
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise CheckpointError(f"{name} does not match preset {preset}: unexpected tensor {extra[0]!r}")
