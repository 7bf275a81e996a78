from PIL import Image

import pytest

from conftest import save_image
from corpus import heic_claiming_size, png_header_only, rotated_image, truncated
from model import ImageLoadError, load_image


@pytest.mark.parametrize("name", ["r.jpg", "r.heic", "r.avif"])
def test_exif_rotation_is_applied(tmp_path, name):
    decoded = load_image(rotated_image(tmp_path / name))
    assert (decoded.width, decoded.height) == (40, 60)
    assert decoded.image.size == (40, 60)
    red, green, blue = decoded.image.getpixel((20, 5))  # the stored left half is now on top
    assert red > 200 and blue < 60


@pytest.mark.parametrize("mode, extra", [("CMYK", {}), ("L", {}), ("1", {}), ("LA", {}), ("RGBA", {}),
                                         ("P", {"transparency": 0}), ("I;16", {})])
def test_any_mode_becomes_rgb(tmp_path, mode, extra):
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    if mode == "I;16":
        Image.new("I;16", (20, 10), 65535).save(tmp_path / "x.png")
    else:
        save_image(tmp_path / "x.png", width=20, height=10, mode=mode, fmt=fmt, **extra)
    decoded = load_image(tmp_path / "x.png")
    assert decoded.image.mode == "RGB" and decoded.image.size == (20, 10)
    if mode == "I;16":
        assert decoded.image.getpixel((0, 0)) == (255, 255, 255)  # 16-bit white stays white, not clipped


def test_transparent_pixels_land_on_white(tmp_path):
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").image.getpixel((3, 3)) == (255, 255, 255)


@pytest.mark.parametrize("name, fmt", [("phone.heic", "HEIF"), ("web.avif", "AVIF")])
def test_heic_and_avif_decode_at_their_size(tmp_path, name, fmt):
    save_image(tmp_path / name, width=120, height=90, quality=80)
    decoded = load_image(tmp_path / name)
    assert decoded.format == fmt and (decoded.width, decoded.height) == (120, 90)
    assert decoded.image.mode == "RGB" and decoded.image.size == (120, 90)


def test_jpeg_draft_decodes_smaller_but_reports_full_size(tmp_path):
    save_image(tmp_path / "big.jpg", width=1600, height=1200, quality=90)
    decoded = load_image(tmp_path / "big.jpg", min_short_side=224)
    assert (decoded.width, decoded.height) == (1600, 1200)
    assert 224 <= min(decoded.image.size) < 600


@pytest.mark.parametrize("name, data, reason", [
    ("empty.jpg", b"", "empty file"),
    ("text.jpg", b"plain text", "not an image"),
])
def test_bad_files_raise_one_clear_sentence(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ImageLoadError, match=reason):
        load_image(tmp_path / name)


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF", "AVIF"])
def test_truncated_file_says_so(tmp_path, fmt):
    with pytest.raises(ImageLoadError, match="truncated or damaged"):
        load_image(truncated(tmp_path / "cut", fmt))


def test_decompression_bomb_is_refused_with_its_size(tmp_path):
    with pytest.raises(ImageLoadError, match="too large.*900 megapixels"):
        load_image(png_header_only(tmp_path / "bomb.png", 30000, 30000))
    with pytest.raises(ImageLoadError, match="too large.*400 megapixels"):
        load_image(heic_claiming_size(tmp_path / "bomb.heic", 20000, 20000))


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "gone.jpg")
