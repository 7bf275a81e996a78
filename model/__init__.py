"""ConViTX: a CNN + Swin Transformer fusion network that scores how likely an image is AI-generated.

Pure torch + timm; never imports Qt or the training code.
"""
from .checkpoint import CheckpointError, LoadedModel, load_checkpoint, read_info, save_checkpoint
from .config import ModelInfo, PreprocessConfig, Thresholds, default_info
from .engine import Detector
from .files import ScanItem, expand_paths
from .imageio import ImageLoadError, load_image
from .network import ConViTX, create_model
from .presets import Preset, get_preset, list_presets, register_preset
from .results import CSV_COLUMNS, ScanResult

__all__ = [
    "CSV_COLUMNS", "CheckpointError", "ConViTX", "Detector", "ImageLoadError", "LoadedModel", "ModelInfo",
    "Preset", "PreprocessConfig", "ScanItem", "ScanResult", "Thresholds", "create_model", "default_info",
    "expand_paths", "get_preset", "list_presets", "load_checkpoint", "load_image", "read_info",
    "register_preset", "save_checkpoint",
]
