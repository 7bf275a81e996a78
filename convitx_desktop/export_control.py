"""Export for the main window: the rows shown or selected as CSV or JSON (written here, atomically), and
heatmap overlays for the rows shown (written by the worker, after any scan in progress).

A mixin of ``MainWindow``: it uses the window's ``settings``, ``proxy``, ``sensitivity``, ``detail``, ``worker``,
``progress`` and ``activity``, and its ``_selected_results``, ``_visible_results`` and ``_update_progress``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from .worker import ExportReport

log = logging.getLogger(__name__)


class ExportControl:
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
