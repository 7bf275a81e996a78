"""The frozen network kept between starts: a second start scores at once, the same; a damaged copy is rebuilt."""
from __future__ import annotations

import time

import pytest

from conftest import save_image
from model import Detector
from model.decoding import start_decoders
from model.model_file import read_info


def scores(detector, paths):
    return [r.p_ai for r in detector.scan(paths)]


def test_a_second_start_scores_from_the_kept_frozen_network_and_builds_the_eager_one_only_for_heatmaps(
        tmp_path, tiny_model_path):
    paths = [save_image(tmp_path / f"{i}.png", width=120, height=80, seed=i) for i in range(5)]
    first = Detector.from_file(tiny_model_path, device="cpu", batch_size=4, cache_dir=tmp_path / "cache")
    assert first.frozen and len(list((tmp_path / "cache").glob("*.torchscript"))) == 1
    second = Detector.from_file(tiny_model_path, device="cpu", batch_size=4, cache_dir=tmp_path / "cache")
    assert second.frozen and second._network is None  # scoring needs no eager network (nor timm)
    assert scores(second, paths) == pytest.approx(scores(first, paths), abs=1e-6)
    assert second.heatmap(paths[0]).cam.shape == first.heatmap(paths[0]).cam.shape  # built on demand
    assert second._network is not None


@pytest.mark.parametrize("damage", ["bytes", "logits"])
def test_a_damaged_or_disagreeing_kept_network_is_rebuilt_not_used(tmp_path, tiny_model_path, damage, caplog):
    paths = [save_image(tmp_path / f"{i}.png", width=120, height=80, seed=i) for i in range(3)]
    cache = tmp_path / "cache"
    expected = scores(Detector.from_file(tiny_model_path, device="cpu", cache_dir=cache), paths)
    if damage == "bytes":
        archive = next(cache.glob("*.torchscript"))
        archive.write_bytes(archive.read_bytes()[:-100] + b"x" * 100)
    else:  # the recorded logits no longer match what the copy computes (e.g. another torch build)
        record = next(cache.glob("*.json"))
        record.write_text(record.read_text().replace("[", "[1000.0, ", 2).replace("1000.0, [", "[", 1))
    detector = Detector.from_file(tiny_model_path, device="cpu", cache_dir=cache)
    assert "ignoring the saved frozen network" in caplog.text
    assert detector._network is not None and detector.frozen  # built from the file again
    assert scores(detector, paths) == pytest.approx(expected, abs=1e-6)
    assert Detector.from_file(tiny_model_path, device="cpu", cache_dir=cache)._network is None  # and kept again


def test_files_prefetched_while_the_network_loads_are_not_decoded_twice(tmp_path, tiny_model_path):
    paths = [str(save_image(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
    decoders = start_decoders(read_info(tiny_model_path).preprocess, workers=1)
    decoders.prefetch(paths)
    early = [decoders._early[p] for p in paths]
    deadline = time.monotonic() + 60
    while not all(f.done() for f in early) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert decoders.stats().files == 2  # decoded before any scan asked
    detector = Detector.from_file(tiny_model_path, device="cpu", decoders=decoders)
    results = list(detector.scan(paths))
    assert [r.verdict != "error" for r in results] == [True, True]
    assert decoders.stats().files == 2  # the scan took the prefetched decodes
    detector.close()
