"""The GPU check: the paper's scale measured in one run of at most eight minutes on one GPU.

Random-weight models of the real shapes (Llama-3.1-8B, Mistral-7B; bfloat16; time and memory do not
depend on the weight values) and random features of the real width go through every stage whose cost
the paper claims, on one device in one run, each timed with device synchronisation and its peak memory
read (CUDA max allocated; the process's resident-set growth on a CPU):

* ``extraction_llama8b`` / ``extraction_mistral7b``: pooled last-layer features, tokens per second and
  peak memory (``bench/efficiency.py``'s extraction stage);
* ``lora_dpo_llama8b``: one LoRA-DPO step with the paper's settings (r = 16, lr 2e-4, 8 accumulated
  micro-batches of 2 pairs of 128 tokens; ``bench/efficiency.py``'s training stage);
* ``phase1`` / ``phase1_cronos``: Phase I on n = 131,072 planted texts of width d = 4,096 with P = 10
  patterns (``bench/solver.py``'s planted data) by the book's default method and by CRONOS (the paper's
  ADMM), each to a certified relative gap of 1e-4 or its step cap;
* ``phase2``: the certified Newton solve and the paper's AdamW on Phase I's first layer
  (n / 2 prompt-matched pairs; AdamW timed over a few epochs, its 500 epochs extrapolated and so marked);
* ``notebook03``: notebook 03 end to end through papermill on a random Mistral-7B-shaped model saved to a
  local folder (``-p model <folder> -p n_pairs 2048``): the book's GPU code path;
* ``guidance``: guided decoding against plain sampling at batch 1 and 8, prompts of 64 and 512 tokens
  (``bench/guidance.py`` on its random Llama-3.1-8B shape).

Every stage is checkpointed: the JSON record ``<out>/gpu_check.json`` is rewritten before a stage starts
(status ``running``) and after it ends (``ok``, ``error`` with the message, or ``skipped`` with the reason),
so a run stopped by a time limit still returns what it measured. A stage starts only when its estimate
fits in what is left of ``--budget-s`` (counted from ``$GPU_CHECK_STARTED`` when the launcher sets it, so
the wheel install counts too); otherwise it is skipped with the numbers. A stage in flight is stopped,
and recorded as such, at twice its estimate or at ``--hard-limit-s`` (eight minutes), whichever is first. ``--stages`` runs only the
named stages and keeps the others of the record in ``--out`` (or of ``--resume-from``): that is how an
interrupted run is resumed. ``--tiny`` runs the same code on tiny shapes on the CPU in about a minute
(the test suite does). Launch it through ``scripts/gpu_check.sh``, which installs the carried wheels.

    bash scripts/gpu_check.sh --tiny --out runs/gpu-check          # here, CPU, tiny shapes
    bash scripts/gpu_check.sh --out $OUT                           # one H100/H200
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))  # the sibling benchmarks, imported as modules

import efficiency  # noqa: E402
import guidance  # noqa: E402
import solver  # noqa: E402

from coala_lib.accounting import (  # noqa: E402
    GPU_CHECK_FILE,
    GPU_CHECK_FORMAT,
    GPU_CHECK_STAGES,
    StageRecord,
    measure,
    package_versions,
    read_gpu_check,
)
from coala_lib.baselines import BaselineConfig  # noqa: E402
from coala_lib.baselines.trl_training import PAPER_TRAINING_ARGS  # noqa: E402
from coala_lib.core import atomic_write_json, environment_record, resolve_device, seed_everything, timed  # noqa: E402
from coala_lib.head import HeadConfig, design, solve_newton, train_adamw  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "03_train.ipynb"
#: Phase I steps refitted for Phase II's first layer when no Phase I result of this call exists.
PHASE2_REFIT_STEPS = 50
VERSIONED = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "safetensors",
    "numpy",
    "papermill",
    "nbclient",
    "ipykernel",
)
VERSIONED += ("coala-lib",)


@dataclass(frozen=True)
class Settings:
    """The sizes of one mode (the paper's scale on a GPU, or tiny on a CPU) and each stage's time estimate."""

    llama: str  # a key of bench/efficiency.py's SHAPES
    mistral: str
    guidance_shape: str  # a key of bench/guidance.py's LLAMA_SHAPES
    extraction_batch: int
    extraction_seq_len: int
    extraction_repeats: int
    lora_micro_batches: int
    lora_pairs: int  # pairs per micro-batch
    lora_seq_len: int
    phase1_n: int
    phase1_d: int
    phase1_P: int
    phase1_max_iters: int  # steps of the book's default Phase I method
    cronos_iters: int  # ADMM iterations of CRONOS, the paper's method
    phase2_adamw_epochs: int
    guidance_new_tokens: int
    guidance_prompt_lengths: tuple[int, ...]
    guidance_batch_sizes: tuple[int, ...]
    notebook_params: dict[str, Any]
    estimates: dict[str, float] = field(default_factory=dict)
    budget_seconds: float = 450.0
    hard_limit_seconds: float = 480.0


#: The paper's scale. Estimates are guesses made before any GPU run of this script (H100/H200 class):
#: a stage that would end past the budget is skipped, not started.
GPU = Settings(
    llama="llama8b",
    mistral="mistral7b",
    guidance_shape="8b",
    extraction_batch=8,
    extraction_seq_len=512,
    extraction_repeats=3,
    lora_micro_batches=PAPER_TRAINING_ARGS["gradient_accumulation_steps"],
    lora_pairs=PAPER_TRAINING_ARGS["per_device_train_batch_size"],
    lora_seq_len=BaselineConfig().max_length,
    phase1_n=131_072,
    phase1_d=4096,
    phase1_P=10,
    phase1_max_iters=HeadConfig().phase1_max_iters,
    cronos_iters=300,
    phase2_adamw_epochs=5,
    guidance_new_tokens=128,
    guidance_prompt_lengths=(64, 512),
    guidance_batch_sizes=(1, 8),
    notebook_params={"n_pairs": 2048},
    estimates={
        "extraction_llama8b": 40,
        "lora_dpo_llama8b": 30,
        "phase1": 60,
        "phase1_cronos": 45,
        "phase2": 20,
        "extraction_mistral7b": 35,
        "notebook03": 180,
        "guidance": 120,
    },
    budget_seconds=450.0,
    hard_limit_seconds=480.0,
)

#: Tiny shapes on a CPU: the same code paths in about a minute (the test suite's run).
TINY = Settings(
    llama="tiny",
    mistral="tiny_mistral",
    guidance_shape="tiny",
    extraction_batch=4,
    extraction_seq_len=32,
    extraction_repeats=2,
    lora_micro_batches=2,
    lora_pairs=1,
    lora_seq_len=32,
    phase1_n=512,
    phase1_d=16,
    phase1_P=4,
    phase1_max_iters=30,
    cronos_iters=30,
    phase2_adamw_epochs=2,
    guidance_new_tokens=6,
    guidance_prompt_lengths=(16, 64),
    guidance_batch_sizes=(1, 2),
    notebook_params={"n_pairs": 16, "n_eval": 8, "mismatch_pairs": 4},  # parameters every revision of notebook 03 takes
    estimates=dict.fromkeys(GPU_CHECK_STAGES, 5.0) | {"notebook03": 60.0},
    budget_seconds=600.0,
    hard_limit_seconds=900.0,
)


# ------------------------------------------------------------------------------------------- helpers


def fit_phase1(
    X: torch.Tensor, y: torch.Tensor, settings: Settings, seed: int, method: str = "auto", max_iters: int | None = None
) -> Any:
    """The one call of Phase I's solver in this script, with the head's settings (:class:`HeadConfig`):
    ``method="auto"`` is the book's default, ``"cronos"`` the paper's ADMM; both stop on the certified
    gap and cone violation (``phase1_tol``) or at their step cap (``max_iters`` overrides the settings')."""
    from coala_lib.convex import CronosConfig, UncertifiedWarning, fit_cronos

    config = HeadConfig()
    phase1 = CronosConfig(
        P=settings.phase1_P,
        beta=config.beta,
        rho=config.rho,
        method=method,  # type: ignore[arg-type]
        max_iters=max_iters or (settings.cronos_iters if method == "cronos" else settings.phase1_max_iters),
        seed=seed,
        tol=config.phase1_tol,
        cone_tol=config.phase1_tol,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertifiedWarning)  # the record carries the certificate instead
        return fit_cronos(X, y, phase1)


def scalars(obj: Any) -> dict[str, Any]:
    """The numbers, booleans and strings among the fields of a result dataclass (a certificate included)."""
    out: dict[str, Any] = {}
    if not is_dataclass(obj):
        return out
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool | int | float | str) or value is None:
            out[f.name] = value
        elif is_dataclass(value) and f.name not in ("model", "history", "patterns"):
            out[f.name] = scalars(value)
    return out


def stage_result(record: StageRecord, **metrics: Any) -> dict[str, Any]:
    """A :class:`StageRecord` as this script's stage entry, with derived ``metrics``."""
    return {
        "seconds": record.seconds,
        "flops": record.flops,
        "peak_memory_bytes": record.peak_memory_bytes,
        "memory_kind": record.memory_kind,
        "params": record.params,
        "metrics": metrics,
    }


def truncated_gpt2_tokenizer(vocab_size: int) -> Any:
    """GPT-2's byte-level BPE cut to ``vocab_size`` tokens (the first merges, EOS as the last id), with the
    ``tiny`` chat template: a tokenizer that fits a random model of any shape's vocabulary, offline.

    GPT-2's merge ``i`` creates token ``256 + i``, so the first ``vocab_size - 257`` merges and the ids
    below ``vocab_size - 1`` form a complete tokenizer."""
    from transformers import GPT2TokenizerFast

    from coala_lib.backbone import TINY_CHAT_TEMPLATE, tiny_tokenizer

    full = tiny_tokenizer()
    if not 258 <= vocab_size <= len(full):
        raise ValueError(f"vocab_size must be in [258, {len(full)}], got {vocab_size}")
    if vocab_size == len(full):
        return full
    eos = full.eos_token
    vocab = {token: i for token, i in full.get_vocab().items() if i < vocab_size - 1}
    vocab[eos] = vocab_size - 1
    ranked = json.loads(full.backend_tokenizer.to_str())["model"]["merges"][: vocab_size - 257]  # in merge order
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in ranked]  # "a b" or ["a", "b"]
    tokenizer = GPT2TokenizerFast(vocab=vocab, merges=merges, eos_token=eos, bos_token=eos, unk_token=eos)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


class DeadlineReached(Exception):
    """Raised in the running stage when its time is up (see :func:`hard_deadline`)."""


@contextmanager
def hard_deadline(seconds: float, what: str = "the time limit") -> Iterator[None]:
    """Raise :class:`DeadlineReached` in the main thread after ``seconds`` (SIGALRM; between Python bytecodes,
    so a long kernel finishes first; a papermill subprocess is killed by ``subprocess.run``)."""

    def stop(signum: int, frame: Any) -> None:
        raise DeadlineReached(f"stopped after {seconds:.0f} s: {what}")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class DeviceMemoryPeak:
    """Largest memory in use on GPU 0 as NVML reports it (every process on the device), sampled every
    0.2 s while the block runs: for a stage that runs in another process (the notebook). ``peak`` stays
    ``None`` without CUDA or NVML."""

    def __init__(self, interval: float = 0.2) -> None:
        self.peak: int | None = None
        self._interval, self._stop, self._thread, self._handle = interval, threading.Event(), None, None
        if torch.cuda.is_available():
            try:
                import pynvml

                pynvml.nvmlInit()
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
                self._read = lambda: int(pynvml.nvmlDeviceGetMemoryInfo(self._handle).used)
            except Exception:  # NVML absent or refused: the stage records no device-wide peak
                self._handle = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak or 0, self._read())

    def __enter__(self) -> DeviceMemoryPeak:
        if self._handle is not None:
            self.peak = self._read()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# ------------------------------------------------------------------------------------------- the run


class Check:
    """One call of the script: its settings, device, record, clock and the models shared by stages."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = TINY if args.tiny else GPU
        self.budget = args.budget_s if args.budget_s is not None else self.settings.budget_seconds
        self.hard_limit = args.hard_limit_s if args.hard_limit_s is not None else self.settings.hard_limit_seconds
        self.started = float(os.environ.get("GPU_CHECK_STARTED") or time.time())
        self.device = resolve_device("cpu" if args.tiny else args.device)
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.models: dict[str, Any] = {}
        self.build_seconds: dict[str, float] = {}
        self.phase1: tuple[torch.Tensor, torch.Tensor, Any] | None = None
        self.record = self._initial_record()

    # -- record
    def _initial_record(self) -> dict[str, Any]:
        previous = Path(self.args.resume_from) if self.args.resume_from else self.out / GPU_CHECK_FILE
        old = read_gpu_check(previous) if previous.is_file() else None
        if old is not None and old["tiny"] != self.args.tiny:
            raise SystemExit(f"{previous} was made with tiny={old['tiny']}; rerun with the same mode or a new --out")
        record = old or {
            "name": "gpu_check",
            "format": GPU_CHECK_FORMAT,
            "tiny": self.args.tiny,
            "stages": {},
            "calls": [],
        }
        record["calls"].append(
            {
                "argv": sys.argv[1:],
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
                "install_seconds": float(os.environ.get("GPU_CHECK_INSTALL_SECONDS") or 0.0),
                "budget_seconds": self.budget,
                "hard_limit_seconds": self.hard_limit,
                "device_name": self.device_name(),
            }
        )
        record.update(
            device=str(self.device),
            device_name=self.device_name(),
            device_memory_bytes=torch.cuda.get_device_properties(self.device).total_memory
            if self.device.type == "cuda"
            else None,
            dtype=str(self.dtype).removeprefix("torch."),
            seed=self.args.seed,
            settings=asdict(self.settings),
            environment=environment_record(),
            versions=package_versions(VERSIONED),
        )
        return record

    def device_name(self) -> str:
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"

    def elapsed(self) -> float:
        return time.time() - self.started

    def save(self) -> None:
        self.record["elapsed_seconds"] = self.elapsed()
        self.record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        atomic_write_json(self.out / GPU_CHECK_FILE, self.record)

    # -- models
    def model(self, shape: str) -> Any:
        """The random model of ``shape``, built once and kept until another shape is needed."""
        if shape not in self.models:
            self.release()
            with timed(self.device) as t:
                self.models[shape] = efficiency.random_model(shape, self.device, self.dtype, self.args.seed)
            self.build_seconds[shape] = t["seconds"]
        return self.models[shape]

    def release(self) -> None:
        """Free the models and Phase I's data (before a stage that needs the memory)."""
        self.models.clear()
        self.phase1 = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- stages
    def run_stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        estimate = float(self.settings.estimates.get(name, 0.0))
        left = self.budget - self.elapsed()
        entry: dict[str, Any] = {
            "estimate_seconds": estimate,
            "device_name": self.device_name(),
            "seed": self.args.seed,
        }
        if estimate > left:
            entry.update(
                status="skipped",
                reason=f"would not fit: estimated {estimate:.0f} s, {max(left, 0):.0f} s left of the "
                f"{self.budget:.0f} s budget; resume with --stages {name}",
            )
            self.record["stages"][name] = entry
            self.save()
            print(f"[gpu_check] {name}: skipped ({entry['reason']})", flush=True)
            return
        # A stage may run twice its estimate, never past the hard limit: a slow stage cannot eat the others.
        allowance = (
            min(2 * estimate, self.hard_limit - self.elapsed()) if estimate else self.hard_limit - self.elapsed()
        )
        reach = "the hard limit" if allowance < 2 * estimate or not estimate else "twice the stage's estimate"
        entry.update(status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), allowance_seconds=allowance)
        self.record["stages"][name] = entry
        self.save()
        print(f"[gpu_check] {name}: running (estimate {estimate:.0f} s, {left:.0f} s left)", flush=True)
        begin = time.perf_counter()
        try:
            with hard_deadline(allowance, reach):
                entry.update(fn())  # a stage may set its own status (skipped, error) with the reason
            if entry["status"] == "running":
                entry["status"] = "ok"
        except Exception as err:  # a failed stage is recorded and the run goes on to the next one
            entry.update(
                status="error",
                error=f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}",
                traceback=traceback.format_exc()[-3000:],
            )
            self.release()
        entry["wall_seconds"] = time.perf_counter() - begin
        self.save()
        print(f"[gpu_check] {name}: {entry['status']} in {entry['wall_seconds']:.1f} s", flush=True)

    def extraction(self, shape: str) -> dict[str, Any]:
        s = self.settings
        model = self.model(shape)
        record = efficiency.extraction_stage(
            model, self.device, self.dtype, s.extraction_batch, s.extraction_seq_len, s.extraction_repeats
        )
        tokens = s.extraction_batch * s.extraction_seq_len * s.extraction_repeats
        record.params.update(shape=shape, model_build_seconds=self.build_seconds[shape], pooling="mean")
        return stage_result(
            record,
            tokens_per_second=tokens / record.seconds,
            pairs_per_second=tokens / s.extraction_seq_len / 2 / record.seconds,
        )

    def lora_dpo(self, shape: str) -> dict[str, Any]:
        s = self.settings
        model = self.model(shape)
        record, base = efficiency.training_stage(
            "lora_dpo",
            model,
            self.device,
            2 * s.lora_pairs,
            s.lora_seq_len,
            s.lora_micro_batches,
            lr=PAPER_TRAINING_ARGS["learning_rate"],
        )
        self.models[shape] = base
        record.params.update(shape=shape, lr=PAPER_TRAINING_ARGS["learning_rate"], micro_batches=s.lora_micro_batches)
        pairs = s.lora_pairs * s.lora_micro_batches
        result = stage_result(record, seconds_per_step=record.seconds, pairs_per_second=pairs / record.seconds)
        result["note"] = (
            f"one step of the paper's LoRA-DPO = {s.lora_micro_batches} accumulated micro-batches of {s.lora_pairs} "
            f"pairs x {s.lora_seq_len} tokens; train_step updates the adapters after each micro-batch (the LoRA "
            "AdamW update is small next to a forward and backward pass), one warm-up micro-batch first"
        )
        return result

    def phase1_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.settings
        return solver.planted_data(s.phase1_n, s.phase1_d, self.args.seed, self.device, torch.float32)

    def phase1_stage(self, method: str = "auto") -> dict[str, Any]:
        """Phase I with the book's default method (kept for Phase II), or CRONOS on the same data."""
        s = self.settings
        if self.phase1 is None:
            self.release()
            X, y = self.phase1_data()
        else:
            X, y, _ = self.phase1
        name = "phase1" if method == "auto" else f"phase1_{method}"
        with measure(name, self.device, count_flops=False, n=s.phase1_n, d=s.phase1_d, P=s.phase1_P) as record:
            result = fit_phase1(X, y, s, self.args.seed, method)
        if method == "auto":
            self.phase1 = (X, y, result)
        elif self.phase1 is None:
            del X, y
            self.release()
        cap = s.cronos_iters if method == "cronos" else s.phase1_max_iters
        record.params.update(max_iters=cap, dtype="float32", data="bench/solver.py planted_data")
        return stage_result(record, **(scalars(result) | {"converged": bool(result.converged)}))

    def phase2_stage(self) -> dict[str, Any]:
        s, config = self.settings, HeadConfig()
        rerun = self.phase1 is None
        if rerun:  # no Phase I result in this call: a short untimed fit gives the first layer
            X, y = self.phase1_data()
            self.phase1 = (X, y, fit_phase1(X, y, s, self.args.seed, max_iters=PHASE2_REFIT_STEPS))
        X, y, result = self.phase1
        net = result.model.to_two_layer()
        H = torch.relu(X @ net.W1.to(X.device, X.dtype).T).double().cpu()
        labels = y.cpu()
        m = int(min((labels > 0).sum(), (labels < 0).sum()))
        hc, hr = H[labels > 0][:m], H[labels < 0][:m]
        Z = design(hc, hr, "pairwise")
        hyper = {"beta": config.phase2_beta, "gamma": config.phase2_gamma, "l2": config.phase2_l2}
        with measure("phase2_newton", "cpu", count_flops=False, pairs=m, width=net.width) as newton:
            optimum = solve_newton(Z, **hyper)
        epochs = s.phase2_adamw_epochs
        with measure("phase2_adamw", "cpu", count_flops=False, pairs=m, epochs=epochs) as adamw:
            train_adamw(
                Z,
                hc,
                hr,
                **hyper,
                lr=config.adamw_lr,
                epochs=epochs,
                batch_size=config.adamw_batch,
                theta0=net.w2,
                seed=self.args.seed,
                log_every=10**9,
            )
        self.release()
        result_entry = stage_result(
            newton,
            newton_iterations=optimum.iterations,
            newton_converged=optimum.converged,
            newton_grad_norm=optimum.grad_norm,
            newton_gap_bound=optimum.gap_bound,
            adamw_seconds=adamw.seconds,
            adamw_epochs_timed=epochs,
            adamw_seconds_per_epoch=adamw.seconds / epochs,
            adamw_paper_epochs=config.adamw_epochs,
            adamw_paper_seconds_extrapolated=adamw.seconds / epochs * config.adamw_epochs,
        )
        result_entry["note"] = (
            "Phase II runs in float64 on the CPU by design (at most 2P unknowns); the AdamW time of the paper's "
            f"{config.adamw_epochs} epochs is extrapolated linearly from {epochs} timed epochs"
            + (f"; the first layer comes from an untimed {PHASE2_REFIT_STEPS}-step Phase I refit" if rerun else "")
        )
        return result_entry

    def guidance_stage(self) -> dict[str, Any]:
        s = self.settings
        self.release()
        out = self.work / "bench_guidance.json"
        argv = ["--random-llama", s.guidance_shape, "--device", str(self.device), "--seed", str(self.args.seed)]
        argv += ["--new-tokens", str(s.guidance_new_tokens), "--out", str(out)]
        argv += ["--prompt-lengths", *map(str, s.guidance_prompt_lengths)]
        argv += ["--batch-sizes", *map(str, s.guidance_batch_sizes)]
        with timed(self.device) as t:
            bench = guidance.main(argv)
        peak = max(int(row["peak_memory_bytes"]) for row in bench["rows"])
        return {
            "seconds": t["seconds"],
            "peak_memory_bytes": peak,
            "memory_kind": bench["rows"][0]["memory_kind"],
            "params": {"argv": argv, "model": bench["model"], "guidance": bench["guidance"]},
            "metrics": {"summary": bench["summary"]},
            "rows": bench["rows"],
        }

    def notebook_stage(self) -> dict[str, Any]:
        s = self.settings
        data = self.args.data_dir or os.environ.get("COALA_DATA_DIR")
        if not data or not Path(data).is_dir():
            return {
                "status": "skipped",
                "reason": "no data: set COALA_DATA_DIR (or --data-dir) to a folder with imdb-train.jsonl.gz",
            }
        self.release()
        folder = self.work / f"{s.mistral}-random"
        with timed(self.device) as t_save:
            model = efficiency.random_model(s.mistral, self.device, self.dtype, self.args.seed)
            tokenizer = truncated_gpt2_tokenizer(model.config.vocab_size)
            for config in (model.config, model.generation_config):
                config.bos_token_id = config.eos_token_id = config.pad_token_id = tokenizer.eos_token_id
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            del model
            self.release()
        params = {"model": str(folder), **s.notebook_params}
        command = [
            sys.executable,
            "-m",
            "papermill",
            str(NOTEBOOK),
            str(self.out / "03_train.ipynb"),
            "--cwd",
            str(self.work),
        ]
        for key, value in params.items():
            command += ["-p", key, str(value)]
        env = os.environ | {
            "COALA_DATA_DIR": str(Path(data).resolve()),
            "COALA_RESULTS_DIR": str(self.work / "results"),
            "COALA_CACHE_DIR": str(self.work / "cache"),
            "HF_HUB_OFFLINE": "1",
        }
        ledger = self.work / "results" / "claims" / "03_train.json"
        ledger.unlink(missing_ok=True)  # what is read below is this run's record, or nothing
        timeout = max(self.hard_limit - self.elapsed(), 1.0)
        with DeviceMemoryPeak() as nvml, timed() as t_run:
            done = subprocess.run(command, env=env, timeout=timeout, check=False)
        entry: dict[str, Any] = {
            "seconds": t_run["seconds"],
            "peak_memory_bytes": nvml.peak or 0,
            "memory_kind": "nvml_device_used" if nvml.peak is not None else "not_measured",
            "params": {"papermill": params, "returncode": done.returncode, "save_seconds": t_save["seconds"]},
            "metrics": json.loads(ledger.read_text(encoding="utf-8")) if ledger.is_file() else {},
        }
        if done.returncode != 0:
            entry.update(
                status="error", error=f"papermill exited with {done.returncode}; see 03_train.ipynb and the log"
            )
        return entry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help=f"folder for {GPU_CHECK_FILE} and the executed notebook 03")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU (the test suite's run)")
    parser.add_argument(
        "--stages", nargs="+", choices=GPU_CHECK_STAGES, default=None, help="run only these (others are kept)"
    )
    parser.add_argument("--resume-from", default=None, help=f"an earlier {GPU_CHECK_FILE} to keep stages from")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="a stage starts only if its estimate fits (default 450 s; tiny 600)",
    )
    parser.add_argument(
        "--hard-limit-s", type=float, default=None, help="the stage in flight is stopped here (default 480 s; tiny 900)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="IMDb files for notebook 03 (default $COALA_DATA_DIR)")
    parser.add_argument(
        "--work", default=None, help="scratch folder for the saved model and caches (default: a folder in the temp dir)"
    )
    args = parser.parse_args(argv)
    if args.work is None:
        args.work = str(Path(tempfile.gettempdir()) / f"coala-gpu-check-{'tiny' if args.tiny else 'gpu'}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    check = Check(args)
    s = check.settings
    plan: dict[str, Callable[[], dict[str, Any]]] = {
        "extraction_llama8b": lambda: check.extraction(s.llama),
        "lora_dpo_llama8b": lambda: check.lora_dpo(s.llama),
        "phase1": check.phase1_stage,
        "phase1_cronos": lambda: check.phase1_stage("cronos"),
        "phase2": check.phase2_stage,
        "extraction_mistral7b": lambda: check.extraction(s.mistral),
        "notebook03": check.notebook_stage,
        "guidance": check.guidance_stage,
    }
    assert tuple(plan) == GPU_CHECK_STAGES, (
        "the plan and coala_lib.accounting.gpu_check.GPU_CHECK_STAGES must list the same stages"
    )
    chosen = args.stages or [n for n in GPU_CHECK_STAGES if check.record["stages"].get(n, {}).get("status") != "ok"]
    check.save()
    for name in GPU_CHECK_STAGES:
        if name in chosen:
            check.run_stage(name, plan[name])
    check.release()
    check.record["finished"] = all(check.record["stages"].get(n, {}).get("status") == "ok" for n in GPU_CHECK_STAGES)
    check.save()
    return check.record


if __name__ == "__main__":
    main()
