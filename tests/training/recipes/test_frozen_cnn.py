"""training.recipes.frozen_cnn: CNN outputs computed once per image, and recomputed when edited or damaged."""
from __future__ import annotations

import os

import numpy as np
from conftest import save_image

from model.config import PreprocessConfig
from model.network import create_model
from training.data.datasets import Sample
from training.recipes.augment import AUGMENT_PRESETS
from training.recipes.frozen_cnn import OutputCache, compute_outputs, producer_key


def _setup(tmp_path):
    network = create_model("convitx_hybrid_test").eval()
    pre = PreprocessConfig(mode="native", crop_size=32, max_crops=4, mean=(0.5,) * 3, std=(0.5,) * 3)
    aug = AUGMENT_PRESETS["native"]
    cache = OutputCache(tmp_path / "cache", producer_key(network, pre, aug, 2, 0))
    return network, pre, aug, cache


def test_outputs_are_cached_and_an_edited_or_damaged_entry_is_computed_again(tmp_path):
    network, pre, aug, cache = _setup(tmp_path)
    paths = [save_image(tmp_path / f"img{i}.png", width=40 + 30 * i, height=36, seed=i) for i in range(3)]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    samples = [Sample(str(p), i % 2, "s") for i, p in enumerate([*paths, tmp_path / "broken.jpg"])]
    logs: list[str] = []
    first = compute_outputs(network, samples, cache, pre, aug, views=2, seed=0, workers=1, log=logs.append)
    assert first[3] is None and "1 unreadable" in logs[-1]  # the broken file is left out, the rest go on
    assert [len(o.features) for o in first[:3]] == [2, 2, 2]  # the scoring crops and one augmented view
    # the app's crops, up to 4 of 32 px: 2 x 2 for 40 x 36, 3 along 70 x 36, 4 along 100 x 36
    assert [len(o.features[0]) for o in first[:3]] == [4, 3, 4]
    assert first[0].swin_inputs[0].shape[1:] == (40, 4, 4) and first[0].features[0].dtype == np.float16

    save_image(paths[1], width=70, height=36, seed=9)  # edited: other pixels, same name
    os.utime(paths[1], ns=(1, 1))
    cache.file_for(str(paths[0])).write_bytes(b"torn")  # and another image's cache file damaged
    logs.clear()
    again = compute_outputs(network, samples, cache, pre, aug, views=2, seed=0, workers=1, log=logs.append)
    assert "computing outputs of 3 images (1 cached)" in logs[0]  # edited + damaged + broken
    assert not np.array_equal(again[1].features[0], first[1].features[0])
    unchanged = [i for i in range(3) if i != 1 and np.array_equal(again[i].features[0], first[i].features[0])]
    assert len(unchanged) == 2  # a recomputed entry is the same as before
