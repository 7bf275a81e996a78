"""Native-resolution training and scoring: the file's own pixels, crops cut once, evaluation images kept out."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.config import PreprocessConfig
from model.preprocess import crops_to_tensor, decode_short_side, preprocess, scoring_boxes, working_size
from training.data import datasets as ds
from training.recipes.augment import NO_AUGMENT, AugmentConfig, augment_image
from training.evaluation.calibrate import choose_thresholds
from training.recipes.crop_cache import CropCache
from training.data.exclusion import Exclusions, check_samples, hashes_of, image_hashes
from training.recipes.finetune.images import TrainImages

NATIVE = PreprocessConfig(mode="native", crop_size=32, max_crops=6)
DEDUPE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pool2" / "dedupe.py"


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_native_mode_scores_the_files_own_pixels():
    image = _noise(300, 200)
    assert working_size(image.size, NATIVE) == (300, 200)  # a large image is never shrunk
    assert decode_short_side(NATIVE) is None  # JPEGs decode at full scale
    crops = preprocess(image, NATIVE)
    boxes = scoring_boxes(image.size, NATIVE)
    assert len(crops) == 6 and torch.equal(crops, crops_to_tensor(image, boxes, NATIVE))
    assert working_size((20, 40), NATIVE) == (32, 64)  # smaller than a crop: enlarged to one
    assert "never shrunk" in NATIVE.describe()


def test_rescale_draws_its_filter_and_stays_within_the_range():
    aug = AugmentConfig(rescale_p=1.0, min_scale=0.4, max_scale=1.0, filters=("box", "lanczos"), blur_p=0,
                        jpeg_p=0, webp_p=0, png_p=0)
    sizes = {augment_image(_noise(100, 100), aug, np.random.default_rng(seed)).size[0] for seed in range(20)}
    assert min(sizes) >= 40 and max(sizes) <= 100 and len(sizes) > 5
    with pytest.raises(ValueError):
        AugmentConfig(filters=("nearest",))


def test_crop_cache_cuts_native_regions_once_and_recuts_an_edited_file(tmp_path):
    image = _noise(900, 700)
    path = tmp_path / "big.png"
    image.save(path)
    cache = CropCache(tmp_path / "cache", region=576, regions=3)
    regions = cache.regions_of(str(path))
    assert len(regions) == 3
    source = np.asarray(image)
    for region in regions:
        pixels = np.asarray(Image.open(region))
        assert pixels.shape == (576, 576, 3)
        hits = [(x, y) for y in range(0, 700 - 575) for x in range(0, 900 - 575)
                if np.array_equal(source[y, x:x + 4], pixels[0, :4]) and np.array_equal(source[y:y + 576, x:x + 576], pixels)]
        assert hits  # the file's own pixels, no resampling
    stamps = [r.stat().st_mtime_ns for r in regions]
    assert cache.regions_of(str(path)) == regions and [r.stat().st_mtime_ns for r in regions] == stamps
    small = tmp_path / "small.png"
    _noise(120, 80).save(small)
    assert [Image.open(r).size for r in cache.regions_of(str(small))] == [(120, 80)]  # fits: stored whole
    _noise(130, 80, seed=1).save(small)
    os.utime(small, ns=(1, 1))
    assert [Image.open(r).size for r in cache.regions_of(str(small))] == [(130, 80)]  # edited: cut again


def test_training_views_from_the_cache_are_native_crops(tmp_path):
    image = _noise(400, 300)
    path = tmp_path / "a.png"
    image.save(path)
    samples = [ds.Sample(str(path), 1, "src")]
    views = TrainImages(samples, NATIVE, NO_AUGMENT, np.ones(1), seed=0, cache=CropCache(tmp_path / "c", region=96))
    view = views[0][0]
    full = crops_to_tensor(image, [(0, 0, 400, 300)], NATIVE)[0]
    assert any(torch.equal(full[:, y:y + 32, x:x + 32], view) for y in range(300 - 31) for x in range(400 - 31))


def _exclusion_lists(folder: Path, repos: list[str], hashes: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "EXCLUDE_REPOS.txt").write_text("\n".join(repos) + "\n")
    (folder / "EXCLUDE_HASHES.txt").write_text("".join(f"{h:016x}\n" for h in hashes))
    return folder


def test_exclusion_drops_near_duplicates_and_refuses_excluded_repositories(tmp_path):
    held_out = _noise(200, 160, seed=5)
    copy = tmp_path / "resaved.jpg"
    held_out.resize((150, 120)).save(copy, quality=80)  # a resized, re-compressed evaluation image
    other = tmp_path / "other.png"
    _noise(200, 160, seed=6).save(other)
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
        _noise(*size, seed=seed).save(path)
        assert image_hashes(path) == dedupe.hashes(path)


def test_band_is_narrowed_to_the_uncertain_share():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200), np.ones(200)]
    scores = np.clip(np.r_[rng.normal(0.4, 0.15, 200), rng.normal(0.6, 0.15, 200)], 0, 1)  # weakly separated
    wide, t, _ = choose_thresholds(labels, scores)
    inside = np.mean((scores >= wide.human_below) & (scores < wide.ai_above))
    assert inside > 0.3
    band, t2, details = choose_thresholds(labels, scores, max_uncertain=0.1)
    inside = np.mean((scores >= band.human_below) & (scores < band.ai_above))
    assert t2 == t and 0.07 <= inside <= 0.1 and band.human_below <= t <= band.ai_above
    assert details["band"]["coverage"] >= 0.9


def test_aligned_pairs_share_their_real_images_group_on_every_split(tmp_path):
    from training.data.aligned_pairs import TinyAutoencoder, make_pairs, write_manifest

    real = []
    for source in ("cams", "paint", "scans"):
        for k in range(2):
            path = tmp_path / "in" / source / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            _noise(40 + 8 * k, 36, seed=len(real)).save(path)
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


def test_evaluation_can_try_another_crop_cap(tmp_path):
    from conftest import make_tiny_checkpoint
    from training.evaluation.evaluate import evaluate

    model = make_tiny_checkpoint(tmp_path / "m.safetensors", preprocess=NATIVE)
    samples = []
    for k in range(4):
        path = tmp_path / f"{k}.png"
        _noise(160, 96, seed=k).save(path)
        samples.append(ds.Sample(str(path), k % 2, f"s{k}"))
    reports = {n: evaluate(model, samples, tmp_path / f"e{n}", robustness=False, plots=False, device="cpu",
                           log=lambda m: None, max_crops=n) for n in (1, 9)}
    assert reports[1]["preprocess"]["max_crops"] == 1 and reports[9]["preprocess"]["max_crops"] == 9
    scores = {n: [row["mean_p_ai"] for row in r["per_source"]] for n, r in reports.items()}
    assert scores[1] != scores[9]  # nine crops see other pixels than one
