"""Train ConViTX's Swin branch and fusion head over a frozen, pretrained CNN whose outputs are cached.

Fine-tuning the whole network costs about ten minutes an epoch on 2 CPU cores for a few thousand
images, so five leave-source-out folds and a final model do not fit a two-hour budget. Here the CNN
(ImageNet weights, never updated) runs once per image, on the crops the app scores (the file's own
pixel grid, up to ``max_crops``) and on one augmented view (a native region rescaled and re-encoded,
both classes alike), and its outputs are kept on disk: the block statistics and the block map the
Swin branch reads (model/network.py, ``cnn_outputs``). Each fold then trains only the Swin branch and
the head, in about five minutes on 2 cores. The result is an ordinary ConViTX checkpoint: the app scores it exactly
as any other, by the mean logit of the same crops.
"""
from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from model.atomic import atomic_write_bytes
from model.config import PreprocessConfig
from model.imageio import ImageLoadError, load_image
from model.network import ConViTX
from model.preprocess import crop_pixels, normalise

from ..data import datasets as ds
from .augment import AugmentConfig, augment_image
from .crop_cache import DEFAULT_REGION, region_boxes

CACHE_VERSION = 1  # bump when what is cached changes


@dataclass(frozen=True)
class HeadRecipe:
    """How the Swin branch and the head are trained on cached CNN outputs."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    balance: str = "class+source"
    seed: int = 0


@dataclass
class CnnOutputs:
    """One image's cached CNN outputs: per view, the CNN features (crops, F) and the Swin input
    (crops, C, H, W), float16. View 0 holds the crops the app scores; the rest are augmented."""

    features: list[np.ndarray]
    swin_inputs: list[np.ndarray]


# --- decoding (worker processes: no torch) -------------------------------------------------------

def image_views(path: str, pre: PreprocessConfig, aug: AugmentConfig, views: int, seed: int
                ) -> list[np.ndarray] | str:
    """uint8 crops per view of one image (view 0: the app's scoring crops), or the reason it failed.
    Augmented views start from a random native region, so a 24 MP photo costs one decode, not many."""
    try:
        image = load_image(path).image
    except ImageLoadError as exc:
        return str(exc)
    rng = np.random.default_rng([seed, int(hashlib.sha1(path.encode("utf-8")).hexdigest()[:8], 16)])
    crops = [crop_pixels(image, pre)]
    for _ in range(views - 1):
        region = image.crop(region_boxes(image.size, DEFAULT_REGION, 1, rng)[0])
        crops.append(crop_pixels(augment_image(region, aug, rng), pre))
    return crops


# --- the cache -----------------------------------------------------------------------------------

class OutputCache:
    """One ``.npz`` per image, named by its path, size and mtime and by what produced it."""

    def __init__(self, folder: str | os.PathLike, producer: str):
        self.folder, self.producer = Path(folder), producer
        self.folder.mkdir(parents=True, exist_ok=True)

    def file_for(self, path: str) -> Path:
        info = os.stat(path)
        key = f"{os.path.abspath(path)}|{info.st_size}|{info.st_mtime_ns}|{self.producer}|{CACHE_VERSION}"
        return self.folder / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()}.npz"

    def read(self, path: str) -> CnnOutputs | None:
        try:
            with np.load(self.file_for(path)) as data:
                count = int(data["views"])
                return CnnOutputs([data[f"features{v}"] for v in range(count)],
                                  [data[f"swin{v}"] for v in range(count)])
        except (OSError, KeyError, ValueError):
            return None

    def write(self, path: str, outputs: CnnOutputs) -> None:
        buffer = io.BytesIO()
        arrays = {f"features{v}": f for v, f in enumerate(outputs.features)}
        arrays.update({f"swin{v}": s for v, s in enumerate(outputs.swin_inputs)})
        np.savez(buffer, views=np.array(len(outputs.features)), **arrays)
        atomic_write_bytes(self.file_for(path), buffer.getvalue())


def producer_key(network: ConViTX, pre: PreprocessConfig, aug: AugmentConfig, views: int, seed: int) -> str:
    """What the cached outputs depend on: the CNN's weights, the crops and the augmentation."""
    digest = hashlib.sha1()
    for name, tensor in sorted(network.cnn.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(repr((network.preset.name, pre, aug, views, seed)).encode())
    return digest.hexdigest()[:16]


def compute_outputs(network: ConViTX, samples: Sequence[ds.Sample], cache: OutputCache, pre: PreprocessConfig,
                    aug: AugmentConfig, views: int, seed: int, workers: int = 2,
                    log: Callable[[str], None] = print) -> list[CnnOutputs | None]:
    """The CNN outputs of every sample (None for an unreadable image), computed once and cached."""
    results: list[CnnOutputs | None] = [cache.read(s.path) for s in samples]
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
        return results
    log(f"frozen CNN: computing outputs of {len(todo)} images ({len(samples) - len(todo)} cached)")
    network.eval()
    start, unreadable = time.monotonic(), 0
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = pool.map(image_views, [samples[i].path for i in todo], [pre] * len(todo), [aug] * len(todo),
                        [views] * len(todo), [seed] * len(todo), chunksize=4)
        for done, (index, crops) in enumerate(zip(todo, jobs), 1):
            if isinstance(crops, str):
                unreadable += 1
                continue
            outputs = _forward_views(network, crops, pre)
            cache.write(samples[index].path, outputs)
            results[index] = outputs
            if done % 250 == 0 or done == len(todo):
                rate = done / (time.monotonic() - start)
                log(f"frozen CNN: {done}/{len(todo)} images, {rate:.1f} images/s")
    if unreadable:
        log(f"frozen CNN: {unreadable} unreadable images left out")
    return results


@torch.no_grad()
def _forward_views(network: ConViTX, crops: list[np.ndarray], pre: PreprocessConfig) -> CnnOutputs:
    counts = [len(c) for c in crops]
    batch = normalise(np.concatenate(crops), pre).contiguous(memory_format=torch.channels_last)
    features, swin_inputs = network.cnn_outputs(batch)
    features = features.float().numpy().astype(np.float16)
    swin_inputs = swin_inputs.float().contiguous().numpy().astype(np.float16)
    edges = np.cumsum([0, *counts])
    return CnnOutputs([features[a:b] for a, b in zip(edges[:-1], edges[1:])],
                      [swin_inputs[a:b] for a, b in zip(edges[:-1], edges[1:])])


# --- training and scoring on cached outputs ------------------------------------------------------

def _stack(outputs: Sequence[CnnOutputs], view_filter: Callable[[int], bool]):
    features, swin_inputs, owner = [], [], []
    for index, item in enumerate(outputs):
        for view, (f, s) in enumerate(zip(item.features, item.swin_inputs)):
            if view_filter(view):
                features.append(f)
                swin_inputs.append(s)
                owner.append(np.full(len(f), index))
    return (torch.from_numpy(np.concatenate(features)), torch.from_numpy(np.concatenate(swin_inputs)),
            np.concatenate(owner))


def train_head(network: ConViTX, samples: Sequence[ds.Sample], outputs: Sequence[CnnOutputs], recipe: HeadRecipe,
               log: Callable[[str], None] = print) -> ConViTX:
    """Train ``network``'s Swin branch and head in place on every crop of every view; the CNN stays as it is.
    Each image weighs the same whatever its crop count; classes and sources are balanced as in train.py."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    features, swin_inputs, owner = _stack(outputs, lambda view: True)
    per_image = ds.sample_weights(list(samples), recipe.balance)
    crops_of = np.bincount(owner, minlength=len(samples))
    weights = torch.from_numpy((per_image[owner] / crops_of[owner] * len(samples) / len(owner)).astype(np.float32))
    labels = torch.tensor([samples[i].label for i in owner], dtype=torch.float32)
    trainable = [p for part in (network.swin, network.head) for p in part.parameters()]
    optimizer = torch.optim.AdamW(trainable, lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = recipe.epochs * math.ceil(len(owner) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=steps, pct_start=0.1)
    network.eval()  # the frozen CNN's batch norms keep their ImageNet statistics
    network.swin.train()
    network.head.train()
    for epoch in range(recipe.epochs):
        order = torch.from_numpy(rng.permutation(len(owner)))
        total = 0.0
        for batch in order.split(recipe.batch_size):
            if len(batch) < 2:  # BatchNorm1d needs two rows
                continue
            logits = network.fuse(features[batch].float(), swin_inputs[batch].float())
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[batch], reduction="none")
                    * weights[batch]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        log(f"head: epoch {epoch + 1}/{recipe.epochs}, loss {total / len(owner):.4f}")
    network.eval()
    return network


@torch.no_grad()
def score_outputs(network: ConViTX, outputs: Sequence[CnnOutputs], view: int = 0, batch_size: int = 512) -> np.ndarray:
    """p_ai per image from one view's cached outputs: the mean logit of its crops, as the app scores."""
    network.eval()
    features, swin_inputs, owner = _stack(outputs, lambda v: v == view)
    logits = torch.cat([network.fuse(features[i:i + batch_size].float(), swin_inputs[i:i + batch_size].float())
                        for i in range(0, len(owner), batch_size)]).numpy()
    mean_logit = np.bincount(owner, weights=logits, minlength=len(outputs)) / np.bincount(owner, minlength=len(outputs))
    return 1.0 / (1.0 + np.exp(-mean_logit))
