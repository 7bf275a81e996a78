"""Render resources/icons/convitx.svg into the platform icon files the installers need.

    python packaging/make_icons.py [OUT_DIR]      # default: build/icons
    -> convitx.png (1024 px), convitx.ico (16..256 px, Windows), convitx.icns (16..1024 px, macOS)

Uses Qt's own SVG renderer (PySide6, already a dependency) offscreen, and Pillow to write .ico/.icns,
so it runs the same on every CI runner. build.spec calls it when resources/icons has no .ico/.icns.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render_png(svg: Path, size: int) -> bytes:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data)


def main(out: Path, svg: Path = ROOT / "resources" / "icons" / "convitx.svg") -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    big = Image.open(io.BytesIO(render_png(svg, 1024))).convert("RGBA")
    big.save(out / "convitx.png")
    big.save(out / "convitx.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    big.save(out / "convitx.icns")  # Pillow writes every standard size from 16 to 1024
    for name in ("convitx.png", "convitx.ico", "convitx.icns"):
        print(f"make_icons: {out / name} ({(out / name).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "icons")
