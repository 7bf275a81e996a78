"""The training loop: the split, the loaders, epochs with validation, best/last checkpoints, and resuming."""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from model.checkpoint import save_checkpoint
from model.device import cpu_threads
from model.network import create_model

from ...data import datasets as ds
from ...data.exclusion import Exclusions, check_samples
from ...evaluation.metrics import binary_metrics, clean, log_loss
from ..augment import AUGMENT_PRESETS
from ..crop_cache import CropCache
from ..weights import freeze, load_backbone_file, load_timm_pretrained, parameter_groups
from .config import (CONFIG_FILE, DEFAULT_EPOCHS, DONE_FILE, RUN_SETTINGS, SELECT_METRICS, SPLIT_FILE, STATE_FILE,
                     TrainConfig, TrainResult, make_info, preprocess_config)
from .distributed import Dist, broadcast_value, init_distributed
from .images import TrainImages, ValImages, collate_train, collate_val
from .records import (atomic_torch_save, describe, numpy_state, plain_state, tuple_state, write_history, write_json,
                      write_plots, write_val_scores)
from .schedule import Ema, Plan, autocast_dtype, memory_format


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
        random.setstate(tuple_state(state["python_rng"]))
        np.random.set_state(numpy_state(state["numpy_rng"]))

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
                    write_val_scores(out, val_samples, indices, probs)
            write_history(out, history, best)
            if cfg.plots and (epoch_times[-1] > 60 or stop):
                write_plots(out, history, val_samples, best_probs, best_indices)
            log(describe(row, plan.epochs))

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
                "python_rng": plain_state(random.getstate()), "numpy_rng": plain_state(np.random.get_state()),
            }, out / STATE_FILE)
        if world.enabled:
            dist.barrier()

    finished = epoch >= plan.epochs
    result = None
    if world.main:
        if cfg.plots:
            write_plots(out, history, val_samples, best_probs, best_indices)
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
