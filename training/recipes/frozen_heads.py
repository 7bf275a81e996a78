"""Train ConViTX's Swin branch and fusion head over frozen towers whose outputs are cached.

Fine-tuning the whole network costs about ten minutes an epoch on 2 CPU cores for a few thousand
images, so leave-source-out folds and a final model do not fit. Here the CNN (ImageNet weights) and
the CLIP tower (model/clip_view.py) never change: their outputs on every image, in every tier, are
computed once (training/recipes/tier_features.py), and each fold trains only the Swin branch and the
head on them, in minutes. The result is an ordinary ConViTX checkpoint: the app scores it exactly as
any other, by the mean logit of the same crops, with the same CLIP features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from model.network import ConViTX

from ..data import datasets as ds


@dataclass(frozen=True)
class HeadRecipe:
    """How the Swin branch and the head are trained on cached outputs. ``positive``: the head's last
    layer keeps non-negative weights, so a hidden unit can only raise the score (Stay-Positive,
    ICML 2025: evidence of generation counts, absence of camera traces does not)."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    balance: str = "class+source"
    seed: int = 0
    positive: bool = False


@dataclass
class FrozenOutputs:
    """One image's cached tower outputs per view (a tier: the file, its web copy, its hard copy):
    CNN features (crops, F), Swin inputs (crops, C, H, W) and the CLIP features of the whole image
    (1, F) or None for presets without a CLIP view; float16."""

    features: list[np.ndarray]
    swin_inputs: list[np.ndarray]
    clip: list[np.ndarray | None]


# --- training and scoring on cached outputs ------------------------------------------------------

def _stack(outputs: Sequence[FrozenOutputs], view_filter: Callable[[int], bool]):
    """Every kept crop's features, Swin input and (repeated per crop) its image's CLIP features, and
    which image each crop belongs to."""
    features, swin_inputs, clip, owner = [], [], [], []
    for index, item in enumerate(outputs):
        for view, (f, s, c) in enumerate(zip(item.features, item.swin_inputs, item.clip)):
            if view_filter(view):
                features.append(f)
                swin_inputs.append(s)
                if c is not None:
                    clip.append(np.repeat(c, len(f), axis=0))
                owner.append(np.full(len(f), index))
    return (torch.from_numpy(np.concatenate(features)), torch.from_numpy(np.concatenate(swin_inputs)),
            torch.from_numpy(np.concatenate(clip)) if clip else None, np.concatenate(owner))


def _rows(tensor: torch.Tensor | None, index) -> torch.Tensor | None:
    return None if tensor is None else tensor[index].float()


def train_head(network: ConViTX, samples: Sequence[ds.Sample], outputs: Sequence[FrozenOutputs], recipe: HeadRecipe,
               log: Callable[[str], None] = print) -> ConViTX:
    """Train ``network``'s Swin branch and head in place on every crop of every view; the towers stay as they are.
    Each image weighs the same whatever its crop count; classes and sources are balanced."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    features, swin_inputs, clip, owner = _stack(outputs, lambda view: True)
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
            logits = network.fuse(features[batch].float(), swin_inputs[batch].float(), _rows(clip, batch))
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, labels[batch], reduction="none")
                    * weights[batch]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            if recipe.positive:
                with torch.no_grad():
                    network.head[-1].weight.clamp_(min=0.0)
            total += loss.item() * len(batch)
        log(f"head: epoch {epoch + 1}/{recipe.epochs}, loss {total / len(owner):.4f}")
    network.eval()
    return network


@torch.no_grad()
def score_outputs(network: ConViTX, outputs: Sequence[FrozenOutputs], view: int = 0, batch_size: int = 512) -> np.ndarray:
    """p_ai per image from one view's cached outputs: the mean logit of its crops, as the app scores."""
    network.eval()
    features, swin_inputs, clip, owner = _stack(outputs, lambda v: v == view)
    logits = torch.cat([network.fuse(features[i:i + batch_size].float(), swin_inputs[i:i + batch_size].float(),
                                     _rows(clip, slice(i, i + batch_size)))
                        for i in range(0, len(owner), batch_size)]).numpy()
    mean_logit = np.bincount(owner, weights=logits, minlength=len(outputs)) / np.bincount(owner, minlength=len(outputs))
    return 1.0 / (1.0 + np.exp(-mean_logit))
