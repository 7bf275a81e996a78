"""Model switching for the main window: open a model file, go back to the built-in one, change the compute
device, the worker's answers to a load, and what the window says while no model is ready.

A mixin of ``MainWindow``: it uses the window's ``worker``, ``settings``, ``results``, ``sensitivity``,
``device_group``, ``model_state``, ``device`` and ``empty_state``, and its ``_record_model``, ``rescan_rows``
and ``_current_changed``.
"""
from __future__ import annotations

import logging
import os

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QFileDialog, QMessageBox

from .about import ModelCardDialog
from .resources import icon_path
from .results_model import short_model_name

log = logging.getLogger(__name__)

NO_MODEL = "No model loaded — File ▸ Open model…"


class ModelControl:
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
