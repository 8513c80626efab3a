"""The LM-updating baselines (SFT, DPO, ORPO, SimPO) through TRL, behind one call: :func:`train_baseline`.

TRL is imported only here and through the trainer and config paths of :mod:`coala_lib.baselines.methods`
(TRL 1.16 is pinned: ORPO and CPO/SimPO sit in ``trl.experimental`` there). Each method trains LoRA adapters (paper: r = 16, alpha = 32, dropout 0.05
on every attention and MLP projection; GPT-2: ``c_attn``, ``c_proj``; see
:func:`coala_lib.backbone.lora.lora_targets`) on the triplets it is given, rendered exactly as COALA's features
render them (:func:`coala_lib.backbone.features.prompt_text` + response), and keeps TRL's per-step log
(``loss``, ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``, ...).

The methods themselves (their settings, losses, implicit rewards and the TRL classes that train them) are
declared once in :mod:`coala_lib.baselines.methods`; this module trains any registered method and caches the
run. Held-out implicit rewards: :mod:`coala_lib.baselines.rewards`.
"""

from __future__ import annotations

import copy
import itertools
import json
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import TrainerCallback

from coala_lib.backbone.features import prompt_text, triplets_digest
from coala_lib.backbone.lora import LORA_ALPHA, LORA_DROPOUT, LORA_R, lora_config
from coala_lib.backbone.registry import Backbone
from coala_lib.baselines.methods import MethodSettings, preference_method
from coala_lib.core.cache import MANIFEST, CacheEntry, CacheError, load_cached, open_entry, publishing
from coala_lib.core.checks import check_int, check_number
from coala_lib.core.files import atomic_write_json, cache_dir, content_key, environment_record
from coala_lib.core.runtime import progress_off
from coala_lib.data.schema import Triplet

#: The paper's training settings on an A100 (DeepSpeed ZeRO-3): pass them as ``training_args``.
PAPER_TRAINING_ARGS: dict[str, Any] = {
    "learning_rate": 2e-4,
    "warmup_steps": 1000,
    "gradient_accumulation_steps": 8,
    "per_device_train_batch_size": 2,
}
BASELINES_VERSION = 2
RESULT = "result.json"
ADAPTER = "adapter"
KIND = "baseline"


@dataclass(frozen=True)
class BaselineConfig:
    """Hyper-parameters of one baseline run (all enter the cache key).

    ``beta`` and ``gamma`` are the key form of the method's own settings
    (:meth:`coala_lib.baselines.methods.MethodSettings.key_fields`: DPO's beta, ORPO's lambda or SimPO's beta;
    SimPO's margin); ``beta=None`` takes the first value of the method's paper grid. The method reads them as
    its typed settings (:meth:`settings_for`). ``training_args`` are passed through to TRL's config (any
    ``transformers.TrainingArguments`` field: ``deepspeed``, ``gradient_accumulation_steps``, ``bf16``,
    ``warmup_steps``, ...) and override the fields above.
    """

    beta: float | None = None
    gamma: float = 0.5
    max_length: int = 128
    max_steps: int = -1
    epochs: float = 1.0
    batch_size: int = 2
    learning_rate: float = 2e-4
    lora_r: int = LORA_R
    lora_alpha: int = LORA_ALPHA
    lora_dropout: float = LORA_DROPOUT
    seed: int = 0
    training_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.beta is not None:
            check_number("beta", self.beta, positive=True)
        check_number("gamma", self.gamma)
        check_number("epochs", self.epochs, positive=True)
        check_number("learning_rate", self.learning_rate, positive=True)
        check_number("lora_dropout", self.lora_dropout, minimum=0.0)
        for name in ("max_length", "batch_size", "lora_r", "lora_alpha"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("max_steps", self.max_steps, minimum=-1)
        check_int("seed", self.seed)
        if not isinstance(self.training_args, dict):
            raise TypeError(f"training_args must be a dict of TrainingArguments fields, got {self.training_args!r}")
        if "gradient_checkpointing" in self.training_args:
            raise ValueError(
                "training_args: 'gradient_checkpointing' is transformers' deprecated name; pass "
                "'activation_checkpointing' instead"
            )

    def beta_for(self, method: str) -> float:
        """The key form's ``beta`` for ``method``: the explicit one, else its paper grid's first (SFT: 1)."""
        if self.beta is not None:
            return float(self.beta)
        grid = preference_method(method).paper_grid.get("beta")
        return float(grid[0]) if grid else 1.0

    def settings_for(self, method: str) -> MethodSettings:
        """``method``'s typed settings (e.g. ``ORPOSettings(lam=0.1)``) from this config's key form."""
        return preference_method(method).settings_of({"beta": self.beta_for(method), "gamma": self.gamma})


@dataclass
class BaselineResult:
    """A trained baseline: its LoRA ``adapter_dir``, TRL's per-step ``log_history`` and its ``params``."""

    method: str
    adapter_dir: Path
    log_history: list[dict[str, float]]
    params: dict[str, Any]

    def metric(self, name: str) -> list[float]:
        """The per-step values of one logged metric (e.g. ``"rewards/margins"``), in step order."""
        return [float(row[name]) for row in self.log_history if name in row]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "adapter_dir": str(self.adapter_dir),
            "log_history": self.log_history,
            "params": self.params,
        }


def _check_triplets(triplets: Sequence[Triplet]) -> None:
    if len(triplets) == 0:
        raise ValueError("triplets is empty: pass the training triplets COALA used (e.g. pipeline.load_splits)")


def trainable_copy(backbone: Backbone) -> torch.nn.Module:
    """A deep copy of the backbone's model that TRL may train.

    A GGUF file is de-quantised to ordinary float tensors on load, but transformers keeps a GGUF
    "quantizer" marker that makes ``Trainer`` refuse the model; the marker is removed from the copy
    with the quantizer's own ``remove_quantization_config`` (the weights are unchanged).
    """
    model = copy.deepcopy(backbone.model)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        method = str(getattr(quantizer.quantization_config, "quant_method", ""))
        if "gguf" not in method.lower():
            raise ValueError(
                f"the backbone is quantized with {method}; only de-quantised GGUF models can be trained here"
            )
        quantizer.remove_quantization_config(model)
    return model


def trl_dataset(tokenizer: Any, triplets: Sequence[Triplet], method: str) -> Any:
    """The triplets as a ``datasets.Dataset``: ``prompt`` rendered as COALA renders it, ``chosen`` and
    ``rejected`` raw (SFT: ``prompt`` and ``completion`` = chosen)."""
    from datasets import Dataset

    prompts = [prompt_text(tokenizer, t.prompt) for t in triplets]
    if preference_method(method).dataset == "completions":
        return Dataset.from_dict({"prompt": prompts, "completion": [t.chosen for t in triplets]})
    return Dataset.from_dict(
        {"prompt": prompts, "chosen": [t.chosen for t in triplets], "rejected": [t.rejected for t in triplets]}
    )


def trl_config(method: str, config: BaselineConfig, output_dir: str | Path, checkpoint_every: int = 0) -> Any:
    """TRL's config object for ``method`` (its :class:`~coala_lib.baselines.methods.PreferenceMethod`'s
    ``trl_config`` class with its ``trl_options``); ``checkpoint_every`` > 0 saves a resumable checkpoint into ``output_dir`` every that many steps (the
    two newest are kept, so a kill while one is written leaves the other)."""
    spec = preference_method(method)
    check_int("checkpoint_every", checkpoint_every, minimum=0)
    cuda = torch.cuda.is_available()
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "max_length": config.max_length,
        "max_steps": config.max_steps,
        "num_train_epochs": config.epochs,
        "per_device_train_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": 1,
        "save_strategy": "steps" if checkpoint_every else "no",
        "save_steps": checkpoint_every or 500,
        "save_total_limit": 2,
        "report_to": [],
        "disable_tqdm": True,  # transformers' own bar and log printer: replaced by StepProgress
        "activation_checkpointing": False,
        "bf16": cuda,
        "use_cpu": not cuda,
        "dataloader_num_workers": 0,
    }
    options = spec.trl_options(config.settings_for(method))
    settings = common | options | config.training_args  # training_args override everything above
    return spec.trl_classes()[1](**settings)


@contextmanager
def dataset_bars(progress: bool) -> Iterator[None]:
    """Hide the ``datasets`` library's progress bars inside the block when ``progress`` is off
    (:func:`coala_lib.core.runtime.progress_off`), and restore them after."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    hide = progress_off(progress) and not are_progress_bars_disabled()
    if hide:
        disable_progress_bars()
    try:
        yield
    finally:
        if hide:
            enable_progress_bars()


class StepProgress(TrainerCallback):
    """A tqdm bar over the optimiser steps of one training (from the resumed step on), with the latest
    loss; off when ``progress`` is False or ``$TQDM_DISABLE`` is set (:func:`coala_lib.core.runtime.progress_off`)."""

    def __init__(self, progress: bool) -> None:
        self.disable = progress_off(progress)
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar = tqdm(
            total=state.max_steps, initial=state.global_step, desc="train", unit="step", disable=self.disable
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}", refresh=False)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.close()


def build_trainer(
    method: str,
    backbone: Backbone,
    triplets: Sequence[Triplet],
    config: BaselineConfig,
    output_dir: str | Path,
    checkpoint_every: int = 0,
    progress: bool = False,
) -> Any:
    """The TRL trainer for ``method`` on a trainable copy of ``backbone`` with fresh LoRA adapters. Its
    console output is one step bar (:class:`StepProgress`, shown when ``progress`` is on); the per-step log
    stays in ``trainer.state.log_history``."""
    trainer_class = preference_method(method).trl_classes()[0]
    _check_triplets(triplets)
    model = trainable_copy(backbone)
    tokenizer = copy.deepcopy(backbone.tokenizer)
    args = trl_config(method, config, output_dir, checkpoint_every)
    data = trl_dataset(tokenizer, triplets, method)
    peft = lora_config(model, config.lora_r, config.lora_alpha, config.lora_dropout)
    with dataset_bars(progress):  # the trainer maps the dataset (EOS, tokenizing) with a bar per pass
        trainer = trainer_class(
            model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=peft
        )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log row (a dict per step) to stdout
    trainer.add_callback(StepProgress(progress))
    return trainer


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete TRL checkpoint (``checkpoint-<step>`` holding its trainer state, optimizer and RNG
    state, which the trainer writes last) in ``folder``, or ``None``."""
    done = [
        c
        for c in folder.glob("checkpoint-*")
        if c.name.split("-")[-1].isdigit()
        and all((c / name).is_file() for name in ("trainer_state.json", "optimizer.pt", "rng_state.pth"))
    ]
    return max(done, key=lambda c: int(c.name.split("-")[-1]), default=None)


def train_baseline(
    method: str,
    backbone: Backbone,
    triplets: Sequence[Triplet],
    config: BaselineConfig = BaselineConfig(),
    output_dir: str | Path | None = None,
    checkpoints: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = False,
) -> BaselineResult:
    """Train ``method`` with LoRA on ``triplets``; save the adapter and ``result.json`` into ``output_dir``.

    ``backbone`` is left untouched (a copy is trained). Returns the adapter directory, TRL's per-step
    log and the parameters (method, beta, config, backbone identity, data digest, TRL version, and
    ``resumed_from_step`` / ``total_steps``: a resumed call trains only the steps after its checkpoint).
    ``checkpoints`` (with ``checkpoint_every`` > 0) is a folder of resumable checkpoints: training resumes
    from its newest complete one (same data order, optimizer, scheduler and RNG state, read by the
    trainer with ``torch.load(weights_only=True)``; adapters as safetensors) and the folder is removed
    once the adapter is saved. The caller must key the folder by everything that defines the run.
    """
    import trl

    directory = Path(output_dir) if output_dir is not None else cache_dir() / "baselines" / f"run-{uuid.uuid4().hex}"
    resumable = checkpoints is not None and checkpoint_every > 0
    work = Path(checkpoints) if checkpoints is not None and resumable else directory / "trainer"
    trainer = build_trainer(method, backbone, triplets, config, work, checkpoint_every if resumable else 0, progress)
    start = last_checkpoint(work) if resumable else None
    trainer.train(resume_from_checkpoint=str(start) if start is not None else None)
    adapter_dir = directory / ADAPTER
    trainer.model.save_pretrained(str(adapter_dir), save_embedding_layers=False)  # LoRA leaves the vocabulary as it is
    shutil.rmtree(work, ignore_errors=True)
    params = {
        "method": method,
        "beta": config.beta_for(method),
        "config": asdict(config),
        "backbone": backbone.identity(),
        "triplets": triplets_digest(triplets),
        "n_triplets": len(triplets),
        "trl": trl.__version__,
        "environment": environment_record(),
        "resumed_from_step": int(start.name.split("-")[-1]) if start is not None else 0,
        "total_steps": int(trainer.state.max_steps),
    }
    history = [
        {k: float(v) for k, v in row.items() if isinstance(v, (int, float))} for row in trainer.state.log_history
    ]
    result = BaselineResult(method, adapter_dir, history, params)
    atomic_write_json(directory / RESULT, result.to_dict())
    return result


def train_or_load_baseline(
    method: str,
    backbone: Backbone,
    triplets: Sequence[Triplet],
    config: BaselineConfig = BaselineConfig(),
    cache_root: str | Path | None = None,
    force: bool = False,
    checkpoint_every: int = 0,
    progress: bool = False,
) -> BaselineResult:
    """:func:`train_baseline`, cached under ``cache_dir()/baselines/<method>-<key>``; the key hashes the
    method, the config, the backbone identity, the exact triplets and the TRL version. The run is published
    and read back verified by :mod:`coala_lib.core.cache`: a damaged entry is reported with its path and
    retrained; ``force=True`` retrains and replaces it. ``checkpoint_every`` > 0 checkpoints the training
    every that many steps under ``cache_dir()/baselines/partial/<method>-<key>``, so that a killed run
    resumes there (same key, hence same run) instead of starting over. ``progress`` shows a step bar."""
    import trl

    preference_method(method)  # an unknown method is named before anything is hashed
    fields = {
        "version": BASELINES_VERSION,
        "method": method,
        "beta": config.beta_for(method),
        "config": asdict(config),
        "backbone": backbone.identity(),
        "triplets": triplets_digest(triplets),
        "trl": trl.__version__,
    }
    key = content_key(fields)
    directory = cache_dir(cache_root) / "baselines" / f"{method}-{key}"
    shape = {"n_triplets": len(triplets)}
    if not force:
        found = load_cached(directory, _read_run, kind=KIND, key=key, fields=fields, shape=shape)
        if found is not None:
            return found
    partial = cache_dir(cache_root) / "baselines" / "partial" / f"{method}-{key}"
    if force:
        shutil.rmtree(partial, ignore_errors=True)
    with publishing(directory, kind=KIND, key=key, fields=fields, shape=shape, replace=force) as stage:
        train_baseline(method, backbone, triplets, config, stage.path, partial, checkpoint_every, progress)
    return load_result(directory)


def grid_points(method: str, grid: Mapping[str, Sequence[float]] | None = None) -> list[dict[str, float]]:
    """The hyper-parameter points of ``method``: every combination of ``grid`` (default: the method's paper
    grid, :attr:`~coala_lib.baselines.methods.PreferenceMethod.paper_grid`), e.g.
    ``grid_points("simpo", {"beta": [2.0], "gamma": [0.5, 1.0]})`` -> ``[{"beta": 2, "gamma": 0.5}, ...]``."""
    axes = dict(preference_method(method).paper_grid if grid is None else grid)
    unknown = set(axes) - {"beta", "gamma"}
    if unknown:
        raise ValueError(f"grid axes {sorted(unknown)} are not hyper-parameters here; use 'beta' and 'gamma'")
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())] or [{}]


def train_grid(
    backbone: Backbone,
    train: Sequence[Triplet],
    grids: Mapping[str, Mapping[str, Sequence[float]]],
    config: BaselineConfig = BaselineConfig(),
    cache_root: str | Path | None = None,
) -> dict[str, BaselineResult]:
    """:func:`train_or_load_baseline` for every method of ``grids`` at every grid point (:func:`grid_points`);
    keys are labels such as ``"dpo beta=0.1"`` (``"sft"`` for a method without hyper-parameters)."""
    out: dict[str, BaselineResult] = {}
    for method, grid in grids.items():
        for point in grid_points(method, grid):
            label = " ".join([method, *(f"{k}={v:g}" for k, v in point.items())])
            point_config = replace(config, beta=point.get("beta", config.beta), gamma=point.get("gamma", config.gamma))
            out[label] = train_or_load_baseline(method, backbone, train, point_config, cache_root)
    return out


def load_result(directory: str | Path) -> BaselineResult:
    """Read the ``result.json`` of a trained baseline (its adapter directory is resolved next to it).

    A cache entry of :func:`train_or_load_baseline` is verified first (every file's SHA-256); a damaged
    one raises :class:`coala_lib.core.cache.CacheError` naming it (``train_or_load_baseline(..., force=True)``
    retrains it). A folder written by :func:`train_baseline` alone has no manifest and is read as is.
    """
    path = Path(directory)
    if (path / MANIFEST).is_file():
        try:
            return _read_run(open_entry(path, kind=KIND, key=None))
        except CacheError as err:
            raise CacheError(f"{err}; retrain it with train_or_load_baseline(..., force=True)") from err
    if not (path / RESULT).is_file():
        raise FileNotFoundError(f"{path} holds no {RESULT}: it is not a finished baseline run")
    try:
        record = json.loads((path / RESULT).read_text(encoding="utf-8"))
        return BaselineResult(record["method"], path / ADAPTER, record["log_history"], record["params"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path / RESULT} is not a baseline result ({err!r}); train the run again") from err


def _read_run(entry: CacheEntry) -> BaselineResult:
    """A verified baseline entry: every file's hash, and a result of the method and triplets of its key."""
    entry.verify_files()
    record = entry.read_json(RESULT)
    try:
        result = BaselineResult(record["method"], entry.path / ADAPTER, record["log_history"], record["params"])
        same = result.method == entry.fields["method"] and result.params["triplets"] == entry.fields["triplets"]
    except (KeyError, TypeError) as err:
        raise CacheError(f"cache entry {entry.path}: {RESULT} is not a baseline result ({err!r})") from err
    if not same:
        raise CacheError(f"cache entry {entry.path}: {RESULT} belongs to another run than its key")
    return result


def load_policy(backbone: Backbone, adapter_dir: str | Path, merge: bool = False) -> Any:
    """A copy of ``backbone``'s model with the LoRA adapter of ``adapter_dir``, in eval mode.

    ``merge=True`` folds the adapter into the weights (a plain model: faster generation, no reference).
    """
    from peft import PeftModel

    policy = PeftModel.from_pretrained(trainable_copy(backbone), str(adapter_dir))
    policy.eval().requires_grad_(False)
    return policy.merge_and_unload() if merge else policy
