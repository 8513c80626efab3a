"""The GPU check's record (``bench/gpu_check.py``, launched by ``scripts/gpu_check.sh``): read it, check it,
and reduce it to the numbers notebook 07 and the claims ledger use.

The record holds one entry per stage with a ``status``: ``ok`` (measured: ``seconds``, ``peak_memory_bytes``
and its ``memory_kind``, ``params``, ``metrics``), ``skipped`` (with the ``reason``), ``error`` (with the
``error``) or ``running`` (the run was stopped inside that stage). The single-GPU claim compares COALA's
peak memory on the GPU, the largest over its GPU stages (feature extraction with each backbone and
Phase I; Phase II runs on the CPU by design), with a 24 GB card, read as 24e9 bytes: the claims
ledger's reading (``coala_lib.claims.cost_verdicts.PAPER_GPU_GB``) and the conservative one, since such a card
holds 24 GiB = 25.8e9 bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GPU_CHECK_FILE = "gpu_check.json"
GPU_CHECK_FORMAT = 1
#: The stages, in the order the script runs them.
GPU_CHECK_STAGES: tuple[str, ...] = (
    "extraction_llama8b",
    "lora_dpo_llama8b",
    "phase1",
    "phase1_cronos",
    "phase2",
    "extraction_mistral7b",
    "notebook03",
    "guidance",
)
STATUSES: tuple[str, ...] = ("ok", "skipped", "error", "running")
#: COALA's stages that hold memory on the GPU: their largest peak is the single-GPU claim's number.
COALA_GPU_STAGES: tuple[str, ...] = ("extraction_llama8b", "extraction_mistral7b", "phase1")
SINGLE_GPU_BYTES = 24 * 10**9


def find_gpu_check(folder: str | os.PathLike) -> Path | None:
    """``<folder>/gpu_check.json`` if it exists, else ``None``."""
    path = Path(folder) / GPU_CHECK_FILE
    return path if path.is_file() else None


def read_gpu_check(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a GPU-check record (a file, or a folder holding ``gpu_check.json``).

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file, the field and what it should hold.
    """
    path = Path(path)
    if path.is_dir():
        path = path / GPU_CHECK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no GPU-check record; write one with scripts/gpu_check.sh --out <folder>")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON ({err}); rerun scripts/gpu_check.sh to rewrite it") from None
    check_gpu_check(record, str(path))
    return record


def check_gpu_check(record: Any, where: str = "record") -> None:
    """Raise ``ValueError`` unless ``record`` has the fields of :data:`GPU_CHECK_FORMAT` (see the module docstring)."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a GPU-check record is a JSON object, got {type(record).__name__}")
    if record.get("format") != GPU_CHECK_FORMAT:
        raise ValueError(f"{where}: field 'format' must be {GPU_CHECK_FORMAT}, got {record.get('format')!r}")
    for key, kind in (("tiny", bool), ("stages", dict), ("calls", list), ("device_name", str), ("seed", int)):
        if not isinstance(record.get(key), kind):
            raise ValueError(f"{where}: field {key!r} must be a {kind.__name__}, got {record.get(key)!r}")
    for name, stage in record["stages"].items():
        if name not in GPU_CHECK_STAGES:
            raise ValueError(f"{where}: stage {name!r} is not one of {GPU_CHECK_STAGES}")
        status = stage.get("status") if isinstance(stage, dict) else None
        if status not in STATUSES:
            raise ValueError(f"{where}: stages.{name}.status must be one of {STATUSES}, got {status!r}")
        if status == "ok":
            for key in ("seconds", "peak_memory_bytes"):
                value = stage.get(key)
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{where}: stages.{name}.{key} must be a number >= 0, got {value!r}")
            if not isinstance(stage.get("memory_kind"), str) or not isinstance(stage.get("metrics"), dict):
                raise ValueError(f"{where}: stages.{name} needs 'memory_kind' (text) and 'metrics' (object)")
        if status == "skipped" and not stage.get("reason"):
            raise ValueError(f"{where}: stages.{name} is skipped but gives no 'reason'")
        if status == "error" and not stage.get("error"):
            raise ValueError(f"{where}: stages.{name} failed but gives no 'error'")


def gpu_check_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The numbers notebook 07 and the ledger read, from a checked record (:func:`read_gpu_check`).

    ``coala_peak_bytes`` is the largest CUDA peak over the measured :data:`COALA_GPU_STAGES` and
    ``coala_fits_24gb`` compares it with :data:`SINGLE_GPU_BYTES`; both are ``None`` when none of those
    stages was measured on a GPU (a tiny CPU run measures resident-set growth, not GPU memory).
    """
    stages = record["stages"]
    ok = {name: stage for name, stage in stages.items() if stage["status"] == "ok"}
    cuda = {name: s for name, s in ok.items() if s["memory_kind"] == "cuda_max_allocated"}
    coala = [cuda[name]["peak_memory_bytes"] for name in COALA_GPU_STAGES if name in cuda]
    coala_peak = max(coala) if coala else None

    def metric(stage: str, key: str) -> Any:
        return ok[stage]["metrics"].get(key) if stage in ok else None

    return {
        "device_name": record["device_name"],
        "tiny": record["tiny"],
        "finished": bool(record.get("finished", False)),
        "status": {name: stages.get(name, {}).get("status", "not run") for name in GPU_CHECK_STAGES},
        "not_measured": {
            name: stages[name].get("reason") or stages[name].get("error") or "stopped while running"
            for name in GPU_CHECK_STAGES
            if name in stages and name not in ok
        },
        "seconds": {name: stage["seconds"] for name, stage in ok.items()},
        "peak_memory_bytes": {name: stage["peak_memory_bytes"] for name, stage in ok.items()},
        "extraction_tokens_per_second": {
            shape: metric(f"extraction_{shape}", "tokens_per_second") for shape in ("llama8b", "mistral7b")
        },
        "lora_dpo_seconds_per_step": metric("lora_dpo_llama8b", "seconds_per_step"),
        "lora_dpo_peak_memory_bytes": cuda["lora_dpo_llama8b"]["peak_memory_bytes"]
        if "lora_dpo_llama8b" in cuda
        else None,
        "phase1_seconds": ok["phase1"]["seconds"] if "phase1" in ok else None,
        "phase1_iterations": metric("phase1", "iterations"),
        "phase1_converged": metric("phase1", "converged"),
        "phase1_relative_gap": (metric("phase1", "certificate") or {}).get("relative_gap"),
        "coala_peak_bytes": coala_peak,
        "coala_fits_24gb": None if coala_peak is None else coala_peak <= SINGLE_GPU_BYTES,
    }
