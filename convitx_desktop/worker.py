"""The one long-lived background thread that owns the Detector.

The GUI never runs torch: it calls the thread-safe methods below (``load_model``, ``scan``, ``inspect``,
``export_heatmaps``, ``cancel``, ``forget``, ``remember``, ``stop``), which put jobs on a queue, and it hears
back only through the typed signals (queued across threads by Qt). Jobs run one at a time, in order, except
``inspect`` (heatmap + provenance of the selected image): it is served between scan results so a click
never waits for a long scan, and only the newest request is kept, so a newer selection supersedes an
older one. Cancelling sets a ``threading.Event`` that ``Detector.scan`` checks; results already made
have been sent and stay.

``model`` is imported inside this thread only: it loads torch, which takes seconds.
"""
from __future__ import annotations

import gc
import itertools
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from model.columns import row_columns
from model.files import ScanItem, path_key

from .settings import cache_dir

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10  # Linux nice value of the worker's threads: the GUI thread (0) wins the CPU
GIL_SWITCH_SECONDS = 0.001  # Python's default is 0.005
RESULT_FLUSH_SECONDS = 0.1  # results are sent in small batches: thousands of single signals would flood the GUI


@dataclass
class ScanJob:
    job_id: int
    paths: list[str]
    rescan: bool = False  # score these files again (they have rows), with the model now loaded
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class LoadModelJob:
    path: str | None  # None = the built-in model
    device: str
    user_requested: bool  # a failure the user asked for gets a dialog; a failed start-up load only a status


@dataclass
class ExportHeatmapsJob:
    paths: list[str]
    folder: Path
    opacity: float
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class ExportReport:
    folder: str
    written: int
    skipped: list[tuple[str, str]]  # (path, reason) of images that could not be read
    cancelled: bool = False
    error: str = ""  # why the export stopped (e.g. the folder is not writable); "" when it did not


_STOP = object()
_WAKE = object()  # wakes an idle worker for an inspect request


class Worker(QThread):
    model_loading = Signal(str)  # what is being loaded, in words
    model_loaded = Signal(object, str, str)  # ModelInfo, device label, model file path
    model_failed = Signal(str, bool)  # reason, user_requested
    waiting_for_model = Signal(int)  # number of scans parked until a model loads
    files_listed = Signal(int, list)  # job id, the new files (str) it will score, once listed
    scan_started = Signal(int, int)  # job id, number of new files it will score
    results = Signal(list)  # list[ScanResult], in input order
    rescanned = Signal(list)  # list[ScanResult] of a rescan: they replace the rows of the same files
    scan_finished = Signal(int, bool)  # job id, cancelled
    provenance_ready = Signal(str, object)  # path, provenance.Provenance
    heatmap_ready = Signal(str, object)  # path, model.heatmap.Heatmap
    heatmap_failed = Signal(str, str)  # path, reason
    export_progress = Signal(int, int)  # done, total
    export_finished = Signal(object)  # ExportReport

    def __init__(self, parent=None, decode_timeout: float | None = None):
        super().__init__(parent)
        self.setObjectName("convitx-worker")
        self._decode_timeout = decode_timeout  # seconds one file may take to decode (None: the engine's default)
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._cancellable: list[ScanJob | ExportHeatmapsJob] = []  # queued, parked or running
        self._parked: list[ScanJob] = []
        self._seen: set[str] = set()  # files scored or queued, so a second drop does not score them again
        self._inspect_path: str | None = None
        self._detector = None
        self._loading_decoders = None  # the decoder processes of a model being loaded
        self._eager_network_built = False  # since the model loaded (see _build_eager_network)
        self._ids = itertools.count(1)

    # --- called from the GUI thread ------------------------------------------------------

    def load_model(self, path: str | None, device: str = "auto", user_requested: bool = True) -> None:
        self._jobs.put(LoadModelJob(path, device, user_requested))

    def scan(self, paths: list[str], rescan: bool = False) -> int:
        """Queue files and folders; they are listed and scored in this thread. Returns the job id.
        ``rescan``: score these files again (with the model loaded by then) even though they were scored."""
        job = ScanJob(next(self._ids), [str(p) for p in paths], rescan)
        with self._lock:
            self._cancellable.append(job)
        self._jobs.put(job)
        if not rescan:
            self._prefetch(job)
        return job.job_id

    def export_heatmaps(self, paths: list[str], folder: str | Path, opacity: float) -> None:
        job = ExportHeatmapsJob(list(paths), Path(folder), opacity)
        with self._lock:
            self._cancellable.append(job)
        self._jobs.put(job)

    def inspect(self, path: str) -> None:
        """Ask for the heatmap and provenance of one image, replacing any request not yet served."""
        with self._lock:
            self._inspect_path = path
        self._jobs.put(_WAKE)

    def cancel(self) -> None:
        """Stop the running scan or export and drop the queued ones; what was scored stays scored."""
        with self._lock:
            for job in self._cancellable:
                job.cancel.set()
            parked, self._parked = self._parked, []
        for job in parked:  # back on the queue, where they end at once as cancelled
            self._jobs.put(job)

    def forget(self, paths: list[str]) -> None:
        """Rows the user removed: dropping those files again scores them again."""
        with self._lock:
            self._seen.difference_update(path_key(p) for p in paths)

    def remember(self, paths: list[str]) -> None:
        """Rows brought back from a saved session: dropping those files again does not score them again."""
        with self._lock:
            self._seen.update(path_key(p) for p in paths)

    def stop(self) -> None:
        self.cancel()
        self._jobs.put(_STOP)

    # --- the worker thread -----------------------------------------------------------------

    def run(self) -> None:
        self._yield_cpu_to_the_window()
        handlers = {ScanJob: self._scan, LoadModelJob: self._load_model, ExportHeatmapsJob: self._export_heatmaps}
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            try:
                self._serve_inspect()
                if job is not _WAKE:
                    handlers[type(job)](job)
            except Exception:  # each handler reports its own end; a bug must not kill the thread
                log.exception("worker job %r failed", job)
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        log.info("worker stopped")

    def _yield_cpu_to_the_window(self) -> None:
        """Scoring fills both cores; the window must still get one, and the GIL, the moment it needs them
        (bench/NOTES.md: the longest GUI stall halved). On Linux this thread's nice value rises, and the
        threads it starts, torch's and the decoders, inherit it; elsewhere Qt's thread priority does the
        same. The GIL changes hands every millisecond instead of every 5, so each Python call the table
        makes while painting waits less behind the decoders."""
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        self.setPriority(QThread.Priority.LowPriority)
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)

    def _release(self, job) -> None:
        with self._lock:
            if job in self._cancellable:
                self._cancellable.remove(job)

    def _load_model(self, job: LoadModelJob) -> None:
        """Decoders first (no torch), then torch and the network: the processes start, and the files
        already dropped decode, while torch is imported; a frozen network kept from an earlier start
        scores without timm (model.engine.Detector.from_file)."""
        self.model_loading.emit(Path(job.path).name if job.path else "built-in model")
        from model.decoding import start_decoders
        from model.model_file import CheckpointError, read_info
        from model.resources import default_model_path

        decoders = detector = None
        try:
            path = job.path or default_model_path()
            options = {} if self._decode_timeout is None else {"timeout": self._decode_timeout}
            decoders = start_decoders(read_info(path).preprocess, tower_cache=cache_dir(), staged=True, **options)
            self._early_decoders(decoders)
            from model import Detector

            detector = Detector.from_file(path, device=job.device, cache_dir=cache_dir(), decoders=decoders)
        except (CheckpointError, ValueError, OSError) as exc:
            log.warning("model %s could not be loaded: %s", job.path or "(built-in)", exc)
            self.model_failed.emit(str(exc), job.user_requested)
            return
        except Exception as exc:  # a broken install, or a GPU that fails to initialise
            log.exception("model %s could not be loaded", job.path or "(built-in)")
            self.model_failed.emit(f"{type(exc).__name__}: {exc}", job.user_requested)
            return
        finally:
            self._early_decoders(None)
            if detector is None and decoders is not None:
                decoders.close()
        previous, self._detector = self._detector, detector
        self._eager_network_built = False
        if previous is not None:
            previous.close()  # its decoder processes
        # Everything loaded so far (torch, timm, Qt, the model) lives as long as the app: frozen out of the
        # garbage collector, a full collection no longer walks it and stalls every thread for ~150 ms.
        gc.freeze()
        log.info("model %s loaded on %s", detector.name, detector.device_label)
        self.model_loaded.emit(detector.info, detector.device_label, str(detector.path))
        with self._lock:
            parked, self._parked = self._parked, []
            idle = not parked and not any(isinstance(job, ScanJob) for job in self._cancellable)
        for scan in parked:
            self._jobs.put(scan)
        if idle:  # nothing to score yet: build the eager network now, not in the middle of the next scan
            try:
                self._build_eager_network()
            except Exception:  # the first heatmap tries again and says why
                log.exception("the eager network of %s could not be built", detector.name)

    def _early_decoders(self, decoders) -> None:
        """While a model loads (``decoders``: its decoder processes, already started), the files queued to
        be scanned start decoding; None when the load is over."""
        with self._lock:
            self._loading_decoders = decoders
            jobs = [job for job in self._cancellable if isinstance(job, ScanJob) and not job.rescan]
        for job in jobs:
            self._prefetch(job)

    def _prefetch(self, job: ScanJob) -> None:
        """The first files a scan names (not folders: listing them waits), decoded ahead of the model."""
        with self._lock:
            decoders = self._loading_decoders
        if decoders is None:
            return
        files = (path for path in job.paths if os.path.isfile(path))  # stops after a few: may run in the GUI thread
        try:
            decoders.prefetch(list(itertools.islice(files, decoders.workers)), row_columns)
        except RuntimeError:  # the load failed and closed them meanwhile: the scan waits for a model as before
            pass

    def _scan(self, job: ScanJob) -> None:
        with self._lock:
            if self._detector is None and not job.cancel.is_set():
                self._parked.append(job)
                self.waiting_for_model.emit(len(self._parked))
                return
        items, done, batch = [], 0, []
        send = self.rescanned if job.rescan else self.results
        try:
            if job.cancel.is_set():
                return
            items = [ScanItem(Path(p)) for p in job.paths] if job.rescan else self._new_items(job)
            if not job.rescan:
                self.files_listed.emit(job.job_id, [str(item.path) for item in items])
            self.scan_started.emit(job.job_id, len(items))
            flushed_at = time.monotonic()
            for result in self._detector.scan(items, cancel=job.cancel, annotate=row_columns):
                batch.append(result)
                done += 1
                if time.monotonic() - flushed_at >= RESULT_FLUSH_SECONDS or self._inspect_pending():
                    send.emit(batch)
                    batch, flushed_at = [], time.monotonic()
                    self._serve_inspect()
        finally:
            if batch:
                send.emit(batch)
            if not job.rescan:  # not scored: a later drop may score them (a rescan's files keep their rows)
                self.forget([str(item.path) for item in items[done:]])
            self._release(job)
            self.scan_finished.emit(job.job_id, job.cancel.is_set())

    def _new_items(self, job: ScanJob) -> list:
        """List the job's files (folders recursively), leaving out files already scored or queued."""
        from model.files import expand_paths

        items = []
        for item in expand_paths(job.paths, recursive=True):
            if job.cancel.is_set():
                break
            key = path_key(item.path)
            with self._lock:
                if key in self._seen:
                    continue
                self._seen.add(key)
            items.append(item)
        return items

    def _inspect_pending(self) -> bool:
        with self._lock:
            return self._inspect_path is not None

    def _serve_inspect(self) -> None:
        with self._lock:
            path, self._inspect_path = self._inspect_path, None
        if path is None:
            return
        from provenance import read_provenance

        self.provenance_ready.emit(path, read_provenance(path))
        if self._detector is None:
            self.heatmap_failed.emit(path, "no model is loaded")
            return
        try:
            self.heatmap_ready.emit(path, self._heatmap(path))
        except Exception as exc:  # ImageLoadError, or torch running out of memory on a huge image
            log.warning("heatmap for %s failed: %s", path, exc)
            self.heatmap_failed.emit(path, str(exc))

    def _heatmap(self, path: str):
        self._build_eager_network()
        return self._detector.heatmap(path)

    def _build_eager_network(self) -> None:
        """A model scored from its kept frozen copy builds the eager network (timm included) for its first
        heatmap. Built with the garbage collector paused, then frozen like the rest of the model: a full
        collection over the fresh objects stalled the window for 75-250 ms (bench/NOTES.md)."""
        if self._eager_network_built:
            return
        gc.disable()
        try:
            self._detector.network
        finally:
            self._eager_network_built = True
            gc.freeze()
            gc.enable()

    def _export_heatmaps(self, job: ExportHeatmapsJob) -> None:
        skipped, written, error = [], 0, ""
        try:
            if self._detector is None:
                error = "no model is loaded"
                return
            job.folder.mkdir(parents=True, exist_ok=True)
            for index, path in enumerate(job.paths, 1):
                if job.cancel.is_set():
                    break
                self._serve_inspect()
                written += self._write_heatmap(job, index, path, skipped)
                self.export_progress.emit(index, len(job.paths))
        except OSError as exc:
            error = f"{exc.strerror or exc} ({exc.filename or job.folder})"
        finally:
            self._release(job)
            self.export_finished.emit(ExportReport(str(job.folder), written, skipped, job.cancel.is_set(), error))

    def _write_heatmap(self, job: ExportHeatmapsJob, index: int, path: str, skipped: list) -> bool:
        """One overlay PNG, written atomically; an unreadable image is skipped, a write error raises."""
        from model.cli import heatmap_file_name
        from model.heatmap import save_overlay

        try:
            heatmap = self._heatmap(path)
        except Exception as exc:  # ImageLoadError, or torch running out of memory on a huge image
            skipped.append((path, str(exc)))
            return False
        save_overlay(heatmap, job.folder / heatmap_file_name(index, path), job.opacity)
        return True

