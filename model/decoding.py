"""Decode images in worker processes, so that a native decoder (libjpeg, libwebp, libheif...) that
crashes or hangs on one hostile file costs one error row, not the scan and not the app.

Each worker process has a thread in this process that feeds it one file at a time, waits at most
``timeout`` seconds, and kills and restarts a worker that died or hung. The crops come back through
a block of shared memory per worker (uint8, at most ``most_crops`` crops of ``crop_size``) and are
converted once, straight out of the block, by ``receive`` (the engine turns them into a tensor).

Workers are started with 'spawn' (forking a process that runs Qt and torch threads is unsafe) and
import only Pillow and numpy: this module, model.imageio and model.preprocess do not import torch,
and the caller's main script is not run again in them (see _DecoderProcess).
They exit with this process: a closed pipe ends an idle worker, and a thread in each worker ends
it when this process disappears, even in the middle of a hung decode.

The decoder is a parameter: a function at module level in an importable module (not the main
script), ``decoder(path, cfg) ->
DecodedPixels`` that raises ImageLoadError for a file it cannot read; :func:`decode_crops` is the
real one. Tests pass decoders that abort, segfault or sleep on chosen files.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import types
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing.connection import wait
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, Callable

import numpy as np

from provenance.copy_history import read_copy_history

from .clip_view import clip_features, clip_tower
from .config import PreprocessConfig
from .imageio import ImageLoadError, load_image, scales_on_decode
from .device import cpu_threads
from .preprocess import crop_pixels, decode_short_side, normalise, region_pixels, scoring_region

log = logging.getLogger(__name__)

DEFAULT_DECODE_TIMEOUT = 30.0  # seconds one file may take to decode
START_TIMEOUT = 120.0  # a worker not ready by then (imports on a loaded machine) is killed and retried
CLOSE_WAIT_S = 5.0  # for each worker to exit and its shared block to be freed
SLOWEST_KEPT = 5
# A file whose decoder died is tried once more on a fresh worker: the system may have killed the worker
# (out of memory, while idle) for reasons of its own. A file that crashes it twice is a crashed row.
CRASH_RETRIES = 1
START_ATTEMPTS = 3  # then that worker's files are decoded in this process, without isolation
CRASHED = "decoder crashed on this file (damaged or hostile data)"
_READY = "ready"


@dataclass
class DecodedPixels:
    """What a decoder returns: the crops to score and the image's full size."""

    pixels: np.ndarray  # uint8 (N, crop, crop, 3), 1 <= N <= most_crops
    width: int
    height: int
    history: dict = field(default_factory=dict)  # the copy's history (provenance.copy_history), a small dict
    clip: np.ndarray | None = None  # (1, F) CLIP features of the whole image, for presets with a CLIP view


@dataclass
class Decoded:
    """What a scan gets for one file: ``crops`` (from ``receive``) or the ``error`` its row shows."""

    crops: Any = None
    width: int | None = None
    height: int | None = None
    error: str = ""
    history: dict = field(default_factory=dict)
    clip: np.ndarray | None = None
    extra: dict | None = None  # the annotator's columns, computed in the decoder process too


@dataclass
class DecodeStats:
    """Counts since the pool started, for logs and the fuzz run."""

    files: int = 0
    crashes: int = 0
    timeouts: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, path), the SLOWEST_KEPT slowest


Decoder = Callable[[str, PreprocessConfig], DecodedPixels]
# Extra columns for a row (e.g. provenance), computed by the decoder process after the pixels: parsing
# metadata in this process would hold its GIL against the window's painting (bench/NOTES.md), and a
# native metadata reader that crashes costs the row, as a decoder does. Module-level, like a Decoder.
Annotator = Callable[[str], dict]


def decode_crops(path: str, cfg: PreprocessConfig) -> DecodedPixels:
    """The real decoder: open the file and cut the crops. JPEGs decode at reduced DCT scale when the
    crops are resampled anyway, or only down to the crops' last row when they come from the file's
    own grid (native): the same pixels as a full decode, at a fraction of its cost."""
    decoded = load_image(path, min_short_side=decode_short_side(cfg), region=partial(scoring_region, cfg=cfg))
    history = read_copy_history(path, decoded.image, decoded.box)  # from the pixels already decoded
    if decoded.box is None:
        pixels = crop_pixels(decoded.image, cfg)
    else:
        pixels = region_pixels(decoded.image, decoded.box, (decoded.width, decoded.height), cfg)
    clip = None
    if cfg.clip is not None:  # a whole PNG, WebP or HEIC decoded for the crops is what the CLIP view decodes too
        whole = decoded.box is None and not scales_on_decode(decoded.format)
        clip = clip_features(path, cfg.clip, decoded.image if whole else None)
    return DecodedPixels(pixels, decoded.width, decoded.height, history, clip)


def decode_workers(cores: int) -> int:
    """Decoder processes for a scan on ``cores`` cores. Decoding a camera JPEG costs about as much CPU
    as scoring it, so decoders get every core while the network waits for a batch (bench/NOTES.md,
    decoder processes x torch threads: on 2 cores 2 decoders beat 1 and 3)."""
    return max(1, min(4, cores))


def torch_threads(cores: int) -> int:
    """Torch threads beside :func:`decode_workers` decoders (bench/NOTES.md, same table)."""
    return max(1, cores)


def start_decoders(cfg: PreprocessConfig, workers: int | None = None, timeout: float = DEFAULT_DECODE_TIMEOUT,
                   decoder: Decoder = decode_crops, tower_cache: Path | None = None,
                   staged: bool = False) -> DecoderPool:
    """The scan's decoder processes, whose crops arrive normalised for the network (torch is imported by
    the first file received, not here: the app starts these while torch is still being imported).
    ``tower_cache``: where a CLIP view's edited graph is kept between starts (model/tower_cache.py);
    ``staged``: only the first process starts now, the others at :meth:`DecoderPool.start_all`."""
    return DecoderPool(cfg, workers or decode_workers(cpu_threads()), timeout, decoder,
                       receive=partial(normalise, cfg=cfg), tower_cache=tower_cache, staged=staged)


def timed_out_message(timeout: float) -> str:
    return f"decoding timed out after {timeout:g} s (damaged or hostile data?)"


class DecoderPool:
    """``workers`` decoder processes behind one queue; :meth:`submit` returns a Future of Decoded.

    Processes start now, in the background (a scan that comes before they are ready waits for
    them); with ``staged``, only the first: the app's first verdict waits for torch's import and the
    network, which the others' start-up (imports, the CLIP tower) would slow on a 2-core machine
    (bench/NOTES.md), so they start at :meth:`start_all`, once the network is loaded. :meth:`close`
    stops them."""

    def __init__(self, cfg: PreprocessConfig, workers: int, timeout: float = DEFAULT_DECODE_TIMEOUT,
                 decoder: Decoder = decode_crops, receive: Callable[[np.ndarray], Any] = np.copy,
                 tower_cache: Path | None = None, staged: bool = False):
        if timeout <= 0:
            raise ValueError("the decode timeout must be more than 0 seconds")
        self.cfg, self.timeout, self.decoder, self.receive = cfg, timeout, decoder, receive
        self.tower_cache = tower_cache
        self._all_started = threading.Event()
        if not staged:
            self._all_started.set()
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._stats = DecodeStats()
        self._stats_lock = threading.Lock()
        self._closed = threading.Event()
        self._early: dict[str, Future] = {}  # prefetched, not yet submitted
        self.workers = max(1, workers)
        self._lanes = [_Lane(self, index) for index in range(self.workers)]

    def submit(self, path: str | os.PathLike, annotate: Annotator | None = None) -> Future:
        """A Future of the file's Decoded, with ``annotate``'s columns as its ``extra``."""
        if self._closed.is_set():
            raise RuntimeError("the decoder pool is closed")
        with self._stats_lock:
            early = self._early.pop(os.fspath(path), None)
        if early is not None and not early.cancelled():
            return early
        future: Future = Future()
        self._tasks.put((os.fspath(path), annotate, future))
        return future

    def start_all(self) -> None:
        """Start the processes a staged pool held back (nothing for one that started them all)."""
        self._all_started.set()

    def prefetch(self, paths: list[str], annotate: Annotator | None = None) -> None:
        """Start decoding ``paths`` now (the app: the files dropped while the network still loads); the
        next :meth:`submit` of one of them gets that decode instead of starting another."""
        for path in paths:
            future = self.submit(path, annotate)
            with self._stats_lock:
                self._early[os.fspath(path)] = future

    def stats(self) -> DecodeStats:
        with self._stats_lock:
            return replace(self._stats, slowest=list(self._stats.slowest))

    def close(self) -> None:
        """Stop every worker (files still queued are cancelled) and free the shared memory."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._all_started.set()  # lanes held back go straight to their end
        for _ in self._lanes:
            self._tasks.put(None)
        for lane in self._lanes:
            lane.stop()
        for lane in self._lanes:
            lane.thread.join(CLOSE_WAIT_S)

    def _count(self, path: str, seconds: float, error: str) -> None:
        with self._stats_lock:
            stats = self._stats
            stats.files += 1
            stats.crashes += error == CRASHED
            stats.timeouts += error == timed_out_message(self.timeout)
            stats.slowest = sorted(stats.slowest + [(seconds, path)], reverse=True)[:SLOWEST_KEPT]


class _Lane:
    """One worker process, its shared block, and the thread here that feeds and watches it."""

    def __init__(self, pool: DecoderPool, index: int):
        self.pool, self.index = pool, index
        cfg = pool.cfg
        self.shape = (cfg.most_crops, cfg.crop_size, cfg.crop_size, 3)
        self.block = SharedMemory(create=True, size=int(np.prod(self.shape)))
        self.process: Any = None
        self.conn: Any = None
        self.ready = False
        self.isolated = True
        self.thread = threading.Thread(target=self._run, name=f"convitx-decoder-{index}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.index:
            self.pool._all_started.wait()
        if not self.pool._closed.is_set():
            self._start()
        while (task := self.pool._tasks.get()) is not None:
            path, annotate, future = task
            if self.pool._closed.is_set() or not future.set_running_or_notify_cancel():
                future.cancel()
                continue
            started = time.monotonic()
            try:
                decoded = self._decode(path, annotate)
            except BaseException as exc:  # never leave a scan waiting on a Future no one will set
                future.set_exception(exc)
                continue
            self.pool._count(path, time.monotonic() - started, decoded.error)
            future.set_result(decoded)
        self._kill()
        self.block.close()
        self.block.unlink()

    def stop(self) -> None:
        """Called by the pool: ends a hung decode at once; the thread then exits and frees the block."""
        process = self.process
        try:
            if process is not None:
                process.kill()
        except (ValueError, AttributeError):  # the lane closed it meanwhile, or has not started it yet
            pass

    def _start(self) -> bool:
        """Start a worker process (it says when it is ready); False, logged, when the system refuses."""
        parent, child = multiprocessing.Pipe()
        try:
            self.process = _DecoderProcess(
                target=_serve, args=(child, self.pool.decoder, self.pool.cfg, self.block.name, self.shape, self.pool.tower_cache),
                name="convitx-decoder", daemon=True)
            self.process.start()
        except Exception as exc:  # out of processes, memory or file handles
            log.warning("could not start a decoder process: %s", exc)
            self.process = None
            parent.close()
            return False
        finally:
            child.close()
        self.conn, self.ready = parent, False
        return True

    def _ensure_worker(self) -> bool:
        """A live, ready worker, started again when it died (even while idle); False when none would start."""
        for _ in range(START_ATTEMPTS):
            if self.ready and self.process.is_alive():
                return True
            if self.process is None or not self.process.is_alive():
                self._kill()
                if not self._start():
                    continue
            if self.conn in wait([self.conn, self.process.sentinel], START_TIMEOUT):
                try:
                    self.ready = self.conn.recv() == _READY
                except (EOFError, OSError):
                    pass
            if not self.ready:
                self._kill()  # died while starting, or not ready in time
            if self.pool._closed.is_set():
                return self.ready
        if self.ready:
            return True
        log.warning("no decoder process would start; decoding in this process, without crash isolation")
        return False

    def _decode(self, path: str, annotate: Annotator | None) -> Decoded:
        for _ in range(1 + CRASH_RETRIES):
            if self.isolated:
                self.isolated = self._ensure_worker()
            if not self.isolated:
                return self._decode_here(path, annotate)
            decoded = self._attempt(path, annotate)
            if decoded is not None:
                return decoded
            self._kill()
            self._start()
        return Decoded(error=CRASHED)

    def _attempt(self, path: str, annotate: Annotator | None) -> Decoded | None:
        """The worker's answer, a time-out row (the worker killed and started again), or None when it died."""
        try:
            self.conn.send((path, annotate))
            done = wait([self.conn, self.process.sentinel], self.pool.timeout)
        except OSError:  # it died before the send
            done = [self.process.sentinel]
        if self.conn in done:
            try:
                return self._receive(self.conn.recv())
            except (EOFError, OSError):
                pass
        if self.pool._closed.is_set():
            return Decoded(error="scan stopped")
        if done:
            log.warning("the decoder process died on %s (exit code %s)", path, self.process.exitcode)
            return None
        log.warning("decoding %s took over %g s; restarting the decoder", path, self.pool.timeout)
        self._kill()
        self._start()
        return Decoded(error=timed_out_message(self.pool.timeout))

    def _receive(self, reply: tuple) -> Decoded:
        if reply[0] == "error":
            return Decoded(error=reply[1], extra=reply[2])
        _, count, width, height, history, clip, extra = reply
        pixels = np.ndarray(self.shape, np.uint8, buffer=self.block.buf)[:count]
        try:
            return Decoded(crops=self.pool.receive(pixels), width=width, height=height, history=history, clip=clip,
                           extra=extra)
        finally:
            del pixels  # the block cannot be closed while a view of it exists

    def _decode_here(self, path: str, annotate: Annotator | None) -> Decoded:
        decoded = _run_decoder(self.pool.decoder, path, self.pool.cfg, self.shape)
        extra = annotate(path) if annotate else None
        if isinstance(decoded, str):
            return Decoded(error=decoded, extra=extra)
        return Decoded(crops=self.pool.receive(decoded.pixels), width=decoded.width, height=decoded.height,
                       history=decoded.history, clip=decoded.clip, extra=extra)

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process.close()
            self.process = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.ready = False


class _DecoderProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that does not import the parent's ``__main__`` again.

    spawn re-runs the main script (or ``python -m`` module) in each child, as ``__mp_main__``, so
    that functions defined there can be unpickled. Decoders never are, and a script that imports
    Qt or torch would cost every decoder process about 1 GB. The main module is hidden while the
    child's start-up data is written (a few milliseconds, under a lock)."""

    _launching = threading.Lock()

    @staticmethod
    def _Popen(process_obj):
        with _DecoderProcess._launching:
            main = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                return multiprocessing.context.SpawnProcess._Popen(process_obj)
            finally:
                sys.modules["__main__"] = main


# --- in the worker process -----------------------------------------------------------------------

def _serve(conn, decoder: Decoder, cfg: PreprocessConfig, block_name: str, shape: tuple,
           tower_cache: Path | None) -> None:
    """The worker's loop: (path, annotator or None) in, crops into the shared block, ("ok", count, width,
    height, history, clip features or None, columns or None) or ("error", message, columns or None) out;
    None or a closed pipe ends it."""
    _live_and_die_with_parent()
    block = SharedMemory(name=block_name)
    out = np.ndarray(shape, np.uint8, buffer=block.buf)
    if cfg.clip is not None:  # the tower loads within the start-up time, not the first file's
        clip_tower(cfg.clip, tower_cache)
    conn.send(_READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(_decode_into(out, decoder, *task, cfg))


def _decode_into(out: np.ndarray, decoder: Decoder, path: str, annotate: Annotator | None,
                 cfg: PreprocessConfig) -> tuple:
    decoded = _run_decoder(decoder, path, cfg, out.shape)
    extra = annotate(path) if annotate else None
    if isinstance(decoded, str):
        return "error", decoded, extra
    out[: len(decoded.pixels)] = decoded.pixels
    return "ok", len(decoded.pixels), decoded.width, decoded.height, decoded.history, decoded.clip, extra


def _run_decoder(decoder: Decoder, path: str, cfg: PreprocessConfig, shape: tuple) -> DecodedPixels | str:
    """The decoder's crops, checked against the block's ``shape``, or the error message for the row."""
    try:
        decoded = decoder(path, cfg)
    except ImageLoadError as exc:
        return str(exc)
    except Exception as exc:  # a Python error is one row too; only native faults cost a restart
        return f"damaged or unsupported image ({type(exc).__name__}: {exc})"
    pixels = decoded.pixels
    if pixels.dtype != np.uint8 or pixels.shape[1:] != shape[1:] or not 1 <= len(pixels) <= shape[0]:
        return f"the decoder returned crops of shape {pixels.shape} ({pixels.dtype}), expected up to {shape}"
    return decoded


def _live_and_die_with_parent() -> None:
    """Ctrl-C is the parent's to handle (it cancels the scan); no core files from a crashing decoder
    land in the user's folder; and the worker ends when the parent process is gone, even if killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # Windows has no resource module
        pass
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()
