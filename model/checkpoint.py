"""Checkpoints: .safetensors weights with the ModelInfo as JSON in the header. Never unpickled."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from .atomic import atomic_write_bytes
from .config import ModelInfo
from .model_file import METADATA_KEY, CheckpointError, checked_path, read_info  # noqa: F401 (read_info: model's API)

if TYPE_CHECKING:  # the network (and timm, ~2 s) is imported when a checkpoint is loaded, not with this module
    from .network import ConViTX


@dataclass
class LoadedModel:
    network: ConViTX | None  # None: not built (Detector.from_file scoring from a saved frozen copy)
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


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the preset the file names and load its tensors, checking every key and shape."""
    from .network import create_model

    path = checked_path(path)
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
