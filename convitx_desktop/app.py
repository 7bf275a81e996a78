"""Start the desktop app: `convitx-desktop [--model FILE] [PATH...]` or `python -m convitx_desktop`.

The window is shown before torch is imported; the worker loads the model behind it.
"""
from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import sys

from . import APP_ID, APP_NAME
from .settings import log_dir

log = logging.getLogger("convitx_desktop")
LOG_FILE = "convitx-desktop.log"
THEMES = ("auto", "light", "dark")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convitx-desktop", description=f"{APP_NAME}: is this image AI-generated?")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders to scan at start")
    parser.add_argument("--model", metavar="FILE.safetensors", help="model file (default: the last one used, "
                                                                    "else the built-in model)")
    parser.add_argument("--theme", choices=THEMES, default="auto",
                        help="colour scheme (default: follow the system)")
    return parser


def redirect_missing_stdio() -> None:
    """A frozen windowed app has no stdout/stderr (None): anything printed would crash it, so send it to a file."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stream = open(folder / "console.log", "a", encoding="utf-8", buffering=1)
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


def setup_logging() -> None:
    """Log to a rotating file in the user log folder (and to a real console when there is one)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / LOG_FILE, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    if getattr(sys.stderr, "isatty", lambda: False)():
        console = logging.StreamHandler()
        console.setFormatter(formatter)
        root.addHandler(console)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind, value, traceback) -> None:
    """Qt slots that raise must not end the app; the log keeps the traceback for a bug report."""
    log.critical("uncaught exception", exc_info=(kind, value, traceback))


def apply_theme(app, theme: str) -> None:
    """``auto`` keeps the system's light or dark palette. ``light``/``dark`` ask Qt (>= 6.8) for that scheme;
    where the platform cannot switch (e.g. a bare X server), the Fusion style's palette is used instead."""
    from PySide6.QtCore import Qt

    if theme == "auto":
        return
    wanted = Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light
    hints = app.styleHints()
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(wanted)
        if hints.colorScheme() == wanted:
            return
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if theme == "dark" else app.style().standardPalette())


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette(QColor("#353535"), QColor("#2a2a2a"))  # button, window
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#2b2b2b"), (roles.WindowText, "#e6e6e6"), (roles.Base, "#1f1f1f"),
                         (roles.AlternateBase, "#262626"), (roles.Text, "#e6e6e6"), (roles.Button, "#353535"),
                         (roles.ButtonText, "#e6e6e6"), (roles.Highlight, "#2f6fb3"),
                         (roles.HighlightedText, "#ffffff"), (roles.ToolTipBase, "#353535"),
                         (roles.ToolTipText, "#e6e6e6"), (roles.PlaceholderText, "#9a9a9a"), (roles.Link, "#6cb4ff"),
                         (roles.Mid, "#404040"), (roles.Midlight, "#4a4a4a"), (roles.Dark, "#1a1a1a")):
        palette.setColor(role, QColor(colour))
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    redirect_missing_stdio()
    args = build_parser().parse_args(argv)
    setup_logging()
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .resources import style_sheet

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    apply_theme(app, args.theme)
    app.setStyleSheet(style_sheet())
    window = MainWindow(model_path=args.model)
    window.show()
    window.start(args.paths)
    close_on_signals(window)
    log.info("%s started", APP_NAME)
    return app.exec()


def close_on_signals(window) -> None:
    """Ctrl+C in the terminal (``make run``) or a polite kill closes the window the normal way: settings
    saved, worker stopped. Python only sees signals while it runs, hence the idle timer."""
    import signal

    from PySide6.QtCore import QTimer

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: window.close())
    timer = QTimer(window, interval=300)
    timer.timeout.connect(lambda: None)
    timer.start()
