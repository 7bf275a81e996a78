"""Backbone initialisation, freezing and optimiser parameter groups for a ConViTX network."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from model.network import ConViTX

# ImageNet classifier layers of a backbone file: the fusion network has none (num_classes=0).
CLASSIFIER_PREFIXES = ("classifier.", "head.fc.", "fc.", "head.weight", "head.bias")
BRANCHES = ("cnn", "swin")


class WeightsError(Exception):
    """Weights that do not fit; the message names the first key that does not."""


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path.name}: backbone weights must be a .safetensors file "
                           "(convert a .pth once with training.convert_checkpoint or training.data.public)")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, dict(handle.metadata() or {})


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Strict load that says which key is wrong (missing, unexpected or of another shape)."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in tensors:
            raise WeightsError(f"{what}: tensor {key!r} is missing")
        if tuple(tensors[key].shape) != tuple(tensor.shape):
            raise WeightsError(f"{what}: tensor {key!r} has shape {tuple(tensors[key].shape)}, "
                               f"expected {tuple(tensor.shape)}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise WeightsError(f"{what}: unexpected tensor {extra[0]!r}")
    module.load_state_dict(tensors, strict=True)


def load_backbone_file(network: ConViTX, path: str | os.PathLike, branch: str = "cnn") -> list[str]:
    """Initialise from a .safetensors: either a whole ConViTX checkpoint (keys ``cnn.``/``swin.``/``head.``;
    all three parts are loaded) or the ImageNet weights of one branch's timm model (its classifier
    dropped). Returns the branches that now hold pretrained weights."""
    tensors, metadata = read_safetensors(path)
    name = Path(path).name
    if any(key.startswith(("cnn.", "swin.")) for key in tensors):
        load_into(network, tensors, f"{name} as a ConViTX {network.preset.name} checkpoint")
        return list(BRANCHES)
    timm_name = network.preset.cnn if branch == "cnn" else network.preset.swin
    arch = metadata.get("arch")
    if arch and arch != timm_name:
        raise WeightsError(f"{name} holds {arch} weights, but the {branch} branch of preset "
                           f"{network.preset.name} is {timm_name}")
    kept = {k: v for k, v in tensors.items() if not k.startswith(CLASSIFIER_PREFIXES)}
    load_into(getattr(network, branch), kept, f"{name} for the {branch} branch ({timm_name})")
    return [branch]


def load_timm_pretrained(network: ConViTX) -> list[str]:
    """timm's own ImageNet weights (internet or a local timm/Hugging Face cache) for every branch whose
    architecture is timm's unchanged; a resized branch (preset kwargs) has no such weights and stays random."""
    import timm

    loaded = []
    preset = network.preset
    branches = (("cnn", preset.cnn, preset.cnn_kwargs), ("swin", preset.swin, preset.swin_kwargs))
    for branch, timm_name, kwargs in branches:
        if kwargs:
            print(f"note: the {branch} branch of {preset.name} is a resized {timm_name}; "
                  "no pretrained weights exist for it, it starts random", flush=True)
            continue
        extra = {"img_size": preset.input_size} if branch == "swin" else {}
        try:
            source = timm.create_model(timm_name, pretrained=True, num_classes=0, **extra)
        except Exception as exc:  # no internet and no cache, usually
            raise WeightsError(f"timm could not provide pretrained {timm_name} weights ({type(exc).__name__}: "
                               f"{exc}). Use --pretrained PATH.safetensors, or drop --pretrained") from None
        load_into(getattr(network, branch), source.state_dict(), f"timm {timm_name}")
        loaded.append(branch)
    return loaded


def stage_modules(backbone: nn.Module) -> list[list[nn.Module]]:
    """The backbone as [stem, stage 1, stage 2, ...] for the timm families the presets use."""
    if hasattr(backbone, "stages") and hasattr(backbone, "stem"):  # ConvNeXt
        return [[backbone.stem]] + [[stage] for stage in backbone.stages]
    if hasattr(backbone, "blocks") and hasattr(backbone, "conv_stem"):  # EfficientNet
        return [[backbone.conv_stem, backbone.bn1]] + [[stage] for stage in backbone.blocks]
    if hasattr(backbone, "layers") and hasattr(backbone, "patch_embed"):  # Swin
        return [[backbone.patch_embed]] + [[stage] for stage in backbone.layers]
    raise WeightsError(f"do not know the stages of {type(backbone).__name__}")


def freeze(network: ConViTX, whole_backbones: bool = False, first_stages: int = 0) -> list[nn.Module]:
    """Freeze both backbones, or their stem and first ``first_stages`` stages (the original design
    froze the early layers of its pretrained backbones). Returns the frozen modules, which the
    training loop keeps in eval mode so their BatchNorm statistics stay put too."""
    frozen: list[nn.Module] = []
    for branch in BRANCHES:
        backbone = getattr(network, branch)
        if whole_backbones:
            frozen.append(backbone)
        elif first_stages > 0:
            for modules in stage_modules(backbone)[:first_stages + 1]:
                frozen.extend(modules)
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return frozen


def _no_decay(name: str, parameter: nn.Parameter) -> bool:
    return (parameter.ndim <= 1 or name.endswith(".bias") or "relative_position_bias_table" in name
            or "pos_embed" in name)


def parameter_groups(network: ConViTX, pretrained: list[str], lr: float, backbone_lr: float,
                     weight_decay: float) -> list[dict]:
    """AdamW groups: pretrained branches at ``backbone_lr``, new parts at ``lr``; no weight decay
    on biases, norms and position tables."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        is_pretrained = name.split(".", 1)[0] in pretrained
        groups.setdefault((is_pretrained, _no_decay(name, parameter)), []).append(parameter)
    return [
        {"params": params, "lr": backbone_lr if is_pretrained else lr,
         "weight_decay": 0.0 if no_decay else weight_decay,
         "name": f"{'pretrained' if is_pretrained else 'new'}{'/no_decay' if no_decay else ''}"}
        for (is_pretrained, no_decay), params in sorted(groups.items())
    ]
