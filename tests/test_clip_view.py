"""A model with a CLIP view: the app scores it with the features training cached, and says so when the tower is missing."""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import torch

from conftest import save_image
from model import Detector, create_model, default_info, save_checkpoint
from model.checkpoint import CheckpointError
from model.clip_outputs import ClipOutputs
from model.clip_view import ClipTower, clip_features, clip_tower, default_clip_path, global_view
from model.decoding import decode_crops
from model.config import PreprocessConfig
from training.recipes.tier_features import CLIP_BLOCKS, select_clip

pytestmark = pytest.mark.skipif(not default_clip_path().is_file(),
                                reason="packaging/fetch_clip.py has not run (make does)")


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    torch.manual_seed(0)
    network = create_model("convitx_clip_test")
    with torch.no_grad():
        network.head[0].running_var.uniform_(0.5, 2.0)
    info = default_info("convitx_clip_test", name="tiny CLIP test model",
                        preprocess=PreprocessConfig(mode="native", crop_size=32, max_crops=4, mean=(0.5,) * 3,
                                                    std=(0.5,) * 3, clip_blocks=(5,)))
    return save_checkpoint(network, info, tmp_path_factory.mktemp("clip") / "clip.safetensors")


@pytest.mark.parametrize("outputs", [ClipOutputs((5,)), ClipOutputs((5, 7), embedding=False)],
                         ids=["embedding and block 5", "blocks 5 and 7, tower cut after 7"])
def test_the_app_computes_the_clip_features_training_cached(tmp_path, outputs):
    photo = save_image(tmp_path / "photo.jpg", 1200, 800, seed=1, quality=92)
    training_tower = ClipTower(default_clip_path(), ClipOutputs(CLIP_BLOCKS), threads=1)
    training_side = select_clip(training_tower.features(global_view(photo)[None]), outputs)
    assert np.array_equal(clip_features(photo, outputs), training_side)  # the same numbers, bit for bit


@pytest.mark.parametrize("name, size, kw", [("shot.png", (900, 600), {}), ("art.webp", (640, 960), {}),
                                            ("photo.jpg", (1600, 1200), {"quality": 90}),
                                            ("upright.jpg", (800, 1200), {"quality": 90})])
def test_the_decoders_clip_view_equals_the_files_whatever_path_the_crops_took(tmp_path, name, size, kw):
    """A PNG or WebP decoded whole for its crops hands that decode to the CLIP view; a JPEG, cut to its crops'
    rows or decoded whole, is decoded again at reduced scale, as training decodes it."""
    path = save_image(tmp_path / name, *size, seed=3, **kw)
    outputs = ClipOutputs((5,), embedding=False)
    cfg = PreprocessConfig(mode="native", max_crops=4, keep_crops="ends", clip_blocks=(5,), clip_embedding=False)
    assert np.array_equal(decode_crops(str(path), cfg).clip, clip_tower(outputs).features(global_view(path)[None]))


def test_a_strip_gets_its_view_at_once_and_close_to_resizing_it_whole(tmp_path):
    """A 65535 x 1 GIF once cost a decoder 35 s and 13 GB (the whole strip enlarged to 224 px high)."""
    from PIL import Image

    from model.clip_view import CLIP_SIZE, view_of

    started = time.monotonic()
    assert view_of(Image.new("RGB", (65535, 1), (200, 10, 10))).shape == (CLIP_SIZE, CLIP_SIZE, 3)
    assert time.monotonic() - started < 5
    strip = Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 3000, 3), dtype=np.uint8))  # 20:1
    whole = strip.resize((4480, 224), Image.Resampling.BICUBIC).crop((2128, 0, 2352, 224))
    assert np.abs(view_of(strip).astype(int) - np.asarray(whole, dtype=int)).max() <= 2


def test_the_edited_tower_is_kept_and_a_later_start_needs_no_onnx_package(tmp_path, monkeypatch):
    photo = global_view(save_image(tmp_path / "photo.jpg", 700, 500, seed=2, quality=90))[None]
    outputs = ClipOutputs((3, 5), embedding=False)
    first = ClipTower(default_clip_path(), outputs, threads=1, cache_dir=tmp_path / "cache").features(photo)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails
    again = ClipTower(default_clip_path(), outputs, threads=1, cache_dir=tmp_path / "cache").features(photo)
    assert np.array_equal(first, again)
    kept = next((tmp_path / "cache").glob("*.onnx"))
    kept.write_bytes(kept.read_bytes()[:-100] + bytes(100))  # damaged: edited again (which needs onnx)
    with pytest.raises(ImportError):
        ClipTower(default_clip_path(), outputs, threads=1, cache_dir=tmp_path / "cache")
    monkeypatch.delitem(sys.modules, "onnx")
    rebuilt = ClipTower(default_clip_path(), outputs, threads=1, cache_dir=tmp_path / "cache").features(photo)
    assert np.array_equal(first, rebuilt)


def test_a_clip_model_scores_every_file_the_same_frozen_or_eager_and_draws_heatmaps(tmp_path, clip_model):
    paths = [save_image(tmp_path / f"{i}.{ext}", 90 + 40 * i, 70, seed=i, **kw)
             for i, (ext, kw) in enumerate([("png", {}), ("jpg", {"quality": 80}), ("webp", {})])]
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    frozen = Detector.from_file(clip_model, device="cpu", batch_size=2)
    eager = Detector.from_file(clip_model, device="cpu", batch_size=2, optimize=False)
    a = list(frozen.scan([*paths, tmp_path / "broken.jpg"]))
    b = list(eager.scan(paths))
    assert [r.verdict for r in a][-1] == "error" and all(r.p_ai is not None for r in a[:3])
    assert [r.p_ai for r in a[:3]] == pytest.approx([r.p_ai for r in b], abs=1e-4)
    assert len({round(r.p_ai, 6) for r in a[:3]}) == 3  # each image its own score
    heat = frozen.heatmap(paths[1])
    assert heat.cam.shape == (heat.image.size[1], heat.image.size[0]) and np.isfinite(heat.cam).all()


def test_a_missing_clip_tower_is_one_clear_message(tmp_path, clip_model, monkeypatch):
    monkeypatch.setattr("model.engine.default_clip_path", lambda: tmp_path / "nowhere.onnx")
    with pytest.raises(CheckpointError, match="CLIP view.*missing.*fetch_clip"):
        Detector.from_file(clip_model, device="cpu")
