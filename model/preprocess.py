"""Turn a decoded image into the crops the network scores, and back (crop boxes for heatmaps).

torch is imported only where tensors are made: the decoder processes (model/decoding.py) cut uint8
crops with :func:`crop_pixels` and start without it."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .config import PreprocessConfig

if TYPE_CHECKING:
    import torch

Box = tuple[int, int, int, int]  # left, top, right, bottom in working-image pixels
REDUCING_GAP = 3.0  # large downscales first box-reduce by an integer factor (Pillow's reducing_gap), then resample


def decode_short_side(cfg: PreprocessConfig) -> int | None:
    """The shortest side a JPEG may be decoded at without losing pixels the network would see
    (None: full scale, for the native grid)."""
    return {"resize": cfg.crop_size, "multicrop": cfg.max_short_side}.get(cfg.mode)


def working_size(size: tuple[int, int], cfg: PreprocessConfig) -> tuple[int, int]:
    """Width and height of the working image: the shorter side ``crop_size`` (resize mode), within
    [crop_size, max_short_side] (multicrop) or at least ``crop_size`` (native), aspect ratio kept."""
    short = min(size)
    if cfg.mode == "resize":
        target = cfg.crop_size
    elif cfg.mode == "native":
        target = max(short, cfg.crop_size)
    else:
        target = min(max(short, cfg.crop_size), cfg.max_short_side)
    if target == short:
        return size
    scale = target / short
    return max(target, round(size[0] * scale)), max(target, round(size[1] * scale))


def working_image(image: Image.Image, cfg: PreprocessConfig) -> Image.Image:
    """The decoded image at :func:`working_size`: what the crops and heatmaps are cut from."""
    size = working_size(image.size, cfg)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)


def crop_boxes(width: int, height: int, crop: int, columns: int, rows: int) -> list[Box]:
    """``columns`` x ``rows`` crops spread evenly from edge to edge (centred when there is one)."""

    def starts(length: int, count: int) -> list[int]:
        if count == 1:
            return [(length - crop) // 2]
        return [round(i * (length - crop) / (count - 1)) for i in range(count)]

    return [(x, y, x + crop, y + crop) for y in starts(height, rows) for x in starts(width, columns)]


def scoring_boxes(size: tuple[int, int], cfg: PreprocessConfig) -> list[Box]:
    """At most ``max_crops`` crops of the working image: along the longer side first, then across,
    never more than fit; with ``keep_crops="ends"`` only the first and the last of them."""
    width, height = size
    crops = 1 if cfg.mode == "resize" else cfg.max_crops
    along = min(crops, math.ceil(max(width, height) / cfg.crop_size))
    across = max(1, min(math.ceil(min(width, height) / cfg.crop_size), crops // along))
    columns, rows = (along, across) if width >= height else (across, along)
    boxes = crop_boxes(width, height, cfg.crop_size, columns, rows)
    return [boxes[0], boxes[-1]] if cfg.keep_crops == "ends" and len(boxes) > 2 else boxes


def scoring_region(size: tuple[int, int], cfg: PreprocessConfig) -> Box | None:
    """The part of the image the scoring crops are cut from, when they come straight from its own pixel
    grid (native mode, no enlarging): what a decoder has to deliver. None: the whole image is resampled."""
    if cfg.mode != "native" or working_size(size, cfg) != size:
        return None
    boxes = scoring_boxes(size, cfg)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def region_pixels(part: Image.Image, box: Box, size: tuple[int, int], cfg: PreprocessConfig) -> np.ndarray:
    """:func:`crop_pixels` of the whole image of ``size``, from the part of it at ``box`` (scoring_region)."""
    left, top = box[:2]
    return cut_boxes(part, [(x0 - left, y0 - top, x1 - left, y1 - top) for x0, y0, x1, y1 in scoring_boxes(size, cfg)])


def covering_boxes(width: int, height: int, crop: int) -> list[Box]:
    """Crops that together cover every pixel (for heatmaps)."""
    return crop_boxes(width, height, crop, math.ceil(width / crop), math.ceil(height / crop))


def crops_to_tensor(work: Image.Image, boxes: list[Box], cfg: PreprocessConfig) -> torch.Tensor:
    """Cut ``boxes`` out of ``work`` and normalise them: float32 (N, 3, crop, crop)."""
    return normalise(cut_boxes(work, boxes), cfg)


def cut_boxes(work: Image.Image, boxes: list[Box]) -> np.ndarray:
    """``boxes`` of ``work`` as uint8 (N, height, width, 3)."""
    pixels = np.asarray(work, dtype=np.uint8)
    return np.stack([pixels[top:bottom, left:right] for left, top, right, bottom in boxes])


def normalise(stack: np.ndarray, cfg: PreprocessConfig) -> torch.Tensor:
    """uint8 crops (N, H, W, 3) to the network's input: float32 (N, 3, H, W), mean and std removed."""
    import torch

    tensor = torch.from_numpy(stack).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    return tensor.sub_(mean).div_(std)


def preprocess(image: Image.Image, cfg: PreprocessConfig) -> torch.Tensor:
    """The crops one image is scored on, ready for the network."""
    return normalise(crop_pixels(image, cfg), cfg)


def crop_pixels(image: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """The crops one image is scored on, as uint8 (N, crop, crop, 3).

    Only the crops are resampled from the decoded image, not the whole working image: the same
    pixels as :func:`working_image` then cutting (within two grey levels, from Pillow's fixed-point
    filter weights), at a third of the cost on camera photos (bench/NOTES.md)."""
    size = working_size(image.size, cfg)
    boxes = scoring_boxes(size, cfg)
    if size == image.size:
        return cut_boxes(image, boxes)
    # working_image's resize first box-reduces the whole image by these integer factors (reducing_gap);
    # reducing the same way keeps its pixel grid, then each crop is resampled from the reduced image.
    factors = tuple(max(1, int(image.size[i] / size[i] / REDUCING_GAP)) for i in (0, 1))
    scale_x, scale_y = (image.size[i] / factors[i] / size[i] for i in (0, 1))
    if factors != (1, 1):
        image = image.reduce(factors)
    crops = [image.resize((right - left, bottom - top), Image.Resampling.BICUBIC,
                          box=(left * scale_x, top * scale_y, right * scale_x, bottom * scale_y))
             for left, top, right, bottom in boxes]
    return np.stack([np.asarray(crop, dtype=np.uint8) for crop in crops])
