"""Convert an original-design ConViTX ``.pth`` state dict into an app checkpoint (.safetensors).

    python -m training.convert_checkpoint --preset convitx_large IN.pth OUT.safetensors

The file is read with ``torch.load(weights_only=True)``: plain tensors only, never arbitrary
pickled code. Wrappers such as ``{"state_dict": ...}``, ``{"model": ...}`` and the ``module.``
(DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes are unwrapped. Keys are mapped by
their first component:

  CNN branch   cnn. convnext. cnn_model. conv_model. cnn_backbone. backbone_cnn. convnext_model. conv.
  Swin branch  swin. swin_model. swin_transformer. transformer. swin_backbone. backbone_swin. vit.
  fusion head  head. fc. classifier. fusion. fusion_head. mlp. fc_layers.

Inside a branch, timm's own converters accept the original Facebook ConvNeXt and Microsoft Swin
layouts as well as older timm ones; the backbones' ImageNet classifiers are dropped (ConViTX uses
pooled features). The head's layers are matched in order, BatchNorm to BatchNorm and Linear to
Linear, with their shapes checked. Anything else fails with a message naming the first key that
could not be placed. The result keeps the original design's preprocessing (one 224 px resized
view) and default thresholds: run ``training.evaluation.calibrate`` on validation data afterwards.
"""
from __future__ import annotations

import argparse
import pickle
import re
import sys
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.config import PREPROCESS_MODES, PreprocessConfig, default_info
from model.network import ConViTX, create_model
from model.presets import get_preset, list_presets

CNN_PREFIXES = ("cnn", "convnext", "cnn_model", "conv_model", "cnn_backbone", "backbone_cnn", "convnext_model", "conv")
SWIN_PREFIXES = ("swin", "swin_model", "swin_transformer", "transformer", "swin_backbone", "backbone_swin", "vit")
HEAD_PREFIXES = ("head", "fc", "classifier", "fusion", "fusion_head", "mlp", "fc_layers")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "module")
STRIP_PREFIXES = ("module.", "_orig_mod.", "model.")
DERIVED_BUFFERS = ("relative_position_index", "attn_mask", "relative_coords_table")


class ConversionError(Exception):
    """The file cannot be mapped onto the preset; the message names the first key that does not fit."""


def read_state_dict(path: str | Path) -> tuple["OrderedDict[str, torch.Tensor]", str]:
    """Load with weights_only=True and unwrap the usual containers to a flat name -> tensor dict.
    Returns the dict and the prefix stripped from every key (for messages that quote the file)."""
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConversionError(
            f"{path.name} holds more than tensors (pickled Python objects), which are not loaded for safety. "
            f"Re-save only the weights in the original code: torch.save(model.state_dict(), 'weights.pth') "
            f"({str(exc).splitlines()[0]})") from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConversionError(f"{path.name} is not a readable PyTorch file: {exc}") from None
    for _ in range(4):
        if isinstance(data, dict) and not all(isinstance(v, torch.Tensor) for v in data.values()):
            inner = next((data[k] for k in WRAPPER_KEYS if isinstance(data.get(k), dict)), None)
            if inner is None:
                odd = next(k for k, v in data.items() if not isinstance(v, torch.Tensor))
                raise ConversionError(f"{path.name}: entry {odd!r} is not a tensor and no state dict was found "
                                      f"under {', '.join(WRAPPER_KEYS)}")
            data = inner
    if not isinstance(data, dict) or not data:
        raise ConversionError(f"{path.name} does not contain a state dict")
    state = OrderedDict(data)
    stripped = ""
    changed = True
    while changed:
        changed = False
        for prefix in STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = OrderedDict((k[len(prefix):], v) for k, v in state.items())
                stripped += prefix
                changed = True
    return state, stripped


def _split_parts(state: dict, source_name: str, stripped: str = "") -> tuple[dict, dict, dict, dict]:
    """Top-level key -> (cnn, swin, head) dicts, plus a map from new to original names."""
    parts: dict[str, OrderedDict] = {"cnn": OrderedDict(), "swin": OrderedDict(), "head": OrderedDict()}
    original: dict[str, str] = {}
    for key, value in state.items():
        first, _, rest = key.partition(".")
        part = "cnn" if first in CNN_PREFIXES else "swin" if first in SWIN_PREFIXES else \
            "head" if first in HEAD_PREFIXES else None
        if part is None or not rest:
            raise ConversionError(
                f"{source_name}: key {stripped + key!r} is not mapped: its first part {first!r} names neither "
                f"the CNN branch "
                f"({', '.join(CNN_PREFIXES)}), the Swin branch ({', '.join(SWIN_PREFIXES)}) nor the head "
                f"({', '.join(HEAD_PREFIXES)})")
        parts[part][rest] = value
        original[f"{part}.{rest}"] = stripped + key
    return parts["cnn"], parts["swin"], parts["head"], original


def _filter_branch(branch: nn.Module, tensors: dict, timm_name: str) -> dict:
    """timm's converter for the branch's family, then drop derived buffers and the ImageNet classifier."""
    import timm.models.convnext as convnext
    import timm.models.swin_transformer as swin

    tensors = {k: v for k, v in tensors.items() if not any(b in k for b in DERIVED_BUFFERS)}
    if timm_name.startswith("convnext"):
        try:  # FB layout -> timm; timm layout unchanged
            tensors = convnext.checkpoint_filter_fn(tensors, branch)
        except KeyError as exc:
            raise ConversionError(f"ConvNeXt tensor {exc.args[0]!r} is not mapped: preset's {timm_name} has no "
                                  "such tensor (wrong --preset?)") from None
    elif timm_name.startswith("swin"):
        # timm's converter moves old-layout downsample layers, but it would also silently resample
        # position tables and patch embeddings of another size: those must fail instead.
        shapes = {k: tuple(v.shape) for k, v in tensors.items()}
        tensors = swin.checkpoint_filter_fn(tensors, branch)
        for key, value in tensors.items():
            if key in shapes and tuple(value.shape) != shapes[key]:
                raise ConversionError(f"tensor {key!r} of the Swin branch has shape {shapes[key]}, but the preset's "
                                      f"{timm_name} needs {tuple(value.shape)} (wrong --preset?)")
    expected = branch.state_dict()
    classifier = ("head.fc.", "classifier.", "fc.", "head.weight", "head.bias")
    return {k: v for k, v in tensors.items() if k in expected or not k.startswith(classifier)}


def _head_modules(tensors: dict) -> list[tuple[str, dict]]:
    """Group head keys by their module (first part), in numeric order when the names are numbers."""
    groups: "OrderedDict[str, dict]" = OrderedDict()
    for key, value in tensors.items():
        module, _, param = key.rpartition(".")
        groups.setdefault(module, {})[param] = value
    names = list(groups)

    def order(name: str):
        numbers = [int(n) for n in re.findall(r"\d+", name)]
        return (0, numbers) if numbers else (1, [names.index(name)])

    return [(name, groups[name]) for name in sorted(names, key=order)]


def _map_head(head: nn.Sequential, tensors: dict, original: dict, source_name: str) -> dict:
    ours = [(str(i), m) for i, m in enumerate(head) if isinstance(m, (nn.Linear, nn.BatchNorm1d))]
    theirs = _head_modules(tensors)
    mapped = {}
    for position, (name, params) in enumerate(theirs):
        first_key = original.get(f"head.{name}.{next(iter(params))}", name)
        if position >= len(ours):
            raise ConversionError(f"{source_name}: key {first_key!r} is not mapped: the head has more layers than "
                                  f"this preset's ({len(ours)} BatchNorm/Linear layers)")
        index, module = ours[position]
        kind = "BatchNorm1d" if "running_mean" in params else "Linear"
        expected = {k: v.shape for k, v in module.state_dict().items()}
        if kind != type(module).__name__ or set(params) - set(expected) or any(
                tuple(params[k].shape) != tuple(expected[k]) for k in params if k in expected):
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())
            wanted = ", ".join(f"{k} {tuple(v)}" for k, v in expected.items())
            raise ConversionError(f"{source_name}: key {first_key!r} is not mapped: head layer {name!r} ({kind}: "
                                  f"{shapes}) does not fit layer {position + 1} of the preset's head "
                                  f"({type(module).__name__}: {wanted})")
        for param, value in params.items():
            mapped[f"{index}.{param}"] = value
    return mapped


def convert_state_dict(state: dict, preset: str, source_name: str = "checkpoint", stripped: str = "") -> ConViTX:
    """Map an original-style state dict onto ``preset`` and return the loaded network."""
    network = create_model(preset)
    cnn, swin, head, original = _split_parts(state, source_name, stripped)
    converted: dict[str, torch.Tensor] = {}
    for part, tensors, module, timm_name in (("cnn", cnn, network.cnn, network.preset.cnn),
                                             ("swin", swin, network.swin, network.preset.swin)):
        for key, value in _filter_branch(module, tensors, timm_name).items():
            converted[f"{part}.{key}"] = value
    for key, value in _map_head(network.head, head, original, source_name).items():
        converted[f"head.{key}"] = value
    expected = network.state_dict()
    for key, value in converted.items():
        if key not in expected:
            name = original.get(key, key)
            raise ConversionError(f"{source_name}: key {name!r} is not mapped: preset {preset} has no tensor {key!r}")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ConversionError(f"{source_name}: key {original.get(key, key)!r} has shape {tuple(value.shape)}, but "
                                  f"{key!r} of preset {preset} is {tuple(expected[key].shape)} (wrong --preset?)")
    for key in expected:  # files from before PyTorch 0.4.1 have no BatchNorm step counters
        if key.endswith("num_batches_tracked") and key not in converted:
            converted[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in converted]
    if missing:
        raise ConversionError(f"{source_name}: no weights for {missing[0]!r} of preset {preset} "
                              f"({len(missing)} tensor(s) missing; wrong --preset?)")
    network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in converted.items()}, strict=True)
    return network


def convert(in_path: str | Path, out_path: str | Path, preset: str = "convitx_large", name: str | None = None,
            mode: str = "resize") -> Path:
    in_path, out_path = Path(in_path), Path(out_path)
    state, stripped = read_state_dict(in_path)
    network = convert_state_dict(state, preset, in_path.name, stripped)
    p = get_preset(preset)
    info = default_info(
        preset,
        name=name or f"{preset} (converted from {in_path.name})",
        preprocess=PreprocessConfig(mode=mode, crop_size=p.input_size, max_short_side=max(512, p.input_size),
                                    mean=p.mean, std=p.std),
        training={"converted_from": in_path.name},
        card=(f"# {name or preset}\n\nConverted from `{in_path.name}` (original ConViTX design) by "
              "training/convert_checkpoint.py. Its thresholds are the defaults, not calibrated: run "
              "`python -m training.evaluation.calibrate` on validation images before relying on its verdicts.\n"),
    )
    save_checkpoint(network, info, out_path)
    load_checkpoint(out_path)
    return out_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.convert_checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="IN.pth", help="original state dict (.pth / .pt / .ckpt / .bin)")
    parser.add_argument("output", metavar="OUT.safetensors", help="app checkpoint to write")
    parser.add_argument("--preset", default="convitx_large", choices=list_presets(),
                        help="architecture the weights belong to (default convitx_large, the original design)")
    parser.add_argument("--name", help="model name shown in the app")
    parser.add_argument("--mode", default="resize", choices=list(PREPROCESS_MODES),
                        help="preprocessing stored with it (default resize: the original design's single 224 px view)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if Path(args.output).suffix != ".safetensors":
        parser.error("OUT must end in .safetensors")
    try:
        path = convert(args.input, args.output, args.preset, args.name, args.mode)
    except (ConversionError, CheckpointError, OSError) as exc:
        print(f"convert_checkpoint: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}; calibrate it with: python -m training.evaluation.calibrate --model {path} "
          "--data VALIDATION_IMAGES", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
