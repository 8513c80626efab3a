"""Accounting: counted FLOPs, peak memory and synchronised wall time of one stage, as a JSON record.

FLOPs are *counted* by torch's ``FlopCounterMode`` (matrix products and convolutions, 2 FLOPs per
multiply-add), not estimated from wall time: the reference code reports "TFLOPs" as seconds times an
assumed 231 TFLOP/s, which measures time, not work. Peak memory is CUDA's max allocated bytes on a GPU
and the growth of the process's resident set on a CPU (sampled at the stage's ends, so a lower bound).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import psutil
import torch
from torch.utils.flop_counter import FlopCounterMode

from coala_lib.runtime import synchronize, timed


@dataclass
class StageRecord:
    """What one stage cost: seconds, counted FLOPs and peak memory, with its parameters."""

    stage: str
    seconds: float = 0.0
    flops: int = 0
    peak_memory_bytes: int = 0
    memory_kind: str = "cpu_rss_growth"
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def measure(stage: str, device: torch.device | str = "cpu", count_flops: bool = True,
            **params: Any) -> Iterator[StageRecord]:
    """Measure the enclosed block: ``with measure("phase1", device) as rec: ...`` then read ``rec``.

    FLOP counting adds Python overhead per operator, so time a stage and count it in separate runs
    when the time matters (``count_flops=False`` for the timed run).
    """
    dev = torch.device(device)
    record = StageRecord(stage=stage, params=params)
    process = psutil.Process(os.getpid())
    if dev.type == "cuda":
        synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        record.memory_kind = "cuda_max_allocated"
    rss_before = process.memory_info().rss
    counter = FlopCounterMode(display=False) if count_flops else None
    with timed(dev) as clock:
        if counter is not None:
            with counter:
                yield record
        else:
            yield record
    record.seconds = clock["seconds"]
    record.flops = int(counter.get_total_flops()) if counter is not None else 0
    if dev.type == "cuda":
        record.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
    else:
        record.peak_memory_bytes = max(0, process.memory_info().rss - rss_before)
