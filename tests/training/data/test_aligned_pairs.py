"""Aligned pairs: a real image and its autoencoder round trip stay together on every split."""
from __future__ import annotations

import torch
from conftest import random_pixels
from PIL import Image

from training.data import datasets as ds


def test_aligned_pairs_share_their_real_images_group_on_every_split(tmp_path):
    from training.data.aligned_pairs import TinyAutoencoder, make_pairs, write_manifest

    real = []
    for source in ("cams", "paint", "scans"):
        for k in range(2):
            path = tmp_path / "in" / source / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            random_pixels(40 + 8 * k, 36, seed=len(real)).save(path)
            real.append(ds.Sample(str(path), ds.HUMAN, source, "photo", f"source:{source}"))
    torch.manual_seed(0)
    rows = make_pairs(real, TinyAutoencoder().eval(), tmp_path / "pairs", size=32, log=lambda m: None)
    write_manifest(tmp_path / "pairs" / ds.MANIFEST_NAME, rows)
    samples = ds.read_manifest(tmp_path / "pairs" / ds.MANIFEST_NAME)
    assert len(samples) == 12 and sum(s.label == ds.AI for s in samples) == 6
    for ai, human in zip(samples[1::2], samples[0::2]):
        assert ai.label == ds.AI and human.label == ds.HUMAN and ai.split_group == human.split_group
        assert Image.open(ai.path).size == Image.open(human.path).size == (32, 32)  # same size, format, content
    for fold in range(3):
        train, val = ds.fold_split(samples, 3, fold)
        assert {s.split_group for s in train}.isdisjoint({s.split_group for s in val})
        assert sum(s.label for s in val) * 2 == len(val)  # every held-out pair has both halves


def test_taef2_layout_matches_the_published_checkpoints():
    from training.data.aligned_pairs import TinyAutoencoder

    state = TinyAutoencoder().state_dict()
    # the published taef2 files hold these names: blocks with a GroupNorm pool in the latent-side stages
    assert "encoder.12.pool.1.weight" in state and "decoder.3.pool.1.weight" in state
    assert "encoder.2.pool.0.weight" not in state and state["encoder.14.weight"].shape[0] == 32
    assert len(state) == 158 and sum(v.numel() for v in state.values()) == 2_677_027  # as in taef2_*.pth
