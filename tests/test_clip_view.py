"""A model with a CLIP view: the app scores it with the features training cached, and says so when the tower is missing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import save_image
from model import Detector, create_model, default_info, save_checkpoint
from model.checkpoint import CheckpointError
from model.clip_view import ClipTower, clip_features, default_clip_path, global_view
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


def test_the_app_computes_the_clip_features_training_cached(tmp_path):
    photo = save_image(tmp_path / "photo.jpg", 1200, 800, seed=1, quality=92)
    training_side = select_clip(ClipTower(default_clip_path(), CLIP_BLOCKS, threads=1).features(global_view(photo)[None]),
                                (5,))
    assert np.array_equal(clip_features(photo, (5,)), training_side)  # the same numbers, bit for bit


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
