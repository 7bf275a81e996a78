"""Scan control for the main window: files dropped or chosen, scans and rescans queued to the worker, the
worker's answers, and the progress line with its Cancel.

A mixin of ``MainWindow`` (which builds the widgets and wires the signals): it reads the window's ``worker``,
``results``, ``proxy``, ``table``, ``journal``, ``pages``, ``activity``, ``progress`` and ``cancel_*``
widgets, and calls ``_current_changed`` and ``_refresh_*`` of the window.
"""
from __future__ import annotations

import os
import time

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QFileDialog


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"




class ScanControl:
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
