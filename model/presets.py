"""ConViTX architecture presets, registered by name (the timm way).

A preset fixes the two backbones, the fusion head and the default input pipeline.
Checkpoints name their preset, so the architecture travels with the weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .clip_outputs import ClipOutputs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Preset:
    """Everything needed to build a ConViTX network, minus its weights."""

    name: str
    cnn: str
    swin: str
    head_dims: tuple[int, ...]
    dropout: float
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cnn_kwargs: dict = field(default_factory=dict)
    swin_kwargs: dict = field(default_factory=dict)
    # CNN features: the pooled last map (False), or also the mean and standard deviation of every
    # block's output (True): texture statistics of early blocks carry generator traces that the
    # pooled object-class features of an ImageNet network average away.
    cnn_block_stats: bool = False
    # The Swin branch reads the image (None) or the CNN's output of this block: a Swin
    # trained from scratch on a few thousand images learns more from a pretrained CNN's mid-level
    # map than from raw pixels, and costs far less.
    swin_reads_block: int | None = None
    # CLIP view (model/clip_view.py): None, or the encoder blocks whose class token it reads of the whole
    # image, after the 512-d embedding when ``clip_embedding`` (without it the tower stops after the last
    # block read). Its features enter the fusion head beside every crop's.
    clip_blocks: tuple[int, ...] | None = None
    clip_embedding: bool = True
    # Modules whose outputs Grad-CAM reads: the last feature map of each branch.
    cnn_cam_layer: str = "norm_pre"
    swin_cam_layer: str = "norm"
    description: str = ""

    @property
    def clip(self) -> ClipOutputs | None:
        """The CLIP view's outputs, or None."""
        return None if self.clip_blocks is None else ClipOutputs(self.clip_blocks, self.clip_embedding)


_PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    if preset.name in _PRESETS:
        raise ValueError(f"preset {preset.name!r} is already registered")
    _PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown ConViTX preset {name!r}; known presets: {', '.join(list_presets())}") from None


def list_presets() -> list[str]:
    return sorted(_PRESETS)


register_preset(Preset(
    name="convitx_large",
    cnn="convnext_large",
    swin="swin_base_patch4_window7_224",
    head_dims=(1024, 512, 256, 128),
    dropout=0.4,
    input_size=224,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="The original design: ConvNeXt-Large + Swin-Base, 224 px. Needs a GPU and ImageNet weights.",
))

register_preset(Preset(
    name="convitx_atto",
    cnn="convnext_atto",
    swin="swin_tiny_patch4_window7_224",
    swin_kwargs={"embed_dim": 32, "depths": (1, 1, 2, 1), "num_heads": (1, 2, 4, 8)},
    head_dims=(256, 64),
    dropout=0.2,
    input_size=224,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="ConvNeXt-Atto + a four-stage Swin of width 32: a CPU-sized ConvNeXt + Swin pair.",
))

register_preset(Preset(
    name="convitx_lite",
    cnn="tf_efficientnet_lite0",
    swin="swin_tiny_patch4_window7_224",
    swin_kwargs={"embed_dim": 32, "depths": (1, 1, 2, 1), "num_heads": (1, 2, 4, 8)},
    head_dims=(256, 64),
    dropout=0.2,
    input_size=224,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    cnn_cam_layer="bn2",
    description=(
        "EfficientNet-Lite0 (the only small CNN with ImageNet weights available offline) "
        "+ a four-stage Swin of width 32: the embedded default's architecture."
    ),
))

register_preset(Preset(
    name="convitx_hybrid",
    cnn="tf_efficientnet_lite0",
    swin="swin_tiny_patch4_window7_224",
    swin_kwargs={"embed_dim": 32, "depths": (2, 2), "num_heads": (2, 4), "window_size": 7, "patch_size": 2},
    head_dims=(256, 64),
    dropout=0.2,
    input_size=224,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    cnn_block_stats=True,
    swin_reads_block=2,
    cnn_cam_layer="bn2",
    description=(
        "EfficientNet-Lite0 with the statistics of every block, and a two-stage Swin of width 32 over its "
        "stride-8 map (40 x 28 x 28, 2 x 2 patches): the embedded default's architecture since 2026-12."
    ),
))

register_preset(replace(
    get_preset("convitx_hybrid"),
    name="convitx_clip",
    clip_blocks=(3, 5, 7),
    description=(
        "convitx_hybrid (EfficientNet-Lite0 block statistics and a Swin over its stride-8 map, native crops) "
        "with a third, frozen view: OpenAI CLIP ViT-B/16 on the whole image at 224 px (its embedding and "
        "the class token after blocks 3, 5 and 7), fused in one head: the first built-in model with a CLIP view."
    ),
))

register_preset(replace(
    get_preset("convitx_clip"),
    name="convitx_clip_mid",
    clip_blocks=(5, 7),
    clip_embedding=False,
    description=(
        "convitx_clip reading CLIP's middle blocks only: the class token after blocks 5 and 7, the tower cut "
        "after block 7 (two thirds of its time), no embedding; as good in the same folds (training/README.md): "
        "the built-in model since 2026-12-06."
    ),
))

register_preset(Preset(
    name="convitx_hybrid_test",
    cnn="tf_efficientnet_lite0",
    swin="swin_tiny_patch4_window7_224",
    swin_kwargs={"embed_dim": 8, "depths": (1, 1), "num_heads": (1, 2), "window_size": 2, "patch_size": 1},
    head_dims=(16,),
    dropout=0.0,
    input_size=32,
    mean=INCEPTION_MEAN,
    std=INCEPTION_STD,
    cnn_block_stats=True,
    swin_reads_block=2,
    cnn_cam_layer="bn2",
    description="convitx_hybrid's structure at 32 px, for tests; never ships as a model.",
))

register_preset(replace(
    get_preset("convitx_hybrid_test"),
    name="convitx_clip_test",
    clip_blocks=(5,),
    description="convitx_clip's structure at 32 px, for tests; never ships as a model.",
))

register_preset(Preset(
    name="convitx_test",
    cnn="convnext_atto",
    swin="swin_tiny_patch4_window7_224",
    cnn_kwargs={"dims": (8, 16, 24, 32), "depths": (1, 1, 1, 1)},
    swin_kwargs={"embed_dim": 8, "depths": (1, 1), "num_heads": (1, 2), "window_size": 4},
    head_dims=(16,),
    dropout=0.0,
    input_size=32,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    description="A tiny network for tests and smoke checks; never ships as a model.",
))
