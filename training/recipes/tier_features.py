"""The frozen features of every training image in every tier, computed once and cached per image.

Both frozen views run here exactly as the app runs them, on the file of each tier
(training/data/tiers.py): the CNN branch on the app's native crops (its block statistics and the
stride-8 map the Swin branch reads), and the CLIP tower on :func:`model.clip_view.global_view`,
one view per run. The heads of every fold then train in minutes on these arrays.

Two worker processes, one thread each: decoding, laundering and both towers keep the two cores busy
with no OpenMP barriers between them.
"""
from __future__ import annotations

import functools
import hashlib
import io
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from model.atomic import atomic_write_bytes
from model.clip_outputs import EMBED, WIDTH, ClipOutputs
from model.clip_view import CLIP_SHA256, ClipTower, global_view
from model.config import PreprocessConfig, default_info
from model.imageio import ImageLoadError, load_image
from model.model_file import file_sha256
from model.network import create_model
from model.preprocess import crop_pixels, normalise

from ..data.datasets import Sample
from ..data.tiers import TIERS, pair_keys, tier_files
from .frozen_heads import FrozenOutputs
from .weights import load_into, read_safetensors

CACHE_VERSION = 1
APP_CROPS = 4  # native crops per image laid out (model card: 4 beat 6 on held-out sources)
TRAIN_CROPS = 2  # of them, the first and the last (opposite corners): what the head trains on and the app scores
CLIP_BLOCKS = (3, 5, 7, 9, 11)  # class tokens kept: the head chooses among them by folds


@dataclass(frozen=True)
class Producer:
    """What the cached features depend on: the frozen CNN's weights (an ImageNet backbone file, a
    ConViTX checkpoint's ``cnn.`` tensors: the same frozen Lite0, or 'none': random, seeded, for tests),
    the CLIP file and the tiers' seed."""

    cnn_file: str
    clip_file: str
    preset: str = "convitx_clip_mid"
    seed: int = 0

    def network(self):
        """The preset with the frozen CNN loaded (its Swin branch and head stay random: never used here)."""
        torch.manual_seed(self.seed)
        network = create_model(self.preset)
        if self.cnn_file == "none":
            return network.eval()
        tensors, _ = read_safetensors(self.cnn_file)
        if any(key.startswith("cnn.") for key in tensors):
            tensors = {k.removeprefix("cnn."): v for k, v in tensors.items() if k.startswith("cnn.")}
        else:
            tensors = {k: v for k, v in tensors.items() if not k.startswith("classifier.")}
        load_into(network.cnn, tensors, f"{os.path.basename(self.cnn_file)} for the CNN branch")
        return network.eval()

    def key(self) -> str:
        """A digest of the CNN's tensors (not of the file that held them), the CLIP file and the settings."""
        digest = hashlib.sha1(repr((CACHE_VERSION, TRAIN_CROPS, CLIP_BLOCKS, self.seed, CLIP_SHA256)).encode())
        for name, tensor in sorted(self.network().cnn.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()[:16]


class FeatureCache:
    def __init__(self, folder: str | os.PathLike, producer: Producer):
        self.folder, self.key = Path(folder), producer.key()
        self.folder.mkdir(parents=True, exist_ok=True)

    def file_for(self, path: str) -> Path:
        """The entry of ``path`` (its tiers are laundered by path, so the path is part of the name) as it is
        now: named by the file's bytes, not its time stamp, so a data folder copied afresh keeps its entries."""
        info = os.stat(path)
        name = f"{os.path.abspath(path)}|{content_digest(path, info.st_size, info.st_mtime_ns)}|{self.key}"
        return self.folder / f"{hashlib.sha1(name.encode('utf-8')).hexdigest()}.npz"

    def read(self, path: str, clip: ClipOutputs | None) -> FrozenOutputs | None:
        """One view per tier (TIERS order), with the CLIP features a view reading ``clip`` gets (None: no CLIP view)."""
        try:
            with np.load(self.file_for(path)) as data:
                return FrozenOutputs(features=[data[f"cnn_{t}"] for t in TIERS],
                                     swin_inputs=[data[f"map_{t}"] for t in TIERS],
                                     clip=[None if clip is None else select_clip(data[f"clip_{t}"], clip)
                                           for t in TIERS])
        except (OSError, KeyError, ValueError, EOFError):
            return None

    def holds(self, path: str) -> bool:
        """Whether a whole entry for ``path`` is there (a torn or stale one is computed again)."""
        try:
            with np.load(self.file_for(path)) as data:
                names = data.zip.namelist()
        except (OSError, ValueError, EOFError):
            return False
        return all(f"{kind}_{t}.npy" in names for kind in ("cnn", "map", "clip") for t in TIERS)

    def write(self, path: str, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.file_for(path), buffer.getvalue())


@functools.lru_cache(maxsize=None)
def content_digest(path: str, size: int, mtime_ns: int) -> str:
    """The file's sha256, read once per process for each size and time stamp it has."""
    return file_sha256(path)


def select_clip(features: np.ndarray, clip: ClipOutputs) -> np.ndarray:
    """The cached CLIP features (embedding, then CLS after each of CLIP_BLOCKS) cut to what ``clip`` reads."""
    parts = [features[:, :EMBED]] if clip.embedding else []
    for block in clip.blocks:
        at = EMBED + WIDTH * CLIP_BLOCKS.index(block)
        parts.append(features[:, at:at + WIDTH])
    return np.concatenate(parts, axis=1)


# --- worker processes -----------------------------------------------------------------------------

_STATE: dict = {}


def app_preprocess(preset: str) -> PreprocessConfig:
    """How the app scores a model of ``preset`` that this recipe trains: native crops, the two ends of up to
    APP_CROPS, the crops its head was trained and evaluated on."""
    return replace(default_info(preset).preprocess, mode="native", max_crops=APP_CROPS, keep_crops="ends")


def _start_worker(producer: Producer) -> None:
    torch.set_num_threads(1)
    network = producer.network()
    _STATE.update(network=network, pre=app_preprocess(producer.preset), tower=ClipTower(producer.clip_file, ClipOutputs(CLIP_BLOCKS), 1),
                  seed=producer.seed, folder=tempfile.mkdtemp(prefix="tiers-", dir="/dev/shm" if
                                                               os.path.isdir("/dev/shm") else None))


def _image_features(path: str, key: str | None) -> dict[str, np.ndarray] | str:
    """Every tier's arrays for one image, or why it could not be read."""
    network, pre, tower = _STATE["network"], _STATE["pre"], _STATE["tower"]
    try:
        files = tier_files(path, _STATE["seed"], _STATE["folder"], key)
    except ImageLoadError as exc:
        return str(exc)
    arrays: dict[str, np.ndarray] = {}
    try:
        for tier, (file, how) in files.items():
            crops = crop_pixels(load_image(file).image, pre)
            with torch.inference_mode():
                features, maps = network.cnn_outputs(normalise(crops, pre))
            arrays[f"cnn_{tier}"] = features.numpy().astype(np.float16)
            arrays[f"map_{tier}"] = maps.numpy().astype(np.float16)
            arrays[f"clip_{tier}"] = tower.features(global_view(file)[None]).astype(np.float16)
            arrays[f"how_{tier}"] = np.array("" if how is None else f"{how.format} q{how.quality} {how.long_side}px {how.filter}")
    except ImageLoadError as exc:
        return str(exc)
    finally:
        for tier, (file, _) in files.items():
            if tier != "clean":
                os.unlink(file)
    return arrays


def _job(path: str, key: str | None = None) -> tuple[str, dict | str]:
    return path, _image_features(path, key)


def _results(paths: Sequence[str], keys: Sequence[str | None], producer: Producer, workers: int):
    """(path, arrays or reason) for each path: in ``workers`` spawned processes, or here when 0 (tests)."""
    if workers <= 0:
        _start_worker(producer)
        yield from map(_job, paths, keys)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(producer,)) as pool:
        yield from pool.map(_job, paths, keys, chunksize=4)


def fill_cache(paths: Sequence[str], cache: FeatureCache, producer: Producer, workers: int = 2,
               log: Callable[[str], None] = print, keys: dict[str, str] | None = None) -> dict[str, str]:
    """Compute what the cache lacks for ``paths`` (laundered by ``keys``, default each path); returns
    the unreadable ones with their reasons."""
    todo = [p for p in paths if not cache.holds(p)]
    keys = keys or {}
    log(f"tier features: {len(todo)} of {len(paths)} images to compute")
    failed: dict[str, str] = {}
    start = time.monotonic()
    for done, (path, result) in enumerate(_results(todo, [keys.get(p) for p in todo], producer, workers), 1):
        if isinstance(result, str):
            failed[path] = result
        else:
            cache.write(path, result)
        if done % 100 == 0 or done == len(todo):
            rate = done / (time.monotonic() - start)
            log(f"tier features: {done}/{len(todo)} ({rate:.2f} img/s, {len(failed)} unreadable)")
    return failed


def compute_features(samples: Sequence[Sample], cache: FeatureCache, producer: Producer,
                     clip: ClipOutputs | None, workers: int = 2,
                     log: Callable[[str], None] = print) -> list[FrozenOutputs | None]:
    """Every sample's outputs per tier (None for an unreadable image), computed once and cached."""
    paths = [s.path for s in samples]
    failed = fill_cache(paths, cache, producer, workers, log, keys=pair_keys(samples))
    if failed:
        log(f"tier features: {len(failed)} unreadable images left out")
    return [None if p in failed else cache.read(p, clip) for p in paths]
