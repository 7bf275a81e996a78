"""Train a ConViTX detector: ``python -m training.train --help``.

One process on a CPU or GPU, or several through ``torchrun`` (DistributedDataParallel: NCCL on
GPUs, Gloo on CPUs). Everything a run writes goes to ``--out``:

  config.json        the resolved settings (``--resume`` reuses them)
  split.json         the training and validation images (evaluate/calibrate read it)
  last.safetensors   the latest weights, an app checkpoint (``convitx scan --model``)
  best.safetensors   the best epoch by the validation metric (EMA weights with --ema)
  state.pt           optimiser, schedule, EMA and random states for ``--resume``
  metrics.csv/.json  one row per epoch; plots/*.png loss curves, ROC, confusion matrix
  val_scores.csv     p_ai per validation image at the best epoch
  done.json          written when the run has finished (all epochs, the time budget or --stop-after)
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from model.checkpoint import save_checkpoint
from model.config import PREPROCESS_MODES, PreprocessConfig, default_info
from model.device import cpu_threads, resolve_device
from model.imageio import ImageLoadError, load_image
from model.network import create_model
from model.preprocess import decode_short_side, preprocess
from model.presets import get_preset, list_presets

from .data import datasets as ds
from .augment import NO_AUGMENT, AugmentConfig, train_view, view_rng
from .crop_cache import CropCache
from .data.exclusion import Exclusions, check_samples
from .evaluation.metrics import binary_metrics, clean, log_loss
from .weights import WeightsError, freeze, load_backbone_file, load_timm_pretrained, parameter_groups

AUGMENT_PRESETS = {
    "default": AugmentConfig(),
    "light": AugmentConfig(rescale_p=0.3, min_scale=0.8, max_scale=1.25, blur_p=0.0, jpeg_p=0.3,
                           jpeg_quality=(80, 95), webp_p=0.0, png_p=0.0, grayscale_p=0.0),
    # For native-resolution training: a rescale no larger than 1x, by one of several filters, on a
    # third of the views, so resampling traces are seen on both classes but most views keep the file's grid.
    "native": AugmentConfig(rescale_p=0.35, min_scale=0.4, max_scale=1.0,
                            filters=("bicubic", "bilinear", "lanczos", "box"), jpeg_p=0.45, webp_p=0.15),
    "none": NO_AUGMENT,
}
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


# --- data ----------------------------------------------------------------------------------------

class TrainImages(Dataset):
    """Augmented training crops; ``epoch`` is set before each epoch so every view is reproducible."""

    def __init__(self, samples: list[ds.Sample], cfg: PreprocessConfig, aug: AugmentConfig,
                 weights: np.ndarray, seed: int, cache: CropCache | None = None):
        self.samples, self.cfg, self.aug, self.weights, self.seed = samples, cfg, aug, weights, seed
        self.cache = cache
        self.epoch = 0

    def _image(self, path: str, rng: np.random.Generator) -> Image.Image:
        if self.cache is not None:
            return self.cache.load(path, rng)
        return load_image(path, min_short_side=decode_short_side(self.cfg)).image

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        # An unreadable file is replaced by the next readable one, so every process of a
        # distributed run still gets full, equal batches; the replacement is counted.
        for attempt in range(min(len(self.samples), 50)):
            j = (index + attempt) % len(self.samples)
            rng = view_rng(self.seed, self.epoch, j)
            try:
                image = self._image(self.samples[j].path, rng)
            except ImageLoadError:
                continue
            view = train_view(image, self.cfg, self.aug, rng)
            return view, self.samples[j].label, float(self.weights[j]), j, attempt > 0
        raise ds.DataError(f"50 training images in a row could not be read, from {self.samples[index].path}")


class ValImages(Dataset):
    """Exactly the app's crops for one image (working image, evenly spread crops)."""

    def __init__(self, samples: list[ds.Sample], cfg: PreprocessConfig):
        self.samples, self.cfg = samples, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            image = load_image(sample.path, min_short_side=decode_short_side(self.cfg)).image
        except ImageLoadError:
            return None
        return preprocess(image, self.cfg), sample.label, index


def collate_train(batch):
    views, labels, weights, indices, replaced = zip(*batch)
    return (torch.stack(views), torch.tensor(labels, dtype=torch.float32),
            torch.tensor(weights, dtype=torch.float32), torch.tensor(indices), sum(replaced))


def collate_val(batch):
    batch = [item for item in batch if item is not None]
    if not batch:
        return None
    crops, labels, indices = zip(*batch)
    return torch.cat(crops), torch.tensor([len(c) for c in crops]), torch.tensor(labels), torch.tensor(indices)


# --- distributed ----------------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_choice: str) -> tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), resolve_device(device_choice)
    info = Dist(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                local_world=int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    device = resolve_device(device_choice)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def broadcast_value(value, world: Dist):
    """Rank 0's ``value`` on every rank (decisions such as stopping must agree)."""
    if not world.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --- schedule, EMA, AMP ---------------------------------------------------------------------------

class Plan:
    """The learning-rate plan: linear warm-up, then cosine to ``min_lr_ratio`` at the last step.
    ``epochs`` may shrink when a time budget shows they will not all fit."""

    def __init__(self, epochs: int, steps_per_epoch: int, warmup_epochs: float, min_lr_ratio: float):
        self.epochs, self.steps_per_epoch = epochs, max(1, steps_per_epoch)
        self.warmup_epochs, self.min_lr_ratio = warmup_epochs, min_lr_ratio

    def __call__(self, step: int) -> float:
        total = max(1, self.epochs * self.steps_per_epoch)
        warmup = min(int(self.warmup_epochs * self.steps_per_epoch), total - 1)
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class Ema:
    """Exponential moving average of the weights (and a copy of the buffers)."""

    def __init__(self, network: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in network.state_dict().items()}

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        for key, value in network.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].lerp_(value.detach(), 1 - self.decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict:
        return {k: v.cpu() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            self.shadow[key].copy_(value)


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on GPUs; on CPUs its backward pass is several times slower than NCHW for these
    networks (measured: EfficientNet-Lite0 + small Swin, 16 crops of 224 px, 2 threads: 9-14 s vs 2.4 s)."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def autocast_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or choice == "off":
        return None  # fp32 on CPU (and MPS): bf16 autocast there is slower or unsupported for these nets
    if choice == "fp16":
        return torch.float16
    if choice == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# --- checkpoints and state ------------------------------------------------------------------------

def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(clean(data), indent=2), encoding="utf-8")
    os.replace(tmp, path)


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


# --- the split ------------------------------------------------------------------------------------

def build_split(cfg: TrainConfig, log) -> tuple[list[ds.Sample], list[ds.Sample], dict]:
    if cfg.split_file:
        lists = ds.load_samples(cfg.split_file)
        return lists["train"], lists.get("val", []), {"mode": "file", "file": cfg.split_file}
    samples = ds.load_data(cfg.data, log=log)
    info: dict[str, Any] = {"mode": cfg.split, "seed": cfg.seed}
    if cfg.exclusions:
        hash_cache = Path(cfg.cache_dir) / "dhash.json" if cfg.cache_dir else None
        report = check_samples(samples, Exclusions.load(cfg.exclusions), hash_cache, log=log)
        samples, info["exclusion"] = report.kept, report.summary()
    if cfg.val_data:
        train, val = samples, ds.load_data(cfg.val_data, log=log)
        info["mode"] = "given"
    elif cfg.split == "group":
        train, val = ds.group_split(samples, cfg.val_fraction, cfg.seed, cfg.max_group_share, log=log)
        info.update(val_fraction=cfg.val_fraction, max_group_share=cfg.max_group_share)
    elif cfg.split == "random":
        train, val = ds.random_split(samples, cfg.val_fraction, cfg.seed)
        info.update(val_fraction=cfg.val_fraction)
    elif cfg.split == "folds":
        train, val = ds.fold_split(samples, cfg.folds, cfg.fold, cfg.seed)
        info.update(folds=cfg.folds, fold=cfg.fold)
    elif cfg.split == "sources":
        train, val = ds.leave_sources_out(samples, cfg.holdout)
        info.update(holdout=cfg.holdout)
    elif cfg.split == "none":
        train, val = samples, []
    else:
        raise ValueError(f"unknown split {cfg.split!r}")
    if cfg.split in ("group", "folds", "sources") and not cfg.val_data:
        ds.check_disjoint(train, val)
    return train, val, info


# --- training -------------------------------------------------------------------------------------

def _loader_settings(cfg: TrainConfig, device: torch.device, world: Dist) -> tuple[int, int]:
    cores = max(1, cpu_threads() // world.local_world)
    if device.type == "cuda":
        workers = cfg.workers if cfg.workers is not None else min(8, max(1, cores - 1))
        threads = cfg.threads or max(1, min(4, cores))
    else:
        workers = cfg.workers if cfg.workers is not None else (0 if cores <= 2 else min(4, cores // 4))
        threads = cfg.threads or max(1, cores - workers)
    return workers, threads


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


@torch.no_grad()
def validate(network: nn.Module, loader: DataLoader, device: torch.device, dtype,
             world: Dist) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean crop logit per validation image, gathered on rank 0 as (indices, logits); None elsewhere."""
    network.eval()
    found_idx, found_logit = [], []
    for batch in loader:
        if batch is None:
            continue
        crops, counts, _, indices = batch
        crops = crops.to(device, non_blocking=True).contiguous(memory_format=memory_format(device))
        with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = network(crops).float().cpu()
        found_logit += [chunk.mean().item() for chunk in torch.split(logits, counts.tolist())]
        found_idx += indices.tolist()
    if world.enabled:
        gathered: list = [None] * world.world
        dist.all_gather_object(gathered, (found_idx, found_logit))
        if not world.main:
            return None
        found_idx = [i for part in gathered for i in part[0]]
        found_logit = [v for part in gathered for v in part[1]]
    return np.array(found_idx, dtype=np.int64), np.array(found_logit, dtype=np.float64)


def _val_row(samples: list[ds.Sample], indices: np.ndarray, logits: np.ndarray) -> tuple[dict, np.ndarray]:
    labels = np.array([samples[i].label for i in indices])
    probs = 1.0 / (1.0 + np.exp(-logits))
    if not len(labels):
        return {}, probs
    m = binary_metrics(labels, probs, 0.5)
    row = {"val_loss": log_loss(labels, probs), "val_auc": m["auc"], "val_accuracy": m["accuracy"],
           "val_balanced_accuracy": m["balanced_accuracy"], "val_f1": m["f1"], "val_f1_macro": m["f1_macro"],
           "val_images": len(labels)}
    return row, probs


def _is_better(row: dict, best: dict | None, select: str) -> bool:
    key, pick = SELECT_METRICS[select]
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return best is None
    if best is None or best.get(key) is None or (isinstance(best.get(key), float) and math.isnan(best[key])):
        return True
    if value == best[key]:
        return (row.get("val_loss") or 0) < (best.get("val_loss") or 0)
    return pick(value, best[key]) == value


def _write_history(out: Path, history: list[dict], best: dict | None) -> None:
    columns = ["epoch", "train_loss", "val_loss", "val_auc", "val_accuracy", "val_balanced_accuracy", "val_f1",
               "val_f1_macro", "lr", "train_images", "val_images", "replaced_unreadable", "seconds",
               "images_per_second", "partial"]
    tmp = out / "metrics.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    os.replace(tmp, out / "metrics.csv")
    write_json(out / "metrics.json", {"history": history, "best": best})


def _write_plots(out: Path, history: list[dict], val: list[ds.Sample], best_probs: np.ndarray | None,
                 best_indices: np.ndarray | None) -> None:
    from .evaluation import plots

    (out / "plots").mkdir(exist_ok=True)
    plots.loss_curves(history, out / "plots" / "loss.png")
    if best_probs is not None and len(best_probs):
        labels = np.array([val[i].label for i in best_indices])
        plots.roc_plot({"validation, best epoch": (labels, best_probs)}, out / "plots" / "roc.png")
        plots.confusion_plot(binary_metrics(labels, best_probs, 0.5)["confusion"], out / "plots" / "confusion.png",
                             "validation, best epoch, p_ai >= 0.5")


def _write_val_scores(out: Path, val: list[ds.Sample], indices: np.ndarray, probs: np.ndarray) -> None:
    tmp = out / "val_scores.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "source", "kind", "p_ai"])
        for i, p in zip(indices, probs):
            s = val[i]
            writer.writerow([s.path, s.label_name, s.source, s.kind, f"{p:.6f}"])
    os.replace(tmp, out / "val_scores.csv")


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult | None:
    """Run (or continue) training as configured; returns the result on rank 0 and None on other ranks."""
    out = Path(cfg.out)
    world, device = init_distributed(cfg.device)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if world.main else (lambda msg: None)
    state = None
    if resume and (out / STATE_FILE).is_file():
        saved = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
        keep = {f.name for f in fields(TrainConfig)} - RUN_SETTINGS
        state = torch.load(out / STATE_FILE, map_location="cpu", weights_only=True)
        epochs = cfg.epochs or state["plan_epochs"]
        cfg = replace(cfg, **{k: v for k, v in saved.items() if k in keep}, epochs=epochs)
        log(f"resuming {out} after epoch {state['epoch']} of {epochs}")
    elif resume:
        log(f"note: nothing to resume in {out}; starting a new run")
    if not cfg.epochs:
        cfg = replace(cfg, epochs=DEFAULT_EPOCHS)
    if cfg.select not in SELECT_METRICS:
        raise ValueError(f"--select must be one of {', '.join(SELECT_METRICS)}")
    if cfg.balance not in ("none", "class", "class+source"):
        raise ValueError("--balance must be none, class or class+source")
    started = time.monotonic()
    _seed_everything(cfg.seed, cfg.deterministic)
    workers, threads = _loader_settings(cfg, device, world)
    torch.set_num_threads(threads)
    pre = preprocess_config(cfg)
    aug = AUGMENT_PRESETS[cfg.augment]

    # data: rank 0 decides the split (and writes it); the others read it, so all agree.
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
        if state is not None and (out / SPLIT_FILE).is_file():
            lists = ds.load_samples(out / SPLIT_FILE)
            train_samples, val_samples, split_info = lists["train"], lists["val"], state.get("split_info", {})
        else:
            train_samples, val_samples, split_info = build_split(cfg, log)
            train_samples = ds.subsample(train_samples, cfg.limit, cfg.seed)
            val_samples = ds.subsample(val_samples, cfg.val_limit, cfg.seed)
            ds.save_samples(out / SPLIT_FILE, train=train_samples, val=val_samples)
        write_json(out / CONFIG_FILE, asdict(cfg))
    if world.enabled:
        dist.barrier()
        if not world.main:
            lists = ds.load_samples(out / SPLIT_FILE)
            train_samples, val_samples, split_info = lists["train"], lists["val"], {}
    if not train_samples:
        raise ds.DataError("no training images")
    summary = {"train": ds.summarize(train_samples), "val": ds.summarize(val_samples) if val_samples else {},
               "split": split_info, "data": cfg.data, "preset": cfg.preset, "augment": cfg.augment,
               "augment_config": aug.to_dict(), "pretrained": cfg.pretrained, "seed": cfg.seed,
               "balance": cfg.balance}
    log(f"{len(train_samples)} training images ({summary['train']['by_label']}), {len(val_samples)} validation "
        f"images; {device} x{world.world}, {threads} thread(s), {workers} loader worker(s)")

    # network
    torch.manual_seed(cfg.seed)
    network = create_model(cfg.preset)
    pretrained: list[str] = []
    if state is None:  # on resume the weights come from the state
        if cfg.pretrained == "timm":
            pretrained += load_timm_pretrained(network)
        elif cfg.pretrained:
            pretrained += load_backbone_file(network, cfg.pretrained, "cnn")
        if cfg.pretrained_swin:
            pretrained += load_backbone_file(network, cfg.pretrained_swin, "swin")
    else:
        pretrained = list(state["pretrained"])
    if pretrained:
        log(f"pretrained branches: {', '.join(sorted(set(pretrained)))}")
    if cfg.sync_bn and world.enabled and device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    frozen = freeze(network, cfg.freeze_backbones, cfg.freeze_stages)
    network.to(device).to(memory_format=memory_format(device))
    backbone_lr = cfg.backbone_lr if cfg.backbone_lr is not None else (cfg.lr * 0.1 if pretrained else cfg.lr)
    optimizer = torch.optim.AdamW(parameter_groups(network, pretrained, cfg.lr, backbone_lr, cfg.weight_decay),
                                  betas=(0.9, 0.999))
    model: nn.Module = network
    ddp = None
    if world.enabled:
        model = ddp = nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)
    dtype = autocast_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    ema = Ema(network, cfg.ema) if cfg.ema > 0 else None

    # loaders
    weights = ds.sample_weights(train_samples, cfg.balance)
    cache = None
    if cfg.cache_dir:
        cache = CropCache(Path(cfg.cache_dir) / "crops", seed=cfg.seed)
        if world.main:
            cache.fill([s.path for s in train_samples], log=log)
        if world.enabled:
            dist.barrier()
    # The time budget is for training: cutting the crops once is not counted against it.
    deadline = time.monotonic() + cfg.minutes * 60 if cfg.minutes else None
    train_set = TrainImages(train_samples, pre, aug, weights, cfg.seed, cache)
    sampler = DistributedSampler(train_set, num_replicas=world.world, rank=world.rank, shuffle=True, seed=cfg.seed)
    loader_args = dict(num_workers=workers, pin_memory=device.type == "cuda", worker_init_fn=_worker_init,
                       persistent_workers=False, **({"prefetch_factor": 4} if workers else {}))
    per_rank = math.ceil(len(train_set) / world.world)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate_train,
                              drop_last=per_rank > cfg.batch_size, **loader_args)
    val_loader = None
    if val_samples:
        val_indices = list(range(world.rank, len(val_samples), world.world))
        per_batch = max(1, cfg.val_batch_crops // pre.max_crops if pre.mode != "resize" else cfg.val_batch_crops)
        val_loader = DataLoader(torch.utils.data.Subset(ValImages(val_samples, pre), val_indices),
                                batch_size=per_batch, shuffle=False, collate_fn=collate_val, **loader_args)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.accum_steps)
    plan = Plan(cfg.epochs, steps_per_epoch, cfg.warmup_epochs, cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)

    history: list[dict] = []
    best: dict | None = None
    start_epoch = 0
    if state is not None:
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None and state.get("ema"):
            ema.load_state_dict(state["ema"])
        history, best, start_epoch = list(state["history"]), state["best"], int(state["epoch"])
        plan.epochs = max(cfg.epochs, start_epoch)
        torch.set_rng_state(state["torch_rng"])
        random.setstate(_tuple_state(state["python_rng"]))
        np.random.set_state(_numpy_state(state["numpy_rng"]))

    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    best_probs = best_indices = None
    reason, epoch_times = "epochs", []
    epoch = start_epoch
    stop = start_epoch >= plan.epochs
    val_seconds = 0.0
    while not stop and epoch < plan.epochs:
        tick = time.monotonic()
        sampler.set_epoch(epoch)
        train_set.epoch = epoch
        model.train()
        for module in frozen:
            module.eval()
        total_loss, total_images, replaced, micro = 0.0, 0, 0, 0
        partial = False
        batches = train_loader
        bar = None
        if world.main and not cfg.quiet:
            from tqdm import tqdm

            bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{plan.epochs}", unit="batch", file=sys.stderr,
                       dynamic_ncols=True, leave=False)
            batches = bar
        optimizer.zero_grad(set_to_none=True)
        for position, batch in enumerate(batches):
            views, labels, sample_w, _, n_replaced = batch
            replaced += n_replaced
            if len(views) < 2:  # BatchNorm needs two images; equal on every rank (the sampler pads)
                continue
            views = views.to(device, non_blocking=True).contiguous(memory_format=memory_format(device))
            labels, sample_w = labels.to(device), sample_w.to(device)
            targets = labels * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
            micro += 1
            last_micro = micro % cfg.accum_steps == 0 or position == len(train_loader) - 1
            sync = contextlib.nullcontext() if last_micro or ddp is None else ddp.no_sync()
            with sync:
                with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                    logits = model(views).float()
                loss = (loss_fn(logits, targets) * sample_w).mean()
                scaler.scale(loss / cfg.accum_steps).backward()
            if last_micro:
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_([p for p in network.parameters() if p.requires_grad], cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                if ema is not None:
                    ema.update(network)
            total_loss += loss.item() * len(views)
            total_images += len(views)
            if bar is not None:
                bar.set_postfix(loss=f"{total_loss / total_images:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            if deadline is not None and last_micro:
                over = time.monotonic() > deadline - val_seconds * 1.2
                if broadcast_value(over, world):
                    partial = position < len(train_loader) - 1
                    stop, reason = True, "time budget"
                    break
        if bar is not None:
            bar.close()
        if world.enabled:
            stats = torch.tensor([total_loss, total_images, replaced], dtype=torch.float64)
            dist.all_reduce(stats)
            total_loss, total_images, replaced = stats[0].item(), int(stats[1].item()), int(stats[2].item())
        train_seconds = time.monotonic() - tick

        # validate (EMA weights when EMA is on) and keep the best
        val_tick = time.monotonic()
        eval_net = network
        if ema is not None:
            eval_net = create_model(cfg.preset).to(device).to(memory_format=memory_format(device))
            eval_net.load_state_dict(ema.shadow)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total_loss / max(1, total_images),
                               "lr": optimizer.param_groups[0]["lr"], "train_images": total_images,
                               "replaced_unreadable": replaced, "partial": partial}
        probs = indices = None
        if val_loader is not None:
            gathered = validate(eval_net, val_loader, device, dtype, world)
            if gathered is not None:
                indices, logits = gathered
                extra, probs = _val_row(val_samples, indices, logits)
                row.update(extra)
        val_seconds = time.monotonic() - val_tick
        row["seconds"] = round(time.monotonic() - tick, 2)
        row["images_per_second"] = round(total_images / max(train_seconds, 1e-6), 2)
        epoch += 1
        epoch_times.append(time.monotonic() - tick)

        if world.main:
            history.append(row)
            improved = _is_better(row, best, cfg.select) if val_loader is not None else True  # no validation: latest
            if improved:
                best = dict(row)
            info = make_info(cfg, pre, summary, clean({"epoch": row["epoch"], **{k: v for k, v in row.items()
                                                                                   if k.startswith("val_")}}))
            save_checkpoint(network, info, out / "last.safetensors")
            if improved:
                save_checkpoint(eval_net, info, out / "best.safetensors")
                if probs is not None:
                    best_probs, best_indices = probs, indices
                    _write_val_scores(out, val_samples, indices, probs)
            _write_history(out, history, best)
            if cfg.plots and (epoch_times[-1] > 60 or stop):
                _write_plots(out, history, val_samples, best_probs, best_indices)
            log(_describe(row, plan.epochs))

        # time budget: shrink the plan so the cosine schedule ends within it
        if deadline is not None and not stop:
            per_epoch = sum(epoch_times) / len(epoch_times)
            fit = int((deadline - time.monotonic()) // (per_epoch * 1.05))
            planned = plan.epochs
            if epoch + fit < plan.epochs:
                if fit <= 0:
                    stop, reason = True, "time budget"
                else:
                    log(f"time budget: {epoch + fit} of {plan.epochs} epochs fit; the schedule now ends there")
                planned = max(epoch, epoch + fit)
            stop, plan.epochs = broadcast_value((stop, planned), world)
        if cfg.stop_after and epoch - start_epoch >= cfg.stop_after and epoch < plan.epochs:
            stop, reason = True, "stop-after"

        if world.main:
            atomic_torch_save({
                "epoch": epoch, "plan_epochs": plan.epochs, "network": network.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "ema": ema.state_dict() if ema else None,
                "history": clean(history), "best": clean(best), "pretrained": pretrained,
                "split_info": clean(split_info), "torch_rng": torch.get_rng_state(),
                "python_rng": _plain(random.getstate()), "numpy_rng": _plain(np.random.get_state()),
            }, out / STATE_FILE)
        if world.enabled:
            dist.barrier()

    finished = epoch >= plan.epochs
    result = None
    if world.main:
        if cfg.plots:
            _write_plots(out, history, val_samples, best_probs, best_indices)
        if not (out / "best.safetensors").exists() and (out / "last.safetensors").exists():
            (out / "best.safetensors").write_bytes((out / "last.safetensors").read_bytes())
        reason = reason if stop else "epochs"
        write_json(out / DONE_FILE, {"epochs_done": epoch, "planned_epochs": plan.epochs, "finished": finished,
                                     "reason": reason, "best": best,
                                     "minutes_this_run": round((time.monotonic() - started) / 60, 2)})
        if reason != "stop-after":
            log(f"done ({reason}): best epoch {best and best.get('epoch')}, {out / 'best.safetensors'}")
        result = TrainResult(out, out / "best.safetensors", out / "last.safetensors", history, best or {},
                             finished, reason)
    if world.enabled:
        dist.barrier()
    return result


def _describe(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    for key, label in (("val_loss", "val loss"), ("val_auc", "AUC"), ("val_balanced_accuracy", "bal. acc")):
        value = row.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{label} {value:.4f}")
    parts.append(f"{row['seconds']:.0f} s")
    return ", ".join(parts) + (" (partial epoch)" if row.get("partial") else "")


def _plain(value):
    """RNG states as lists/ints/tensors so state.pt loads with weights_only=True."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def _tuple_state(value):
    return tuple(_tuple_state(v) if isinstance(v, list) else v for v in value)


def _numpy_state(value):
    return (value[0], value[1].numpy(), int(value[2]), int(value[3]), float(value[4]))


# --- command line -----------------------------------------------------------------------------------

DESCRIPTION = """\
Train a ConViTX AI-image detector on labelled images.

Data (--data, repeatable, freely combined):
  * a folder with ai/ and real/ (or human/) folders; sub-folders name the source, e.g. ai/midjourney/
  * a manifest TSV like trainpool's MANIFEST.tsv (label, kind, generator_or_source, ..., relpath),
    or a folder that holds one
  * the Kaggle "AI vs Human-Generated Images" train.csv (file_name,label; 1 = AI)

Validation keeps whole sources on one side (--split group), so near-identical siblings never
straddle training and validation. --split folds/sources hold sources out to estimate how the
model does on generators it has never seen.

Everything goes to --out: app checkpoints best/last.safetensors, metrics.csv/json, plots/,
split.json, state.pt (for --resume). Several GPUs or machines: start it with torchrun.

examples:
  python -m training.train --data my_images/ --preset convitx_lite \\
      --pretrained data/public/backbones/tf_efficientnet_lite0.safetensors --epochs 20 --out runs/mine
  python -m training.train --out runs/mine --resume --epochs 30        # continue, with more epochs
  torchrun --nproc_per_node 4 -m training.train --data kaggle/train.csv --preset convitx_large \\
      --pretrained timm --batch-size 64 --out runs/large
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="training data: folder, manifest .tsv or Kaggle .csv (repeat to combine)")
    d.add_argument("--val-data", action="append", default=[], metavar="PATH",
                   help="separate validation data (then --data is all training)")
    d.add_argument("--split", default="group", choices=["group", "random", "folds", "sources", "none"],
                   help="validation split: group = whole sources (default), random = per image (only for data "
                        "without sources), folds = fold --fold of --folds by source, sources = hold out --holdout, "
                        "none = no validation")
    d.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="share of each class to validate on (default 0.2)")
    d.add_argument("--max-group-share", type=float, default=0.25, metavar="F",
                   help="a source holding more than this share of its class always stays in training (default 0.25)")
    d.add_argument("--folds", type=int, default=5, metavar="K", help="number of folds for --split folds")
    d.add_argument("--fold", type=int, default=0, metavar="I", help="which fold (0-based) is validation")
    d.add_argument("--holdout", action="append", default=[], metavar="SOURCE",
                   help="source name to hold out with --split sources (repeatable)")
    d.add_argument("--split-file", metavar="split.json", help="reuse the train/val lists of an earlier run")
    d.add_argument("--limit", type=int, default=0, metavar="N", help="use at most N training images (smoke tests)")
    d.add_argument("--val-limit", type=int, default=0, metavar="N", help="use at most N validation images")
    d.add_argument("--balance", default="class", choices=["none", "class", "class+source"],
                   help="loss weights: equal total weight per class (default), also per source, or none")
    d.add_argument("--augment", default="default", choices=sorted(AUGMENT_PRESETS),
                   help="augmentation strength (default: rescale, blur, JPEG/WebP re-encoding, flips)")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cut native-resolution regions of every training image once and train from them")
    d.add_argument("--exclusions", metavar="DIR",
                   help="folder with EXCLUDE_REPOS.txt and EXCLUDE_HASHES.txt: refuse excluded repositories, "
                        "drop near-duplicates of evaluation images")

    m = p.add_argument_group("model")
    m.add_argument("--preset", default="convitx_lite", choices=list_presets(),
                   help="architecture (default convitx_lite)")
    m.add_argument("--mode", default="multicrop", choices=list(PREPROCESS_MODES),
                   help="native = the file's own pixels, several crops; multicrop = native up to --max-short-side "
                        "(default); resize = shrink to one crop")
    m.add_argument("--crop-size", type=int, metavar="PX", help="crop size (default: the preset's input size)")
    m.add_argument("--max-crops", type=int, default=2, metavar="N", help="crops scored per image (default 2)")
    m.add_argument("--max-short-side", type=int, default=512, metavar="PX",
                   help="images are shrunk so the shorter side is at most this (default 512)")
    m.add_argument("--pretrained", metavar="PATH|timm",
                   help="initial weights: a .safetensors with the CNN branch's ImageNet weights (or a whole ConViTX "
                        "checkpoint to fine-tune), or 'timm' for timm's own (needs internet or its cache)")
    m.add_argument("--pretrained-swin", metavar="PATH", help="a .safetensors with the Swin branch's weights")
    m.add_argument("--freeze-backbones", action="store_true", help="train only the fusion head")
    m.add_argument("--freeze-stages", type=int, default=0, metavar="N",
                   help="freeze the stem and first N stages of both backbones (the original design's partial freezing)")
    m.add_argument("--name", help="model name stored in the checkpoint")

    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, metavar="N",
                   help=f"passes over the training data (default {DEFAULT_EPOCHS}; on --resume the run's own)")
    o.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per step and process (default 32)")
    o.add_argument("--accum-steps", type=int, default=1, metavar="N", help="accumulate gradients over N batches")
    o.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of new parts (default 1e-3)")
    o.add_argument("--backbone-lr", type=float, help="learning rate of pretrained branches (default lr/10)")
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up, then cosine decay")
    o.add_argument("--min-lr-ratio", type=float, default=0.01, help="final LR as a share of the peak")
    o.add_argument("--grad-clip", type=float, default=1.0, help="gradient norm limit (0 = off)")
    o.add_argument("--label-smoothing", type=float, default=0.0)
    o.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999) and validate/save it")
    o.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision on GPUs (auto = bf16 where supported); always fp32 on CPUs")
    o.add_argument("--select", default="auc", choices=sorted(SELECT_METRICS),
                   help="validation metric that picks best.safetensors (default auc)")

    r = p.add_argument_group("run")
    r.add_argument("--out", required=True, metavar="DIR", help="run folder")
    r.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last epoch (its saved settings are used; "
                        "--epochs and --minutes may change)")
    r.add_argument("--minutes", type=float, metavar="M",
                   help="time budget of this invocation; training stops cleanly and keeps the best checkpoint")
    r.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this invocation (resume later)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPUs)")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    r.add_argument("--workers", type=int, metavar="N", help="DataLoader workers per process (default: by cores)")
    r.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per process (default: by cores)")
    r.add_argument("--compile", action="store_true", help="torch.compile the network (GPUs)")
    r.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm across GPUs")
    r.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw PNG plots")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.data and not args.split_file and not (args.resume and (Path(args.out) / STATE_FILE).is_file()):
        parser.error("give --data (or --split-file, or --resume an existing run)")
    try:
        train(config_from_args(args), resume=args.resume)
    except (ds.DataError, WeightsError, ValueError, OSError) as exc:
        print(f"training: {exc}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
