"""Training views that fight the data's confounds, built on the app's own preprocessing.

The trainpool's AI images are mostly small, heavily compressed JPEGs and almost all of its PNGs
are AI; its human photos are larger JPEGs. A network left alone learns "small JPEG = AI" or
"no JPEG blocks = AI". Every augmentation here is applied to BOTH classes with the same
probabilities, so those cues stop predicting the label:

1. random rescale (log-uniform between ``min_scale`` and ``max_scale``, with a filter drawn from
   ``filters``): resolution, resampling traces and the original file's JPEG grid stop being a
   give-away (a downscale of 2x or more erases 8x8 blocks);
2. occasional Gaussian blur;
3. re-encoding: JPEG at a random quality and chroma subsampling, or WebP, or a PNG round-trip
   (lossless: the pixels do not change; it keeps the codec path honest and costs little);
4. the app's working resolution (:func:`model.preprocess.working_image`), then a random crop of
   the model's crop size from it, where the app would take its evenly spread crops;
5. occasional grayscale (the pool's grayscale images are all human-made) and horizontal flips;
6. normalisation through :func:`model.preprocess.crops_to_tensor`, exactly as when scoring.

Each view is drawn from its own ``numpy`` generator (seeded from run seed, epoch and image
index), so a run is reproducible whatever the number of DataLoader workers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from model.config import PreprocessConfig
from model.preprocess import crops_to_tensor, working_image

from ..data.image_edits import RESAMPLING, jpeg_roundtrip, png_roundtrip, resize_by, webp_roundtrip


@dataclass(frozen=True)
class AugmentConfig:
    rescale_p: float = 0.6
    min_scale: float = 0.5
    max_scale: float = 1.25
    filters: tuple[str, ...] = ("bicubic",)
    blur_p: float = 0.1
    blur_radius: tuple[float, float] = (0.3, 1.2)
    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (50, 95)
    webp_p: float = 0.1
    webp_quality: tuple[int, int] = (60, 95)
    png_p: float = 0.05
    grayscale_p: float = 0.05
    hflip_p: float = 0.5
    vflip_p: float = 0.0

    def __post_init__(self):
        if self.jpeg_p + self.webp_p + self.png_p > 1.0:
            raise ValueError("jpeg_p + webp_p + png_p must not exceed 1 (one re-encoding per view)")
        if not 0 < self.min_scale <= self.max_scale:
            raise ValueError("need 0 < min_scale <= max_scale")
        unknown = set(self.filters) - set(RESAMPLING)
        if not self.filters or unknown:
            raise ValueError(f"filters must be some of {', '.join(RESAMPLING)}")

    def to_dict(self) -> dict:
        return asdict(self)


NO_AUGMENT = AugmentConfig(rescale_p=0, blur_p=0, jpeg_p=0, webp_p=0, png_p=0, grayscale_p=0, hflip_p=0)
AUGMENT_PRESETS = {
    "default": AugmentConfig(),
    "light": AugmentConfig(rescale_p=0.3, min_scale=0.8, max_scale=1.25, blur_p=0.0, jpeg_p=0.3,
                           jpeg_quality=(80, 95), webp_p=0.0, png_p=0.0, grayscale_p=0.0),
    # For native-resolution training: a rescale no larger than 1x, by one of several filters, on a
    # third of the views, so resampling traces are seen on both classes but most views keep the file's grid.
    "native": AugmentConfig(rescale_p=0.35, min_scale=0.4, max_scale=1.0,
                            filters=("bicubic", "bilinear", "lanczos", "box"), jpeg_p=0.45, webp_p=0.15),
    "none": NO_AUGMENT,
}


# --- the training view ---------------------------------------------------------------------------

def view_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def random_crop_box(width: int, height: int, crop: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    left = int(rng.integers(0, width - crop + 1))
    top = int(rng.integers(0, height - crop + 1))
    return left, top, left + crop, top + crop


def augment_image(image: Image.Image, aug: AugmentConfig, rng: np.random.Generator) -> Image.Image:
    """Steps 1-3: rescale, blur and re-encode a decoded RGB image."""
    if rng.random() < aug.rescale_p:
        scale = math.exp(rng.uniform(math.log(aug.min_scale), math.log(aug.max_scale)))
        image = resize_by(image, scale, str(rng.choice(aug.filters)))
    if rng.random() < aug.blur_p:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(*aug.blur_radius))))
    codec = rng.random()
    if codec < aug.jpeg_p:
        quality = int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1))
        image = jpeg_roundtrip(image, quality, subsampling=int(rng.choice([0, 2, 2])))
    elif codec < aug.jpeg_p + aug.webp_p:
        image = webp_roundtrip(image, int(rng.integers(aug.webp_quality[0], aug.webp_quality[1] + 1)))
    elif codec < aug.jpeg_p + aug.webp_p + aug.png_p:
        image = png_roundtrip(image)
    return image


def train_view(image: Image.Image, cfg: PreprocessConfig, aug: AugmentConfig,
               rng: np.random.Generator) -> torch.Tensor:
    """One normalised training crop, float32 (3, crop, crop), from a decoded RGB image."""
    image = augment_image(image, aug, rng)
    work = working_image(image, cfg)
    crop = cfg.crop_size  # working_image never leaves a side shorter than this
    box = random_crop_box(work.size[0], work.size[1], crop, rng)
    view = work.crop(box)
    if rng.random() < aug.grayscale_p:
        view = view.convert("L").convert("RGB")
    tensor = crops_to_tensor(view, [(0, 0, crop, crop)], cfg)[0]
    if rng.random() < aug.hflip_p:
        tensor = tensor.flip(-1)
    if rng.random() < aug.vflip_p:
        tensor = tensor.flip(-2)
    return tensor.contiguous()
