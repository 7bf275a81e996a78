"""Sessions and models as a user meets them: another model and a rescan, the journal that survives a kill,
reopening the last session (missing files included), recent sessions, and a corrupt journal set aside.

Offscreen, with the tiny random-weight models (scores near 0.5; a second one has another name).
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from conftest import make_tiny_checkpoint
from convitx_desktop.journal import JOURNAL_FILE, SessionJournal
from convitx_desktop.results_model import COLUMN
from model.results import ScanResult, read_csv
from test_app_window import (SCAN_TIMEOUT_MS, cell, dialogs, make_images, open_window, slow_scan,  # noqa: F401
                             user_dirs, wait_idle, window)

OTHER_MODEL = "other-test-model"


@pytest.fixture(scope="module")
def other_model_path(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("other") / "other.safetensors", seed=1, name=OTHER_MODEL)


def button(box, text: str):
    [found] = [b for b in box.buttons() if b.text() == text]
    return found


def models_shown(window) -> list[str]:
    return [cell(window, row, "model") for row in range(window.proxy.rowCount())]


def journal_rows(data_dir: Path) -> int:
    try:
        with sqlite3.connect(data_dir / JOURNAL_FILE, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


# --- another model, and a rescan ----------------------------------------------------------------


def test_open_model_shows_its_card_and_a_rescan_replaces_rows_cancel_keeps_the_rest(
        qtbot, window, tmp_path, other_model_path, slow_scan, monkeypatch):
    make_images(tmp_path / "in", 40)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=40)
    before = {r.path: r.p_ai for r in window.results.results()}
    assert set(models_shown(window)) == {"tiny-test-model"}
    assert window.table.isColumnHidden(COLUMN["model"])  # one model scored everything: the status bar names it

    window.open_model(str(other_model_path))
    qtbot.waitUntil(lambda: window.model_name == OTHER_MODEL, timeout=SCAN_TIMEOUT_MS)
    card = window._dialog
    assert "Tiny test model" in card.browser.toPlainText() and "A score is not proof" in card.browser.toPlainText()
    card.rescan_button.click()
    qtbot.waitUntil(lambda: models_shown(window).count(OTHER_MODEL) >= 4, timeout=SCAN_TIMEOUT_MS)
    assert window.results.rowCount() == 40  # the old rows stay until replaced
    assert not window.table.isColumnHidden(COLUMN["model"])
    assert "Rescanning" in window.activity.text()
    window.cancel_action.trigger()
    wait_idle(qtbot, window)
    shown = models_shown(window)
    assert 4 <= shown.count(OTHER_MODEL) < 40 and shown.count("tiny-test-model") == 40 - shown.count(OTHER_MODEL)
    assert "keep their earlier verdicts" in window.activity.text()
    changed = [r for r in window.results.results() if r.model == OTHER_MODEL]
    assert any(r.p_ai != before[r.path] for r in changed)  # another network, other scores

    target = tmp_path / "mixed.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.export_csv_action.trigger()
    by_model = {}
    for row in read_csv(target):
        by_model.setdefault(row["model"], []).append(row["path"])
    assert sorted(map(len, by_model.values())) == sorted([len(changed), 40 - len(changed)])
    assert set(by_model[OTHER_MODEL]) == {r.path for r in changed}
    assert window.settings.model_path == str(other_model_path)


def test_open_model_refuses_another_architecture_with_the_cli_s_reason(qtbot, window, tmp_path, dialogs):
    from dataclasses import replace

    from model import create_model, read_info, save_checkpoint

    mismatched = save_checkpoint(create_model("convitx_test"), replace(read_info(window.settings.model_path),
                                                                       preset="convitx_atto"),
                                 tmp_path / "mismatched.safetensors")
    window.open_model(str(mismatched))
    qtbot.waitUntil(lambda: bool(dialogs), timeout=SCAN_TIMEOUT_MS)
    title, text = dialogs[0]
    assert title == "Model not loaded" and "does not match preset convitx_atto" in text
    assert window.model_name == "tiny-test-model" and window._dialog is None  # no card for a model not loaded


def test_use_built_in_model_goes_back_and_is_remembered(qtbot, tmp_path, other_model_path, tiny_model_path,
                                                        monkeypatch):
    import model.resources

    monkeypatch.setattr(model.resources, "default_model_path", lambda: tiny_model_path)  # stands in for the built-in
    window = open_window(qtbot, other_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window.model_name == OTHER_MODEL, timeout=SCAN_TIMEOUT_MS)
    window.builtin_model_action.trigger()
    qtbot.waitUntil(lambda: window.model_name == "tiny-test-model", timeout=SCAN_TIMEOUT_MS)
    assert window.settings.model_path is None and window._dialog.rescan_button is None  # nothing to rescan
    window.close()


# --- the journal, reopening, recent sessions ---------------------------------------------------------


def test_the_last_session_reopens_with_verdicts_models_and_missing_files(qtbot, tiny_model_path, tmp_path):
    images = make_images(tmp_path / "album", 3)
    first = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    first.add_paths([str(tmp_path / "album")])
    wait_idle(qtbot, first, rows=3)
    scored = {r.path: (r.verdict, r.p_ai) for r in first.results.results()}
    first.close()
    images[1].unlink()  # moved away after the scan

    second = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: second._dialog is not None, timeout=SCAN_TIMEOUT_MS)
    offer = second._dialog
    assert "Reopen your last session?" in offer.text() and "3 images · album" in offer.text()
    assert [b.text() for b in offer.buttons()] == ["Reopen", "Not now"]  # it finished: nothing to finish
    button(offer, "Reopen").click()
    assert {r.path: (r.verdict, r.p_ai) for r in second.results.results()} == scored
    assert set(models_shown(second)) == {"tiny-test-model"}
    assert "3 images, 1 missing" in second.activity.text()
    row = next(r for r in range(3) if cell(second, r, "name") == images[1].name)
    assert cell(second, row, "error") == "File missing (moved or deleted)"
    assert cell(second, row, "verdict") == "Uncertain"  # the verdict from when it was scored
    second.table.selectRow(row)
    assert "File missing" in second.detail.explanation.text()
    assert second._inspecting is None  # no heatmap asked for a file that is not there
    second.add_paths([str(tmp_path / "album")])  # the rows came back: they are not scored again
    wait_idle(qtbot, second)
    assert second.results.rowCount() == 3 and "Scanned 0 new images" in second.activity.text()
    second.close()


def test_recent_sessions_menu_reopens_one_and_offers_to_finish_it(qtbot, window, tmp_path):
    old = make_images(tmp_path / "old", 2)
    rest = make_images(tmp_path / "old" / "later", 2, start=10)
    journal = SessionJournal(tmp_path / "user-data")
    journal.begin("old")
    journal.record_model("tiny-test-model", 0.4, 0.6)
    journal.queue_paths([str(p) for p in old + rest], "file")
    journal.add_rows([ScanResult(str(p), "ai", 0.65, 64, 48, "tiny-test-model") for p in old])
    journal.flush()
    journal.begin("newer")
    journal.add_rows([ScanResult(str(tmp_path / "gone.png"), "human", 0.2, 64, 48, "tiny-test-model")])
    journal.close()

    window._fill_recent_menu()
    entries = [a.text() for a in window.recent_menu.actions()]
    assert len(entries) == 2 and "newer" in entries[0]
    assert "2 images · old · 2 not scored yet" in entries[1]
    window.recent_menu.actions()[1].trigger()
    assert [cell(window, r, "verdict") for r in range(2)] == ["AI", "AI"]  # its model's thresholds came back
    ask = window._dialog
    assert "2 image(s)" in ask.text()
    button(ask, "Finish the scan").click()
    wait_idle(qtbot, window, rows=4)
    assert {Path(r.path).name for r in window.results.results()} == {p.name for p in old + rest}
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()] == [entries[0]]  # the reopened one is current


def test_a_corrupt_journal_is_set_aside_with_a_message(qtbot, tiny_model_path, tmp_path):
    data = tmp_path / "user-data"
    data.mkdir()
    (data / JOURNAL_FILE).write_bytes(b"this is not a database" * 100)
    window = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window._dialog is not None, timeout=SCAN_TIMEOUT_MS)
    assert "could not be read" in window._dialog.text() and "set aside" in window._dialog.text()
    [aside] = data.glob(f"{JOURNAL_FILE}.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    make_images(tmp_path / "in", 2)
    window.add_paths([str(tmp_path / "in")])
    qtbot.waitUntil(lambda: window.model_name is not None, timeout=SCAN_TIMEOUT_MS)
    wait_idle(qtbot, window, rows=2)
    window.close()
    assert journal_rows(data) == 2  # the new journal works


def test_an_unusable_data_folder_gives_a_message_and_the_app_still_scans(qtbot, tiny_model_path, tmp_path,
                                                                          monkeypatch):
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("CONVITX_DATA_DIR", str(blocker / "data"))
    window = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window._dialog is not None, timeout=SCAN_TIMEOUT_MS)
    assert "will not be saved" in window._dialog.text()
    make_images(tmp_path / "in", 2)
    window.add_paths([str(tmp_path / "in")])
    wait_idle(qtbot, window, rows=2)
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()] == ["No earlier sessions"]
    window.close()


def test_a_killed_app_keeps_its_rows_and_the_next_start_finishes_the_scan(qtbot, tiny_model_path, tmp_path):
    make_images(tmp_path / "many", 80)
    data = tmp_path / "user-data"
    slow_app = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import hostile; "
                "import convitx_desktop.worker as worker; worker.row_columns = hostile.slow_row_columns; "
                "from convitx_desktop.app import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}  # the CONVITX_*_DIR of user_dirs are set here
    app = subprocess.Popen([sys.executable, "-c", slow_app, "--model", str(tiny_model_path), str(tmp_path / "many")],
                           env=env, cwd=Path(__file__).resolve().parent.parent, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while journal_rows(data) < 8 and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = journal_rows(data)
        app.send_signal(signal.SIGKILL)
        app.wait(10)
    finally:
        if app.poll() is None:
            app.kill()
    assert 8 <= kept < 80, app.stderr.read().decode()[-2000:]

    window = open_window(qtbot, tiny_model_path, tmp_path / "user-config")
    qtbot.waitUntil(lambda: window._dialog is not None, timeout=SCAN_TIMEOUT_MS)
    offer = window._dialog
    assert "did not finish" in offer.text()
    button(offer, "Reopen and finish the scan").click()
    assert window.results.rowCount() >= kept  # the rows committed before the kill are back at once
    wait_idle(qtbot, window, rows=80)
    assert len({r.path for r in window.results.results()}) == 80
    window.close()
    journal = SessionJournal(data)
    [session] = journal.sessions()
    assert session.rows == 80 and not session.unfinished
    journal.close()
