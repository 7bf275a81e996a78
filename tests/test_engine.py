import threading

import pytest

from conftest import save_image
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
