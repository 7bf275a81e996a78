"""Draw the sample images shipped in resources/samples/ (run once; the output is committed).

Every pixel is computed here from formulas and a fixed seed: no photo, no data set, no third-party
image, so the files carry no licence beyond the project's own (MIT). Each file is < 100 KB.
They exist so a new user (and the packaging smoke test) has something to scan; they are not a
benchmark and say nothing about the model's accuracy.

    python packaging/make_samples.py [OUT_DIR]     # default: resources/samples
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (384, 288)


def _grid():
    w, h = SIZE
    return np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))


def fractal() -> Image.Image:
    """A Mandelbrot set close-up, coloured by escape time."""
    w, h = SIZE
    x, y = np.meshgrid(np.linspace(-0.80, -0.70, w), np.linspace(0.08, 0.155, h))
    c = x + 1j * y
    z = np.zeros_like(c)
    count = np.zeros(c.shape, dtype=np.float64)
    for _ in range(120):
        mask = np.abs(z) <= 2
        z[mask] = z[mask] ** 2 + c[mask]
        count += mask
    t = count / count.max()
    rgb = np.stack([np.sin(6 * t) * 0.5 + 0.5, t ** 0.5, 1 - t], axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


def landscape(rng: np.random.Generator) -> Image.Image:
    """Sky gradient, sun, hills from summed sines, blurred noise as texture: a 'painted' scene."""
    w, h = SIZE
    xx, yy = _grid()
    sky = np.stack([0.45 + 0.4 * yy, 0.65 + 0.25 * yy, 0.95 - 0.1 * yy], axis=-1)
    image = Image.fromarray((np.clip(sky, 0, 1) * 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((w * 0.7, h * 0.1, w * 0.7 + 50, h * 0.1 + 50), fill=(255, 214, 120))
    for layer, (colour, base) in enumerate([((70, 120, 70), 0.55), ((40, 90, 50), 0.7), ((30, 60, 35), 0.85)]):
        phase = rng.uniform(0, 6.28, 3)
        xs = np.arange(w)
        ridge = h * base + 18 * np.sin(xs / 37 + phase[0]) + 9 * np.sin(xs / 13 + phase[1]) + 4 * np.sin(xs / 5 + phase[2])
        draw.polygon([(0, h)] + [(int(x), int(y)) for x, y in zip(xs, ridge)] + [(w, h)], fill=colour)
    noise = rng.normal(0, 10, (h, w, 1))
    arr = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").filter(ImageFilter.SMOOTH)


def shapes(rng: np.random.Generator) -> Image.Image:
    """Flat-coloured overlapping shapes on paper: like a child's collage."""
    image = Image.new("RGB", SIZE, (245, 240, 228))
    draw = ImageDraw.Draw(image)
    w, h = SIZE
    for _ in range(24):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        x1, y1 = x0 + rng.integers(20, 120), y0 + rng.integers(20, 120)
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour, outline=(20, 20, 20))
    return image


def marble(rng: np.random.Generator) -> Image.Image:
    """Turbulent sine 'marble' from layered random waves."""
    xx, yy = _grid()
    turbulence = np.zeros_like(xx)
    for octave in range(5):
        f = 2 ** octave * 3
        a, b = rng.uniform(0, 6.28, 2)
        turbulence += np.sin(f * xx * 6.28 + a) * np.cos(f * yy * 6.28 + b) / (octave + 1)
    veins = np.sin(10 * xx + 4 * turbulence) * 0.5 + 0.5
    rgb = np.stack([0.85 * veins + 0.1, 0.8 * veins + 0.12, 0.7 * veins + 0.2], axis=-1)
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")


def grain(rng: np.random.Generator) -> Image.Image:
    """A soft radial gradient with sensor-like noise, saved as a small portrait-orientation JPEG."""
    w, h = SIZE[1], SIZE[0]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - w / 2, yy - h / 2) / np.hypot(w / 2, h / 2)
    base = np.stack([200 - 120 * r, 150 - 90 * r, 110 - 60 * r], axis=-1)
    arr = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    fractal().save(out / "fractal.png", optimize=True)
    landscape(rng).save(out / "landscape.jpg", quality=85)
    shapes(rng).save(out / "collage.png", optimize=True)
    marble(rng).save(out / "marble.jpg", quality=85)
    grain(rng).save(out / "gradient_portrait.jpg", quality=85)
    for path in sorted(out.iterdir()):
        assert path.stat().st_size < 100_000, path
        print(f"{path}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "resources" / "samples")
