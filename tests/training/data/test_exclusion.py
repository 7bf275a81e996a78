"""Evaluation images kept out of training: excluded repositories and near-duplicates by dHash."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import random_pixels

from training.data import datasets as ds
from training.data.exclusion import Exclusions, check_samples, hashes_of, image_hashes

DEDUPE = Path(__file__).resolve().parents[4] / "shared" / "data" / "pool2" / "dedupe.py"


def _exclusion_lists(folder: Path, repos: list[str], hashes: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "EXCLUDE_REPOS.txt").write_text("\n".join(repos) + "\n")
    (folder / "EXCLUDE_HASHES.txt").write_text("".join(f"{h:016x}\n" for h in hashes))
    return folder


def test_exclusion_drops_near_duplicates_and_refuses_excluded_repositories(tmp_path):
    held_out = random_pixels(200, 160, seed=5)
    copy = tmp_path / "resaved.jpg"
    held_out.resize((150, 120)).save(copy, quality=80)  # a resized, re-compressed evaluation image
    other = tmp_path / "other.png"
    random_pixels(200, 160, seed=6).save(other)
    lists = _exclusion_lists(tmp_path / "lists", ["someone/eval-set", "pypi:scikit-image"], list(hashes_of(held_out)))
    exclusions = Exclusions.load(lists)
    samples = [ds.Sample(str(copy), 1, "a", repo="x/y"), ds.Sample(str(other), 0, "b", repo="debian:foo=1")]
    report = check_samples(samples, exclusions, tmp_path / "hashes.json", log=lambda m: None)
    assert [s.path for s in report.kept] == [str(other)] and report.dropped[0][0].path == str(copy)
    assert report.summary()["dropped_near_duplicates"] == 1 and (tmp_path / "hashes.json").is_file()
    for repo in ("someone/eval-set", "Someone/Eval-Set", "pypi:scikit-image==0.26.0"):
        with pytest.raises(ds.DataError, match="excluded"):
            check_samples([ds.Sample(str(other), 0, "b", repo=repo)], exclusions, log=lambda m: None)
    with pytest.raises(ds.DataError, match="refuses to start"):
        Exclusions.load(tmp_path / "nowhere")


@pytest.mark.skipif(not DEDUPE.is_file(), reason="the shared dedupe.py is not beside this checkout")
def test_dhash_agrees_with_the_shared_dedupe_script(tmp_path):
    spec = importlib.util.spec_from_file_location("dedupe", DEDUPE)
    dedupe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dedupe)
    for seed, size in enumerate([(64, 48), (333, 517), (1000, 20)]):
        path = tmp_path / f"{seed}.png"
        random_pixels(*size, seed=seed).save(path)
        assert image_hashes(path) == dedupe.hashes(path)


def test_debian_and_pypi_packages_are_excluded_whatever_their_version(tmp_path):
    lists = _exclusion_lists(tmp_path / "lists", ["debian:some-wallpapers (an evaluation set)",
                                                  "pypi:scikit-image"], [0])
    exclusions = Exclusions.load(lists)
    image = tmp_path / "wallpaper.png"
    random_pixels(64, 48, seed=4).save(image)
    for repo in ("debian:some-wallpapers=4:5.27.5-2", "debian:some-wallpapers",
                 "pypi:scikit-image==0.26.0"):
        with pytest.raises(ds.DataError, match="excluded"):
            check_samples([ds.Sample(str(image), 0, "w", repo=repo)], exclusions, log=lambda m: None)
    kept = check_samples([ds.Sample(str(image), 0, "w", repo="debian:mate-backgrounds=1.26.0-1")], exclusions,
                         log=lambda m: None)
    assert len(kept.kept) == 1
