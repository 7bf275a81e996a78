"""The copy's history (provenance/copy_history.py) on files the tests make: JPEG quality and tables,
layout, double saves, resizing against EXIF, no EXIF, screenshots, PNGs converted from JPEGs, the
reliability note and the line that sets provenance beside the pixel score."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.imageio import load_image
from model.results import copy_columns
from provenance import NOTE_SEPARATOR
from provenance.copy_history import read_copy_history, reliability_note
from provenance.jpeg_tables import CUSTOM, IJG_LUMA, PHOTOSHOP, STANDARD, estimate_quality, ijg_table
from provenance.summary import beside_pixels

QUALITIES = range(30, 101)


def photo_like(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """Texture at several scales with fine grain, so DCT histograms look like a photo's."""
    rng = np.random.default_rng(seed)
    total = np.zeros((height, width, 3), np.float32)
    for scale, amplitude in ((32, 60), (8, 30), (2, 12), (1, 6)):
        small = rng.normal(0, 1, (height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        for channel in range(3):
            layer = Image.fromarray(small[..., channel]).resize((width + 2 * scale, height + 2 * scale),
                                                                 Image.Resampling.BICUBIC)
            total[..., channel] += amplitude * np.asarray(layer)[:height, :width]
    return Image.fromarray(np.clip(128 + total, 0, 255).astype(np.uint8))


def encoded(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return Image.open(buffer)


def camera_exif(make="Canon", model="Canon EOS 250D", size=(6000, 4000)) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    if size:
        exif.get_ifd(0x8769).update({0xA002: size[0], 0xA003: size[1]})
    return exif


def history_of(path: Path) -> dict:
    """As the scan's decoder computes it: from the pixels it decoded, at full scale."""
    decoded = load_image(path)
    return read_copy_history(path, decoded.image, decoded.box)


def test_quality_of_pillow_saves_is_read_exactly_from_the_tables(tmp_path):
    image = photo_like(64, 48)
    errors = {}
    for quality in QUALITIES:
        path = tmp_path / f"q{quality}.jpg"
        image.save(path, quality=quality)
        history = history_of(path)
        assert history["tables"] == STANDARD, quality
        errors[quality] = abs(history["jpeg_quality"] - quality)
    assert max(errors.values()) == 0, {q: e for q, e in errors.items() if e}


def test_own_and_photoshop_tables_are_named_and_their_quality_is_rough():
    for quality in (50, 70, 85, 95):  # a camera-like table: libjpeg's, each step moved by up to 12%
        rng = np.random.default_rng(quality)
        own = np.clip(np.round(ijg_table(IJG_LUMA, quality) * rng.uniform(0.88, 1.12, 64)), 1, 255)
        fit = estimate_quality({0: own.astype(int).tolist()})
        assert fit.tables == CUSTOM and abs(fit.quality - quality) <= 5, (quality, fit)
    photoshop = encoded(photo_like(64, 48), "JPEG", quality="web_high")
    assert estimate_quality(photoshop.quantization).tables == PHOTOSHOP


def test_subsampling_and_progressive_are_reported(tmp_path):
    image = photo_like(64, 48)
    image.save(tmp_path / "a.jpg", quality=80, subsampling=0)
    image.save(tmp_path / "b.jpg", quality=80, subsampling=2, progressive=True)
    first, second = history_of(tmp_path / "a.jpg"), history_of(tmp_path / "b.jpg")
    assert (first["subsampling"], first["progressive"]) == ("4:4:4", False)
    assert (second["subsampling"], second["progressive"]) == ("4:2:0", True)
    assert "baseline, chroma 4:4:4" in first["findings"][0] and "progressive, chroma 4:2:0" in second["findings"][0]
    note = copy_columns(second, {})["copy_note"]
    assert note.split(NOTE_SEPARATOR) == second["findings"]  # the app splits the column back into findings


def test_a_phones_multi_picture_jpeg_is_read_as_a_jpeg(tmp_path):
    image = photo_like(320, 240)
    image.save(tmp_path / "phone.jpg", "MPO", quality=72, save_all=True, append_images=[image.convert("L")])
    with Image.open(tmp_path / "phone.jpg") as opened:
        assert opened.format == "MPO"
    history = history_of(tmp_path / "phone.jpg")
    assert history["jpeg_quality"] == 72 and history["double_jpeg"] == "none seen"


@pytest.mark.parametrize("seed", range(3))
def test_a_double_save_at_another_quality_shows_signs_a_single_save_does_not(tmp_path, seed):
    image = photo_like(seed=seed)
    image.save(tmp_path / "once.jpg", quality=70)
    encoded(image, "JPEG", quality=50).save(tmp_path / "twice.jpg", quality=70)
    once, twice = history_of(tmp_path / "once.jpg"), history_of(tmp_path / "twice.jpg")
    assert once["double_jpeg"] == "none seen" and twice["double_jpeg"] == "signs"
    assert any("earlier JPEG save" in f and "not proof" in f for f in twice["findings"])
    assert not any("earlier JPEG save" in f for f in once["findings"])


def test_double_save_signs_survive_an_exif_rotation(tmp_path):
    image = photo_like(seed=5).crop((0, 0, 637, 477))  # sizes off the 8-pixel grid: rotation moves it
    exif = Image.Exif()
    exif[0x0112] = 6
    encoded(image, "JPEG", quality=50).save(tmp_path / "turned.jpg", quality=70, exif=exif)
    history = history_of(tmp_path / "turned.jpg")
    assert (history["width"], history["height"]) == (477, 637) and history["double_jpeg"] == "signs"


def test_resized_copy_is_told_from_the_size_the_camera_recorded(tmp_path):
    image = photo_like(800, 533)
    image.save(tmp_path / "web.jpg", quality=85, exif=camera_exif())
    photo_like(600, 400).save(tmp_path / "original.jpg", quality=85, exif=camera_exif(size=(600, 400)))
    image.save(tmp_path / "no_size.jpg", quality=85, exif=camera_exif(size=None))
    web, original, no_size = (history_of(tmp_path / n) for n in ("web.jpg", "original.jpg", "no_size.jpg"))
    assert web["resized"] == "yes" and web["camera"] == "Canon EOS 250D"
    assert any("EXIF records 6000×4000 (24.0 MP)" in f and "800×533 (0.4 MP)" in f for f in web["findings"])
    assert original["resized"] == "no"
    assert no_size["resized"] == "likely" and any("probably resized" in f for f in no_size["findings"])


def test_no_exif_is_said_and_camera_exif_is_not_called_missing(tmp_path):
    image = photo_like(320, 240)
    image.save(tmp_path / "bare.jpg", quality=90)
    image.save(tmp_path / "camera.jpg", quality=90, exif=camera_exif())
    bare, camera = history_of(tmp_path / "bare.jpg"), history_of(tmp_path / "camera.jpg")
    assert not bare["exif"] and any(f.startswith("no EXIF") for f in bare["findings"])
    assert camera["exif"] and not any(f.startswith("no EXIF") for f in camera["findings"])
    assert bare["resized"] == ""  # nothing in the file says what the original size was


def test_a_screen_sized_png_without_camera_data_looks_like_a_screenshot(tmp_path):
    screen = Image.new("RGB", (1920, 1080), (240, 240, 240))
    screen.paste((30, 90, 200), (0, 0, 1920, 64))  # a title bar
    screen.save(tmp_path / "screen.png")
    photo_like(1000, 700).save(tmp_path / "export.png")
    shot, export = history_of(tmp_path / "screen.png"), history_of(tmp_path / "export.png")
    assert shot["screenshot"] and any("looks like a screenshot or an export" in f for f in shot["findings"])
    assert not export["screenshot"] and not export["blocking"]
    assert "looks like a screenshot" in reliability_note(shot)


def test_a_png_holding_jpeg_blocking_is_called_converted(tmp_path):
    for seed in range(3):
        image = photo_like(seed=seed)
        encoded(image, "JPEG", quality=60).save(tmp_path / f"converted{seed}.png")
        image.save(tmp_path / f"clean{seed}.png")
        encoded(image, "JPEG", quality=60).save(tmp_path / f"converted{seed}.webp", lossless=True)
        converted, clean = history_of(tmp_path / f"converted{seed}.png"), history_of(tmp_path / f"clean{seed}.png")
        assert converted["blocking"] and any("converted from a JPEG" in f for f in converted["findings"])
        assert not clean["blocking"]
        assert history_of(tmp_path / f"converted{seed}.webp")["blocking"]


def test_reliability_note_reads_the_model_cards_tier_figures_when_there_are_some(tmp_path):
    photo_like(640, 480).save(tmp_path / "small.jpg", quality=85)
    photo_like(1400, 1000).save(tmp_path / "large.jpg", quality=50)
    photo_like(1400, 1000).save(tmp_path / "fine.jpg", quality=92)
    small, low, fine = (history_of(tmp_path / n) for n in ("small.jpg", "large.jpg", "fine.jpg"))
    metrics = {"tiers": {"web": {"photo_called_ai": 0.12}, "hard": {"photo_called_ai": 0.31}}}
    assert "only 0.3 MP" in copy_columns(small, {})["reliability_note"]
    assert "%" not in copy_columns(small, {})["reliability_note"]  # no figures: no number made up
    assert "calls 12% of real photos AI" in copy_columns(small, metrics)["reliability_note"]
    assert "quality about 50" in copy_columns(low, metrics)["reliability_note"]
    assert "calls 31% of real photos AI" in copy_columns(low, metrics)["reliability_note"]
    assert copy_columns(fine, metrics)["reliability_note"] == ""
    columns = copy_columns(low, {})
    assert columns["jpeg_quality"] == 50 and columns["copy_note"].startswith("JPEG quality about 50")


def test_a_file_whose_header_cannot_be_read_again_has_no_history(tmp_path):
    path = tmp_path / "gone.jpg"
    photo_like(64, 48).save(path)
    image = load_image(path).image
    path.write_bytes(b"not an image any more")
    assert read_copy_history(path, image) == {}


def test_provenance_and_pixels_are_set_side_by_side_in_one_line():
    signed = beside_pixels("ai-declared", "C2PA: ChatGPT, signature intact, signer not on trust list; "
                                          "AI-generated (trainedAlgorithmicMedia)", 0.329)
    assert signed == ("Content credentials (C2PA: ChatGPT, signature intact, signer not on trust list) declare "
                      "this image AI-generated; the pixels alone score 32%")
    unsigned = beside_pixels("ai-declared", "PNG text: Stable Diffusion parameters (unsigned, easy to forge or strip)",
                             0.8)
    assert unsigned == ("Unsigned metadata (PNG text: Stable Diffusion parameters) declares this image "
                        "AI-generated; the pixels alone score 80%")
    assert "a camera capture" in beside_pixels("camera-signed", "C2PA: Pixel, signature valid; camera capture", 0.7)
    assert beside_pixels("none", "No provenance metadata", 0.5) == ""
    assert beside_pixels("ai-declared", "C2PA: x, signature valid", None) == ""
