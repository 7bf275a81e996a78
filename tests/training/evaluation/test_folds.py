"""training.evaluation.folds: folds that hold whole generator families out and keep pairs together."""
from __future__ import annotations

from dataclasses import replace

from training.data.datasets import Sample
from training.evaluation.folds import held_out_folds


def test_folds_hold_out_whole_generator_families_and_keep_pairs_together():
    def ai(source, n):
        return [Sample(f"/{source}/{i}.png", 1, source, group=f"source:{source}") for i in range(n)]

    def human(source, n, group=None):
        return [Sample(f"/{source}/{i}.jpg", 0, source, kind="photo", group=group or f"source:{source}")
                for i in range(n)]

    samples = (ai("SDXL 1.0", 5) + ai("SDXL Turbo", 3) + ai("FLUX.1-dev", 4) + ai("gpt-image-2", 6)
               + human("camera A", 5) + human("camera B", 4) + human("camera C", 3))
    pair = replace(ai("FLUX.2 tiny autoencoder round trip (aligned pairs)", 1)[0], group="source:camera B")
    samples.append(pair)
    folds = held_out_folds(samples, k=3)
    fold_of = {}
    for sample, fold in zip(samples, folds):
        key = "SDXL" if "SDXL" in sample.source else sample.source
        assert fold_of.setdefault(key, fold) == fold  # one family, one fold
    assert folds[-1] == fold_of["camera B"]  # the pair stays with its real image
    assert set(folds) == {0, 1, 2}
