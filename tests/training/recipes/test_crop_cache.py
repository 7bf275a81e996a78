"""Native regions cut once per image and the training views drawn from them."""
from __future__ import annotations

import os

import numpy as np
import torch
from conftest import NATIVE, random_pixels
from PIL import Image

from model.preprocess import crops_to_tensor
from training.data import datasets as ds
from training.recipes.augment import NO_AUGMENT
from training.recipes.crop_cache import CropCache
from training.recipes.finetune.images import TrainImages


def test_crop_cache_cuts_native_regions_once_and_recuts_an_edited_file(tmp_path):
    image = random_pixels(900, 700)
    path = tmp_path / "big.png"
    image.save(path)
    cache = CropCache(tmp_path / "cache", region=576, regions=3)
    regions = cache.regions_of(str(path))
    assert len(regions) == 3
    source = np.asarray(image)
    for region in regions:
        pixels = np.asarray(Image.open(region))
        assert pixels.shape == (576, 576, 3)
        hits = [(x, y) for y in range(0, 700 - 575) for x in range(0, 900 - 575)
                if np.array_equal(source[y, x:x + 4], pixels[0, :4]) and np.array_equal(source[y:y + 576, x:x + 576], pixels)]
        assert hits  # the file's own pixels, no resampling
    stamps = [r.stat().st_mtime_ns for r in regions]
    assert cache.regions_of(str(path)) == regions and [r.stat().st_mtime_ns for r in regions] == stamps
    small = tmp_path / "small.png"
    random_pixels(120, 80).save(small)
    assert [Image.open(r).size for r in cache.regions_of(str(small))] == [(120, 80)]  # fits: stored whole
    random_pixels(130, 80, seed=1).save(small)
    os.utime(small, ns=(1, 1))
    assert [Image.open(r).size for r in cache.regions_of(str(small))] == [(130, 80)]  # edited: cut again


def test_training_views_from_the_cache_are_native_crops(tmp_path):
    image = random_pixels(400, 300)
    path = tmp_path / "a.png"
    image.save(path)
    samples = [ds.Sample(str(path), 1, "src")]
    views = TrainImages(samples, NATIVE, NO_AUGMENT, np.ones(1), seed=0, cache=CropCache(tmp_path / "c", region=96))
    view = views[0][0]
    full = crops_to_tensor(image, [(0, 0, 400, 300)], NATIVE)[0]
    assert any(torch.equal(full[:, y:y + 32, x:x + 32], view) for y in range(300 - 31) for x in range(400 - 31))
