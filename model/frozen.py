"""A frozen TorchScript copy of the network for scoring on the CPU.

Freezing folds batch norms into the convolutions, and TorchScript's C++ executor runs the whole
forward pass without Python between layers. On the 2-core benchmark machine the built-in model
scores about 1.5x faster than eager (bench/NOTES.md). The Detector builds it while loading (about
a second) and checks it against the eager network before use.
``torch.jit.trace`` is deprecated in favour of ``torch.compile``, which on these CPUs gains
less after minutes of compiling, so tracing stays while it works; any failure keeps eager.
"""
from __future__ import annotations

import warnings

import torch

TOLERANCE = 1e-3  # largest logit difference from the eager network that is accepted


class FreezeError(RuntimeError):
    """The network could not be frozen faithfully; scoring stays on the eager network."""


def freeze_for_cpu(network: torch.nn.Module, crop_size: int) -> torch.jit.ScriptModule:
    """Trace ``network`` (eval mode, channels_last, CPU) and freeze it; raise FreezeError if it differs."""
    # The trace of one fixed crop size is exact: shapes are fixed, only the batch size varies
    # (traced at one, checked at two). The tracer's warnings say the general case may not be.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.(trace|trace_method|freeze)` is deprecated")
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, 3, crop_size, crop_size, generator=generator).contiguous(
        memory_format=torch.channels_last)
    try:
        with torch.inference_mode():
            frozen = torch.jit.freeze(torch.jit.trace(network, example[:1], check_trace=False).eval())
            difference = max(float((frozen(batch) - network(batch)).abs().max()) for batch in (example, example[:1]))
    except Exception as exc:  # tracing or freezing unsupported by this architecture or torch build
        raise FreezeError(f"{type(exc).__name__}: {exc}") from exc
    if not difference <= TOLERANCE:
        raise FreezeError(f"frozen network differs from eager by {difference:.2g}")
    return frozen
