"""Grad-CAM over the last stage of both branches, fused, and painted over the image.

Per layer this follows pytorch-grad-cam's GradCAM exactly (gradient-averaged channel weights,
ReLU, min-max scaling, bilinear resize; layers averaged and rescaled), so the two agree.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .atomic import atomic_write_bytes

if TYPE_CHECKING:  # timm loads with the network: not needed to import this module
    from .network import ConViTX

_EPS = 1e-7


def cam_layers(network: ConViTX) -> list[tuple[torch.nn.Module, int]]:
    """The two hooked modules with the channel count of their output (used to spot NHWC outputs)."""
    preset = network.preset
    return [
        (network.cnn.get_submodule(preset.cnn_cam_layer), network.cnn.num_features),
        (network.swin.get_submodule(preset.swin_cam_layer), network.swin.num_features),
    ]


def to_nchw(tensor: torch.Tensor, channels: int) -> torch.Tensor:
    """timm's Swin stages are NHWC and older ones (B, L, C): bring both to NCHW by shape, not by name."""
    if tensor.ndim == 3:
        side = int(round(tensor.shape[1] ** 0.5))
        tensor = tensor.reshape(tensor.shape[0], side, side, tensor.shape[2])
    if tensor.ndim == 4 and tensor.shape[-1] == channels and tensor.shape[1] != channels:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor


def _scale(cams: torch.Tensor, joint: bool) -> torch.Tensor:
    """Min-max to [0, 1]: each map alone (pytorch-grad-cam's scale_cam_image), or the batch as one
    (tiles of one image, so that stitched tiles share a scale and show no seams)."""
    flat = cams.reshape(1, -1) if joint else cams.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1)
    shifted = cams - low
    high = (shifted.reshape(1, -1) if joint else shifted.flatten(1)).max(dim=1).values.view(-1, 1, 1)
    return shifted / (_EPS + high)


def grad_cam(network: ConViTX, batch: torch.Tensor, joint: bool = False,
             clip: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fused Grad-CAM maps (N, H, W) in [0, 1] at the input's size, and the logits (N,).
    ``clip``: the CLIP rows of a network with a CLIP view (the maps show the crops' branches only).

    ``joint`` scales the whole batch together (tiles of one image). Gradients are switched on here
    explicitly: grad mode is thread-local and callers often run under inference_mode."""
    layers = cam_layers(network)
    activations: list[torch.Tensor] = [torch.empty(0)] * len(layers)

    def keeper(index: int):
        return lambda _module, _inputs, output: activations.__setitem__(index, output)

    handles = [layer.register_forward_hook(keeper(i)) for i, (layer, _) in enumerate(layers)]
    try:
        with torch.inference_mode(False), torch.enable_grad():
            batch = batch.clone()
            logits = network(batch) if clip is None else network(batch, clip)
            grads = torch.autograd.grad(logits.sum(), activations)
    finally:
        for handle in handles:
            handle.remove()
    size = batch.shape[-2:]
    per_layer = []
    for (_, channels), act, grad in zip(layers, activations, grads):
        act, grad = to_nchw(act.detach(), channels).float(), to_nchw(grad, channels).float()
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = _scale(F.relu((weights * act).sum(dim=1)), joint)
        per_layer.append(F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0])
    fused = _scale(torch.stack(per_layer).clamp_min(0).mean(dim=0), joint)
    return fused.cpu().numpy(), logits.detach().float().cpu().numpy()


@dataclass
class Heatmap:
    image: Image.Image  # the working image the map lines up with (RGB)
    cam: np.ndarray  # float32 (H, W) in [0, 1], same size as ``image``
    layer: Image.Image = field(init=False)  # RGBA colour layer; made once, where the map is computed

    def __post_init__(self):
        self.layer = heat_layer(self.cam)


def colorize(cam: np.ndarray) -> np.ndarray:
    """A perceptual blue-to-yellow-to-red ramp (uint8 RGB), so weak and strong regions read apart."""
    stops = np.array([[0.0, 0.0, 0.25], [0.0, 0.35, 0.9], [0.1, 0.8, 0.8], [0.95, 0.9, 0.1], [0.9, 0.1, 0.05]])
    position = np.clip(cam, 0, 1) * (len(stops) - 1)
    low = np.floor(position).astype(int).clip(0, len(stops) - 2)
    frac = (position - low)[..., None]
    rgb = stops[low] * (1 - frac) + stops[low + 1] * frac
    return (rgb * 255).astype(np.uint8)


def heat_layer(cam: np.ndarray) -> Image.Image:
    """The map as an RGBA layer, more opaque where it is hotter, so cold areas stay readable.
    Viewers paint it over the image at any opacity without recomputing it."""
    alpha = ((0.35 + 0.65 * np.clip(cam, 0, 1)) * 255).astype(np.uint8)
    return Image.fromarray(np.dstack([colorize(cam), alpha]), "RGBA")


def overlay(heatmap: Heatmap, opacity: float = 0.5) -> Image.Image:
    """The image with its heat layer blended on top at ``opacity``."""
    layer = heatmap.layer.copy()
    layer.putalpha(layer.getchannel("A").point(lambda a: round(a * opacity)))
    return Image.alpha_composite(heatmap.image.convert("RGBA"), layer).convert("RGB")


def save_overlay(heatmap: Heatmap, path: str | os.PathLike, opacity: float = 0.5) -> None:
    """Write the overlay as a PNG, atomically."""
    png = io.BytesIO()
    overlay(heatmap, opacity).save(png, "PNG")
    atomic_write_bytes(path, png.getvalue())
