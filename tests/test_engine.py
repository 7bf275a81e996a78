import threading

import pytest
import torch

from conftest import noise_image, save_image
from model import Thresholds
from model.device import resolve_device


def test_cancel_stops_the_scan_and_keeps_what_was_scored(tmp_path, detector):
    paths = [save_image(tmp_path / f"{i:02d}.png", seed=i) for i in range(24)]
    cancel = threading.Event()
    results = []
    for result in detector.scan(paths, cancel=cancel):
        results.append(result)
        if len(results) == 5:
            cancel.set()
    assert 5 <= len(results) < 24
    assert [r.path for r in results] == [str(p) for p in paths[: len(results)]]


def test_results_stream_in_input_order_with_errors_in_place(tmp_path, detector):
    paths = [save_image(tmp_path / f"{i}.png", seed=i) for i in range(6)]
    (tmp_path / "bad.png").write_bytes(b"nope")
    order = paths[:3] + [tmp_path / "bad.png"] + paths[3:]
    results = list(detector.scan(order))
    assert [r.path for r in results] == [str(p) for p in order]
    assert [r.verdict for r in results].count("error") == 1 and results[3].verdict == "error"


def test_relabel_moves_verdicts_without_rescoring(tmp_path, detector):
    result = next(detector.scan([save_image(tmp_path / "a.png")]))
    strict = result.relabel(Thresholds(0.0, 0.0))
    lenient = result.relabel(Thresholds(1.0, 1.0))
    assert (strict.verdict, lenient.verdict) == ("ai", "human") and strict.p_ai == lenient.p_ai == result.p_ai


def test_thresholds_shift_keeps_band_width_inside_0_1():
    shifted = Thresholds(0.4, 0.6).shifted(0.5)
    assert shifted == Thresholds(0.8, 1.0)
    assert Thresholds(0.4, 0.6).shifted(-0.1).verdict(0.45) == "uncertain"
    with pytest.raises(ValueError):
        Thresholds(0.7, 0.3)


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_cpu_scoring_switches_to_the_frozen_network_with_the_same_scores(tmp_path, tiny_model_path):
    from model import Detector

    paths = [save_image(tmp_path / f"{i}.png", width=120, height=80, seed=i) for i in range(6)]
    eager = Detector.from_file(tiny_model_path, device="cpu", batch_size=4, optimize=False)
    frozen = Detector.from_file(tiny_model_path, device="cpu", batch_size=4)
    assert isinstance(frozen._scorer, torch.jit.ScriptModule)
    for a, b in zip(eager.scan(paths), frozen.scan(paths)):
        assert a.verdict == b.verdict and a.p_ai == pytest.approx(b.p_ai, abs=1e-5)


def test_a_network_that_cannot_be_frozen_keeps_scoring_eagerly():
    from model.frozen import FreezeError, freeze_for_cpu

    class Wobbly(torch.nn.Module):  # output depends on a Python-side count: a trace would bake it in
        calls = 0

        def forward(self, x):
            self.calls += 1
            return x.mean((1, 2, 3))[:, None] * self.calls

    with pytest.raises(FreezeError, match="differs from eager"):
        freeze_for_cpu(Wobbly(), 8)


def test_a_model_trained_on_the_two_end_crops_is_scored_on_exactly_those(tmp_path):
    """keep_crops="ends": the first and the last crop of the layout, from either decode path, as the
    frozen-towers recipe cut them (crops[[0, -1]] of all of them) for its head and its evaluation."""
    import numpy as np

    from model.config import PreprocessConfig
    from model.decoding import decode_crops
    from model.imageio import load_image
    from model.preprocess import crop_pixels

    every = PreprocessConfig(mode="native", crop_size=64, max_crops=4)
    ends = PreprocessConfig(mode="native", crop_size=64, max_crops=4, keep_crops="ends")
    # a row of 4, a column of 4, a 2 x 2 grid, a row of 3, one enlarged crop, two crops
    for size in ((301, 97), (97, 301), (120, 110), (200, 70), (40, 30), (100, 64)):
        file = tmp_path / f"{size[0]}x{size[1]}.jpg"
        noise_image(*size, seed=size[0]).save(file, quality=90)
        laid_out = crop_pixels(load_image(file).image, every)
        recipe = laid_out[[0, -1]] if len(laid_out) > 2 else laid_out
        assert np.array_equal(crop_pixels(load_image(file).image, ends), recipe), size
        assert np.array_equal(decode_crops(str(file), ends).pixels, recipe), size  # rows-only decode where it can


def test_preprocess_cuts_the_same_crops_as_the_whole_working_image():
    from model.config import PreprocessConfig
    from model.preprocess import crops_to_tensor, preprocess, scoring_boxes, working_image

    cfg = PreprocessConfig(mode="multicrop", crop_size=32, max_crops=4, max_short_side=64)
    # down 3x, enlarged (short side below the crop), untouched, very wide, and down 9-11x (box-reduced first)
    for size in ((300, 200), (20, 51), (64, 40), (1000, 70), (1000, 600), (700, 2100)):
        image = noise_image(*size, seed=sum(size))
        work = working_image(image, cfg)
        whole_then_cut = crops_to_tensor(work, scoring_boxes(work.size, cfg), cfg)
        two_grey_levels = 2 / 255 / min(cfg.std) + 1e-6
        assert torch.allclose(preprocess(image, cfg), whole_then_cut, atol=two_grey_levels, rtol=0), size
