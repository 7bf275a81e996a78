"""A frozen TorchScript copy of the network for scoring on the CPU.

Freezing folds batch norms into the convolutions, and TorchScript's C++ executor runs the whole
forward pass without Python between layers. On the 2-core benchmark machine the built-in model
scores about 1.5x faster than eager (bench/NOTES.md). The Detector builds it while loading (about
a second) and checks it against the eager network before use.
``torch.jit.trace`` is deprecated in favour of ``torch.compile``, which on these CPUs gains
less after minutes of compiling, so tracing stays while it works; any failure keeps eager.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import torch

from .kept_files import keep, read_kept

log = logging.getLogger(__name__)

TOLERANCE = 1e-3  # largest logit difference from the eager network that is accepted


class FreezeError(RuntimeError):
    """The network could not be frozen faithfully; scoring stays on the eager network."""


def freeze_for_cpu(network: torch.nn.Module, crop_size: int, clip_features: int = 0) -> torch.jit.ScriptModule:
    """Trace ``network`` (eval mode, channels_last, CPU) and freeze it; raise FreezeError if it differs.
    ``clip_features``: the width of the CLIP rows a network with a CLIP view takes beside the crops."""
    # The trace of one fixed crop size is exact: shapes are fixed, only the batch size varies
    # (traced at one, checked at two). The tracer's warnings say the general case may not be.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.(trace|trace_method|freeze)` is deprecated")
    example = _example(crop_size, 2, clip_features)
    first = tuple(part[:1] for part in example)
    try:
        with torch.inference_mode():
            frozen = torch.jit.freeze(torch.jit.trace(network, first, check_trace=False).eval())
            difference = max(float((frozen(*inputs) - network(*inputs)).abs().max()) for inputs in (example, first))
    except Exception as exc:  # tracing or freezing unsupported by this architecture or torch build
        raise FreezeError(f"{type(exc).__name__}: {exc}") from exc
    if not difference <= TOLERANCE:
        raise FreezeError(f"frozen network differs from eager by {difference:.2g}")
    return frozen


# --- kept between runs -----------------------------------------------------------------------------
# Building the frozen copy needs the eager network, hence timm (about 2 s to import) and a second of
# tracing. A copy saved once lets later starts score without either (bench/NOTES.md, first verdict).
# It is used only when its bytes hash to what was recorded beside it and it still gives the recorded
# logits on a fixed input: a damaged or swapped file, or a torch that computes otherwise, is rebuilt.

def _example(crop_size: int, count: int, clip_features: int) -> tuple[torch.Tensor, ...]:
    """Fixed inputs: ``count`` crops, and their CLIP rows when the network has a CLIP view."""
    generator = torch.Generator().manual_seed(0)
    crops = torch.randn(count, 3, crop_size, crop_size, generator=generator).contiguous(memory_format=torch.channels_last)
    return (crops, torch.randn(count, clip_features, generator=generator)) if clip_features else (crops,)


def _cache_files(cache_dir: Path, model_sha256: str, crop_size: int) -> tuple[Path, Path]:
    stem = f"{model_sha256[:32]}-torch{torch.__version__}-{crop_size}px".replace("+", "_")
    return cache_dir / f"{stem}.torchscript", cache_dir / f"{stem}.json"


def load_frozen(cache_dir: Path, model_sha256: str, crop_size: int, crops: int,
                clip_features: int = 0) -> torch.jit.ScriptModule | None:
    """The frozen copy saved for this model file and torch, checked on ``crops`` crops (one image's: the
    check also prepares TorchScript for the first verdict's shape); None when absent or not trusted."""
    archive, record = _cache_files(cache_dir, model_sha256, crop_size)
    kept = read_kept(archive, record, "saved frozen network")
    if kept is None:
        return None
    data, expected = kept
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frozen = torch.jit.load(io.BytesIO(data), map_location="cpu")
        with torch.inference_mode():
            logits = frozen(*_example(crop_size, crops, clip_features))
        difference = float((logits - torch.tensor(expected["logits"])).abs().max())
    except Exception as exc:  # an archive this torch cannot run
        log.warning("ignoring the saved frozen network %s: %s", archive.name, exc)
        return None
    if not difference <= TOLERANCE:
        log.warning("ignoring the saved frozen network %s: its logits moved by %.2g", archive.name, difference)
        return None
    return frozen


def save_frozen(cache_dir: Path, model_sha256: str, crop_size: int, crops: int, frozen: torch.jit.ScriptModule,
                clip_features: int = 0) -> None:
    """Keep ``frozen`` for the next start (atomically; a folder that cannot be written only costs that)."""
    archive, record = _cache_files(cache_dir, model_sha256, crop_size)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(frozen, buffer)
        with torch.inference_mode():
            logits = frozen(*_example(crop_size, crops, clip_features)).tolist()
        keep(archive, record, buffer.getvalue(), logits=logits)
    except Exception as exc:  # unwritable folder, full disk, a module TorchScript cannot serialise
        log.warning("could not keep the frozen network in %s: %s", cache_dir, exc)
