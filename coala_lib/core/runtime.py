"""Runtime helpers: device and dtype resolution, seeding, synchronised timing, progress bars."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` picks CUDA when available, else CPU; anything else is passed to torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available; use 'cpu' or 'auto'.")
    return resolved


def progress_off(progress: bool) -> bool:
    """tqdm's ``disable`` for a loop with a ``progress`` switch: off when ``progress`` is False or when
    ``$TQDM_DISABLE`` is set (the book build sets it), which an explicit ``disable=False`` would override."""
    return not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued kernels on ``device`` (a no-op on CPU) so wall times are real."""
    dev = torch.device(device) if device is not None else None
    if torch.cuda.is_available() and (dev is None or dev.type == "cuda"):
        torch.cuda.synchronize(dev)


@contextmanager
def timed(device: torch.device | str | None = None) -> Iterator[dict[str, float]]:
    """Context manager measuring wall time with device synchronisation at both ends.

    >>> with timed() as t:
    ...     pass
    >>> t["seconds"] >= 0
    True
    """
    out: dict[str, float] = {}
    synchronize(device)
    start = time.perf_counter()
    try:
        yield out
    finally:
        synchronize(device)
        out["seconds"] = time.perf_counter() - start
