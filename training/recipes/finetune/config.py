"""What a fine-tuning run is told: its settings (saved as config.json, reused on --resume) and its result."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from model.config import PreprocessConfig, default_info
from model.presets import get_preset

# Settings of one invocation, taken from the command line even on --resume (the rest come from config.json).
RUN_SETTINGS = {"epochs", "minutes", "stop_after", "device", "workers", "threads", "quiet", "plots", "val_batch_crops",
                "out", "compile"}
SELECT_METRICS = {"auc": ("val_auc", max), "balanced_accuracy": ("val_balanced_accuracy", max),
                  "loss": ("val_loss", min)}
DEFAULT_EPOCHS = 10
STATE_FILE, CONFIG_FILE, SPLIT_FILE, DONE_FILE = "state.pt", "config.json", "split.json", "done.json"


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    out: str = "runs/convitx"
    val_data: list[str] = field(default_factory=list)
    preset: str = "convitx_lite"
    mode: str = "multicrop"
    crop_size: int | None = None
    max_crops: int = 2
    max_short_side: int = 512
    pretrained: str | None = None
    pretrained_swin: str | None = None
    freeze_backbones: bool = False
    freeze_stages: int = 0
    epochs: int | None = None  # None: DEFAULT_EPOCHS, or on --resume the run's own plan
    batch_size: int = 32
    accum_steps: int = 1
    lr: float = 1e-3
    backbone_lr: float | None = None
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    balance: str = "class"
    ema: float = 0.0
    amp: str = "auto"
    augment: str = "default"
    split: str = "group"
    val_fraction: float = 0.2
    max_group_share: float = 0.25
    folds: int = 5
    fold: int = 0
    holdout: list[str] = field(default_factory=list)
    split_file: str | None = None
    limit: int = 0
    val_limit: int = 0
    select: str = "auc"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None
    compile: bool = False
    sync_bn: bool = False
    minutes: float | None = None
    stop_after: int | None = None
    val_batch_crops: int = 64
    name: str | None = None
    cache_dir: str | None = None  # native crops cut once (crop_cache.py) and the exclusion check's hashes
    exclusions: str | None = None  # folder with EXCLUDE_REPOS.txt and EXCLUDE_HASHES.txt (exclusion.py)
    plots: bool = True
    quiet: bool = False


@dataclass
class TrainResult:
    out: Path
    best: Path
    last: Path
    history: list[dict]
    best_metrics: dict
    finished: bool
    reason: str


def preprocess_config(cfg: TrainConfig) -> PreprocessConfig:
    preset = get_preset(cfg.preset)
    crop = cfg.crop_size or preset.input_size
    if crop != preset.input_size:
        raise ValueError(f"preset {cfg.preset} takes {preset.input_size} px crops (its Swin branch is built "
                         f"for that size); --crop-size {crop} does not fit")
    return PreprocessConfig(mode=cfg.mode, crop_size=crop, max_crops=cfg.max_crops,
                            max_short_side=max(cfg.max_short_side, crop), mean=preset.mean, std=preset.std)


def make_info(cfg: TrainConfig, pre: PreprocessConfig, training: dict, metrics: dict):
    return default_info(cfg.preset, name=cfg.name or f"{cfg.preset} ({Path(cfg.out).name})",
                        preprocess=pre, training=training, metrics=metrics)
