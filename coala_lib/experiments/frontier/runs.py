"""The frontier's data and decoding runs: the splits, each method's settings, and the sampler of each run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coala_lib.data.frontier_splits import FrontierData, frontier_splits
from coala_lib.experiments.frontier.config import FrontierConfig
from coala_lib.experiments.frontier.methods import frontier_method
from coala_lib.guidance import GuidanceConfig


def load_data(config: FrontierConfig, data_dir: str | None = None) -> FrontierData:
    """The splits of the module docstring (:func:`coala_lib.data.frontier_splits.frontier_splits`)."""
    names = ("seed", "n_train_pairs", "n_sft", "n_test_prompts", "n_val_prompts", "n_heldout_pairs")
    sizes = {name: getattr(config, name) for name in (*names, "prompt_words", "max_words")}
    return frontier_splits(**sizes, data_dir=data_dir)


@dataclass(frozen=True)
class Run:
    """One decoding run: a method at one setting, sampled ``per_prompt`` times for each prompt of a split."""

    method: str
    setting: str
    value: float | None
    per_prompt: int

    @property
    def label(self) -> str:
        """``method[setting]``, as the record's stages and status name the run."""
        return f"{self.method}[{self.setting}]"


def decoding_runs(config: FrontierConfig) -> list[Run]:
    """The decoding runs of every method in ``config.methods``, breadth first: every method's first setting
    (in the order of ``config.methods``) before any method's second, so that a partial record compares
    methods before it sweeps them."""
    per_method = []
    for name in config.methods:
        method = frontier_method(name)
        per_prompt = config.samples * method.pool(config)
        per_method.append([Run(name, label, value, per_prompt) for label, value in method.settings(config)])
    depth = max((len(r) for r in per_method), default=0)
    return [runs[i] for i in range(depth) for runs in per_method if i < len(runs)]


def sampler(config: FrontierConfig, run: Run, vocab: int) -> GuidanceConfig:
    """The sampler of ``run`` (its method's :attr:`~coala_lib.experiments.frontier.methods.FrontierMethod.sampler`):
    temperature 1, no truncation or penalty, except COALA's own candidate pools (and their controls ``pool``
    and ``topk``, which sample those pools without the head)."""
    return frontier_method(run.method).sampler(config, run.value, vocab)


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The end-of-sequence ids decoding stops at (generation config first, as ``generate`` does)."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None) or tokenizer.eos_token_id
    return [] if eos is None else ([int(eos)] if isinstance(eos, int) else [int(e) for e in eos])
