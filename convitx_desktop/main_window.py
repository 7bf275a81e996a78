"""The main window: drop zone, results table, detail pane, status bar, menus; wires them to the worker.

Nothing here imports ``model`` at import time (it loads torch, which takes seconds): the window comes up
first, the worker loads the model behind it, and the few ``model`` functions used here (CSV/JSON writing)
are imported when there are results, by which time the worker has loaded them.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QModelIndex, QProcess, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QComboBox, QFileDialog, QLabel, QLineEdit, QMainWindow, QMenu, \
    QMessageBox, QProgressBar, QPushButton, QSizePolicy, QSplitter, QStackedWidget, QToolBar, QVBoxLayout, QWidget

from . import APP_NAME, verdicts
from .about import ModelCardDialog
from .detail_pane import DetailPane
from .journal import JournalError, SessionJournal
from .resources import icon_path
from .results_model import COLUMN, ResultsFilter, ResultsModel, short_model_name
from .results_view import ResultsTable
from .sensitivity import SensitivityControl
from .settings import DEVICE_LABELS, VIEW_MODES, Settings, data_dir
from .thumbnails import ThumbnailCache
from .worker import ExportReport, Worker

log = logging.getLogger(__name__)

NO_MODEL = "No model loaded — File ▸ Open model…"
RECENT_SESSIONS = 5  # listed in File ▸ Recent sessions
HEATMAP_CACHE_SIZE = 12  # a few MB each
PROVENANCE_CACHE_SIZE = 500
WORKER_STOP_MS = 30_000  # a scan stops after the batch in flight: seconds at worst on a slow CPU
VERDICT_FILTERS = {  # menu text -> verdicts shown (None: all)
    "All verdicts": None,
    "AI": {"ai"},
    "Uncertain": {"uncertain"},
    "Human": {"human"},
    "Error": {"error"},
    "AI or Uncertain": {"ai", "uncertain"},
}


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _LruCache(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, model_path: str | None = None,
                 settings_dir: str | os.PathLike | None = None):
        super().__init__()
        self.settings = settings if settings is not None else Settings.load(settings_dir)
        self._settings_dir = settings_dir
        self._startup_model = model_path
        self._model_info = None
        self._device_label = ""
        # (path, device, show the card and offer a rescan) per load in flight
        self._model_requests: deque[tuple[str | None, str, bool]] = deque()
        self._open_scans: set[int] = set()
        self._rescans: set[int] = set()  # the open scans that rescan rows with another model
        self._rescanning = False  # the scans in progress include a rescan (for the progress words)
        self._job_roots: dict[int, list[str]] = {}  # what the user dropped, per scan not yet listed
        self._dialog = None  # the non-blocking question or card shown last (kept alive; tests read it)
        self._done = self._total = 0
        self._scan_started_at = 0.0
        self._scan_cancelled = False
        self._exporting = False
        self._closed = False
        self._inspecting: str | None = None  # the heatmap asked for and not yet back
        self._no_model_reason = ""  # why no model is loaded, once a load failed and none is in use
        self._heatmaps = _LruCache(HEATMAP_CACHE_SIZE)
        self._provenance = _LruCache(PROVENANCE_CACHE_SIZE)

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(QIcon(str(icon_path("convitx.svg"))))
        self.setAcceptDrops(True)
        self.thumbnails = ThumbnailCache(self)
        self.results = ResultsModel(self.thumbnails, self)
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.results)
        self.worker = Worker(self, decode_timeout=self.settings.decode_timeout)
        self.journal = SessionJournal(data_dir())
        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self._restore_layout()
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._update_progress)
        self._refresh_counts()
        self._refresh_empty_state()

    # --- building ------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.table = ResultsTable()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Results")
        self.detail = DetailPane(self.settings.heatmap_opacity, self.settings.view_mode)
        self.detail.setMinimumWidth(340)
        self.sensitivity = SensitivityControl(self.settings.sensitivity)
        self.results.set_sensitivity(self.sensitivity.offset)

        self.empty_state = QLabel(objectName="EmptyState")
        self.empty_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_state.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty_state)
        self.pages.addWidget(self.table)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.pages)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        self.search = QLineEdit(placeholderText="Search file names (Ctrl+F)", clearButtonEnabled=True)
        self.search.setAccessibleName("Search file names")
        self.search.setMinimumWidth(200)
        self.search.setAcceptDrops(False)  # a file dropped here is a file to scan, not text to search
        self.verdict_filter = QComboBox()
        self.verdict_filter.addItems(list(VERDICT_FILTERS))
        self.verdict_filter.setAccessibleName("Show verdicts")
        self.verdict_filter.setToolTip("Show only rows with this verdict")
        self.shown_count = QLabel()

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.splitter)
        self.setCentralWidget(central)

    def _action(self, text: str, slot, shortcut=None, tip: str = "", scope: QWidget | None = None) -> QAction:
        """An action whose shortcut works anywhere in the window, or only in ``scope`` (row actions, so
        Delete or Ctrl+C in the search field still edit the text)."""
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if scope is not None:
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        (scope or self).addAction(action)
        return action

    def _build_actions(self) -> None:
        self.add_images_action = self._action("Add images…", self.choose_images, QKeySequence.StandardKey.Open,
                                              "Choose image files to scan")
        self.add_folder_action = self._action("Add folder…", self.choose_folder, "Ctrl+Shift+O",
                                              "Choose a folder to scan, sub-folders included")
        self.export_csv_action = self._action("Export CSV…", lambda: self.choose_export("csv"), "Ctrl+E",
                                              "Save the rows shown (all, or the filtered ones) as a CSV table")
        self.export_selected_action = self._action("Export selected rows as CSV…",
                                                   lambda: self.choose_export("csv", selected_only=True),
                                                   "Ctrl+Shift+E")
        self.export_json_action = self._action("Export JSON…", lambda: self.choose_export("json"), "Ctrl+J",
                                               "Save the rows shown as JSON, with the model's name and thresholds")
        self.export_heatmaps_action = self._action("Export heatmaps…", self.choose_heatmap_folder, None,
                                                   "Save a heatmap overlay PNG for each scored row shown")
        self.open_model_action = self._action("Open model…", self.choose_model, "Ctrl+M",
                                              "Use another model file (.safetensors); offers to rescan the list")
        self.builtin_model_action = self._action("Use built-in model", lambda: self.open_model(None), None,
                                                 "Go back to the model that comes with the app")
        self.clear_action = self._action("Clear list", self.clear_list, None, "Remove every row")
        quit_action = self._action("Quit", self.close, "Ctrl+Q")
        self.cancel_action = self._action("Cancel scan", self.cancel, "Esc",
                                          "Stop scanning; results already computed are kept")
        self.cancel_action.setEnabled(False)
        self.open_action = self._action("Open image", self.open_selected, "Return", scope=self.table)
        self.reveal_action = self._action("Show in folder", self.reveal_selected, scope=self.table)
        self.copy_action = self._action("Copy path", self.copy_selected_paths, QKeySequence.StandardKey.Copy,
                                        scope=self.table)
        self.remove_action = self._action("Remove from list", self.remove_selected, QKeySequence.StandardKey.Delete,
                                          scope=self.table)
        find_action = self._action("Find…", self.focus_search, QKeySequence.StandardKey.Find)
        self.about_model_action = self._action("About this model…", self.show_model_card, "F1",
                                               "What the model was trained on, how well it does, and its limits")
        self.about_model_action.setEnabled(False)
        about_action = self._action(f"About {APP_NAME}", self.show_about)

        menu = self.menuBar().addMenu("&File")
        for action in (self.add_images_action, self.add_folder_action, None):
            menu.addSeparator() if action is None else menu.addAction(action)
        self.recent_menu = menu.addMenu("Recent sessions")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for action in (None, self.export_csv_action, self.export_selected_action, self.export_json_action,
                       self.export_heatmaps_action, None, self.open_model_action, self.builtin_model_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        self.device_menu = menu.addMenu("Compute device")
        self.device_group = QActionGroup(self)
        for key, text in DEVICE_LABELS.items():
            action = self.device_group.addAction(text)
            action.setCheckable(True)
            action.setChecked(key == self.settings.device)
            action.setData(key)
            self.device_menu.addAction(action)
        self.device_group.triggered.connect(lambda action: self.set_device(action.data()))
        menu.addSeparator()
        menu.addAction(self.clear_action)
        menu.addAction(quit_action)

        menu = self.menuBar().addMenu("&Edit")
        for action in (self.copy_action, self.remove_action, None, find_action, self.cancel_action):
            menu.addSeparator() if action is None else menu.addAction(action)

        menu = self.menuBar().addMenu("&View")
        for number, mode in enumerate(VIEW_MODES):
            action = self._action(self.detail.mode_buttons.button(number).text(),
                                  lambda _=False, m=mode: self.detail.set_mode(m), f"Ctrl+{number + 1}")
            menu.addAction(action)

        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.about_model_action)
        menu.addAction(about_action)

        toolbar = QToolBar("Main", movable=False, objectName="MainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.add_images_action, self.add_folder_action, self.export_csv_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addWidget(self.sensitivity)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.shown_count)
        toolbar.addWidget(self.verdict_filter)
        toolbar.addWidget(self.search)
        self.addToolBar(toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.activity = QLabel()
        self.counts = QLabel()
        self.progress = QProgressBar(maximumWidth=220, textVisible=True, format="%v / %m")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop now; results already computed are kept (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        self.device = QLabel()
        self.device.setToolTip("Where the model runs")
        self.model_state = QLabel("Loading model…")
        bar.addWidget(self.activity, 1)
        for widget in (self.counts, self.progress, self.cancel_button, self.device, self.model_state):
            bar.addPermanentWidget(widget)

    def _connect(self) -> None:
        worker = self.worker
        worker.model_loading.connect(self._model_loading)
        worker.model_loaded.connect(self._model_loaded)
        worker.model_failed.connect(self._model_failed)
        worker.waiting_for_model.connect(self._waiting_for_model)
        worker.files_listed.connect(self._files_listed)
        worker.scan_started.connect(self._scan_started)
        worker.results.connect(self._results_arrived)
        worker.rescanned.connect(self._rescanned_arrived)
        worker.scan_finished.connect(self._scan_finished)
        worker.provenance_ready.connect(self._provenance_ready)
        worker.heatmap_ready.connect(self._heatmap_ready)
        worker.heatmap_failed.connect(self._heatmap_failed)
        worker.export_progress.connect(self._export_progress)
        worker.export_finished.connect(self._export_finished)
        self.results.counts_changed.connect(self._refresh_counts)
        self.proxy.rowsInserted.connect(self._refresh_shown_count)
        self.proxy.rowsRemoved.connect(self._refresh_shown_count)
        self.proxy.layoutChanged.connect(self._refresh_shown_count)
        self.proxy.modelReset.connect(self._refresh_shown_count)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.context_menu_requested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.sensitivity.offset_changed.connect(self._sensitivity_changed)
        self.search.textChanged.connect(self.proxy.set_search)
        self.verdict_filter.currentTextChanged.connect(lambda text: self.proxy.set_verdicts(VERDICT_FILTERS[text]))

    def _restore_layout(self) -> None:
        geometry = QByteArray.fromBase64(self.settings.window_geometry.encode("ascii", "ignore"))
        if geometry.isEmpty() or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = QByteArray.fromBase64(self.settings.splitter_state.encode("ascii", "ignore"))
        if state.isEmpty() or not self.splitter.restoreState(state):
            self.splitter.setSizes([620, 380])  # proportions: the table gets the larger share

    @property
    def model_name(self) -> str | None:
        """The loaded model's name; None until one is ready."""
        return self._model_info.name if self._model_info is not None else None

    @property
    def scanning(self) -> bool:
        return bool(self._open_scans)

    # --- start and stop ------------------------------------------------------------------------

    def start(self, paths: list[str] | None = None) -> None:
        """Start the worker and load the model in the background; ``paths`` are scanned once it is ready."""
        self.worker.start()
        path, user_asked = self._startup_model, True
        if path is None:
            path, user_asked = self.settings.model_path, False
        self._load_model(path, user_asked)
        if self.journal.notice:
            QTimer.singleShot(0, lambda: self._ask(QMessageBox.Icon.Warning, "Earlier sessions",
                                                   self.journal.notice, [("OK", None)]))
        if paths:
            self.add_paths(paths)
        else:
            QTimer.singleShot(0, self._offer_last_session)

    def closeEvent(self, event) -> None:
        if not self._closed:
            self._closed = True
            self._save_settings()
            self.hide()  # the worker may need a moment to finish its batch; do not look frozen meanwhile
            self.worker.stop()
            if not self.worker.wait(WORKER_STOP_MS):
                log.error("the worker did not stop within %d s", WORKER_STOP_MS // 1000)
            # The worker's last results are still queued for this window: take them into the journal.
            QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
            self.thumbnails.shutdown()
            self.journal.close()
        event.accept()

    def _save_settings(self) -> None:
        settings = self.settings
        settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        settings.splitter_state = bytes(self.splitter.saveState().toBase64()).decode("ascii")
        settings.sensitivity = self.sensitivity.offset
        settings.heatmap_opacity = self.detail.opacity.value() / 100
        settings.view_mode = self.detail.mode
        settings.save(self._settings_dir)

    # --- sessions (the journal) -------------------------------------------------------------------

    def _offer_last_session(self) -> None:
        """At start: offer the newest saved session back, and to finish its scan if it did not finish."""
        last = self.journal.sessions(limit=1)
        if not last or self.results.rowCount() or self._open_scans:
            return
        summary = last[0]
        choices = [("Reopen", lambda: self.reopen_session(summary.id)), ("Not now", None)]
        question = f"Reopen your last session?\n\n{summary.describe()}"
        if summary.unfinished:
            choices.insert(0, ("Reopen and finish the scan", lambda: self.reopen_session(summary.id, finish=True)))
            question += "\n\nIts scan did not finish; the rest can be scored now."
        self._ask(QMessageBox.Icon.Question, "Last session", question, choices)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        sessions = self.journal.sessions(limit=RECENT_SESSIONS)
        for summary in sessions:
            action = self.recent_menu.addAction(summary.describe())
            action.triggered.connect(lambda _=False, s=summary: self.reopen_session(s.id, ask_to_finish=True))
            action.setEnabled(not self._open_scans)
        if not sessions:
            self.recent_menu.addAction("No earlier sessions").setEnabled(False)
        elif self._open_scans:
            self.recent_menu.addAction("(available when the scan ends)").setEnabled(False)

    def reopen_session(self, session_id: str, finish: bool = False, ask_to_finish: bool = False) -> None:
        """Show a saved session's rows instead of the current ones (which stay saved); ``finish`` scores the
        files it had queued, ``ask_to_finish`` offers to when there are any."""
        if self._open_scans:
            self.activity.setText("A scan is running: cancel it (Esc) or let it finish, then reopen the session.")
            return
        try:
            saved = self.journal.load(session_id)
        except JournalError as exc:
            self._ask(QMessageBox.Icon.Warning, "Session not reopened", f"The session could not be reopened: {exc}",
                      [("OK", None)])
            return
        from model.config import Thresholds

        self._forget(self.results.clear())
        for name, (human_below, ai_above) in saved.thresholds.items():
            if name != self.model_name:
                self.results.set_model_thresholds(name, Thresholds(human_below=human_below, ai_above=ai_above))
        self.journal.resume(session_id)
        self._record_model()
        self.results.add_results(saved.rows)
        self.worker.remember([r.path for r in saved.rows])
        missing = [r.path for r in saved.rows if not os.path.exists(r.path)]
        self.results.set_missing(missing)
        self.pages.setCurrentWidget(self.table if saved.rows else self.empty_state)
        rows = len(saved.rows)
        text = f"Reopened {saved.summary.when}: {rows} image{'s' if rows != 1 else ''}"
        text += f", {len(missing)} missing." if missing else "."
        self.activity.setText(text)
        if saved.queued and finish:
            self.add_paths(saved.queued)
        elif saved.queued and not ask_to_finish:
            self.activity.setText(f"{text} {saved.summary.queued} not scored yet: add their folders again to "
                                  "score them.")
        elif saved.queued:
            self._ask(QMessageBox.Icon.Question, "Finish the scan?",
                      f"This session's scan did not finish: {len(saved.queued)} image(s) or folder(s) were not "
                      "scored yet. Score them now?",
                      [("Finish the scan", lambda: self.add_paths(saved.queued)), ("Not now", None)])

    def _ask(self, icon, title: str, text: str, choices: list[tuple[str, object]]) -> QMessageBox:
        """A window-modal message that does not block: each button runs its action (None: just close)."""
        box = QMessageBox(icon, title, text, parent=self)
        for number, (label, action) in enumerate(choices):
            role = QMessageBox.ButtonRole.AcceptRole if number == 0 else QMessageBox.ButtonRole.RejectRole
            button = box.addButton(label, role)
            if action is not None:
                button.clicked.connect(action)
        box.open()
        self._dialog = box
        return box

    def _record_model(self) -> None:
        if self._model_info is not None:
            thresholds = self._model_info.thresholds
            self.journal.record_model(self._model_info.name, thresholds.human_below, thresholds.ai_above)

    # --- adding files --------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def add_paths(self, paths: list[str]) -> None:
        """Queue files and folders for scanning (listing happens in the worker); duplicates are skipped there."""
        paths = [os.path.abspath(p) for p in paths]
        if not paths:
            return
        if self.journal.session_id is None:
            self.journal.begin(title=os.path.basename(paths[0].rstrip(os.sep)) or paths[0])
            self._record_model()
        self.journal.queue_paths(paths, "root")
        job = self._open_job(self.worker.scan(paths))
        self._job_roots[job] = paths
        self.pages.setCurrentWidget(self.table)
        self._update_progress()

    def _open_job(self, job: int) -> int:
        """Count a new scan or rescan in the progress shown (a new run when none was in progress)."""
        if not self._open_scans:
            self._done = self._total = 0
            self._scan_cancelled = self._rescanning = False
            self._scan_started_at = 0.0  # set when scoring starts: waiting for the model is not scan time
        self._open_scans.add(job)
        return job

    def _rescannable(self) -> list[str]:
        """The rows another model scored, whose files are still there."""
        return [r.path for r in self.results.results()
                if r.model != self.model_name and not self.results.is_missing(r)]

    def rescan_rows(self) -> None:
        """Score every row the loaded model did not score again with it (missing files stay as they are)."""
        paths = self._rescannable()
        if not paths:
            return
        self._rescans.add(self._open_job(self.worker.scan(paths, rescan=True)))
        self._rescanning = True
        self._update_progress()

    def choose_images(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add images", self.settings.last_image_folder,
                                                "Images (*.jpg *.jpeg *.png *.webp *.gif *.bmp *.tif *.tiff "
                                                "*.heic *.heif *.avif);;All files (*)")
        if files:
            self.settings.last_image_folder = os.path.dirname(files[0])
            self.add_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add folder", self.settings.last_image_folder)
        if folder:
            self.settings.last_image_folder = folder
            self.add_paths([folder])

    def cancel(self) -> None:
        if self._open_scans or self._exporting:
            self._scan_cancelled = bool(self._open_scans)
            self.worker.cancel()
            self.activity.setText("Cancelling… (finishing the images in progress)")

    # --- the worker's answers --------------------------------------------------------------------

    def _scan_started(self, _job: int, total: int) -> None:
        if not self._scan_started_at:
            self._scan_started_at = time.monotonic()
            self._clock.start()
        self._total += total
        self._update_progress()

    def _files_listed(self, job: int, files: list) -> None:
        self.journal.queue_paths(files, "file")
        self.journal.unqueue_roots(self._job_roots.pop(job, []))

    def _rescanned_arrived(self, batch: list) -> None:
        self.journal.add_rows(self.results.replace_results(batch))  # not rows the user removed meanwhile
        self._done += len(batch)
        self._update_progress()
        self._current_changed(self.table.currentIndex(), QModelIndex())  # its verdict may have changed

    def _results_arrived(self, batch: list) -> None:
        self.journal.add_rows(self.results.add_results(batch))
        self._done += len(batch)
        self._update_progress()
        if self.table.currentIndex().row() < 0 and self.proxy.rowCount():
            self.table.setCurrentIndex(self.proxy.index(0, 1))

    def _scan_finished(self, job: int, cancelled: bool) -> None:
        self._open_scans.discard(job)
        self._rescans.discard(job)
        self._job_roots.pop(job, None)
        self._scan_cancelled |= cancelled
        if self._open_scans or self._closed:  # closing: what was queued stays queued, to finish next time
            return
        self.journal.clear_queue()
        self._clock.stop()
        elapsed = duration(time.monotonic() - self._scan_started_at if self._scan_started_at else 0)
        if self._scan_cancelled and self._rescanning:
            text = (f"Rescan cancelled after {self._done} of {self._total}: the rest keep their earlier verdicts "
                    "(see the Model column).")
        elif self._scan_cancelled:
            text = f"Cancelled after {self._done} of {self._total} images; those results are kept."
        elif self._rescanning:
            text = f"Rescanned {self._done} image{'s' if self._done != 1 else ''} with {self.model_name} in {elapsed}."
        else:
            text = f"Scanned {self._done} new image{'s' if self._done != 1 else ''} in {elapsed}."
        if self.journal.error:
            text += f" This session is no longer being saved ({self.journal.error}): export it to keep it."
        self.activity.setText(text)
        self._update_progress()
        if not self.results.rowCount():
            self.pages.setCurrentWidget(self.empty_state)

    def _update_progress(self) -> None:
        scanning = bool(self._open_scans)
        self.cancel_action.setEnabled(scanning or self._exporting)
        self.cancel_button.setVisible(scanning or self._exporting)
        self.progress.setVisible(scanning or self._exporting)
        if not scanning:
            return
        self.progress.setRange(0, max(self._total, 1) if self._total else 0)  # 0..0: busy while listing
        self.progress.setValue(self._done)
        if not self._scan_started_at:
            self.activity.setText("Waiting for the model to load; your files are queued." if self._model_info is None
                                  else "Listing files…")
            return
        elapsed = time.monotonic() - self._scan_started_at
        text = f"{'Rescanning' if self._rescanning else 'Scanning'} {self._done} of {self._total}"
        if self._done and elapsed > 0:
            rate = self._done / elapsed
            left = max(self._total - self._done, 0) / rate
            text += f" · {rate:.1f} images/s · {duration(elapsed)} elapsed · about {duration(left)} left"
        self.activity.setText(text)

    def _refresh_counts(self) -> None:
        counts = self.results.counts()
        self.counts.setText(" · ".join(f"{verdicts.label(v)} {counts[v]}" for v in verdicts.VERDICT_ORDER))
        self._refresh_shown_count()
        self._refresh_model_column()

    def _refresh_model_column(self) -> None:
        """The Model column appears once a row was scored by another model than the one in use (a rescan,
        a reopened session); while one model scored everything, the status bar names it."""
        models = self.results.models()
        others = models - {self.model_name} if self.model_name else models if len(models) > 1 else set()
        self.table.setColumnHidden(COLUMN["model"], not others)

    def _refresh_shown_count(self) -> None:
        total, shown = self.results.rowCount(), self.proxy.rowCount()
        self.shown_count.setText(f"Showing {shown} of {total}" if shown != total else "")
        for action in (self.export_csv_action, self.export_json_action, self.export_heatmaps_action,
                       self.clear_action):
            action.setEnabled(total > 0)

    # --- model -----------------------------------------------------------------------------------

    def choose_model(self) -> None:
        start = os.path.dirname(self.settings.model_path or "") or self.settings.last_image_folder
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start, "Model files (*.safetensors)")
        if path:
            self.open_model(path)

    def open_model(self, path: str | None) -> None:
        """Load ``path`` (None: the built-in model), then show its card and offer to rescan the list with it."""
        self._load_model(path, user_asked=True, show_card=True)

    def load_model(self, path: str | None) -> None:
        """Load ``path`` (None: the built-in model); a failure shows a dialog and keeps the current model."""
        self._load_model(path, user_asked=True)

    def set_device(self, device: str) -> None:
        """Reload the current model on ``device``; the choice is remembered once that worked."""
        if device != self.settings.device:
            self._load_model(self.settings.model_path, user_asked=True, device=device)

    def _load_model(self, path: str | None, user_asked: bool, device: str | None = None,
                    show_card: bool = False) -> None:
        device = device or self.settings.device
        self._model_requests.append((path, device, show_card))
        self.worker.load_model(path, device, user_asked)
        self.model_state.setText("Loading model…")
        self._refresh_empty_state()

    def _model_loading(self, name: str) -> None:
        self.model_state.setText(f"Loading {name}…")

    def _model_loaded(self, info, device_label: str, _path: str) -> None:
        self.settings.model_path, self.settings.device, show_card = self._model_requests.popleft()
        self._model_info, self._device_label = info, device_label
        self._record_model()
        self._refresh_model_column()
        self._no_model_reason = ""
        self._heatmaps.clear()
        self.results.set_model_thresholds(info.name, info.thresholds)
        self.sensitivity.set_base_thresholds(info.thresholds)
        self._check_device(self.settings.device)
        self._show_model_ready()
        self.device.setText(device_label)
        self.about_model_action.setEnabled(True)
        self._refresh_empty_state()
        self._update_progress()
        self._current_changed(self.table.currentIndex(), QModelIndex())
        if show_card:
            self._show_card_and_offer_rescan()

    def _show_card_and_offer_rescan(self) -> None:
        dialog = ModelCardDialog(self._model_info, self._device_label, self, rescan_count=len(self._rescannable()))
        dialog.accepted.connect(self.rescan_rows)
        dialog.open()
        self._dialog = dialog

    def _model_failed(self, reason: str, user_asked: bool) -> None:
        path, device, _show_card = self._model_requests.popleft()
        self._check_device(self.settings.device)
        if user_asked:
            kept = f"The model in use is still {self._model_info.name}." if self._model_info else NO_MODEL
            QMessageBox.critical(self, "Model not loaded", f"The model could not be loaded:\n\n{reason}\n\n{kept}")
        elif device != "auto" or path is not None:  # at start-up: try the automatic device, then the built-in model
            log.warning("model %s on %s failed (%s); trying a fallback", path or "(built-in)", device, reason)
            self._load_model(path if device != "auto" else None, user_asked=False, device="auto")
            return
        if self._model_info is None:
            self._no_model_reason = reason
            self.model_state.setText(NO_MODEL)
            self.model_state.setToolTip(reason)
        else:
            self._show_model_ready()
        self._refresh_empty_state()

    def _show_model_ready(self) -> None:
        """The status bar names the model without its parenthesised details, which would crowd out the
        scan's progress line; the tooltip keeps the full name."""
        info = self._model_info
        self.model_state.setText(f"Model: {short_model_name(info.name)} — ready")
        self.model_state.setToolTip(f"{info.name} ({info.preset}); Help ▸ About this model for its limits")

    def _check_device(self, device: str) -> None:
        for action in self.device_group.actions():
            action.setChecked(action.data() == device)

    def _waiting_for_model(self, _count: int) -> None:
        if self._no_model_reason and not self._model_requests:
            self.activity.setText(f"Your files are queued. {NO_MODEL}")

    def _refresh_empty_state(self) -> None:
        lines = [f"<p><img src='{icon_path('convitx.svg').as_posix()}' width='96' height='96'></p>",
                 "<p style='font-size:16pt'><b>Drop images or folders here</b></p>",
                 "<p>or use File ▸ Add images… (Ctrl+O) and Add folder… (Ctrl+Shift+O).<br>"
                 "Sub-folders are included; files that cannot be read get a row saying why.</p>"]
        if self._model_info is None and self._no_model_reason:
            lines.append(f"<p><b>{NO_MODEL}</b><br>You can drop files already: they wait for a model.</p>")
        elif self._model_info is None:
            lines.append("<p>The model is loading; you can drop files already.</p>")
        self.empty_state.setText("".join(lines))

    def show_model_card(self) -> None:
        if self._model_info is not None:
            ModelCardDialog(self._model_info, self._device_label, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          f"<b>{APP_NAME}</b><p>Estimates how likely each image is to be AI-generated, shows "
                          "where the model looked, and what the file's own metadata claims.</p>"
                          "<p><b>A score is not proof.</b> See Help ▸ About this model for what the model "
                          "was trained on and where it fails.</p>")

    # --- sensitivity and the detail pane -----------------------------------------------------------

    def _sensitivity_changed(self, offset: float) -> None:
        self.results.set_sensitivity(offset)
        self._current_changed(self.table.currentIndex(), QModelIndex())

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            self.detail.show_result(None)
            return
        result = self.results.result(self.proxy.mapToSource(current).row())
        missing = self.results.is_missing(result)
        self.detail.show_result(result, self.thumbnails.get(result.path), self.results.thresholds_for(result),
                                missing)
        if not result.ok or missing:
            return
        if result.path in self._provenance:
            self.detail.set_provenance(result.path, self._provenance[result.path])
        if result.path in self._heatmaps:
            self.detail.set_heatmap(result.path, self._heatmaps[result.path])
        elif not self.detail.has_heatmap() and result.path != self._inspecting:
            self._inspecting = result.path
            self.worker.inspect(result.path)

    def _provenance_ready(self, path: str, found) -> None:
        self._provenance.put(path, found)
        self.detail.set_provenance(path, found)

    def _heatmap_ready(self, path: str, heatmap) -> None:
        self._inspecting = None
        self._heatmaps.put(path, heatmap)
        self.detail.set_heatmap(path, heatmap)

    def _heatmap_failed(self, path: str, reason: str) -> None:
        self._inspecting = None
        self.detail.set_heatmap_failed(path, reason)

    # --- row actions -------------------------------------------------------------------------------

    def _selected_results(self) -> list:
        return [self.results.result(row) for row in self.table.selected_source_rows()]

    def _visible_results(self) -> list:
        return [self.results.result(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
                for row in range(self.proxy.rowCount())]

    def _context_menu(self, position) -> None:
        if not self.table.selected_source_rows():
            return
        menu = QMenu(self)
        for action in (self.open_action, self.reveal_action, self.copy_action, None, self.remove_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.exec(position)

    def open_selected(self) -> None:
        for result in self._selected_results()[:10]:  # a stray Enter on 5,000 rows must not open 5,000 viewers
            QDesktopServices.openUrl(QUrl.fromLocalFile(result.path))

    def reveal_selected(self) -> None:
        selected = self._selected_results()
        if selected:
            reveal_in_file_manager(selected[0].path)

    def copy_selected_paths(self) -> None:
        paths = [result.path for result in self._selected_results()]
        if paths:
            QApplication.clipboard().setText("\n".join(paths))
            self.activity.setText(f"Copied {len(paths)} path{'s' if len(paths) != 1 else ''}.")

    def remove_selected(self) -> None:
        rows = self.table.selected_source_rows()
        if rows:
            removed = self.results.remove_rows(rows)
            self.journal.remove_rows(removed)
            self._forget(removed)

    def clear_list(self) -> None:
        removed = self.results.clear()
        self.journal.remove_rows(removed)
        self._forget(removed)

    def _forget(self, paths: list[str]) -> None:
        self.worker.forget(paths)
        for path in paths:
            self._heatmaps.pop(path, None)
            self._provenance.pop(path, None)
        if not self.results.rowCount() and not self._open_scans:
            self.pages.setCurrentWidget(self.empty_state)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # --- export ------------------------------------------------------------------------------------

    def choose_export(self, kind: str, selected_only: bool = False) -> None:
        rows = self._selected_results() if selected_only else self._visible_results()
        if not rows:
            self.activity.setText("Nothing to export: no rows are selected." if selected_only else
                                  "Nothing to export yet.")
            return
        scope = "selected" if selected_only else "filtered" if self.proxy.is_filtering() else "all"
        start = os.path.join(self.settings.last_export_folder or str(Path.home()), f"convitx-results.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export {len(rows)} rows ({scope}) as {kind.upper()}", start,
                                              f"{kind.upper()} files (*.{kind})")
        if path:
            self.export_rows(rows, path, kind)

    def export_rows(self, rows: list, path: str, kind: str = "csv") -> bool:
        """Write rows atomically; a failure says why in a dialog, and the rows stay in the table."""
        from model.results import write_csv, write_json

        try:
            if kind == "json":
                write_json(rows, path, model_info=self._model_summary())
            else:
                write_csv(rows, path)
        except OSError as exc:
            log.warning("export to %s failed: %s", path, exc)
            QMessageBox.critical(self, "Export failed",
                                 f"Could not write {path}:\n{exc.strerror or exc}\n\n"
                                 "Nothing was lost: the results are still in the table. Choose another place.")
            return False
        self.settings.last_export_folder = os.path.dirname(os.path.abspath(path))
        self.activity.setText(f"Exported {len(rows)} row{'s' if len(rows) != 1 else ''} to {path}")
        return True

    def _model_summary(self) -> dict:
        if self._model_info is None:
            return {}
        thresholds = self._model_info.thresholds.shifted(self.sensitivity.offset)
        return {"name": self._model_info.name, "preset": self._model_info.preset,
                "thresholds": {"human_below": thresholds.human_below, "ai_above": thresholds.ai_above},
                "sensitivity_offset": self.sensitivity.offset, "note": "A score is an estimate, not proof."}

    def choose_heatmap_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export heatmaps to folder",
                                                  self.settings.last_export_folder)
        if folder:
            self.export_heatmaps(folder)

    def export_heatmaps(self, folder: str) -> None:
        paths = [result.path for result in self._visible_results() if result.ok]
        if not paths:
            self.activity.setText("No scored images to export heatmaps for.")
            return
        self.settings.last_export_folder = folder
        self._exporting = True
        self.worker.export_heatmaps(paths, folder, self.detail.opacity.value() / 100)
        self.activity.setText(f"Exporting {len(paths)} heatmaps… (after any scan in progress)")
        self._update_progress()

    def _export_progress(self, done: int, total: int) -> None:
        if not self._open_scans:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.activity.setText(f"Exporting heatmaps: {done} of {total}")

    def _export_finished(self, report: ExportReport) -> None:
        self._exporting = False
        self._update_progress()
        if report.error:
            QMessageBox.critical(self, "Heatmap export failed",
                                 f"Could not write heatmaps to {report.folder}:\n{report.error}\n\n"
                                 f"{report.written} were saved before the error. Your results are unchanged.")
            return
        text = f"Saved {report.written} heatmap{'s' if report.written != 1 else ''} to {report.folder}"
        if report.skipped:
            text += f"; {len(report.skipped)} image(s) could not be read"
        self.activity.setText(text + (" (cancelled)." if report.cancelled else "."))


def reveal_in_file_manager(path: str) -> None:
    """Show the file selected in Explorer or Finder; elsewhere open its folder."""
    if sys.platform == "win32":
        QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])
    elif sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", path])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
