"""training.recipes.tier_features: both frozen towers run once per image and tier, and again only when the file changes."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import save_image
from safetensors.torch import save_file

from model.clip_outputs import EMBED, WIDTH, ClipOutputs
from model.clip_view import CLIP_FILE_NAME
from model.network import create_model
from model.resources import resource_path
from training.data.datasets import Sample
from training.recipes.tier_features import FeatureCache, Producer, compute_features

CLIP = resource_path("models", CLIP_FILE_NAME)
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason="packaging/fetch_clip.py has not run (make does)")


@needs_clip
def test_features_are_cached_per_tier_computed_again_when_edited_or_damaged_and_kept_when_only_copied(tmp_path):
    backbone = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in create_model("convitx_clip_test").cnn.state_dict().items()}, backbone)
    producer = Producer(str(backbone), str(CLIP), preset="convitx_clip_test")
    cache = FeatureCache(tmp_path / "cache", producer)
    paths = [save_image(tmp_path / f"img{i}.png", width=40 + 30 * i, height=36, seed=i) for i in range(3)]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    samples = [Sample(str(p), i % 2, "s") for i, p in enumerate([*paths, tmp_path / "broken.jpg"])]
    logs: list[str] = []
    first = compute_features(samples, cache, producer, clip=ClipOutputs((5,)), workers=0, log=logs.append)
    assert first[3] is None and "1 unreadable" in logs[-1]  # the broken file is left out, the rest go on
    assert [len(o.features) for o in first[:3]] == [3, 3, 3]  # clean, web and hard
    # of the up-to-4 native crops of 32 px laid out, the first and the last (the app's "ends")
    assert [len(o.features[0]) for o in first[:3]] == [2, 2, 2]
    assert first[0].swin_inputs[0].shape[1:] == (40, 4, 4) and first[0].features[0].dtype == np.float16
    assert first[0].clip[0].shape == (1, EMBED + WIDTH)  # the embedding and the class token after block 5

    save_image(paths[1], width=70, height=36, seed=9)  # edited: other pixels, same name
    os.utime(paths[1], ns=(1, 1))
    cache.file_for(str(paths[0])).write_bytes(b"torn")  # and another image's cache file damaged
    logs.clear()
    again = compute_features(samples, cache, producer, clip=ClipOutputs((5,)), workers=0, log=logs.append)
    assert "3 of 4 images to compute" in logs[0]  # edited + damaged + broken
    assert not np.array_equal(again[1].features[0], first[1].features[0])
    for i in (0, 2):  # a recomputed entry is the same as before
        assert all(np.array_equal(a, b) for a, b in zip(again[i].features, first[i].features))
        assert all(np.array_equal(a, b) for a, b in zip(again[i].clip, first[i].clip))

    for path in paths:  # the data folder copied afresh: new time stamps, the same bytes
        os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    logs.clear()
    compute_features(samples, cache, producer, clip=ClipOutputs((5,)), workers=0, log=logs.append)
    assert "1 of 4 images to compute" in logs[0]  # only the broken file, tried again
