"""The desktop app as a user meets it: drops, rows, verdicts, cancel, export, sensitivity, heatmaps, closing.

Runs offscreen with the tiny random-weight model; its scores sit near 0.5, inside its 0.4–0.6 "uncertain" band.
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from conftest import save_image
from convitx_desktop.journal import SessionJournal
from convitx_desktop.main_window import MainWindow
from convitx_desktop.model_control import NO_MODEL
from convitx_desktop.results_model import COLUMN, RESULT_ROLE
from corpus import make_mixed_folder
from model.results import CSV_COLUMNS, read_csv

SCAN_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    for kind in ("CONFIG", "DATA", "LOG"):
        monkeypatch.setenv(f"CONVITX_{kind}_DIR", str(tmp_path / f"user-{kind.lower()}"))


@pytest.fixture
def dialogs(monkeypatch):
    """Records QMessageBox.critical calls instead of blocking on a modal dialog."""
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown


@pytest.fixture
def slow_scan(monkeypatch):
    """Make each file take a little while (in the decoder processes), so a test can act mid-scan."""
    import hostile

    monkeypatch.setattr("convitx_desktop.worker.row_columns", hostile.slow_row_columns)


def open_window(qtbot, model_path, settings_dir=None) -> MainWindow:
    window = MainWindow(model_path=str(model_path) if model_path else None, settings_dir=settings_dir)
    qtbot.addWidget(window)
    window.show()
    window.start()
    return window


@pytest.fixture
def window(qtbot, tiny_model_path, tmp_path):
    window = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window.model_name == "tiny-test-model", timeout=SCAN_TIMEOUT_MS)
    yield window
    window.close()


def make_images(folder: Path, count: int, start: int = 0) -> list[Path]:
    return [save_image(folder / f"img_{i:03d}.png", width=64, height=48, seed=i) for i in range(start, start + count)]


def wait_idle(qtbot, window, rows: int | None = None) -> None:
    qtbot.waitUntil(lambda: not window.scanning and (rows is None or window.results.rowCount() == rows),
                    timeout=SCAN_TIMEOUT_MS)


def cell(window, proxy_row: int, column: str) -> str:
    return window.proxy.index(proxy_row, COLUMN[column]).data()


def shown_verdicts(window) -> list[str]:
    return [cell(window, row, "verdict") for row in range(window.proxy.rowCount())]


def drop(window, paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    return event


# --- adding files -------------------------------------------------------------------------------


def test_drop_files_and_a_folder_gives_a_row_each_with_a_verdict(qtbot, window, tmp_path):
    folder_images = make_images(tmp_path / "album" / "sub", 3)
    loose = save_image(tmp_path / "loose.jpg", seed=9)
    assert window.pages.currentWidget() is window.empty_state
    drop(window, [tmp_path / "album", loose])
    wait_idle(qtbot, window, rows=4)
    names = {cell(window, row, "name") for row in range(4)}
    assert names == {p.name for p in folder_images} | {"loose.jpg"}
    assert set(shown_verdicts(window)) <= {"AI", "Human", "Uncertain"}
    assert all(cell(window, row, "p_ai").endswith("%") for row in range(4))
    assert cell(window, 0, "size") in ("64 × 48", "96 × 64")
    assert "Uncertain 4" in window.counts.text() and "Error 0" in window.counts.text()
    assert window.pages.currentWidget() is window.table


def test_mixed_folder_gives_one_row_per_file_and_errors_say_why(qtbot, window, tmp_path):
    expected = make_mixed_folder(tmp_path / "mixed")
    window.add_paths([str(tmp_path / "mixed")])
    wait_idle(qtbot, window, rows=len(expected))
    rows = {Path(r.path).relative_to(tmp_path / "mixed").as_posix(): r for r in window.results.results()}
    assert set(rows) == set(expected)
    for name, should_score in expected.items():
        assert (rows[name].verdict != "error") == should_score, name
    problems = {cell(window, r, "name"): cell(window, r, "error") for r in range(window.proxy.rowCount())
                if cell(window, r, "verdict") == "Error"}
    assert len(problems) == sum(not ok for ok in expected.values())
    assert all(problems.values())
    assert "too large" in problems["bomb.png"] and "truncated" in problems["truncated.jpg"]
    assert f"Error {len(problems)}" in window.counts.text()


def test_duplicates_are_not_scored_twice(qtbot, window, tmp_path):
    images = make_images(tmp_path / "dup", 3)
    scored = []
    window.worker.results.connect(lambda batch: scored.extend(r.path for r in batch))
    window.add_paths([str(tmp_path / "dup"), str(images[0])])
    wait_idle(qtbot, window, rows=3)
    window.add_paths([str(tmp_path / "dup")])
    window.add_paths([str(images[1])])
    wait_idle(qtbot, window)
    assert window.results.rowCount() == 3
    assert len(scored) == 3


def test_drop_during_a_scan_is_queued_not_lost(qtbot, window, tmp_path, slow_scan):
    make_images(tmp_path / "first", 24)
    second = make_images(tmp_path / "second", 3, start=100)
    window.add_paths([str(tmp_path / "first")])
    qtbot.waitUntil(lambda: window.results.rowCount() > 0, timeout=SCAN_TIMEOUT_MS)
    assert window.scanning and window.cancel_button.isVisible()
    drop(window, second)
    wait_idle(qtbot, window, rows=27)
    assert {p.name for p in second} <= {Path(r.path).name for r in window.results.results()}
    assert not window.cancel_button.isVisible()


def test_cancel_keeps_every_computed_row_and_a_later_drop_scores_the_rest(qtbot, window, tmp_path, slow_scan):
    make_images(tmp_path / "many", 60)
    window.add_paths([str(tmp_path / "many")])
    qtbot.waitUntil(lambda: window.results.rowCount() >= 4, timeout=SCAN_TIMEOUT_MS)
    assert "images/s" in window.activity.text() and "left" in window.activity.text()
    window.cancel_action.trigger()
    wait_idle(qtbot, window)
    kept = window.results.rowCount()
    assert 4 <= kept < 60
    assert "Cancelled" in window.activity.text()
    assert all(r.verdict in ("ai", "human", "uncertain") for r in window.results.results())
    window.add_paths([str(tmp_path / "many")])
    wait_idle(qtbot, window, rows=60)


def test_files_dropped_before_any_model_wait_for_one(qtbot, tiny_model_path, tmp_path, dialogs, monkeypatch):
    import model.resources

    monkeypatch.setattr(model.resources, "default_model_path", lambda: tmp_path / "not-trained-yet.safetensors")
    window = open_window(qtbot, None, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window.model_state.text() == NO_MODEL, timeout=SCAN_TIMEOUT_MS)
    assert not dialogs  # a missing built-in model is a status, not an error dialog
    assert "Open model" in window.empty_state.text()
    make_images(tmp_path / "early", 2)
    window.add_paths([str(tmp_path / "early")])
    qtbot.waitUntil(lambda: "queued" in window.activity.text(), timeout=SCAN_TIMEOUT_MS)
    assert window.results.rowCount() == 0
    window.load_model(str(tiny_model_path))
    wait_idle(qtbot, window, rows=2)
    assert window.model_name == "tiny-test-model"
    window.close()


# --- export -------------------------------------------------------------------------------------


def test_export_csv_all_filtered_and_selected_rows(qtbot, window, tmp_path, monkeypatch):
    expected = make_mixed_folder(tmp_path / "mixed")
    window.add_paths([str(tmp_path / "mixed")])
    wait_idle(qtbot, window, rows=len(expected))
    target = tmp_path / "all.csv"
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.export_csv_action.trigger()
    rows = read_csv(target)
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(expected)
    assert {Path(r["path"]).name for r in rows if r["verdict"] == "error"} >= {"bomb.png", "empty.jpg"}
    stamped = [row for row in rows if row["verdict"] != "error"]  # as `convitx scan` records the file
    assert stamped and all(int(r["file_size"]) == Path(r["path"]).stat().st_size for r in stamped)
    assert all(r["file_modified"].endswith("+00:00") for r in stamped)

    window.verdict_filter.setCurrentText("Error")
    target = tmp_path / "errors.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.export_json_action.trigger()
    import json

    document = json.loads(target.read_text())
    assert document["model"]["name"] == "tiny-test-model"
    assert {r["verdict"] for r in document["results"]} == {"error"}

    window.verdict_filter.setCurrentText("All verdicts")
    window.table.selectRow(0)
    target = tmp_path / "selected.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.export_selected_action.trigger()
    assert len(read_csv(target)) == 1


def test_export_failure_shows_a_dialog_and_keeps_the_rows(qtbot, window, tmp_path, dialogs):
    make_images(tmp_path / "in", 2)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=2)
    assert not window.export_rows(window.results.results(), str(tmp_path / "no such folder" / "out.csv"))
    assert len(dialogs) == 1 and dialogs[0][0] == "Export failed" and "still in the table" in dialogs[0][1]
    assert window.results.rowCount() == 2


def test_export_heatmaps_writes_one_png_per_scored_row(qtbot, window, tmp_path):
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=3)
    with qtbot.waitSignal(window.worker.export_finished, timeout=SCAN_TIMEOUT_MS) as finished:
        window.export_heatmaps(str(tmp_path / "maps"))
    assert finished.args[0].written == 2 and not finished.args[0].error
    assert len(list((tmp_path / "maps").glob("*_heatmap.png"))) == 2
    assert "Saved 2 heatmaps" in window.activity.text()


# --- reading the results ------------------------------------------------------------------------


def test_sensitivity_relabels_at_once_without_rescoring(qtbot, window, tmp_path):
    make_images(tmp_path / "in", 8)
    scored = []
    window.worker.results.connect(scored.extend)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=8)
    p_values = [r.p_ai for r in window.results.results()]
    assert set(shown_verdicts(window)) == {"Uncertain"}  # tiny model: 0.4 <= p < 0.6
    window.sensitivity.presets.setCurrentText("Strict")
    window.sensitivity.presets.activated.emit(window.sensitivity.presets.currentIndex())
    assert window.sensitivity.lines.text() == "AI ≥ 50% · Human < 30%"
    strict = shown_verdicts(window)
    assert strict.count("AI") == sum(p >= 0.5 for p in p_values) > 0
    assert f"AI {strict.count('AI')}" in window.counts.text()
    window.sensitivity.set_offset(0.10)  # Cautious: Human below 50%
    assert window.sensitivity.presets.currentText() == "Cautious"
    assert shown_verdicts(window).count("Human") == sum(p < 0.5 for p in p_values)
    assert len(scored) == 8  # relabelled, never rescored


def test_filter_by_verdict_and_search_by_name(qtbot, window, tmp_path):
    expected = make_mixed_folder(tmp_path / "mixed")
    window.add_paths([str(tmp_path / "mixed")])
    wait_idle(qtbot, window, rows=len(expected))
    window.verdict_filter.setCurrentText("Error")
    assert window.proxy.rowCount() == sum(not ok for ok in expected.values())
    assert set(shown_verdicts(window)) == {"Error"}
    assert window.shown_count.text() == f"Showing {window.proxy.rowCount()} of {len(expected)}"
    window.verdict_filter.setCurrentText("All verdicts")
    window.search.setText("PHOTO")
    assert [cell(window, r, "name") for r in range(window.proxy.rowCount())] == ["photo.jpg"]
    window.search.clear()
    window.table.sortByColumn(COLUMN["p_ai"], Qt.SortOrder.DescendingOrder)
    shown = [window.proxy.index(r, 0).data(RESULT_ROLE).p_ai or -1 for r in range(window.proxy.rowCount())]
    assert shown == sorted(shown, reverse=True)


def test_selected_row_shows_its_heatmap_verdict_and_provenance(qtbot, window, tmp_path):
    image = save_image(tmp_path / "in" / "look.png", width=120, height=80, seed=3)
    window.add_paths([str(image)])
    wait_idle(qtbot, window, rows=1)
    window.table.selectRow(0)
    qtbot.waitUntil(window.detail.has_heatmap, timeout=SCAN_TIMEOUT_MS)
    pane = window.detail
    assert pane.file_name.text() == "look.png"
    assert "not proof" in pane.explanation.text() and "tiny-test-model" in pane.model_line.text()
    qtbot.waitUntil(lambda: "none found in the file" in pane.provenance.text(), timeout=SCAN_TIMEOUT_MS)
    assert len(pane.image._pixmaps) == 1
    pane.set_mode("side-by-side")
    assert len(pane.image._pixmaps) == 2
    before = pane._overlay.toImage()
    pane.opacity.setValue(90)
    qtbot.waitUntil(lambda: pane._overlay.toImage() != before, timeout=5000)
    qtbot.waitUntil(lambda: window.proxy.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None,
                    timeout=SCAN_TIMEOUT_MS)  # the thumbnail arrived from the background pool


def test_row_context_actions_copy_and_remove(qtbot, window, tmp_path):
    images = make_images(tmp_path / "in", 2)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=2)
    window.table.selectRow(0)
    window.copy_action.trigger()
    assert QApplication.clipboard().text() == str(images[0])
    window.remove_action.trigger()
    assert window.results.rowCount() == 1
    window.add_paths([str(images[0])])  # removed, so dropping it again scores it again
    wait_idle(qtbot, window, rows=2)


# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, reason", [
    ("weights.pth", b"not really a pickle", "pickle"),
    ("junk.safetensors", b"\x00" * 64, "not a readable .safetensors"),
])
def test_a_bad_model_shows_why_and_the_previous_model_stays(qtbot, window, tmp_path, dialogs, name, data, reason):
    bad = tmp_path / name
    bad.write_bytes(data)
    window.load_model(str(bad))
    qtbot.waitUntil(lambda: bool(dialogs), timeout=SCAN_TIMEOUT_MS)
    title, text = dialogs[0]
    assert title == "Model not loaded" and reason in text and "still tiny-test-model" in text
    assert window.model_name == "tiny-test-model"
    assert "tiny-test-model — ready" in window.model_state.text()
    make_images(tmp_path / "in", 1)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=1)


def test_about_this_model_shows_the_card_and_the_not_proof_warning(window):
    from convitx_desktop.about import ModelCardDialog

    dialog = ModelCardDialog(window._model_info, window.device.text(), window)
    text = dialog.browser.toPlainText()
    assert "Tiny test model" in text and "A score is not proof" in text and "60%" in text
    dialog.close()


# --- settings and closing -------------------------------------------------------------------------


def test_settings_are_remembered_between_runs(qtbot, tiny_model_path, tmp_path):
    config = tmp_path / "user-config"
    first = open_window(qtbot, tiny_model_path, config)
    qtbot.waitUntil(lambda: first.model_name is not None, timeout=SCAN_TIMEOUT_MS)
    first.sensitivity.set_offset(-0.05)
    first.detail.opacity.setValue(70)
    first.detail.set_mode("original")
    first.resize(640, 480)  # within the offscreen screen, which is small
    first.close()
    second = open_window(qtbot, None, config)  # no --model: the remembered one
    qtbot.waitUntil(lambda: second.model_name is not None, timeout=SCAN_TIMEOUT_MS)
    assert second.model_name == "tiny-test-model"
    assert second.sensitivity.offset == pytest.approx(-0.05)
    assert second.detail.opacity.value() == 70 and second.detail.mode == "original"
    assert second.size().width() == 640
    second.close()


def test_closing_during_a_scan_stops_cleanly_and_keeps_the_rows(qtbot, tiny_model_path, tmp_path, slow_scan):
    window = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    make_images(tmp_path / "many", 60)
    window.add_paths([str(tmp_path / "many")])
    qtbot.waitUntil(lambda: window.results.rowCount() >= 2, timeout=SCAN_TIMEOUT_MS)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 10
    assert window.worker.isFinished()
    journal = SessionJournal(tmp_path / "user-data")
    [saved] = journal.sessions()
    assert saved.rows == window.results.rowCount() and 2 <= saved.rows < 60
    assert saved.unfinished  # closed mid-scan: the next start offers to finish it
    journal.close()


def test_the_window_module_does_not_load_torch():
    """The window must come up before torch (seconds to import) is loaded by the worker."""
    code = "import sys, convitx_desktop.app, convitx_desktop.main_window; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_provenance_says_unsigned_and_hints_are_labelled_as_hints(qtbot, window, tmp_path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat in a hat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 96x64")
    generated = save_image(tmp_path / "in" / "generated.png", pnginfo=info)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"  # Make, Model
    photo = save_image(tmp_path / "in" / "camera.jpg", exif=exif.tobytes())
    window.add_paths([str(generated), str(photo)])
    wait_idle(qtbot, window, rows=2)
    pane = window.detail
    assert cell(window, 0, "provenance") == "AI declared"
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: "AI declared (unsigned)" in pane.provenance.text(), timeout=SCAN_TIMEOUT_MS)
    assert "not evidence" in pane.hints.text() and "Generator" in pane.hints.text()
    window.table.selectRow(1)
    qtbot.waitUntil(lambda: "Canon EOS 5D" in pane.hints.text(), timeout=SCAN_TIMEOUT_MS)
    assert "not evidence" in pane.hints.text()


def test_an_unavailable_remembered_device_falls_back_to_automatic(qtbot, tiny_model_path, tmp_path, dialogs):
    from convitx_desktop.settings import Settings

    Settings(model_path=str(tiny_model_path), device="mps").save(tmp_path / "user-config")
    window = open_window(qtbot, None, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window.model_name == "tiny-test-model", timeout=SCAN_TIMEOUT_MS)
    assert not dialogs
    assert window.settings.device in ("auto", "mps")  # "mps" only where an Apple GPU exists
    window.close()
