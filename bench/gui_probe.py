"""Drive the real desktop window offscreen for the benchmark; prints one JSON line.

  first-verdict PATH      : time from process start (the parent passes it) to the first result row
  stall FOLDER            : longest gap between 5 ms timer ticks on the GUI thread while FOLDER scans
  rss FOLDER A B          : resident memory growth between result A and result B of one long scan
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Resident set size now (Linux /proc; the benchmark runs where it is measured)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    mode, model, *args = sys.argv[1:]
    settings_home = tempfile.mkdtemp(prefix="convitx-bench-")
    os.environ["CONVITX_CONFIG_DIR"] = os.environ["CONVITX_DATA_DIR"] = settings_home
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from convitx_desktop.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    window = MainWindow(model_path=model, settings_dir=settings_home)
    window.show()
    report: dict = {}
    done = {"rows": 0}

    def finish() -> None:
        print(json.dumps(report), flush=True)
        window.close()
        app.quit()

    if mode == "first-verdict":
        def first_rows(_batch) -> None:
            report["first_verdict_at"] = time.time()
            finish()

        window.worker.results.connect(first_rows)
        window.start([args[0]])
    elif mode == "stall":
        clock, ticking = QElapsedTimer(), {"on": False, "max": 0, "cpu": 0.0, "wall": 0.0}
        timer = QTimer(interval=5)

        def tick() -> None:
            if ticking["on"]:
                ticking["max"] = max(ticking["max"], clock.restart())

        def started(_job, _total) -> None:
            ticking.update(on=True, cpu=time.thread_time(), wall=time.perf_counter())
            clock.start()

        def finished(_job, _cancelled) -> None:
            report.update(max_gui_stall_ms=ticking["max"], rows=window.results.rowCount(),
                          scan_s=round(time.perf_counter() - ticking["wall"], 2),
                          gui_thread_cpu_s=round(time.thread_time() - ticking["cpu"], 2))
            finish()

        timer.timeout.connect(tick)
        timer.start()
        window.worker.scan_started.connect(started)
        window.worker.scan_finished.connect(finished)
        window.start([args[0]])
    elif mode == "rss":
        first, last = int(args[1]), int(args[2])

        def rows(batch) -> None:
            before = done["rows"]
            done["rows"] += len(batch)
            if before < first <= done["rows"]:
                report["rss_at_first_mb"] = rss_mb()
            if before < last <= done["rows"]:
                report["rss_at_last_mb"] = rss_mb()
                report["rss_growth_mb"] = report["rss_at_last_mb"] - report["rss_at_first_mb"]
                finish()

        window.worker.results.connect(rows)
        window.start([args[0]])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    app.exec()


if __name__ == "__main__":
    main()
