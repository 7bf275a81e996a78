"""Traces that JPEG compression leaves in decoded pixels: the 8x8 block grid, and double quantisation.

Both work on the pixels the scan's decoder already has (no second decode), on one central window of
at most WINDOW x WINDOW pixels at the file's own scale (never resampled: resampling erases the grid).

* :func:`blockiness`: JPEG codes 8x8 blocks independently, so pixels across block borders differ
  in a way pixels inside blocks do not. The grid's phase is where the mean step between neighbouring
  columns (rows) peaks among the 8 phases; its strength is Fan & de Queiroz's measure ("Identification
  of bitmap compression history", IEEE TIP 2003): the distance between the histograms of a
  second-order difference taken inside blocks and across block corners. It is near 0 for images never
  saved as JPEG and grows as the JPEG quality falls (docs/copy-history.md gives the measured rates).
  Pixel art scaled by 8, screenshots of JPEG-compressed pages and some generators' 8-pixel latent grids
  can show it too: a sign, not proof.
* :func:`double_quantisation`: Popescu & Farid, "Statistical tools for digital forensics" (2004), and
  Lukáš & Fridrich (2003): a JPEG quantised twice with different steps has periodic peaks and holes
  in the histograms of its DCT coefficients, where a single save has smooth, unimodal ones. The
  coefficients are recomputed from the pixels on the file's own grid and divided by its table's steps.
  It sees only an earlier save at another quality on the same 8x8 grid (not one that was cropped or
  resized since), and it can miss one (or be fooled by heavy clipping): its answer says "signs".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW = 512  # pixels per side, at most, looked at (centre of the image): 4,096 blocks
BLOCKING_SCORE = 0.5  # Fan & de Queiroz's K at or above this: JPEG-like blocking
# Low-frequency coefficients (row, column) whose histograms are examined: they hold most of the mass.
COEFFICIENTS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2))
MIN_BLOCKS = 256  # fewer blocks give histograms too noisy to read
MIN_BIN = 20  # a histogram bin needs this many coefficients around it to be judged
DOUBLE_SCORE = 0.12  # periodicity above which an earlier save is reported (docs/copy-history.md: both sides)
ON_GRID = 0.12  # recomputed coefficients this close to multiples of the steps: the file's own grid


def luminance(rgb: np.ndarray) -> np.ndarray:
    """JPEG's Y (ITU-R BT.601) as float32 from uint8 RGB, (H, W)."""
    rgb = rgb.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


@dataclass(frozen=True)
class Blocking:
    score: float  # Fan & de Queiroz's K on the grid's phase (about 0: no JPEG grid)
    phase: tuple[int, int]  # (row, column) where blocks start in the window

    @property
    def found(self) -> bool:
        return self.score >= BLOCKING_SCORE


def blockiness(y: np.ndarray) -> Blocking | None:
    """The 8x8 grid's phase and strength in a luminance window; None when under 4 blocks a side."""
    if min(y.shape) < 40:
        return None
    phases = []
    for axis in (0, 1):
        steps = np.abs(np.diff(y, axis=axis)).mean(axis=1 - axis)  # per row/column border
        strongest = int(np.argmax([steps[p::8].mean() for p in range(8)]))
        phases.append((strongest + 1) % 8)  # the border after pixel p: blocks start at p + 1
    top, left = phases
    h, w = (y.shape[0] - top) // 8 * 8, (y.shape[1] - left) // 8 * 8
    b = y[top:top + h, left:left + w].reshape(h // 8, 8, w // 8, 8)
    inside = np.abs(b[:, 3, :, 3] - b[:, 3, :, 4] - b[:, 4, :, 3] + b[:, 4, :, 4])
    corner = np.abs(b[:-1, 7, :-1, 7] - b[:-1, 7, 1:, 0] - b[1:, 0, :-1, 7] + b[1:, 0, 1:, 0])
    bins = np.arange(0, 61)
    h_inside = np.histogram(np.minimum(inside, 59.5), bins)[0] / inside.size
    h_corner = np.histogram(np.minimum(corner, 59.5), bins)[0] / corner.size
    return Blocking(float(np.abs(h_inside - h_corner).sum()), (top, left))


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    matrix = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix()


def _blocks_dct(y: np.ndarray, top: int, left: int) -> np.ndarray:
    """DCT of every whole 8x8 block starting at (top, left): (N, 8, 8), JPEG's level shift applied."""
    h, w = (y.shape[0] - top) // 8 * 8, (y.shape[1] - left) // 8 * 8
    tiles = (y[top:top + h, left:left + w] - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    return _DCT @ tiles.reshape(-1, 8, 8) @ _DCT.T


@dataclass(frozen=True)
class DoubleQuantisation:
    score: float  # periodicity of the coefficient histograms (0: smooth, as after one save)
    checked: int  # coefficients whose histograms were judged

    @property
    def found(self) -> bool:
        return self.checked > 0 and self.score >= DOUBLE_SCORE


def double_quantisation(y: np.ndarray, luma_table: list[int],
                        phases: list[tuple[int, int]]) -> DoubleQuantisation | None:
    """Signs of an earlier quantisation with other steps; None when these pixels are not on the file's
    own JPEG grid at full scale (no phase where the coefficients fall on multiples of the steps)."""
    table = np.asarray(luma_table, np.float64).reshape(8, 8)
    best = None
    for top, left in dict.fromkeys(phases):
        coefficients = _blocks_dct(y, top, left)
        if len(coefficients) < MIN_BLOCKS:
            return None
        quotients = coefficients / table
        steps = [quotients[:, r, c] for r, c in COEFFICIENTS if table[r, c] >= 2]
        if not steps:
            return None
        off_grid = float(np.mean([np.abs(q - np.round(q)).mean() for q in steps]))
        if best is None or off_grid < best[0]:
            best = (off_grid, steps)
    if best is None or best[0] > ON_GRID:
        return None
    scores = [s for s in (_periodicity(np.round(q).astype(np.int64)) for q in best[1]) if s is not None]
    return DoubleQuantisation(float(np.mean(scores)) if scores else 0.0, len(scores))


def _periodicity(levels: np.ndarray) -> float | None:
    """How far the histogram of |levels| strays above a smooth, decreasing one, as the mean excess of
    local peaks over the geometric mean of their neighbours, in log units (bins with enough counts)."""
    counts = np.bincount(np.abs(levels), minlength=3)
    excess = []
    for k in range(2, len(counts) - 1):
        left, middle, right = counts[k - 1], counts[k], counts[k + 1]
        if min(left, right) < MIN_BIN:
            break
        excess.append(max(0.0, np.log(max(middle, 1)) - (np.log(left) + np.log(right)) / 2))
    if len(excess) < 3:
        return None
    return float(np.mean(excess))
