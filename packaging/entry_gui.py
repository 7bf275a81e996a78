"""Frozen entry of the windowed app (bundle `ConViTX`, executable `convitx-desktop`).

PyInstaller runs this file as __main__. Two frozen-only chores happen here, before the app module is
imported (importing convitx_desktop.app imports torch through convitx_desktop.settings):

* A windowed executable (Windows, macOS .app) starts with sys.stdout/sys.stderr = None. Such streams
  go to the same file convitx_desktop.app.redirect_missing_stdio() uses (console.log in the user log
  folder, CONVITX_LOG_DIR overrides), so nothing written while torch/timm import is lost or fatal;
  the app's own call then finds the streams set and does nothing.
* multiprocessing.freeze_support(): a child started by multiprocessing (spawn) re-runs this
  executable; freeze_support() turns it into that child and never returns there.
"""
import multiprocessing
import os
import sys


def _ensure_std_streams() -> None:
    if sys.stdout is not None and sys.stderr is not None:
        return
    try:
        import platformdirs

        folder = os.environ.get("CONVITX_LOG_DIR") or platformdirs.user_log_dir("convitx-desktop", appauthor=False)
        os.makedirs(folder, exist_ok=True)
        stream = open(os.path.join(folder, "console.log"), "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except Exception:  # noqa: BLE001 (no log folder: still never crash on a write)
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream


if __name__ == "__main__":
    _ensure_std_streams()
    multiprocessing.freeze_support()
    from convitx_desktop.app import main

    sys.exit(main())
