"""Accounting: counted FLOPs, peak memory and synchronised wall time of one stage, as a JSON record.

FLOPs are *counted* by torch's ``FlopCounterMode`` (matrix products and convolutions, 2 FLOPs per
multiply-add), not estimated from wall time: the reference code reports "TFLOPs" as seconds times an
assumed 231 TFLOP/s, which measures time, not work. Peak memory is CUDA's max allocated bytes on a GPU
and the growth of the process's resident set on a CPU (sampled every millisecond by a background
thread, so a lower bound that can miss a spike shorter than that).

Attention is counted on every device: torch counts its CUDA attention kernels, and this module adds
the same formula for the CPU flash-attention kernel that ``scaled_dot_product_attention`` uses on a CPU
(torch leaves it out). Like torch, the count is that of full attention, :math:`4 B T^2 d` per layer for
:math:`B` sequences of :math:`T` tokens and model width :math:`d`, even under a causal mask.

Analytic cross-check (:func:`decoder_forward_flops`): a forward pass of a decoder-only transformer over
:math:`N_{tok}` tokens costs :math:`2 N_{lin} N_{tok} + 4 L B T^2 d_{head} n_{heads}` counted FLOPs, with
:math:`N_{lin}` the parameters of the linear layers (the embedding lookup is free; norms and activations
are not matrix products). This is the familiar :math:`2 N_{params} N_{tok}` with the embeddings taken out
and the attention term added.

A benchmark's stages go into one :class:`ResultRecord`, written as JSON with the environment, the
package versions and the parameters.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from coala_lib.core.files import atomic_write_json, environment_record
from coala_lib.core.runtime import synchronize, timed

#: Packages whose versions a :class:`ResultRecord` writes down.
RECORDED_PACKAGES: tuple[str, ...] = ("torch", "transformers", "peft", "accelerate", "trl", "numpy", "coala-lib")
RECORD_FORMAT = 1


def _cpu_attention_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(
    grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any
) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def _mv_flops(matrix_shape: Any, vector_shape: Any, *args: Any, **kwargs: Any) -> int:
    """:math:`2mn` for an (m, n) matrix times an n-vector (``mv``; ``addmv`` adds a vector, not counted)."""
    m, n = matrix_shape
    return 2 * int(m) * int(n)


def _addmv_flops(bias_shape: Any, matrix_shape: Any, vector_shape: Any, *args: Any, **kwargs: Any) -> int:
    return _mv_flops(matrix_shape, vector_shape)


def _dot_flops(a_shape: Any, b_shape: Any, *args: Any, **kwargs: Any) -> int:
    """:math:`2n` for the dot product of two n-vectors."""
    return 2 * int(a_shape[0])


class _GlobalOnly:
    """Stands in for ``FlopCounterMode``'s module tracker: every FLOP is booked under ``"Global"``.

    torch's tracker keeps a backward-hook handle for every module call until the context exits, so a
    counted training run grows by megabytes per step (a 125-step DPO epoch of a 135M model reached 24 GB).
    The book reads only the global total, which this tracker leaves unchanged."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that also counts the CPU flash-attention kernel (forward and backward)
    and the matrix-vector and vector-vector products torch leaves out (``mv``, ``addmv``, ``dot``): a
    linear head's score :math:`Z\theta` and its gradient :math:`Z^\top g` are ``mv`` calls. It keeps
    the global total only (no per-module breakdown), so it holds nothing per step of a long run."""
    aten = torch.ops.aten
    counter = FlopCounterMode(
        display=False,
        custom_mapping={
            aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
            aten.mv: _mv_flops,
            aten.addmv: _addmv_flops,
            aten.dot: _dot_flops,
            aten.vdot: _dot_flops,
        },
    )
    counter.mod_tracker = _GlobalOnly()  # type: ignore[assignment]  # same protocol: parents, __enter__, __exit__
    return counter


def count_flops(fn: Callable[[], Any]) -> int:
    """Counted FLOPs of ``fn()``. Works on the ``meta`` device too: shapes alone fix the count, so the
    FLOPs of an 8B-parameter step can be counted on a laptop without allocating its weights."""
    with flop_counter() as counter:
        fn()
    return int(counter.get_total_flops())


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


class _RssPeak:
    """Background thread recording the largest resident-set size of this process while it runs."""

    def __init__(self, interval: float = 1e-3) -> None:
        self._process = psutil.Process(os.getpid())
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


@contextmanager
def measure(
    stage: str, device: torch.device | str = "cpu", count_flops: bool = True, **params: Any
) -> Iterator[StageRecord]:
    """Measure the enclosed block: ``with measure("phase1", device) as rec: ...`` then read ``rec``.

    FLOP counting adds Python overhead per operator, so time a stage and count it in separate runs
    when the time matters (``count_flops=False`` for the timed run).
    """
    dev = torch.device(device)
    record = StageRecord(stage=stage, params=params)
    if dev.type == "cuda":
        synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        record.memory_kind = "cuda_max_allocated"
    rss_before = psutil.Process(os.getpid()).memory_info().rss
    counter = flop_counter() if count_flops else None
    rss = _RssPeak() if dev.type != "cuda" else None
    with ExitStack() as stack:
        if rss is not None:
            stack.enter_context(rss)
        clock = stack.enter_context(timed(dev))
        if counter is not None:
            stack.enter_context(counter)
        yield record
    record.seconds = clock["seconds"]
    record.flops = int(counter.get_total_flops()) if counter is not None else 0
    if dev.type == "cuda":
        record.peak_memory_bytes = int(torch.cuda.max_memory_allocated(dev))
    elif rss is not None:
        record.peak_memory_bytes = max(0, rss.peak - rss_before)


def decoder_linear_params(config: Any, lm_head: bool = True) -> int:
    """Parameters of a Llama/Mistral-style decoder's linear layers (attention, gated MLP, optionally the
    LM head), read from a ``transformers`` config: the :math:`N_{lin}` of the module docstring."""
    d, L, ff = int(config.hidden_size), int(config.num_hidden_layers), int(config.intermediate_size)
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or d // heads)
    kv = int(getattr(config, "num_key_value_heads", None) or heads)
    attention = d * heads * head_dim * 2 + d * kv * head_dim * 2  # q, o and k, v
    mlp = 3 * d * ff  # gate, up, down
    return L * (attention + mlp) + (d * int(config.vocab_size) if lm_head else 0)


def decoder_forward_flops(config: Any, batch: int, seq_len: int, lm_head: bool = True) -> int:
    """:math:`2 N_{lin} B T + 4 L B T^2 d_{head} n_{heads}`: counted forward FLOPs of ``batch`` sequences of
    ``seq_len`` tokens (full-attention count, as torch's counter). Biases and norms are not counted."""
    if batch < 1 or seq_len < 1:
        raise ValueError(f"batch and seq_len must be >= 1, got {batch} and {seq_len}")
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or int(config.hidden_size) // heads)
    attention = 4 * int(config.num_hidden_layers) * batch * seq_len**2 * head_dim * heads
    return 2 * decoder_linear_params(config, lm_head) * batch * seq_len + attention


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str]:
    """Installed version of each package, or ``"absent"``."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


@dataclass
class ResultRecord:
    """One benchmark's result: its stage records, derived numbers, parameters, notes and provenance.

    ``environment`` (device, host, Python) and ``versions`` are filled in when the record is created,
    so a record always names the machine that produced it.
    """

    name: str
    parameters: dict[str, Any]
    stages: list[StageRecord] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=environment_record)
    versions: dict[str, str] = field(default_factory=package_versions)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    format: int = RECORD_FORMAT

    def stage(self, name: str) -> StageRecord:
        """The stage called ``name`` (``KeyError`` listing the stages if absent)."""
        for record in self.stages:
            if record.stage == name:
                return record
        raise KeyError(f"no stage {name!r} in {self.name!r}; stages: {[r.stage for r in self.stages]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | os.PathLike) -> Path:
        """Write the record as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> ResultRecord:
        """Read a record written by :meth:`write`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"{path} is not a result record of format {RECORD_FORMAT} (got {data.get('format')!r})")
        data["stages"] = [StageRecord(**stage) for stage in data.get("stages", [])]
        return cls(**data)
