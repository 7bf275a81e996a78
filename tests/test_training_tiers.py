"""The three tiers every image is judged in, the exclusion of Debian packages, and the per-tier report."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from model.config import Thresholds
from tests.conftest import noise_image, save_image
from training.data import datasets as ds
from training.data.exclusion import Exclusions, check_samples
from training.data.tiers import TIERS, tier_files
from training.evaluation.tier_report import caught_at_fpr, tier_markdown, tier_report


def _opened(path):
    with Image.open(path) as image:
        image.load()
        return image.format, image.size, getattr(image, "quantization", None)


def test_web_and_hard_copies_are_shrunk_and_recompressed_the_same_way_every_run(tmp_path):
    photo = save_image(tmp_path / "camera.jpg", 3000, 2000, seed=1, quality=97)
    (tmp_path / "a").mkdir()
    first = tier_files(photo, seed=0, folder=tmp_path / "a")
    (tmp_path / "b").mkdir()
    second = tier_files(photo, seed=0, folder=tmp_path / "b")
    assert list(first) == list(TIERS) and first["clean"][0] == str(photo)
    web_format, web_size, _ = _opened(first["web"][0])
    assert web_format in ("JPEG", "WEBP") and 768 <= max(web_size) <= 1600
    assert abs(web_size[0] / web_size[1] - 1.5) < 0.01  # the aspect ratio is kept
    hard_format, hard_size, _ = _opened(first["hard"][0])
    assert hard_format in ("JPEG", "PNG") and 320 <= max(hard_size) <= 512
    for tier in ("web", "hard"):  # fixed seeds: the same copy every run
        assert open(first[tier][0], "rb").read() == open(second[tier][0], "rb").read()
        assert first[tier][1] == second[tier][1]
    if first["web"][1].format == "JPEG":
        assert 60 <= first["web"][1].quality <= 90
    if first["hard"][1].format == "JPEG":
        assert 35 <= first["hard"][1].quality <= 60


def test_a_small_image_is_recompressed_but_never_enlarged(tmp_path):
    small = save_image(tmp_path / "small.png", 300, 200, seed=2)
    files = tier_files(small, seed=0, folder=tmp_path)
    for tier in ("web", "hard"):
        assert _opened(files[tier][0])[1] == (300, 200)


def test_another_seed_or_image_gives_another_copy(tmp_path):
    a = save_image(tmp_path / "a.jpg", 2400, 1800, seed=3, quality=95)
    hows = {tier_files(a, seed=s, folder=tmp_path)["web"][1] for s in range(6)}
    assert len(hows) > 1


def test_debian_and_pypi_packages_are_excluded_whatever_their_version(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "EXCLUDE_REPOS.txt").write_text("debian:plasma-workspace-wallpapers (an evaluation set)\npypi:scikit-image\n")
    (lists / "EXCLUDE_HASHES.txt").write_text("0000000000000000\n")
    exclusions = Exclusions.load(lists)
    image = save_image(tmp_path / "wallpaper.png", 64, 48, seed=4)
    for repo in ("debian:plasma-workspace-wallpapers=4:5.27.5-2", "debian:plasma-workspace-wallpapers",
                 "pypi:scikit-image==0.26.0"):
        with pytest.raises(ds.DataError, match="excluded"):
            check_samples([ds.Sample(str(image), 0, "w", repo=repo)], exclusions, log=lambda m: None)
    kept = check_samples([ds.Sample(str(image), 0, "w", repo="debian:mate-backgrounds=1.26.0-1")], exclusions,
                         log=lambda m: None)
    assert len(kept.kept) == 1


def test_caught_at_five_percent_counts_ai_above_the_level_few_human_images_reach():
    labels = np.array([0] * 100 + [1] * 10)
    human = np.linspace(0.0, 0.99, 100)  # the 95th percentile of human scores is about 0.94
    ai = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert caught_at_fpr(labels, np.concatenate([human, ai])) == pytest.approx(0.5)


def test_tier_report_names_each_kind_and_the_weak_sources():
    samples = ([ds.Sample(f"p{i}", 0, "phone", kind="photo") for i in range(20)]
               + [ds.Sample(f"a{i}", 0, "museum", kind="art") for i in range(20)]
               + [ds.Sample(f"g{i}", 1, "StyleGAN2 churches", kind="generated") for i in range(20)])
    clean = np.array([0.1] * 20 + [0.1] * 20 + [0.9] * 20)
    web = np.array([0.9] * 20 + [0.1] * 20 + [0.9] * 20)  # laundered photos called AI
    report = tier_report(samples, {"clean": clean, "web": web}, Thresholds(0.3, 0.6))
    assert report["tiers"]["clean"]["photo"]["called_ai"] == 0 and report["tiers"]["web"]["photo"]["called_ai"] == 1
    assert report["tiers"]["web"]["art"]["called_ai"] == 0 and report["tiers"]["web"]["ai"]["called_ai"] == 1
    text = tier_markdown(report)
    assert "| web | 60 |" in text and "human: phone (20: 100% / 0%)" in text
