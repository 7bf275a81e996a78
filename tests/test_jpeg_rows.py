"""Native crops from a JPEG decoded only down to their last row must equal those of a full decode."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from conftest import noise_image
from model.config import PreprocessConfig
from model.decoding import decode_crops
from model.imageio import ImageLoadError, load_image
from model.jpeg_rows import TRANSPOSE, stored_box, top_rows
from model.preprocess import crop_pixels, scoring_region

NATIVE = PreprocessConfig(mode="native", crop_size=224, max_crops=4)
# Odd sizes, so that a box mapped one row or column off through a flip cannot go unnoticed.
STORED = (1201, 901)


@pytest.fixture(autouse=True)
def roomy_jpeg_writer(monkeypatch):
    """Pillow writes a grainy progressive 4:4:4 file only with a larger output buffer than its default."""
    monkeypatch.setattr(ImageFile, "MAXBLOCK", 1 << 26)


def grained(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """Noise plus per-pixel grain: chroma differs from pixel to pixel, so upsampling errors show."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(noise_image(width, height, seed), np.int16) + rng.integers(-40, 40, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image.convert(mode) if mode != "RGB" else image


def save_jpeg(path, size=STORED, orientation=1, mode="RGB", **options):
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    grained(*size, mode=mode).save(path, "JPEG", quality=options.pop("quality", 92), exif=exif, **options)
    return path


def full_decode_crops(path) -> np.ndarray:
    """What the scan cut before: the whole file decoded, rotated, then cropped."""
    return crop_pixels(load_image(path).image, NATIVE)


def decoded_part(path):
    return load_image(path, region=lambda size: scoring_region(size, NATIVE))


@pytest.mark.parametrize("options", [
    {"subsampling": 2}, {"subsampling": 1}, {"subsampling": 0},
    {"subsampling": 2, "progressive": True}, {"subsampling": 0, "progressive": True},
    {"mode": "L"}, {"mode": "CMYK"}, {"quality": 100, "subsampling": 2},
], ids=["420", "422", "444", "progressive-420", "progressive-444", "gray", "cmyk", "q100"])
def test_crops_from_the_rows_needed_equal_a_full_decode(tmp_path, options):
    path = save_jpeg(tmp_path / "photo.jpg", **options)
    assert decoded_part(path).box is not None  # the cut path was taken
    assert np.array_equal(decode_crops(str(path), NATIVE).pixels, full_decode_crops(path))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_crops_of_a_full_decode(tmp_path, orientation):
    path = save_jpeg(tmp_path / "turned.jpg", orientation=orientation)
    part = decoded_part(path)
    assert part.box is not None
    assert (part.width, part.height) == (STORED[::-1] if orientation >= 5 else STORED)
    assert np.array_equal(decode_crops(str(path), NATIVE).pixels, full_decode_crops(path))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_box_is_where_a_shown_box_comes_from(orientation):
    stored = grained(37, 23, seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.info["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    stored.save(buffer, "PNG", exif=exif)
    shown = ImageOps.exif_transpose(Image.open(buffer))
    box = (3, 5, 14, 9)  # off-centre, not square
    part = stored.crop(stored_box(box, orientation, stored.size))
    if orientation in TRANSPOSE:
        part = part.transpose(TRANSPOSE[orientation])
    assert np.array_equal(np.asarray(part), np.asarray(shown.crop(box)))


def test_files_the_cut_cannot_serve_decode_whole(tmp_path):
    portrait = save_jpeg(tmp_path / "portrait.jpg", size=(901, 1201))  # crops run from top to bottom
    grained(*STORED).save(tmp_path / "art.png")
    small = save_jpeg(tmp_path / "small.jpg", size=(300, 200))  # enlarged to a crop: resampled
    for path in (portrait, tmp_path / "art.png", small):
        assert decoded_part(path).box is None
        assert np.array_equal(decode_crops(str(path), NATIVE).pixels, full_decode_crops(path))


def test_a_file_cut_short_below_the_crops_still_reads_truncated(tmp_path):
    path = save_jpeg(tmp_path / "photo.jpg")
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.9)])
    with pytest.raises(ImageLoadError, match="truncated"):
        decode_crops(str(path), NATIVE)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00", b"not a jpeg at all",
                                  b"\xff\xd8\xff\xc3\x00\x0b\x08\x01\x00\x01\x00\x01\x01\x11\x00"])
def test_headers_it_does_not_understand_are_left_alone(data):
    assert top_rows(data, 10) is None


def test_a_multi_picture_jpeg_is_cut_on_its_first_picture(tmp_path):
    path = tmp_path / "phone.jpg"  # MPO: the photo, then e.g. a depth map or gain map
    grained(*STORED).save(path, "MPO", save_all=True, append_images=[grained(600, 450, seed=1)], quality=92)
    assert Image.open(path).format == "MPO"
    assert decoded_part(path).box is not None
    assert np.array_equal(decode_crops(str(path), NATIVE).pixels, full_decode_crops(path))
