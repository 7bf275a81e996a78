"""The ConViTX network: a CNN branch and a Swin branch from timm, pooled, concatenated, fused to one logit.

A preset with ``clip_blocks`` also takes the CLIP view's features of the whole image
(model/clip_view.py, computed outside torch by onnxruntime), one row per crop, into the same head."""
from __future__ import annotations

from dataclasses import replace

import timm
import torch
from torch import nn

from .clip_outputs import feature_count
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


def block_stats(maps: list[torch.Tensor]) -> torch.Tensor:
    """Per channel mean and (population) standard deviation of each map, concatenated: (B, 2 * sum of channels)."""
    return torch.cat([stat for m in maps for stat in (m.mean((2, 3)), m.std((2, 3), correction=0))], dim=1)


class ConViTX(nn.Module):
    """Two backbones see the same image; their pooled features are fused into one 'is AI' logit.

    The Swin branch sees the image, or (``preset.swin_reads_block``) the CNN's map of that block."""

    def __init__(self, preset: Preset):
        super().__init__()
        self.preset = preset
        self.cnn = timm.create_model(preset.cnn, pretrained=False, num_classes=0, **preset.cnn_kwargs)
        swin_input = {"img_size": preset.input_size}
        if preset.swin_reads_block is not None:
            info = next(f for f in self.cnn.feature_info if f["module"] == f"blocks.{preset.swin_reads_block}")
            swin_input = {"img_size": preset.input_size // info["reduction"], "in_chans": info["num_chs"]}
        self.swin = timm.create_model(preset.swin, pretrained=False, num_classes=0,
                                      **{**swin_input, **preset.swin_kwargs})
        self.head = _fusion_head(self.cnn_feature_count() + self.swin.num_features + self.clip_feature_count(),
                                 preset.head_dims, preset.dropout)

    def clip_feature_count(self) -> int:
        return feature_count(self.preset.clip)

    def cnn_feature_count(self) -> int:
        if not self.preset.cnn_block_stats:
            return self.cnn.num_features
        # A block's output channels: its last batch norm's (EfficientNet blocks end in one).
        norms = [[m for m in block.modules() if isinstance(m, nn.BatchNorm2d)][-1] for block in self.cnn.blocks]
        return self.cnn.num_features + 2 * sum(norm.num_features for norm in norms)

    def cnn_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The CNN branch's features (B, F) and what the Swin branch reads (the image or a block's map)."""
        preset = self.preset
        if not preset.cnn_block_stats and preset.swin_reads_block is None:
            return self.cnn(x), x
        last, maps = self.cnn.forward_intermediates(x, extra_blocks=True)
        blocks = maps[1:]  # maps[0] is the stem
        pooled = self.cnn.forward_head(last)
        features = torch.cat([block_stats(blocks), pooled], dim=1) if preset.cnn_block_stats else pooled
        return features, (x if preset.swin_reads_block is None else blocks[preset.swin_reads_block])

    def fuse(self, cnn_features: torch.Tensor, swin_input: torch.Tensor,
             clip: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from the CNN's features, the Swin branch's input and (CLIP presets) the CLIP features
        of each crop's image: the part training updates when the towers are frozen and their outputs
        are cached (training/recipes/frozen_heads.py, training/recipes/tier_features.py)."""
        parts = [cnn_features, self.swin(swin_input)]
        if self.preset.clip_blocks is not None:
            if clip is None:
                raise ValueError(f"preset {self.preset.name} needs the CLIP features of each crop's image")
            parts.append(clip)
        return self.head(torch.cat(parts, dim=1)).squeeze(1)

    def forward(self, x: torch.Tensor, clip: torch.Tensor | None = None) -> torch.Tensor:
        """Return one logit per crop, shape (B,). p_ai = sigmoid(logit). ``clip``: (B, clip_feature_count)."""
        return self.fuse(*self.cnn_outputs(x), clip)


def create_model(name: str, **overrides) -> ConViTX:
    """Build a ConViTX preset by name with random weights; weights come from a checkpoint or training.

    Keyword overrides replace fields of the preset (e.g. ``dropout=0.1``).
    """
    preset = get_preset(name)
    if overrides:
        preset = replace(preset, **overrides)
    return ConViTX(preset)
