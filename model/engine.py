"""The inference engine: batched scoring of files with decoding overlapped (in worker processes,
model/decoding.py), streamed results, cooperative cancel, and heatmaps. Used by the CLI, the
desktop worker, training's evaluation and the benchmark."""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from .checkpoint import CheckpointError, LoadedModel, load_checkpoint
from .clip_outputs import feature_count
from .clip_view import ClipWeightsError, check_clip_file, default_clip_path
from .config import ModelInfo, Thresholds
from .decoding import (DEFAULT_DECODE_TIMEOUT, Annotator, Decoded, DecodeStats, Decoder, DecoderPool, decode_crops,
                       start_decoders, torch_threads)
from .device import cpu_threads, describe_device, resolve_device
from .files import ScanItem
from .frozen import FreezeError, freeze_for_cpu, load_frozen, save_frozen
from .heatmap import Heatmap, grad_cam
from .imageio import ImageLoadError, load_image
from .model_file import file_sha256, read_info
from .preprocess import covering_boxes, crops_to_tensor, decode_short_side, working_image
from .resources import default_model_path
from .results import ScanResult, copy_columns

log = logging.getLogger(__name__)

HEATMAP_TILES_PER_AXIS = 4
CANCEL_POLL_S = 0.1  # how often a scan waiting for a slow file looks at its cancel flag
# On the CPU the frozen network runs at most this many crops per call: with up to 4 native crops an
# image, a batch's crop count varies, and TorchScript optimises each new input shape anew; fixed-size
# chunks keep the shapes few, and small batches stay in cache (bench/NOTES.md, 2026-12-03).
CPU_FORWARD_CROPS = 8


@dataclass
class _Prepared:
    item: ScanItem
    crops: torch.Tensor | None = None
    width: int | None = None
    height: int | None = None
    error: str = ""
    extra: dict | None = None
    history: dict | None = None  # the copy's history, from the decoder (provenance.copy_history)
    clip: np.ndarray | None = None  # (1, F) CLIP features of the whole image, from the decoder


_CANCELLED = object()


def _result(future: Future, cancel: threading.Event):
    """The future's result, or _CANCELLED as soon as ``cancel`` is set while waiting for it."""
    while True:
        try:
            return future.result(timeout=CANCEL_POLL_S)
        except TimeoutError:
            if cancel.is_set():
                return _CANCELLED


def _check_picklable(annotate: Annotator) -> None:
    """The decoder processes receive ``annotate`` by name, and never run the main script: a lambda, a nested
    function or one defined in ``__main__`` cannot go."""
    try:
        pickle.dumps(annotate)
        if getattr(annotate, "__module__", None) == "__main__":
            raise ValueError("it is defined in __main__")
    except Exception as exc:
        raise ValueError(f"annotate must be a module-level function (it runs in the decoder processes): {exc}") from None


def _check_clip_tower() -> None:
    """A model with a CLIP view needs the app's CLIP file: a clear message now, not an error row per file."""
    try:
        check_clip_file(default_clip_path())
    except ClipWeightsError as exc:
        raise CheckpointError(f"this model has a CLIP view, and {exc}") from None


class Detector:
    """Owns one loaded model on one device. Thread-safe: scans and heatmaps share a lock.

    On the CPU, scores come from a frozen TorchScript copy of the network (model/frozen.py: built
    while loading, about a second, or read back from ``cache_dir`` by :meth:`from_file`); heatmaps,
    which need gradients, use the eager network, built from the file on first use when the frozen
    copy came from the cache. ``optimize=False`` scores with the eager network too.

    Files are decoded in ``decode_workers`` processes (model/decoding.py), started here unless the
    caller started them already (``decoders``, so that they start while torch is imported): a file
    whose decoder crashes, or runs longer than ``decode_timeout`` seconds, becomes one error row.
    ``decoder`` is the module-level function those processes run (tests pass hostile ones).
    :meth:`close`, or dropping the Detector, stops them."""

    def __init__(self, loaded: LoadedModel, device: str = "auto", batch_size: int = 8,
                 decode_workers: int | None = None, optimize: bool = True,
                 decode_timeout: float = DEFAULT_DECODE_TIMEOUT, decoder: Decoder = decode_crops,
                 decoders: DecoderPool | None = None, frozen: torch.jit.ScriptModule | None = None):
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            torch.set_num_threads(torch_threads(cpu_threads()))
        self.info: ModelInfo = loaded.info
        self.path = loaded.path
        self._clip_width = feature_count(loaded.info.preprocess.clip)
        if self._clip_width:
            _check_clip_tower()
        self.batch_size = max(1, batch_size)
        # Started first, so that the workers' imports overlap loading and freezing the network.
        self._decoders = decoders or start_decoders(loaded.info.preprocess, decode_workers, decode_timeout, decoder)
        self.decode_workers = self._decoders.workers
        self.close = weakref.finalize(self, self._decoders.close)
        self._lock = threading.Lock()
        self._network_lock = threading.Lock()
        self._network = self._prepared(loaded.network) if loaded.network is not None else None
        if frozen is not None:
            self._scorer = frozen
        elif optimize and self.device.type == "cpu":
            self._scorer = self._frozen_or_eager()
        else:
            self._scorer = self.network
        self._decoders.start_all()  # a staged pool's other processes, now that the network is ready

    def _prepared(self, network: torch.nn.Module) -> torch.nn.Module:
        # channels_last speeds up depthwise convolutions on CPU as well as on GPUs (bench/NOTES.md).
        return network.to(self.device).eval().to(memory_format=torch.channels_last)

    @property
    def network(self) -> torch.nn.Module:
        """The eager network (heatmaps); loaded from the model file on first use when scoring started
        from a cached frozen copy."""
        with self._network_lock:
            if self._network is None:
                self._network = self._prepared(load_checkpoint(self.path).network)
            return self._network

    @property
    def frozen(self) -> bool:
        return isinstance(self._scorer, torch.jit.ScriptModule)

    def _frozen_or_eager(self) -> torch.nn.Module:
        try:
            return freeze_for_cpu(self.network, self.info.preprocess.crop_size, self._clip_width)
        except FreezeError as exc:
            log.warning("scoring on the eager network (slower): %s", exc)
            return self.network

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, cache_dir: Path | None = None,
                  **kwargs) -> "Detector":
        """Load ``path``, or the embedded default model when ``path`` is None.

        With ``cache_dir``, a CPU detector keeps its frozen network there, and a later start with the
        same model file and torch scores with that copy at once: no timm import, no tracing (bench/NOTES.md,
        first verdict). The eager network then waits for the first heatmap."""
        path = Path(path or default_model_path())
        cached = cache_dir is not None and kwargs.get("optimize", True) and \
            resolve_device(kwargs.get("device", "auto")).type == "cpu"
        if not cached:
            return cls(load_checkpoint(path), **kwargs)
        info, digest = read_info(path), file_sha256(path)
        cfg = info.preprocess
        frozen = load_frozen(cache_dir, digest, cfg.crop_size, cfg.most_crops, feature_count(cfg.clip))
        if frozen is not None:
            return cls(LoadedModel(network=None, info=info, path=path), frozen=frozen, **kwargs)
        detector = cls(load_checkpoint(path), **kwargs)
        if detector.frozen:
            save_frozen(cache_dir, digest, cfg.crop_size, cfg.most_crops, detector._scorer, detector._clip_width)
        return detector

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def thresholds(self) -> Thresholds:
        return self.info.thresholds

    @property
    def device_label(self) -> str:
        return describe_device(self.device)

    # --- scoring -------------------------------------------------------------------------

    def scan(self, items: Iterable[ScanItem | str | os.PathLike], cancel: threading.Event | None = None,
             annotate: Annotator | None = None) -> Iterator[ScanResult]:
        """Score every item, yielding one ScanResult per item in input order as batches finish.

        Decoding runs ahead in the decoder processes, ``annotate`` too (a module-level function, like a
        decoder: model/decoding.py); setting ``cancel`` stops after the batch in flight (results already
        yielded stand), and within CANCEL_POLL_S while waiting for a slow file."""
        if annotate is not None:
            _check_picklable(annotate)
        cancel = cancel or threading.Event()
        source = iter(items)
        window = self.batch_size * 2
        pending: deque[tuple[ScanItem, Future | None]] = deque()
        try:
            batch: list[_Prepared] = []
            while True:
                while len(pending) < window and not cancel.is_set():
                    item = next(source, None)
                    if item is None:
                        break
                    item = item if isinstance(item, ScanItem) else ScanItem(Path(item))
                    pending.append((item, None if item.error else self._decoders.submit(item.path, annotate)))
                if cancel.is_set() or not pending:
                    break
                prepared = self._collect(*pending.popleft(), cancel)
                if prepared is None:
                    break
                batch.append(prepared)
                good = sum(p.crops is not None for p in batch)
                if good >= self.batch_size or not pending:
                    yield from self._finish(batch)
                    batch = []
            if batch and not cancel.is_set():
                yield from self._finish(batch)
        finally:
            for _, decoding in pending:
                if decoding is not None:
                    decoding.cancel()

    @staticmethod
    def _collect(item: ScanItem, decoding: Future | None, cancel: threading.Event) -> _Prepared | None:
        """The item's decoded crops and extra columns, or None when ``cancel`` is set while waiting."""
        decoded = _result(decoding, cancel) if decoding else Decoded(error=item.error)
        if decoded is _CANCELLED:
            return None
        return _Prepared(item, crops=decoded.crops, width=decoded.width, height=decoded.height,
                         error=decoded.error, extra=decoded.extra, history=decoded.history, clip=decoded.clip)

    @property
    def decode_stats(self) -> DecodeStats:
        """Files decoded, decoder crashes and time-outs, the slowest files: since the model loaded."""
        return self._decoders.stats()

    def _finish(self, batch: list[_Prepared]) -> Iterator[ScanResult]:
        scored = [p for p in batch if p.crops is not None]
        clip = [p.clip for p in scored] if self._clip_width else None
        probabilities = iter(self.score_crops([p.crops for p in scored], clip) if scored else [])
        for prepared in batch:
            if prepared.crops is None:
                result = ScanResult(path=str(prepared.item.path), verdict="error", model=self.name,
                                    error=prepared.error)
            else:
                p_ai = next(probabilities)
                result = ScanResult(path=str(prepared.item.path), verdict=self.thresholds.verdict(p_ai),
                                    p_ai=p_ai, width=prepared.width, height=prepared.height, model=self.name,
                                    **copy_columns(prepared.history or {}, self.info.metrics))
            yield replace(result, **prepared.extra) if prepared.extra else result

    def score_crops(self, per_image_crops: list[torch.Tensor],
                    per_image_clip: list[np.ndarray] | None = None) -> list[float]:
        """p_ai per image from its crops (and, for a model with a CLIP view, its image's CLIP features):
        the mean of the crops' logits, through a sigmoid."""
        counts = [len(c) for c in per_image_crops]
        clip = None
        if self._clip_width:
            if per_image_clip is None:
                raise ValueError(f"{self.name} has a CLIP view: score_crops needs each image's CLIP features")
            clip = torch.cat([torch.from_numpy(np.repeat(c, n, axis=0)) for c, n in zip(per_image_clip, counts)])
        logits = self._forward(torch.cat(per_image_crops), clip)
        means = [chunk.mean() for chunk in torch.split(logits, counts)]
        return [float(torch.sigmoid(m)) for m in means]

    def _forward(self, batch: torch.Tensor, clip: torch.Tensor | None = None) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        size = CPU_FORWARD_CROPS if self.device.type == "cpu" else len(batch)
        inputs = [(part,) for part in batch.split(size)]
        if clip is not None:
            inputs = [(part, rows.to(self.device)) for (part,), rows in zip(inputs, clip.split(size))]
        with self._lock, torch.inference_mode(), self._autocast():
            return torch.cat([self._scorer(*part).float().cpu() for part in inputs])

    def _autocast(self):
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        if self.device.type == "mps":
            return torch.autocast("mps", dtype=torch.float16)
        return contextlib.nullcontext()  # fp32 on CPU: bf16 autocast is slower on most CPUs

    # --- heatmaps ------------------------------------------------------------------------

    def _clip_row(self, path: str | os.PathLike) -> np.ndarray:
        """The image's CLIP features, from the decoder processes that hold the tower: loading a second
        tower here would parse 90 MB holding the GIL, and freeze the window for half a second."""
        decoded = self._decoders.submit(path).result()
        if decoded.clip is None:
            raise ImageLoadError(decoded.error or "the CLIP view could not be computed")
        return decoded.clip

    def heatmap(self, path: str | os.PathLike) -> Heatmap:
        """Grad-CAM over tiles that cover the whole working image, stitched (overlaps averaged)."""
        cfg = self.info.preprocess
        work = working_image(load_image(path, min_short_side=decode_short_side(cfg)).image, cfg)
        crop = cfg.crop_size
        longest = HEATMAP_TILES_PER_AXIS * crop
        if max(work.size) > longest:
            scale = longest / max(work.size)
            work = work.resize((max(crop, round(work.size[0] * scale)), max(crop, round(work.size[1] * scale))),
                               Image.Resampling.BICUBIC)
        boxes = covering_boxes(work.size[0], work.size[1], crop)
        tiles = crops_to_tensor(work, boxes, cfg).to(self.device)
        clip = None
        if self._clip_width:  # the whole image's CLIP features, beside every tile
            clip = torch.from_numpy(self._clip_row(path)).to(self.device).expand(len(tiles), -1)
        with self._lock:
            cams, _ = grad_cam(self.network, tiles, joint=True, clip=clip)
        total = np.zeros((work.size[1], work.size[0]), np.float32)
        weight = np.zeros_like(total)
        for (left, top, right, bottom), cam in zip(boxes, cams):
            total[top:bottom, left:right] += cam
            weight[top:bottom, left:right] += 1
        return Heatmap(image=work, cam=total / np.maximum(weight, 1))

