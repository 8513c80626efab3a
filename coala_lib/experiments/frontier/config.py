"""The frontier's settings: the methods, the protocol's minimums, the file names and every knob of a run.

Every field of :class:`FrontierConfig` enters the cache keys of the stages it affects (except
``checkpoint_every``); :data:`VERSION` enters every key, so changing it invalidates every cached stage and
every run a committed record can be restored from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coala_lib.experiments.frontier.methods import BOOK_METHODS, FRONTIER_METHODS

#: The record, the generations and every best-of-n candidate (the generations hold only the picks), as
#: written under the run's output folder; the pool file is restored on a lost cache, so that a new head
#: re-scores the pool instead of sampling it again.
RECORD, GENERATIONS, POOL = "record.json", "generations.jsonl.gz", "best_of_n_pool.jsonl.gz"
#: The version of the cache keys and of the record's ``format``.
VERSION = 1

#: The protocol's minimums for the committed record, for every method (checked into ``status.meets_minimums``).
MINIMUMS = {"n_train_pairs": 1000, "n_test_prompts": 256, "max_new_tokens": 48, "samples": 2}
#: The book's methods (:data:`~coala_lib.experiments.frontier.methods.BOOK_METHODS`) in the order of value: the
#: default ``methods``. ``pool`` is the control of COALA's paper mode: the reference sampled from the same
#: top-k / top-p candidate pool with no head (lambda = 0), so that what the head adds is measured apart from
#: what the truncation alone does; ``topk`` is ARGS mode's: the reference sampled from its top-k (w = 0).
#: What each method is lives in its registry entry (:func:`~coala_lib.experiments.frontier.methods.frontier_method`).
METHODS: tuple[str, ...] = tuple(m.name for m in BOOK_METHODS)
#: What a chunk decoded before heads were fingerprinted reports as its head.
UNRECORDED = "unrecorded"
#: Best-of-n's strong-scorer control: the same pool reranked by the book's sentiment judge (a scorer far
#: stronger than the head) instead of the head; no decoding of its own. Its rows are judged by VADER (their
#: ``win_rate``), since the book judge scored them; the record's ``scorer_control`` pairs it with best-of-n.
SCORER_CONTROL = "best_of_n_judge"
SCORER_CONTROL_SCORER = "book"
SCORER_CONTROL_JUDGE = "vader"
SPLITS: tuple[str, ...] = ("validation", "test")
#: A decoding chunk's per-row arrays and the generations' columns that hold them.
RESTORED_COLUMNS = {"mc": "kl_mc", "rb": "kl_rb", "logp_ref": "logp_ref", "tokens": "tokens"}


@dataclass(frozen=True)
class FrontierConfig:
    """Every setting of the experiment (all enter the cache keys of the stages they affect, except
    ``checkpoint_every``, which only decides how often baseline training saves a resumable checkpoint)."""

    model: str = "smollm2"
    seed: int = 0
    n_train_pairs: int = 1000
    n_sft: int = 128
    n_test_prompts: int = 256
    n_val_prompts: int = 64
    n_heldout_pairs: int = 128
    samples: int = 2
    max_new_tokens: int = 48
    prompt_words: int = 8
    max_words: int = 48
    max_length: int = 128
    sft_lr: float = 2e-4
    sft_batch: int = 8
    head_P: int = 10
    head_max_iters: int = 5000
    # The head's knobs (the paper's values, which made the committed record's guided rows). The head study
    # (bench/head_selection.py, results/head_selection/record.json) chose head_P=32, head_beta=149.0095503544234,
    # head_phase2_l2=0.01, head_phase2_beta=1 on validation pairs; --set them to decode the frontier again with it.
    head_beta: float = 1e-3
    head_pooling: str = "mean"
    head_phase2_l2: float = 1e-4
    head_phase2_beta: float = 2.5
    paper_lambdas: tuple[float, ...] = (2.0, 1.0, 4.0)  # the paper's value first
    paper_top_k: int = 50
    paper_top_p: float = 0.9
    paper_every: int = 5
    args_weights: tuple[float, ...] = (0.5, 1.5, 4.0)
    args_top_k: int = 10
    # The authors' released decoding script's sampler (GuidanceConfig.released_script: T 0.7, seen logits / 1.1,
    # whole-vocabulary top-p 0.9, +lambda x score on the top 15 every 6th token); its no-head control is lambda 0.
    released_lambdas: tuple[float, ...] = (2.0, 1.0, 4.0)  # the script's value first
    bon_ns: tuple[int, ...] = (2, 4, 8, 16)
    dpo_betas: tuple[float, ...] = (0.1, 0.05, 0.01)  # the usual default first
    orpo_lambda: float = 0.1
    simpo_beta: float = 2.0
    simpo_gamma: float = 0.5
    baseline_lr: float = 2e-4
    baseline_batch: int = 8
    baseline_epochs: float = 1.0
    judge_n_train: int = 1000
    judge_n_test: int = 500
    decode_batch: int = 32
    checkpoint_every: int = 10  # baseline training saves a resumable checkpoint every this many steps (no key)
    n_boot: int = 2000
    perplexity_guard: float = 2.0
    methods: tuple[str, ...] = METHODS
    # The text-quality guard besides perplexity: a setting whose distinct-2 is below this fraction of the reference's
    # on the same split fails it (each row's ``distinct_guard``); validation never chooses it. Selection only (no key).
    distinct_guard: float = 0.8

    def __post_init__(self) -> None:
        """Refuse unknown methods and sizes below 1."""
        unknown = set(self.methods) - set(FRONTIER_METHODS)
        if unknown:
            raise ValueError(f"methods {sorted(unknown)} are unknown; choose among {tuple(FRONTIER_METHODS)}")
        for name in ("n_train_pairs", "n_sft", "n_test_prompts", "n_val_prompts", "samples", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.decode_batch < 1:
            raise ValueError(f"decode_batch={self.decode_batch} must be >= 1")

    def meets_minimums(self) -> dict[str, bool]:
        """Per field of :data:`MINIMUMS`, whether this configuration reaches the protocol's minimum."""
        return {name: getattr(self, name) >= value for name, value in MINIMUMS.items()}


#: A small configuration for the tests and a quick look (``--scale tiny``).
TINY: dict[str, Any] = dict(
    model="tiny",
    n_train_pairs=8,
    n_sft=8,
    n_test_prompts=4,
    n_val_prompts=2,
    n_heldout_pairs=4,
    max_new_tokens=4,
    max_length=64,
    paper_lambdas=(2.0,),
    args_weights=(1.5,),
    bon_ns=(2,),
    dpo_betas=(0.1,),
    head_max_iters=500,
    judge_n_train=16,
    judge_n_test=8,
    decode_batch=4,
    n_boot=50,
    baseline_batch=4,
)
