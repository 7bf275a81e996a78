"""Small thumbnails for the results table: made on demand in a background pool, kept in a bounded cache.

Only rows the table actually paints ask for one, so thousands of rows cost nothing until scrolled to.
The newest request runs first (the rows on screen now), and a file that cannot be read is not retried.
"""
from __future__ import annotations

import itertools
import logging
from collections import OrderedDict

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

log = logging.getLogger(__name__)

THUMBNAIL_PIXELS = 96  # device pixels; shown at 48 logical px, so sharp on 2x screens
CACHE_SIZE = 2000  # about 30 KB each


class _Bridge(QObject):
    loaded = Signal(str, object)  # path, QImage or None


class _ThumbnailJob(QRunnable):
    def __init__(self, path: str, bridge: _Bridge):
        super().__init__()
        self.path, self.bridge = path, bridge

    def run(self) -> None:
        image = make_thumbnail(self.path)
        try:
            self.bridge.loaded.emit(self.path, image)
        except RuntimeError:  # the app is closing and the bridge is gone
            pass


def make_thumbnail(path: str) -> QImage | None:
    """A QImage no larger than THUMBNAIL_PIXELS (QImage, unlike QPixmap, may be made off the GUI thread)."""
    from model.imageio import ImageLoadError, load_image

    try:
        picture = load_image(path, min_short_side=THUMBNAIL_PIXELS).image
    except ImageLoadError:
        return None
    except Exception:  # never let a strange file take the pool thread down
        log.exception("thumbnail for %s failed", path)
        return None
    picture.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    return to_qimage(picture)


def to_qimage(picture) -> QImage:
    """An RGB PIL image as a QImage that owns its pixels."""
    data = picture.tobytes()
    return QImage(data, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888).copy()


class ThumbnailCache(QObject):
    """``get(path)`` returns a cached QPixmap or None, and asks for it in the background; ``ready`` follows."""

    ready = Signal(str)

    def __init__(self, parent: QObject | None = None, threads: int = 1):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._bridge = _Bridge(self)
        self._bridge.loaded.connect(self._store)
        self._cache: OrderedDict[str, QPixmap | None] = OrderedDict()
        self._pending: set[str] = set()
        self._priority = itertools.count()

    def get(self, path: str) -> QPixmap | None:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        if path not in self._pending:
            self._pending.add(path)
            self._pool.start(_ThumbnailJob(path, self._bridge), next(self._priority) % 2**31)
        return None

    def forget(self, path: str) -> None:
        self._cache.pop(path, None)

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone(3000)

    def _store(self, path: str, image: QImage | None) -> None:
        self._pending.discard(path)
        self._cache[path] = QPixmap.fromImage(image) if image is not None else None
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        self.ready.emit(path)
