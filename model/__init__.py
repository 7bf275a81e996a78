"""ConViTX: a CNN + Swin Transformer fusion network that scores how likely an image is AI-generated.

Pure torch + timm; never imports Qt or the training code. Names are imported lazily, so light
modules (model.results, model.resources, model.device's constants) load without torch.
"""
from importlib import import_module

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
