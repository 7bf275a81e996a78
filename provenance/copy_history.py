"""The copy's history: what the file's bytes say about how far it is from an original.

Journalists and moderators rarely hold the original: they hold what a website, a messaging app or a
screenshot made of it. :func:`read_copy_history` reads, for one file, from its header (no pixels
decoded: Pillow parses the JPEG tables, EXIF and PNG chunks when it opens a file) and from the pixels
the scan's decoder already has (model/decoding.py calls it there, so nothing is decoded twice):

* JPEG: quality from the quantisation tables and whose tables they are (provenance.jpeg_tables),
  chroma subsampling, progressive or baseline, signs of an earlier save at another quality
  (provenance.jpeg_traces);
* size: the megapixels against the size the camera recorded in EXIF (resized), no EXIF at all, a
  screen-sized PNG without camera data (a screenshot or an export);
* conversions: a PNG, WebP, BMP or TIFF holding JPEG's 8x8 blocking.

Each finding is one sentence that says how sure it is; none is proof. :func:`far_from_original` says
why a copy is far from an original (the model is less reliable there: see :func:`reliability_note`).
Never raises for a strange file: what cannot be read is left out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, JpegImagePlugin

from . import NOTE_SEPARATOR, jpeg_tables, jpeg_traces
from .reader import camera_name

SMALL_MP = 1.0  # below: far from a camera original (the scan's reliability note)
LOW_QUALITY = 75  # JPEG quality below: far from an original
HARD_LONG_SIDE, HARD_QUALITY = 512, 60  # the 'hard' tier's copies: longer side 320-512 px, JPEG q35-60
CAMERA_MIN_MP = 2.0  # a file with camera EXIF below this is probably resized (phones save 8-50 MP)
RESIZED_MARGIN = 1.02  # EXIF size larger than the file's by more than this on each side: resized
BLOCKING_FORMATS = ("PNG", "WEBP", "BMP", "TIFF")
SCREENSHOT_FORMATS = ("PNG", "WEBP", "BMP")
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: a phone's JPEG with more pictures (depth maps...) after the first
# Common display sizes in pixels (desktop, laptop, phone and tablet screens).
_SCREENS = frozenset({
    (1024, 768), (1280, 720), (1280, 800), (1280, 1024), (1366, 768), (1440, 900), (1536, 864),
    (1600, 900), (1680, 1050), (1920, 1080), (1920, 1200), (2048, 1536), (2560, 1080), (2560, 1440),
    (2560, 1600), (2880, 1800), (3024, 1964), (3440, 1440), (3456, 2234), (3840, 2160), (5120, 2880),
    (750, 1334), (828, 1792), (1080, 1920), (1080, 2340), (1080, 2400), (1125, 2436), (1170, 2532),
    (1179, 2556), (1242, 2688), (1284, 2778), (1290, 2796), (1440, 3088), (1440, 3200), (1620, 2160),
    (1668, 2388), (2048, 2732)})
SCREEN_SIZES = _SCREENS | {(h, w) for w, h in _SCREENS}  # either orientation
_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
_MAKE, _MODEL, _ORIENTATION, _EXIF_IFD = 0x010F, 0x0110, 0x0112, 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_SWAPS_AXES = {5, 6, 7, 8}

YES, LIKELY, NO = "yes", "likely", "no"  # the ``resized`` column ("" when the file does not say)


@dataclass
class CopyHistory:
    """What one file says about its history; a plain dict (``asdict``) crosses the decoder's pipe."""

    format: str = ""
    width: int = 0  # as a viewer shows it (EXIF orientation applied)
    height: int = 0
    jpeg_quality: int | None = None  # libjpeg-scale estimate from the tables
    tables: str = ""  # jpeg_tables.STANDARD / PHOTOSHOP / CUSTOM
    subsampling: str = ""  # '4:4:4', '4:2:2', '4:2:0'
    progressive: bool = False
    double_jpeg: str = ""  # 'signs', 'none seen', or '' (not checked)
    exif: bool = False
    camera: str = ""
    camera_size: tuple[int, int] | None = None  # EXIF PixelXDimension x PixelYDimension
    resized: str = ""  # YES, LIKELY, NO or '' (unknown)
    screenshot: bool = False
    blocking: bool = False  # JPEG-like 8x8 blocking in a format that is not JPEG
    findings: list[str] = field(default_factory=list)  # one clause each, saying how sure

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


def read_copy_history(path, image: Image.Image, box: tuple[int, int, int, int] | None = None) -> dict:
    """The history of the file at ``path`` as a dict (see CopyHistory); ``image`` is the RGB picture
    the decoder made of it (orientation applied), or the part of it at ``box`` (left, top, right,
    bottom). Empty when the header cannot be read again."""
    try:
        with Image.open(path) as header:
            history = _from_header(header)
            _pixel_traces(history, header, image, box or (0, 0, history.width, history.height))
    except Exception:  # the decoder read the file; a header it cannot re-read leaves no history
        return {}
    history.findings = _findings(history)
    return asdict(history)


def _exif(header: Image.Image) -> Image.Exif:
    """The EXIF read when the file was opened; a PNG's getexif() would decode the pixels to look for
    an eXIf chunk after them, so a PNG has only the EXIF found before its image data."""
    if header.format != "PNG":
        return header.getexif()
    exif = Image.Exif()
    if "exif" in header.info:
        exif.load(header.info["exif"])
    return exif


def _from_header(header: Image.Image) -> CopyHistory:
    exif = _exif(header)
    width, height = header.size
    if exif.get(_ORIENTATION) in _SWAPS_AXES:
        width, height = height, width
    history = CopyHistory(format=header.format or "", width=width, height=height, exif=len(exif) > 0)
    make, model = (str(exif.get(tag, "")).strip("\x00 ") for tag in (_MAKE, _MODEL))
    history.camera = (camera_name({"Make": make, "Model": model}) or "").replace(";", ",")  # NOTE_SEPARATOR
    sub = exif.get_ifd(_EXIF_IFD) if exif else {}
    size = (sub.get(_PIXEL_X), sub.get(_PIXEL_Y))
    if all(isinstance(v, int) and v > 0 for v in size):
        history.camera_size = (size[1], size[0]) if exif.get(_ORIENTATION) in _SWAPS_AXES else size
    if history.format in JPEG_FORMATS:
        fit = jpeg_tables.estimate_quality(getattr(header, "quantization", None) or {})
        if fit:
            history.jpeg_quality, history.tables = fit.quality, fit.tables
        history.subsampling = _SAMPLING.get(JpegImagePlugin.get_sampling(header), "")
        history.progressive = bool(header.info.get("progressive") or header.info.get("progression"))
    history.resized = _resized(history)
    history.screenshot = (history.format in SCREENSHOT_FORMATS and not history.camera
                          and (width, height) in SCREEN_SIZES)
    return history


def _resized(history: CopyHistory) -> str:
    if history.camera_size:
        cw, ch = history.camera_size
        if cw > history.width * RESIZED_MARGIN and ch > history.height * RESIZED_MARGIN:
            return YES
        return NO if (cw, ch) == (history.width, history.height) else ""
    if history.camera and history.megapixels < CAMERA_MIN_MP:
        return LIKELY
    return ""


def _pixel_traces(history: CopyHistory, header: Image.Image, image: Image.Image,
                  box: tuple[int, int, int, int]) -> None:
    """Blocking in non-JPEG formats; double quantisation in JPEGs the decoder read at full scale."""
    checks_jpeg = history.format in JPEG_FORMATS and history.jpeg_quality is not None
    if history.format not in BLOCKING_FORMATS and not checks_jpeg:
        return
    y = jpeg_traces.luminance(np.asarray(_window(image)))
    blocking = jpeg_traces.blockiness(y)
    if blocking is None:
        return
    if history.format in BLOCKING_FORMATS:
        history.blocking = blocking.found
        return
    left, top, right, bottom = box
    if image.size != (right - left, bottom - top):
        return  # decoded at reduced scale: the file's grid is gone from these pixels
    # Blocks start on multiples of 8 in the file; in a flipped or rotated one, at width (height) % 8.
    w, h = history.width, history.height
    phases = [(row, column) for row in ((-top) % 8, (h - top) % 8) for column in ((-left) % 8, (w - left) % 8)]
    phases.append(blocking.phase)
    found = jpeg_traces.double_quantisation(y, header.quantization[0], phases)
    if found is not None and found.checked:
        history.double_jpeg = "signs" if found.found else "none seen"


def _window(image: Image.Image) -> Image.Image:
    """The central window jpeg_traces looks at, cut before any copy of the whole picture is made."""
    size = jpeg_traces.WINDOW
    left = max(0, (image.width - size) // 2) // 8 * 8
    top = max(0, (image.height - size) // 2) // 8 * 8
    return image.crop((left, top, min(image.width, left + size), min(image.height, top + size)))


def _findings(h: CopyHistory) -> list[str]:
    found = []
    if h.jpeg_quality is not None:
        whose = {jpeg_tables.STANDARD: "libjpeg's standard tables: most libraries and apps, some cameras",
                 jpeg_tables.PHOTOSHOP: "Photoshop's tables",
                 jpeg_tables.CUSTOM: "own tables (a camera's, an editor's or a platform's), so only roughly"}
        layout = ", ".join(p for p in ("progressive" if h.progressive else "baseline",
                                       f"chroma {h.subsampling}" if h.subsampling else "") if p)
        found.append(f"JPEG quality about {h.jpeg_quality} ({whose[h.tables]}), {layout}")
    if h.double_jpeg == "signs":
        found.append("signs of an earlier JPEG save at another quality (DCT histograms, a sign, not proof)")
    size = f"{h.width}×{h.height} ({_mp(h.megapixels)} MP)"
    if h.resized == YES:
        cw, ch = h.camera_size
        found.append(f"resized or cropped: EXIF records {cw}×{ch} ({_mp(cw * ch / 1e6)} MP) from the camera, "
                     f"this copy is {size} (sure: read from the file)")
    elif h.resized == LIKELY:
        found.append(f"probably resized: camera EXIF ({h.camera}) but only {size}")
    elif h.resized == NO:
        found.append(f"the size the camera recorded, {size}")
    if h.screenshot:
        found.append(f"screen-sized {h.format} ({h.width}×{h.height}) without camera data: looks like a "
                     "screenshot or an export")
    elif not h.exif:
        found.append(f"no EXIF, {size}: removed by a platform or an editor, or never written "
                     "(screenshots, exports, generators)")
    if h.blocking:
        found.append(f"JPEG-like 8×8 blocking in a {h.format}: probably converted from a JPEG (a sign, not proof)")
    return found


def _mp(megapixels: float) -> str:
    return f"{megapixels:.1f}" if megapixels >= 0.1 else f"{megapixels:.2f}"


def far_from_original(history: dict) -> list[str]:
    """Why this copy is far from a camera original, in a few words each (empty: it is not, as far as
    its bytes tell)."""
    reasons = []
    megapixels = history.get("width", 0) * history.get("height", 0) / 1e6
    if history.get("width") and megapixels < SMALL_MP:
        reasons.append(f"only {_mp(megapixels)} MP")
    quality = history.get("jpeg_quality")
    if quality is not None and quality < LOW_QUALITY:
        reasons.append(f"JPEG quality about {quality}")
    if history.get("screenshot"):
        reasons.append("looks like a screenshot")
    return reasons


def copy_tier(history: dict) -> str:
    """The model card's tier (training/data/tiers.py) closest to this copy: 'hard' is a copy at most
    HARD_LONG_SIDE px long or a JPEG below HARD_QUALITY; 'web' is any other copy far from an original."""
    small = max(history.get("width", 0), history.get("height", 0)) <= HARD_LONG_SIDE
    return "hard" if small or (history.get("jpeg_quality") or 100) < HARD_QUALITY else "web"


def reliability_note(history: dict, false_positive: dict[str, float] | None = None) -> str:
    """A caution on the verdict for a copy far from an original; with the model card's per-tier
    false-positive rates (``{"web": 0.xx, "hard": 0.yy}``), the measured figure for copies like it."""
    reasons = far_from_original(history)
    if not reasons:
        return ""
    why = ", ".join(reasons)
    tier = copy_tier(history)
    rate = (false_positive or {}).get(tier)
    if isinstance(rate, (int, float)) and 0 <= rate <= 1:
        return (f"Far from an original ({why}): on copies like this one (the model card's '{tier}' tier), "
                f"the model calls {rate:.0%} of real photos AI. Weigh the verdict accordingly.")
    return (f"Far from an original ({why}): the model is less reliable on re-saved, shrunk or screenshotted "
            "copies. Weigh the verdict lightly and look for the original.")
