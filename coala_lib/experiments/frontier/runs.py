"""The frontier's data and decoding runs: the splits, each method's settings, and the sampler of each run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coala_lib.data.frontier_splits import FrontierData, frontier_splits
from coala_lib.experiments.frontier.config import FrontierConfig
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
    (in the order of :data:`~coala_lib.experiments.frontier.config.METHODS`) before any method's second, so that a partial record compares
    methods before it sweeps them."""
    s = config.samples
    per_method: list[list[Run]] = []
    for method in config.methods:
        if method == "reference":
            runs = [Run("reference", "T=1", None, s)]
        elif method == "pool":
            runs = [Run("pool", f"top-k={config.paper_top_k},top-p={config.paper_top_p:g}", None, s)]
        elif method == "topk":
            runs = [Run("topk", f"top-k={config.args_top_k}", None, s)]
        elif method == "best_of_n":
            runs = [Run("best_of_n", "pool", None, s * max(config.bon_ns))]
        elif method == "coala_paper":
            runs = [Run(method, f"lambda={v:g}", v, s) for v in config.paper_lambdas]
        elif method == "coala_args":
            runs = [Run(method, f"w={v:g}", v, s) for v in config.args_weights]
        elif method == "dpo":
            runs = [Run(method, f"beta={v:g}", v, s) for v in config.dpo_betas]
        elif method == "orpo":
            runs = [Run(method, f"lambda={config.orpo_lambda:g}", config.orpo_lambda, s)]
        elif method == "simpo":
            runs = [Run(method, f"beta={config.simpo_beta:g},gamma={config.simpo_gamma:g}", config.simpo_beta, s)]
        else:  # sft
            runs = [Run(method, "chosen", None, s)]
        per_method.append(runs)
    depth = max((len(r) for r in per_method), default=0)
    return [runs[i] for i in range(depth) for runs in per_method if i < len(runs)]


def sampler(config: FrontierConfig, run: Run, vocab: int) -> GuidanceConfig:
    """The sampler of ``run``: temperature 1, no truncation or penalty, except COALA's own candidate pools
    (and their controls ``pool`` and ``topk``, which sample those pools without the head)."""
    common = dict(max_new_tokens=config.max_new_tokens, temperature=1.0, repetition_penalty=1.0)
    if run.method == "pool":
        return GuidanceConfig.plain(top_k=config.paper_top_k, top_p=config.paper_top_p, **common)
    if run.method == "topk":
        return GuidanceConfig.plain(top_k=config.args_top_k, top_p=1.0, **common)
    if run.method == "coala_paper":
        return GuidanceConfig.paper(
            float(run.value or 0.0),
            top_k=config.paper_top_k,
            top_p=config.paper_top_p,
            every=config.paper_every,
            **common,
        )
    if run.method == "coala_args":
        return GuidanceConfig.args(float(run.value or 0.0), top_k=config.args_top_k, greedy=False, **common)
    return GuidanceConfig.plain(top_k=vocab, top_p=1.0, **common)


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """The end-of-sequence ids decoding stops at (generation config first, as ``generate`` does)."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None) or tokenizer.eos_token_id
    return [] if eos is None else ([int(eos)] if isinstance(eos, int) else [int(e) for e in eos])
