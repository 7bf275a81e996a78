"""The ConViTX network: a CNN branch and a Swin branch from timm, pooled, concatenated, fused to one logit."""
from __future__ import annotations

from dataclasses import replace

import timm
import torch
from torch import nn

from .presets import Preset, get_preset


def _fusion_head(in_features: int, dims: tuple[int, ...], dropout: float) -> nn.Sequential:
    """BatchNorm, then Linear-ReLU-Dropout blocks down to a single logit (the original ConViTX head)."""
    layers: list[nn.Module] = [nn.BatchNorm1d(in_features)]
    width = in_features
    for dim in dims:
        layers += [nn.Linear(width, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = dim
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class ConViTX(nn.Module):
    """Two backbones see the same image; their pooled features are fused into one 'is AI' logit."""

    def __init__(self, preset: Preset):
        super().__init__()
        self.preset = preset
        self.cnn = timm.create_model(preset.cnn, pretrained=False, num_classes=0, **preset.cnn_kwargs)
        self.swin = timm.create_model(
            preset.swin, pretrained=False, num_classes=0, img_size=preset.input_size, **preset.swin_kwargs
        )
        self.head = _fusion_head(self.cnn.num_features + self.swin.num_features, preset.head_dims, preset.dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.cnn(x), self.swin(x)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return one logit per image, shape (B,). p_ai = sigmoid(logit)."""
        return self.head(self.features(x)).squeeze(1)


def create_model(name: str, **overrides) -> ConViTX:
    """Build a ConViTX preset by name with random weights; weights come from a checkpoint or training.

    Keyword overrides replace fields of the preset (e.g. ``dropout=0.1``).
    """
    preset = get_preset(name)
    if overrides:
        preset = replace(preset, **overrides)
    return ConViTX(preset)
