"""training.recipes.frozen_heads: the Swin branch and head learn from cached outputs of every view, CLIP rows included."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from model.network import create_model
from training.data.datasets import Sample
from training.recipes.frozen_heads import FrozenOutputs, HeadRecipe, score_outputs, train_head


def _outputs(label: int, rng: np.random.Generator) -> FrozenOutputs:
    """Three views of one image whose CLIP rows carry the label (the CNN's outputs are noise)."""
    views = []
    for _ in range(3):
        clip = rng.normal(size=(1, 512 + 768)).astype(np.float16)
        clip[0, :8] += np.float16(3.0 if label else -3.0)
        views.append(clip)
    crops = int(rng.integers(1, 3))
    return FrozenOutputs(features=[rng.normal(size=(crops, 2848)).astype(np.float16) for _ in range(3)],
                         swin_inputs=[rng.normal(size=(crops, 40, 4, 4)).astype(np.float16) for _ in range(3)],
                         clip=views)


def test_the_head_learns_from_clip_rows_in_every_view_and_a_positive_head_keeps_non_negative_weights():
    rng = np.random.default_rng(0)
    samples = [Sample(f"/{i}.png", i % 2, f"source{i % 4}") for i in range(48)]
    outputs = [_outputs(s.label, rng) for s in samples]
    recipe = HeadRecipe(epochs=6, batch_size=16, lr=3e-3)
    for positive in (False, True):
        torch.manual_seed(0)
        network = train_head(create_model("convitx_clip_test"), samples, outputs, replace(recipe, positive=positive),
                             log=lambda m: None)
        labels = np.array([s.label for s in samples])
        for view in range(3):  # each tier's scores separate the classes the CLIP rows carry
            p = score_outputs(network, outputs, view=view)
            assert p[labels == 1].min() > p[labels == 0].max()
        if positive:
            assert float(network.head[-1].weight.min()) >= 0.0
