"""The configuration that travels with a checkpoint: preprocessing, thresholds and the model card."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .clip_outputs import ClipOutputs
from .presets import get_preset

FORMAT_VERSION = 1
VERDICTS = ("ai", "human", "uncertain", "error")
PREPROCESS_MODES = ("resize", "multicrop", "native")
KEPT_CROPS = ("all", "ends")


@dataclass(frozen=True)
class PreprocessConfig:
    """How an image becomes network input.

    ``resize``: shorter side to ``crop_size``, centre crop; one view per image.
    ``multicrop``: keep native resolution (only shrink so the shorter side is at most
    ``max_short_side``), score up to ``max_crops`` evenly spread crops and average their logits.
    ``native``: the file's own pixel grid, never shrunk (``max_short_side`` is not used; images
    smaller than a crop are enlarged to one); up to ``max_crops`` evenly spread crops, logits averaged.
    Generator fingerprints are high-frequency; shrinking a 4000 px image to 224 erases them, and
    even a 2x reduction costs a detector about 0.10 ROC-AUC on unseen sources (model card).
    """

    mode: str = "resize"
    crop_size: int = 224
    max_crops: int = 2
    max_short_side: int = 512
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # "all" of the up to ``max_crops`` crops, or their two "ends" (the first and the last: opposite
    # corners), as the frozen-towers recipe trains and evaluates its head (training/recipes/tier_features.py).
    keep_crops: str = "all"
    # Presets with a CLIP view (model/clip_view.py): the encoder blocks whose class token it adds, and
    # whether the 512-d projection comes first; the decoders then also compute the CLIP features of the
    # whole image. None: no CLIP view.
    clip_blocks: tuple[int, ...] | None = None
    clip_embedding: bool = True

    def __post_init__(self):
        if self.mode not in PREPROCESS_MODES:
            raise ValueError(f"unknown preprocessing mode {self.mode!r} (expected one of {', '.join(PREPROCESS_MODES)})")
        if self.max_crops < 1 or self.crop_size < 8 or self.max_short_side < self.crop_size:
            raise ValueError("preprocessing needs max_crops >= 1, crop_size >= 8 and max_short_side >= crop_size")
        if self.keep_crops not in KEPT_CROPS:
            raise ValueError(f"keep_crops is one of {', '.join(KEPT_CROPS)}, not {self.keep_crops!r}")

    @property
    def most_crops(self) -> int:
        """The most crops one image is scored on."""
        return min(self.max_crops, 2) if self.keep_crops == "ends" else self.max_crops

    @property
    def clip(self) -> ClipOutputs | None:
        """The CLIP view's outputs, or None."""
        return None if self.clip_blocks is None else ClipOutputs(self.clip_blocks, self.clip_embedding)

    def describe(self) -> str:
        """One line for model cards and reports."""
        if self.mode == "resize":
            return f"resize: shorter side to {self.crop_size} px, one centre crop"
        spread = f"up to {self.max_crops} evenly spread crops"
        if self.keep_crops == "ends":
            spread = f"the first and the last of {spread}"
        crops = f"crop {self.crop_size} px, {spread}, logits averaged"
        if self.mode == "native":
            whole = "; and the whole image at 224 px for the CLIP view" if self.clip_blocks is not None else ""
            return f"native: the file's own pixel grid (never shrunk), {crops}{whole}"
        return f"multicrop: shorter side at most {self.max_short_side} px, {crops}"


@dataclass(frozen=True)
class Thresholds:
    """Decision point and the uncertain band around it, on p_ai.

    p_ai >= ai_above -> 'ai'; p_ai < human_below -> 'human'; in between -> 'uncertain'.
    """

    human_below: float = 0.35
    ai_above: float = 0.65

    def __post_init__(self):
        if not 0.0 <= self.human_below <= self.ai_above <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= human_below <= ai_above <= 1, got {self}")

    def verdict(self, p_ai: float) -> str:
        if p_ai >= self.ai_above:
            return "ai"
        if p_ai < self.human_below:
            return "human"
        return "uncertain"

    def shifted(self, offset: float) -> "Thresholds":
        """Move the whole band by ``offset`` (the user's sensitivity), clamped to [0, 1]."""
        width = self.ai_above - self.human_below
        low = min(max(self.human_below + offset, 0.0), 1.0 - width)
        return Thresholds(human_below=low, ai_above=low + width)


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint says about itself, stored as JSON in the .safetensors header."""

    preset: str
    name: str
    preprocess: PreprocessConfig
    thresholds: Thresholds = Thresholds()
    classes: dict[str, str] = field(default_factory=lambda: {"0": "human", "1": "ai"})
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    card: str = ""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelInfo":
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"checkpoint format version {version!r} is not supported (this app reads {FORMAT_VERSION})")
        preset = get_preset(data["preset"])  # unknown presets fail here with the list of known ones
        pre = dict(data["preprocess"])
        pre["mean"], pre["std"] = tuple(pre["mean"]), tuple(pre["std"])
        if pre.get("clip_blocks") is not None:
            pre["clip_blocks"] = tuple(pre["clip_blocks"])
        preprocess = PreprocessConfig(**pre)
        if preprocess.clip != preset.clip:  # the decoders would compute features the head does not read
            raise ValueError(f"its preprocessing reads the CLIP view as {preprocess.clip}, its preset "
                             f"{preset.name} as {preset.clip}")
        return cls(
            preset=data["preset"],
            name=data.get("name") or data["preset"],
            preprocess=preprocess,
            thresholds=Thresholds(**data.get("thresholds", {})),
            classes=dict(data.get("classes", {"0": "human", "1": "ai"})),
            training=dict(data.get("training", {})),
            metrics=dict(data.get("metrics", {})),
            card=data.get("card", ""),
        )


def default_info(preset_name: str, **changes) -> ModelInfo:
    """ModelInfo for a preset with its own input size and normalisation; ``changes`` override fields."""
    preset = get_preset(preset_name)
    pre = PreprocessConfig(crop_size=preset.input_size, max_short_side=max(512, preset.input_size),
                           mean=preset.mean, std=preset.std, clip_blocks=preset.clip_blocks,
                           clip_embedding=preset.clip_embedding)
    return replace(ModelInfo(preset=preset_name, name=preset_name, preprocess=pre), **changes)
