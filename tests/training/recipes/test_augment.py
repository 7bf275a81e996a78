"""Training views: the app's own crops of augmented images, reproducible, both classes alike."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import NATIVE, random_pixels
from PIL import Image

from model.config import PreprocessConfig
from model.preprocess import crops_to_tensor, decode_short_side, preprocess, scoring_boxes, working_image, working_size
from training.recipes.augment import NO_AUGMENT, AugmentConfig, augment_image, train_view, view_rng


def _picture(width=150, height=100):
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_training_view_is_a_crop_of_the_apps_working_image():
    cfg = PreprocessConfig(mode="multicrop", crop_size=32, max_crops=2, max_short_side=64)
    image = _picture()
    view = train_view(image, cfg, NO_AUGMENT, view_rng(0, 0, 0))
    assert view.shape == (3, 32, 32) and view.dtype == torch.float32
    work = working_image(image, cfg)  # 96 x 64: the app's working resolution
    full = crops_to_tensor(work, [(0, 0, work.size[0], work.size[1])], cfg)[0]
    offsets = [(x, y) for y in range(work.size[1] - 31) for x in range(work.size[0] - 31)
               if torch.equal(full[:, y:y + 32, x:x + 32], view)]
    assert offsets


def test_views_are_reproducible_and_change_with_the_epoch():
    cfg = PreprocessConfig(mode="multicrop", crop_size=32, max_crops=2, max_short_side=64)
    image, aug = _picture(), AugmentConfig()
    first = train_view(image, cfg, aug, view_rng(7, 1, 5))
    assert torch.equal(first, train_view(image, cfg, aug, view_rng(7, 1, 5)))
    assert not torch.equal(first, train_view(image, cfg, aug, view_rng(7, 2, 5)))


def test_reencoding_hits_every_image_whatever_its_format():
    png_like = _picture(64, 64)
    always_jpeg = AugmentConfig(rescale_p=0, blur_p=0, jpeg_p=1.0, webp_p=0, png_p=0, jpeg_quality=(60, 60))
    changed = augment_image(png_like, always_jpeg, np.random.default_rng(0))
    assert changed.size == png_like.size and np.abs(np.asarray(changed, int) - np.asarray(png_like, int)).mean() > 1
    scaled = augment_image(png_like, AugmentConfig(rescale_p=1.0, min_scale=0.5, max_scale=0.5, blur_p=0, jpeg_p=0,
                                                   webp_p=0, png_p=0), np.random.default_rng(0))
    assert scaled.size == (32, 32)
    with pytest.raises(ValueError):
        AugmentConfig(jpeg_p=0.8, webp_p=0.3)


def test_native_mode_scores_the_files_own_pixels():
    image = random_pixels(300, 200)
    assert working_size(image.size, NATIVE) == (300, 200)  # a large image is never shrunk
    assert decode_short_side(NATIVE) is None  # JPEGs decode at full scale
    crops = preprocess(image, NATIVE)
    boxes = scoring_boxes(image.size, NATIVE)
    assert len(crops) == 6 and torch.equal(crops, crops_to_tensor(image, boxes, NATIVE))
    assert working_size((20, 40), NATIVE) == (32, 64)  # smaller than a crop: enlarged to one
    assert "never shrunk" in NATIVE.describe()


def test_rescale_draws_its_filter_and_stays_within_the_range():
    aug = AugmentConfig(rescale_p=1.0, min_scale=0.4, max_scale=1.0, filters=("box", "lanczos"), blur_p=0,
                        jpeg_p=0, webp_p=0, png_p=0)
    sizes = {augment_image(random_pixels(100, 100), aug, np.random.default_rng(seed)).size[0] for seed in range(20)}
    assert min(sizes) >= 40 and max(sizes) <= 100 and len(sizes) > 5
    with pytest.raises(ValueError):
        AugmentConfig(filters=("nearest",))
