"""The main window: drop zone, results table, detail pane, status bar, menus; wires them to the worker.

The window builds the widgets and actions and connects the signals; what each part does lives in its own
module, mixed into the window: ``scan_control`` (adding files, scans, progress), ``session_control`` (the
journal's sessions), ``model_control`` (model and device switching), ``export_control`` (CSV/JSON and
heatmap export) and ``row_actions`` (open, reveal, copy, remove).

Nothing here imports ``model`` at import time (it loads torch, which takes seconds): the window comes up
first, the worker loads the model behind it, and the few ``model`` functions used here (CSV/JSON writing)
are imported when there are results, by which time the worker has loaded them.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict, deque

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QMainWindow, QMessageBox, QProgressBar, QPushButton, \
    QSizePolicy, QSplitter, QStackedWidget, QToolBar, QVBoxLayout, QWidget

from . import APP_NAME, verdicts
from .detail_pane import DetailPane
from .export_control import ExportControl
from .journal import SessionJournal
from .model_control import ModelControl
from .resources import icon_path
from .results_model import COLUMN, ResultsFilter, ResultsModel
from .results_view import ResultsTable
from .row_actions import RowActions
from .scan_control import ScanControl
from .sensitivity import SensitivityControl
from .session_control import SessionControl
from .settings import DEVICE_LABELS, VIEW_MODES, Settings, data_dir
from .thumbnails import ThumbnailCache
from .worker import Worker

log = logging.getLogger(__name__)

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


class _LruCache(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class MainWindow(ScanControl, SessionControl, ModelControl, ExportControl, RowActions, QMainWindow):
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
