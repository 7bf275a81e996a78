"""training.data.tiers: the web and hard copies every image is trained and judged in, both classes alike."""
from __future__ import annotations

from PIL import Image

from conftest import save_image
from training.data.tiers import TIERS, tier_files


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
