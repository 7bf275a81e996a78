"""Evaluation the way the app scores, with another crop cap."""
from __future__ import annotations

from conftest import NATIVE, random_pixels

from training.data import datasets as ds


def test_evaluation_can_try_another_crop_cap(tmp_path):
    from conftest import make_tiny_checkpoint
    from training.evaluation.evaluate import evaluate

    model = make_tiny_checkpoint(tmp_path / "m.safetensors", preprocess=NATIVE)
    samples = []
    for k in range(4):
        path = tmp_path / f"{k}.png"
        random_pixels(160, 96, seed=k).save(path)
        samples.append(ds.Sample(str(path), k % 2, f"s{k}"))
    reports = {n: evaluate(model, samples, tmp_path / f"e{n}", robustness=False, plots=False, device="cpu",
                           log=lambda m: None, max_crops=n) for n in (1, 9)}
    assert reports[1]["preprocess"]["max_crops"] == 1 and reports[9]["preprocess"]["max_crops"] == 9
    scores = {n: [row["mean_p_ai"] for row in r["per_source"]] for n, r in reports.items()}
    assert scores[1] != scores[9]  # nine crops see other pixels than one
