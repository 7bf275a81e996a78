"""Pick the compute device and describe it in words a user understands."""
from __future__ import annotations

import os

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(preference: str = "auto"):
    """``auto`` = CUDA, then Apple MPS, then CPU. An explicit choice that is not available is an error."""
    import torch  # here, not at module level: the app reads DEVICE_CHOICES before torch is loaded

    if preference not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    cuda, mps = torch.cuda.is_available(), _mps_available()
    if preference == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if preference == "cuda" and not cuda:
        raise ValueError("CUDA was requested but no CUDA GPU is available")
    if preference == "mps" and not mps:
        raise ValueError("Apple MPS was requested but is not available on this machine")
    return torch.device(preference)


def cpu_threads() -> int:
    """Cores this process may use (respects CPU affinity and containers' limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'s' if threads != 1 else ''}"


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
