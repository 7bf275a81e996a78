"""Whose JPEG quantisation tables these are, and the quality they correspond to.

libjpeg (and every library built on it: Pillow, ImageMagick, browsers' canvas export...) makes its
tables by scaling the two example tables of the JPEG standard (ITU-T T.81 Annex K) with one formula
(``jpeg_quality_scaling``): scale = 5000 / q below 50, 200 - 2q from 50 up. A file whose tables are
exactly that scaling was saved by such a library at that quality. Cameras, Photoshop and some
platforms write tables of their own; for those the quality is the IJG quality whose tables come
closest (a rough figure, said as such). Photoshop's own levels are recognised through the tables
Pillow ships as its presets (``PIL.JpegPresets``, "equivalent to the Photoshop settings").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# T.81 Annex K, natural (row-major) order, as Pillow's ``im.quantization`` gives them.
IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.int64)
IJG_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, np.int64)

STANDARD = "standard"  # exactly libjpeg's scaled tables: a library's save
PHOTOSHOP = "photoshop"  # one of Photoshop's levels (as Pillow's presets record them)
CUSTOM = "custom"  # anything else: a camera's, an editor's or a platform's own tables


@dataclass(frozen=True)
class QualityFit:
    quality: int  # the IJG quality (1-100) whose tables match, or come closest
    tables: str  # STANDARD, PHOTOSHOP or CUSTOM
    name: str = ""  # the Photoshop preset, when tables == PHOTOSHOP


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table (baseline: at most 255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


_IJG = {q: (ijg_table(IJG_LUMA, q), ijg_table(IJG_CHROMA, q)) for q in range(1, 101)}


def _photoshop_tables() -> dict[str, tuple[np.ndarray, ...]]:
    from PIL import JpegPresets

    return {name: tuple(np.asarray(t, np.int64) for t in preset["quantization"])
            for name, preset in JpegPresets.presets.items()}


def estimate_quality(tables: dict[int, list[int]]) -> QualityFit | None:
    """The quality of a JPEG from its tables (Pillow's ``im.quantization``); None without a usable one."""
    found = [np.asarray(tables[k], np.int64) for k in sorted(tables)[:2]
             if len(tables[k]) == 64]
    if not found:
        return None
    for name, preset in _photoshop_tables().items():
        if len(preset) >= len(found) and all(np.array_equal(a, b) for a, b in zip(found, preset)):
            return QualityFit(_closest(found), PHOTOSHOP, name)
    for quality in range(100, 0, -1):  # the highest quality that gives these tables (99..100 can tie)
        if all(np.array_equal(a, b) for a, b in zip(found, _IJG[quality])):
            return QualityFit(quality, STANDARD)
    return QualityFit(_closest(found), CUSTOM)


def _closest(found: list[np.ndarray]) -> int:
    """The IJG quality whose tables are nearest in log scale (each step counts by its ratio)."""
    logs = [np.log(np.maximum(t, 1)) for t in found]

    def distance(q: int) -> float:
        return sum(float(np.abs(log - np.log(ref)).mean()) for log, ref in zip(logs, _IJG[q]))

    return min(range(1, 101), key=distance)
