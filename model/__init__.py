"""ConViTX: a CNN + Swin Transformer fusion network that scores how likely an image is AI-generated.

Pure torch + timm; never imports Qt or the training code. Names are imported lazily, so light
modules (model.results, model.resources, model.device's constants) load without torch.
"""
import os
from importlib import import_module

# Torch scores beside the decoder processes on the same cores: its OpenMP threads must sleep, not spin,
# while they wait for work, or they burn the CPU the decoders need (bench/NOTES.md: the scan 5-10% faster
# on 2 cores). Read once, when torch loads: here, before any module of this package imports it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "CheckpointError": "model_file", "LoadedModel": "checkpoint", "load_checkpoint": "checkpoint",
    "read_info": "model_file", "save_checkpoint": "checkpoint",
    "ModelInfo": "config", "PreprocessConfig": "config", "Thresholds": "config", "default_info": "config",
    "Detector": "engine",
    "ScanItem": "files", "expand_paths": "files",
    "ImageLoadError": "imageio", "load_image": "imageio",
    "ConViTX": "network", "create_model": "network",
    "Preset": "presets", "get_preset": "presets", "list_presets": "presets", "register_preset": "presets",
    "CSV_COLUMNS": "results", "ScanResult": "results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
