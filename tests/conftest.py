"""Shared fixtures: a tiny random-weight checkpoint and images the tests draw themselves."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app keeps frozen networks between starts: never in the user's cache folder during tests.
os.environ.setdefault("CONVITX_CACHE_DIR", tempfile.mkdtemp(prefix="convitx-test-cache-"))

import numpy as np
import pytest
import torch
from PIL import Image

from model import Thresholds, create_model, default_info, save_checkpoint
from model.config import PreprocessConfig


def noise_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """Textured pixels (not flat colour), so JPEG and the network see something image-like."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(base, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    return image.convert(mode) if mode != "RGB" else image


def save_image(path, width=96, height=64, seed=0, fmt=None, mode="RGB", **save_kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image(width, height, seed, mode).save(path, format=fmt, **save_kwargs)
    return path


def random_pixels(width: int, height: int, seed: int = 0) -> Image.Image:
    """Independent random pixels: a crop found in it can only come from one place (native-resolution tests)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


NATIVE = PreprocessConfig(mode="native", crop_size=32, max_crops=6)  # the file's own pixels, crops of 32 px


def make_tiny_checkpoint(path, seed: int = 0, **info_changes):
    torch.manual_seed(seed)
    network = create_model("convitx_test")
    with torch.no_grad():  # give BatchNorm non-trivial statistics so outputs vary between images
        network.head[0].running_var.uniform_(0.5, 2.0)
    info = default_info("convitx_test", **{
        "name": "tiny-test-model",
        "preprocess": PreprocessConfig(mode="multicrop", crop_size=32, max_crops=4, max_short_side=64),
        "thresholds": Thresholds(human_below=0.4, ai_above=0.6),
        "card": "# Tiny test model\nRandom weights, for tests only.",
        **info_changes,
    })
    return save_checkpoint(network, info, path)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def detector(tiny_model_path):
    from model import Detector

    return Detector.from_file(tiny_model_path, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """48 drawn images (3 AI and 3 human sources of 8) with a MANIFEST.tsv."""
    from training.data.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("pool")
    make_synthetic_dataset(root, per_source=8)
    return root
