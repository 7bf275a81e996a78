"""The learning-rate plan, the weights' moving average, and the memory layout and precision per device."""
from __future__ import annotations

import math

import torch
from torch import nn


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
