"""The IMDb controlled-sentiment frontier: COALA against DPO, ORPO, SimPO, best-of-n and SFT, reward vs KL.

The protocol of the DPO paper's sentiment task (Rafailov et al. 2023, section 6.1), on the book's offline
models and data:

* **Reference policy**: the backbone after a Stage-0 LoRA SFT (:func:`coala_lib.backbone.sft.apply_sft`) on
  the genuine continuations of IMDb *training* reviews (both sentiments: the reference is not pushed
  towards positive text). Every method starts from it and is measured against it.
* **Training pairs**: the book's IMDb triplets (:func:`coala_lib.data.load_triplets`, ``variant="fast"``:
  prompt = the first 8 words of a review, chosen = 48 words of a positive review, rejected = of a
  negative one; off-policy pairs, no generation needed). The same ``n_train_pairs`` pairs train the COALA
  head and every LM-updating baseline. IMDb's 25,000 training reviews are split 90/10 *by review* before
  any pair is built, so no held-out prompt's review is in a training pair.
* **Prompts**: the held-out reviews' pairs are shuffled by seed; the first pairs' prompts are the test
  prompts, the next ones the validation prompts (guidance scale and beta are chosen there, never on the
  test prompts), the remaining pairs the held-out pairs of the baselines' loss and accuracy.
* **Sampling**: every policy samples at temperature 1 without truncation or repetition penalty, so its
  per-token distribution is exactly its softmax and the sequence KL to the reference is finite
  (:mod:`coala_lib.evaluation.kl`). COALA's guided modes truncate to their candidate pools as they are
  defined (paper mode: top-k 50 / top-p 0.9 nucleus, lambda x min-max score every 5 tokens; ARGS: top-10,
  ``log p + w s``, sampled); their KL is estimated from the recorded shifted distributions.
* **Methods** (in the order the run does them, most valuable first): reference sampling; COALA paper mode
  over a lambda sweep (the paper's lambda = 2 first); best-of-n with the COALA head as scorer (n = 2, 4, 8,
  16, from one pool of 16 x 2 reference samples per prompt, the costliest run; the pool is sampled without
  the head, which then scores each whole response, so a new head re-scores the pool in minutes); COALA ARGS mode over a
  weight sweep; the two no-head controls (``pool``: paper mode's nucleus, ``topk``: ARGS mode's top-10, both
  sampled from the reference with no head); DPO over a beta sweep; SFT on the chosen responses
  (preferred-FT); ORPO; SimPO. Baselines train one epoch (the stopping rule: exactly one pass, no early
  stopping), with LoRA, through TRL; their held-out loss and preference accuracy are recorded.
* **Evaluation** per method and setting, on validation and test prompts: mean reward from the book's
  sentiment judge and from VADER (a lexicon nothing here trained); the KL estimates; the win rate
  against the reference's sample of the same prompt (Wilson and paired bootstrap intervals); perplexity
  under the reference; distinct-2; counted FLOPs and wall time of training and of decoding.

Every stage is cached by content under ``cache_dir()/imdb_frontier`` (decoding runs chunk by chunk),
written atomically and verified on read, so a killed run resumes where it stopped. After every stage the
record (``record.json``), the generations (``generations.jsonl.gz``) and every best-of-n candidate
(``best_of_n_pool.jsonl.gz``) are rewritten under ``--out``.

CPU (the book's record; one torch thread, polite to other users of the machine)::

    COALA_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/imdb_frontier.py --threads 1

GPU at the same scale or larger (``--model`` any alias of :mod:`coala_lib.backbone.registry`)::

    .venv/bin/python bench/imdb_frontier.py --device cuda --model gpt2 --set decode_batch=256
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from coala_lib.accounting.counting import measure, package_versions
from coala_lib.backbone.features import triplets_digest
from coala_lib.backbone.registry import Backbone, load_backbone
from coala_lib.backbone.sft import SFTConfig, apply_sft
from coala_lib.baselines.trl_training import BaselineConfig, load_policy, train_or_load_baseline
from coala_lib.claims.ledger import read_frontier_generations, read_frontier_record
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    cache_dir,
    content_key,
    environment_record,
    portable_paths,
)
from coala_lib.core.runtime import resolve_device, seed_everything
from coala_lib.data import load_imdb_reviews
from coala_lib.data.frontier_splits import FrontierData, frontier_splits
from coala_lib.evaluation.frontier import heldout_preference, paired_difference, select_setting, summarise_setting
from coala_lib.evaluation.kl import (
    KLTerms,
    SamplingRecorder,
    best_of_n_kl_bound,
    policy_kl_terms,
    recorded_kl_terms,
    reference_kl_terms,
)
from coala_lib.evaluation.lexicon import LexiconJudge
from coala_lib.evaluation.sentiment import SentimentJudge
from coala_lib.guidance import GuidanceConfig, encode_prompts, guided_generate
from coala_lib.head import HeadConfig, HeadReport, train_or_load_head
from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.scoring import score_responses
from coala_lib.head.training import PIPELINE_VERSION

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "imdb_frontier"
RECORD, GENERATIONS = "record.json", "generations.jsonl.gz"
#: Every candidate of the best-of-n pools (the generations hold only the picks): restored on a lost cache,
#: so that a new head re-scores the pool instead of sampling it again.
POOL = "best_of_n_pool.jsonl.gz"
VERSION = 1
PAYLOAD = "payload.json"  # the one file of a stage or chunk cache entry
log = logging.getLogger("imdb_frontier")

#: The protocol's minimums for the committed record, for every method (checked into ``status.meets_minimums``).
MINIMUMS = {"n_train_pairs": 1000, "n_test_prompts": 256, "max_new_tokens": 48, "samples": 2}
#: Methods in the order of value. ``pool`` is the control of COALA's paper mode: the reference sampled from the
#: same top-k / top-p candidate pool with no head (lambda = 0), so that what the head adds is measured apart
#: from what the truncation alone does; ``topk`` is ARGS mode's: the reference sampled from its top-k (w = 0).
METHODS: tuple[str, ...] = (
    "reference",
    "coala_paper",
    "pool",
    "dpo",
    "best_of_n",
    "coala_args",
    "topk",
    "sft",
    "orpo",
    "simpo",
)
TRAINED: tuple[str, ...] = ("dpo", "sft", "orpo", "simpo")
#: Methods whose decoding uses the COALA head (to guide each step, or to pick among a pool).
HEAD_GUIDED: tuple[str, ...] = ("best_of_n", "coala_paper", "coala_args")
#: The guided methods whose sampling the head steers: the head enters their decoding key. Best-of-n's pool is
#: sampled from the reference alone; the head scores it afterwards (:meth:`Context.scored`).
HEAD_STEERED: tuple[str, ...] = ("coala_paper", "coala_args")
#: What a chunk decoded before heads were fingerprinted reports as its head.
UNRECORDED = "unrecorded"
#: Samplers whose per-token distribution is not the sampling model's own softmax: their KL terms come from
#: the distributions recorded as they were sampled.
RECORDED_KL: tuple[str, ...] = ("coala_paper", "coala_args", "pool", "topk")
#: Each guided mode and its no-head control: the record's ``head_controls`` pairs their headline rows.
HEAD_CONTROLS: dict[str, str] = {"coala_paper": "pool", "coala_args": "topk"}
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

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"methods {sorted(unknown)} are unknown; choose among {METHODS}")
        for name in ("n_train_pairs", "n_sft", "n_test_prompts", "n_val_prompts", "samples", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.decode_batch < 1:
            raise ValueError(f"decode_batch={self.decode_batch} must be >= 1")

    def meets_minimums(self) -> dict[str, bool]:
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


# ------------------------------------------------------------------------------------------ the cache


class Cache:
    """Content-keyed JSON stages and decoding chunks under ``root``: each a cache entry of
    :mod:`coala_lib.core.cache` (published atomically with its SHA-256, read back verified; a corrupt or
    foreign entry is reported with its path and recomputed, never used)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return load_cached(self.path(kind, key), _read_payload, kind=f"imdb-frontier-{kind}", key=key)

    def put(self, kind: str, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload = json.loads(json.dumps(payload, default=_jsonable))  # what a later read will see
        with publishing(self.path(kind, key), kind=f"imdb-frontier-{kind}", key=key, fields={}) as stage:
            atomic_write_json(stage.path / PAYLOAD, payload)
        return payload


def _read_payload(entry: CacheEntry) -> dict[str, Any]:
    payload = entry.read_json(PAYLOAD)
    if not isinstance(payload, dict):
        raise CacheError(f"cache entry {entry.path}: {PAYLOAD} is not a JSON object")
    return payload


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def chunk_seed(*parts: Any) -> int:
    """A seed for one chunk, fixed by its identity (so a resumed run draws what an uninterrupted one would)."""
    return int(content_key(*parts), 16) % (2**62)


# ------------------------------------------------------------------------------------------- the data


def load_data(config: FrontierConfig, data_dir: str | None = None) -> FrontierData:
    """The splits of the module docstring (:func:`coala_lib.data.frontier_splits.frontier_splits`)."""
    names = ("seed", "n_train_pairs", "n_sft", "n_test_prompts", "n_val_prompts", "n_heldout_pairs")
    sizes = {name: getattr(config, name) for name in (*names, "prompt_words", "max_words")}
    return frontier_splits(**sizes, data_dir=data_dir)


# ------------------------------------------------------------------------------------------ the runs


@dataclass(frozen=True)
class Run:
    """One decoding run: a method at one setting, sampled ``per_prompt`` times for each prompt of a split."""

    method: str
    setting: str
    value: float | None
    per_prompt: int

    @property
    def label(self) -> str:
        return f"{self.method}[{self.setting}]"


def decoding_runs(config: FrontierConfig) -> list[Run]:
    """The decoding runs of every method in ``config.methods``, breadth first: every method's first setting
    (in the order of :data:`METHODS`) before any method's second, so that a partial record compares
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


# ------------------------------------------------------------------------------------------ the stages


@dataclass
class Context:
    """What the stages share: config, cache, loaded models and judges (loaded lazily, once)."""

    config: FrontierConfig
    device: torch.device
    cache: Cache
    data: FrontierData
    data_dir: str | None = None
    cache_root: str | None = None
    progress: bool = True
    deadline: float = math.inf
    _reference: Backbone | None = None
    _head: CoalaHead | None = None
    _judges: dict[str, Any] = field(default_factory=dict)
    head_key: str = ""
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def out_of_time(self) -> bool:
        return time.monotonic() > self.deadline

    # Stage 0: the reference policy -------------------------------------------------------------
    def reference(self) -> Backbone:
        if self._reference is None:
            backbone = load_backbone(self.config.model, self.device, seed=self.config.seed)
            sft_config = SFTConfig(
                epochs=1,
                lr=self.config.sft_lr,
                batch_size=self.config.sft_batch,
                max_length=self.config.max_length,
                seed=self.config.seed,
            )
            key = content_key(VERSION, "sft", backbone.identity(), triplets_digest(self.data.sft), asdict(sft_config))
            with measure("sft", self.device, count_flops=self.cache.get("stage", key) is None) as cost:
                summary = apply_sft(
                    backbone, self.data.sft, sft_config, cache_root=self.cache_root, progress=self.progress
                )
            stage = self.cache.get("stage", key)
            if stage is None:  # a cost measured around a cache hit is not the training's: not recorded
                measured = None if summary.get("cached") else cost.to_dict()
                stage = self.cache.put("stage", key, {"summary": summary, "cost": measured})
            self.stages["sft"] = {**stage, "revision": backbone.revision}
            self._reference = backbone
        return self._reference

    # Stage 1: judges ---------------------------------------------------------------------------
    def judges(self) -> dict[str, Any]:
        if not self._judges:
            book = SentimentJudge.train_or_load(
                self.config.judge_n_train,
                self.config.seed,
                self.data_dir,
                n_test=self.config.judge_n_test,
                cache_root=self.cache_root,
                progress=self.progress,
            )
            lexicon = LexiconJudge()
            texts, labels = load_imdb_reviews(
                "test", n=self.config.judge_n_test, seed=self.config.seed, data_dir=self.data_dir
            )
            self._judges = {"book": book, "vader": lexicon}
            self.stages["judges"] = {
                "book": {"key": book.key, "accuracy": book.accuracy, "params": book.params},
                "vader": {"key": lexicon.key, "accuracy": lexicon.accuracy(texts, labels), "n_test": len(texts)},
            }
        return self._judges

    # Stage 2: the COALA head -------------------------------------------------------------------
    def head(self) -> CoalaHead:
        if self._head is None:
            reference = self.reference()
            splits = (self.data.train_set, self.data.heldout_set)
            head_config = HeadConfig(
                model=self.config.model,
                dataset="imdb",
                n_pairs=len(self.data.train),
                n_eval=len(self.data.heldout_pairs),
                max_length=self.config.max_length,
                P=self.config.head_P,
                beta=self.config.head_beta,
                pooling=self.config.head_pooling,
                phase2_l2=self.config.head_phase2_l2,
                phase2_beta=self.config.head_phase2_beta,
                phase1_max_iters=self.config.head_max_iters,
                seed=self.config.seed,
            )
            key = content_key(
                VERSION,
                "head",
                PIPELINE_VERSION,  # the head pipeline's own version: a solver change is a new head
                reference.identity(),
                asdict(head_config),
                triplets_digest(self.data.train),
                triplets_digest(self.data.heldout_pairs),
            )
            cached = self.cache.get("stage", key)
            with measure("head", self.device, count_flops=cached is None) as cost:
                head, report = train_or_load_head(
                    head_config,
                    device=str(self.device),
                    cache_root=self.cache_root,
                    backbone=reference,
                    splits=splits,
                    progress=self.progress,
                )
            if cached is None:
                cached = self.cache.put("stage", key, {"report": _head_summary(report), "cost": cost.to_dict()})
            # the summary is read afresh from the head's own report (same key), the cost as first measured
            self.stages["head"] = {**cached, "report": _head_summary(report), "fingerprint": head.fingerprint}
            self.head_key = key
            self._head = head.to(self.device)
        return self._head

    # Stage 3: LM-updating baselines -------------------------------------------------------------
    def baseline_config(self, run: Run) -> BaselineConfig:
        beta = {"dpo": run.value, "orpo": self.config.orpo_lambda, "simpo": self.config.simpo_beta}.get(run.method)
        return BaselineConfig(
            beta=beta,
            gamma=self.config.simpo_gamma,
            max_length=self.config.max_length,
            epochs=self.config.baseline_epochs,
            batch_size=self.config.baseline_batch,
            learning_rate=self.config.baseline_lr,
            seed=self.config.seed,
        )

    def train_key(self, run: Run) -> str:
        """The cache key of the training stage of ``run``'s baseline."""
        return content_key(
            VERSION,
            "baseline",
            run.method,
            asdict(self.baseline_config(run)),
            self.reference().identity(),
            triplets_digest(self.data.train),
            triplets_digest(self.data.heldout_pairs),
        )

    def train(self, run: Run) -> Path:
        """Train (or load) the baseline of ``run``; record its stage; return its adapter directory."""
        reference = self.reference()
        bconfig = self.baseline_config(run)
        key = self.train_key(run)
        stage = self.cache.get("stage", key)
        with measure(f"train {run.label}", self.device, count_flops=stage is None) as cost:
            result = train_or_load_baseline(
                run.method,
                reference,
                self.data.train,
                bconfig,
                self.cache_root,
                checkpoint_every=self.config.checkpoint_every,
                progress=self.progress,
            )
        if stage is None:
            peft_policy = load_policy(reference, result.adapter_dir)
            held = heldout_preference(
                run.method,
                peft_policy,
                reference.tokenizer,
                self.data.heldout_pairs,
                bconfig.beta_for(run.method),
                bconfig.gamma,
                bconfig.max_length,
            )
            del peft_policy
            stage = self.cache.put(
                "stage",
                key,
                {
                    "training": _training_summary(result.log_history),
                    "heldout": held,
                    # A resumed training measured only the steps after its checkpoint: the cost says which.
                    "cost": cost.to_dict() | measured_steps(result.params),
                    "params": {k: result.params[k] for k in ("method", "beta", "config", "n_triplets", "trl")},
                    "stopping_rule": f"exactly {bconfig.epochs:g} epoch(s) over the training pairs, no early stopping",
                },
            )
        self.stages[f"train {run.label}"] = stage
        return result.adapter_dir

    # Stage 4: decoding ---------------------------------------------------------------------------
    def run_key(self, run: Run, split: str) -> str:
        reference = self.reference()
        parts: list[Any] = [
            VERSION,
            "decode",
            asdict(run),
            split,
            self.data.prompts[split],
            reference.identity(),
            asdict(sampler(self.config, run, reference.model.config.vocab_size)),
            self.config.seed,
        ]
        if run.method in HEAD_STEERED:
            self.head()
            parts.append(self.head_key)
        if run.method in TRAINED:
            parts.append(asdict(self.baseline_config(run)))
            parts.append(triplets_digest(self.data.train))
        parts.append({name: judge.key for name, judge in sorted(self.judges().items())})
        return content_key(*parts)

    def chunks(self, run: Run, split: str) -> list[tuple[str, list[tuple[int, int]]]]:
        """The cache name and the (prompt, sample) rows of every decoding chunk of ``run`` on ``split``."""
        key = self.run_key(run, split)
        rows = [(i, j) for i in range(len(self.data.prompts[split])) for j in range(run.per_prompt)]
        size = self.config.decode_batch
        return [(f"{key}-{k}-{k + len(rows[k : k + size])}", rows[k : k + size]) for k in range(0, len(rows), size)]

    def is_cached(self, run: Run, split: str) -> bool:
        """Whether every chunk of ``run`` on ``split`` is in the cache (a trained baseline's too)."""
        return all(self.cache.path("chunk", name).exists() for name, _ in self.chunks(run, split))

    def decode(self, run: Run, split: str) -> list[dict[str, Any]] | None:
        """Every chunk of ``run`` on ``split`` (computing the missing ones); ``None`` if time ran out."""
        names, chunks = zip(*self.chunks(run, split))
        done = [self.cache.get("chunk", name) for name in names]
        missing = [c for c, entry in enumerate(done) if entry is None]
        if missing and self.out_of_time():  # a spent budget starts no work, training included
            return None
        if run.method in TRAINED and not missing:  # every chunk cached: the adapter is not needed, its record is
            stage = self.cache.get("stage", self.train_key(run))
            if stage is not None:
                self.stages[f"train {run.label}"] = stage
        adapter = self.train(run) if run.method in TRAINED and missing else None
        if missing:
            policy = load_policy(self.reference(), adapter, merge=True) if adapter is not None else None
            bar = tqdm(missing, desc=f"{run.label} {split}", unit="chunk", disable=not self.progress, leave=False)
            for c in bar:
                if self.out_of_time():
                    return None
                done[c] = self.cache.put("chunk", names[c], self.decode_chunk(run, split, chunks[c], policy, names[c]))
        return [entry for entry in done if entry is not None]

    def decode_chunk(self, run: Run, split: str, rows: list[tuple[int, int]], policy: Any, name: str) -> dict[str, Any]:
        reference = self.reference()
        tok = reference.tokenizer
        prompts = [self.data.prompts[split][i] for i, _ in rows]
        ids, mask = encode_prompts(tok, prompts, self.device)
        config = sampler(self.config, run, reference.model.config.vocab_size)
        generator = torch.Generator(self.device).manual_seed(chunk_seed(name))
        model = policy if policy is not None else reference.model
        head = self.head() if run.method in HEAD_STEERED else None
        recorder = SamplingRecorder()
        with measure("decode", self.device) as cost, recorder.record():
            out = guided_generate(
                model, tok, head=head, config=config, generator=generator, input_ids=ids, attention_mask=mask
            )
        started = time.perf_counter()
        eos = eos_ids(model, tok)
        terms: KLTerms
        if run.method in RECORDED_KL:  # the distributions as recorded (shifted, truncated), against the reference
            terms = recorded_kl_terms(recorder.steps, reference.model, out.sequences, mask, eos)
        elif policy is None:  # the reference's own softmax: KL 0, log-probabilities as recorded
            terms = reference_kl_terms(recorder.steps, out.sequences, ids.shape[1], eos)
        else:  # a trained policy's own softmax, both sides by teacher forcing
            terms = policy_kl_terms(model, reference.model, out.sequences, mask, eos)
        judges = self.judges()
        rewards = {judge_name: judge.positivity(out.texts).tolist() for judge_name, judge in judges.items()}
        payload: dict[str, Any] = {
            "rows": rows,
            "texts": out.texts,
            **terms.to_lists(),
            "rewards": rewards,
            "decode_seconds": cost.seconds,
            "decode_flops": cost.flops,
            "evaluation_seconds": time.perf_counter() - started,
        }
        if head is not None:
            payload["head"] = head.fingerprint
        return payload

    def scored(self, run: Run, split: str, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The best-of-n pool's ``chunks`` with the head's score of every candidate (``head_score``, and the
        head's fingerprint as ``head``), each chunk's scores cached under the chunk and the head's key."""
        head, reference = self.head(), self.reference()
        out = []
        for (name, rows), chunk in zip(self.chunks(run, split), chunks):
            key = content_key(name, self.head_key)
            entry = self.cache.get("score", key)
            if entry is None:
                started = time.perf_counter()
                prompts = [self.data.prompts[split][i] for i, _ in rows]
                scores = score_responses(reference, head, prompts, chunk["texts"], self.config.max_length)
                entry = self.cache.put(
                    "score",
                    key,
                    {
                        "head_score": scores.tolist(),
                        "head": head.fingerprint,
                        "score_seconds": time.perf_counter() - started,
                    },
                )
            out.append({**chunk, **entry})
        return out


def _head_summary(report: HeadReport) -> dict[str, Any]:
    """What the record keeps of the head's report: provenance, Phase I's certificate, Phase II's accuracy."""
    values = report.to_dict()
    summary = {k: values[k] for k in ("key", "feature_seconds", "features", "config")}
    phase1 = ("method", "iterations", "certified", "certified_gap", "cone_violation_rel", "width", "seconds")
    summary["phase1"] = {k: values["phase1"][k] for k in (*phase1, "train", "eval")}
    summary["phase2"] = {
        k: values["phase2"][k] for k in ("solver", "loss", "train_pairwise", "eval_pairwise", "seconds")
    }
    return summary


def measured_steps(params: dict[str, Any]) -> dict[str, int]:
    """``first_step`` and ``total_steps`` of the training a baseline's measured cost covers (steps
    ``first_step``..``total_steps``; 1 unless it resumed from a checkpoint); empty for runs trained before
    :func:`coala_lib.baselines.trl_training.train_baseline` recorded it."""
    if "total_steps" not in params:
        return {}
    return {"first_step": int(params["resumed_from_step"]) + 1, "total_steps": int(params["total_steps"])}


def _training_summary(history: list[dict[str, float]]) -> dict[str, Any]:
    steps = [row for row in history if "loss" in row]
    losses = [row["loss"] for row in steps]
    accuracies = [row["rewards/accuracies"] for row in steps if "rewards/accuracies" in row]
    tail = max(1, len(losses) // 10)
    return {
        "steps": len(losses),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "mean_loss_last_10pct": sum(losses[-tail:]) / tail if losses else None,
        "train_accuracy_last_10pct": sum(accuracies[-tail:]) / tail if accuracies else None,
        "loss_curve": losses,
        "epochs": max((row.get("epoch", 0.0) for row in history), default=0.0),
        "train_runtime": next((row["train_runtime"] for row in history if "train_runtime" in row), None),
    }


# ------------------------------------------------------------------------------------------ restoring


Saved = tuple[dict[str, Any], dict[tuple[str, str, str], dict[tuple[int, int], dict[str, Any]]]]


def read_saved(out_dir: Path) -> Saved | None:
    """The record under ``out_dir`` and its generations (with the best-of-n pool's, when saved) by (method,
    setting, split) and (prompt, sample); ``None`` if the record or the generations are missing. Read before
    the run rewrites them, and checked as the ledger reads them (a damaged file is a ``RecordError`` naming
    it, and the line)."""
    record_path, generations_path, pool_path = out_dir / RECORD, out_dir / GENERATIONS, out_dir / POOL
    if not (record_path.exists() and generations_path.exists()):
        return None
    rows_by_run: dict[tuple[str, str, str], dict[tuple[int, int], dict[str, Any]]] = {}
    pool = read_frontier_generations(pool_path) if pool_path.exists() else []
    for g in [*read_frontier_generations(generations_path), *pool]:
        rows_by_run.setdefault((g["method"], g["setting"], g["split"]), {})[(g["prompt_id"], g["sample"])] = g
    return read_frontier_record(record_path), rows_by_run


def restore_from_record(ctx: Context, work: list[tuple[Run, str]], saved: Saved | None) -> list[str]:
    """Rebuild the missing decoding chunks of ``work`` from a saved record and its generations
    (:func:`read_saved`).

    A fresh clone (or a machine whose cache was lost) then resumes from the committed record instead of
    re-decoding it. A run is restored only if the record's row for it was made under the same cache key
    (its ``key`` equals :meth:`Context.run_key`). Each restored chunk gets the rows of that chunk exactly as
    they were generated and its share (by rows) of the run's recorded decoding and evaluation cost; it is
    marked ``restored``. A trained baseline's stage (training summary, held-out loss, cost) is restored
    with its runs, so a baseline whose runs are all restored is not trained again. A best-of-n pool is
    restored from the pool file (every candidate; the head scores it afresh). Returns the labels of the
    restored runs.
    """
    if saved is None:
        return []
    record, rows_by_run = saved
    settings = {(s["method"], s["setting"], s["split"]): s for s in record.get("settings", [])}
    restored = []
    for run, split in work:
        row = settings.get((run.method, run.setting, split))
        rows = rows_by_run.get((run.method, run.setting, split), {})
        if run.method == "best_of_n":  # its settings (one per n) share the pool, whose rows the pool file holds
            row = next(
                (s for s in record.get("settings", []) if s["method"] == run.method and s["split"] == split), None
            )
        if row is None or ctx.is_cached(run, split):
            continue
        if row.get("key") != ctx.run_key(run, split):
            log.warning("the record's %s %s was made under other settings: not restored", run.label, split)
            continue
        n_rows = len(ctx.data.prompts[split]) * run.per_prompt
        if len(rows) != n_rows:
            continue
        for name, chunk_rows in ctx.chunks(run, split):
            gens = [rows[r] for r in chunk_rows]
            share = len(chunk_rows) / n_rows
            payload = {
                "rows": [list(r) for r in chunk_rows],
                "texts": [g["text"] for g in gens],
                **{field_name: [g[column] for g in gens] for field_name, column in RESTORED_COLUMNS.items()},
                "rewards": {j: [g[f"reward_{j}"] for g in gens] for j in sorted(ctx.judges())},
                **{k: row["cost"][k] * share for k in ("decode_seconds", "decode_flops", "evaluation_seconds")},
                **(
                    {"head": row["heads"][0]}
                    if run.method in HEAD_STEERED and len(row.get("heads", [])) == 1 and row["heads"][0] != UNRECORDED
                    else {}
                ),
                "restored": True,
            }
            ctx.cache.put("chunk", name, payload)
        stage = record.get("stages", {}).get(f"train {run.label}")
        if run.method in TRAINED and stage is not None and ctx.cache.get("stage", ctx.train_key(run)) is None:
            ctx.cache.put("stage", ctx.train_key(run), {**stage, "restored": True})
        restored.append(f"{run.label} {split}")
    return restored


# ------------------------------------------------------------------------------------------ the record


def _matrix(
    chunks: list[dict[str, Any]], name: str, n_prompts: int, per_prompt: int, judge: bool = False
) -> list[list[Any]]:
    """The chunks' per-row values of ``name`` (a judge's rewards with ``judge=True``) as a (prompts, samples) grid."""
    grid: list[list[Any]] = [[None] * per_prompt for _ in range(n_prompts)]
    for chunk in chunks:
        values = chunk["rewards"][name] if judge else chunk[name]
        for (i, j), v in zip(chunk["rows"], values):
            grid[i][j] = v
    return grid


def run_rows(
    run: Run, chunks: list[dict[str, Any]], n_prompts: int, config: FrontierConfig, picked: bool = True
) -> dict[str, dict[str, Any]]:
    """Per setting (best-of-n: one per n, the head's pick of each sample's n candidates; with
    ``picked=False`` the whole pool as one setting) the (prompts, samples) arrays of the chunks, and the texts."""

    def grid(name: str, judge: bool = False) -> list[list[Any]]:
        return _matrix(chunks, name, n_prompts, run.per_prompt, judge)

    arrays = {name: grid(name) for name in ("texts", "mc", "rb", "logp_ref", "tokens")}
    rewards = {j: grid(j, judge=True) for j in sorted(chunks[0]["rewards"])}
    if run.method != "best_of_n" or not picked:
        return {
            run.setting: {
                "arrays": arrays,
                "rewards": rewards,
                "kl": {"rb": arrays["rb"], "mc": arrays["mc"]},
                "value": run.value,
            }
        }
    scores = grid("head_score")
    big = max(config.bon_ns)
    out = {}
    for n in config.bon_ns:
        picks = [
            [j * big + max(range(n), key=lambda k: scores[i][j * big + k]) for j in range(config.samples)]
            for i in range(n_prompts)
        ]
        out[f"n={n}"] = {
            "arrays": {name: _take(values, picks) for name, values in arrays.items()},
            "rewards": {j: _take(v, picks) for j, v in rewards.items()},
            "kl": {"bound": best_of_n_kl_bound(n)},
            "value": float(n),
        }
    return out


def _take(grid: list[list[Any]], picks: list[list[int]]) -> list[list[Any]]:
    """``grid[i][picks[i][j]]`` for every prompt ``i`` and sample ``j``."""
    return [[grid[i][p] for p in row] for i, row in enumerate(picks)]


def heads_of(chunks: list[dict[str, Any]]) -> list[str]:
    """The fingerprints (:attr:`CoalaHead.fingerprint`) of the heads that guided or scored ``chunks``, sorted;
    a chunk decoded before fingerprints were recorded counts as :data:`UNRECORDED`. One entry: one head made
    the whole run; compare it with ``stages.head.fingerprint`` to know whether it is the recorded head."""
    return sorted({chunk.get("head", UNRECORDED) for chunk in chunks})


def assemble(ctx: Context, finished: dict[tuple[Run, str], list[dict[str, Any]]], wall: float, out_dir: Path) -> dict:
    """Summaries of every finished run, the validation choice, the status; record + generations written."""
    config = ctx.config
    settings: list[dict[str, Any]] = []
    generations: list[dict[str, Any]] = []
    pool: list[dict[str, Any]] = []  # every best-of-n candidate, in the generations' columns
    reference_rewards: dict[str, Any] = {}
    book: dict[tuple[str, str, str], Any] = {}  # the primary judge's (P, S) rewards of every setting
    for split in SPLITS:
        ref = next((chunks for (run, s), chunks in finished.items() if run.method == "reference" and s == split), None)
        if ref is not None:
            ref_run = next(run for (run, s) in finished if run.method == "reference" and s == split)
            n = len(ctx.data.prompts[split])
            reference_rewards[split] = run_rows(ref_run, ref, n, config)[ref_run.setting]["rewards"]
    for (run, split), chunks in finished.items():
        n_prompts = len(ctx.data.prompts[split])
        cost = {
            "decode_seconds": sum(c["decode_seconds"] for c in chunks),
            "decode_flops": sum(c["decode_flops"] for c in chunks),
            "evaluation_seconds": sum(c["evaluation_seconds"] for c in chunks),
            "pool_samples_per_prompt": run.per_prompt,
        }
        if run.method == "best_of_n":
            cost["score_seconds"] = sum(c["score_seconds"] for c in chunks)
            pool.extend(
                generation_row(ctx, run.method, run.setting, split, i, j, data["arrays"], data["rewards"])
                for data in run_rows(run, chunks, n_prompts, config, picked=False).values()
                for i in range(n_prompts)
                for j in range(run.per_prompt)
            )
        for setting, data in run_rows(run, chunks, n_prompts, config).items():
            ref = None if run.method == "reference" else reference_rewards.get(split)
            if run.method != "reference" and ref is None:
                continue
            summary = summarise_setting(
                data["rewards"],
                ref,
                data["kl"],
                data["arrays"]["logp_ref"],
                data["arrays"]["tokens"],
                [t for row in data["arrays"]["texts"] for t in row],
                primary="book",
                n_boot=config.n_boot,
                seed=config.seed,
            )
            book[(run.method, setting, split)] = data["rewards"]["book"]
            train_cost = ctx.stages.get(f"train {run.label}", {}).get("cost")
            settings.append(
                {
                    "method": run.method,
                    "setting": setting,
                    "key": ctx.run_key(run, split),
                    "value": data["value"],
                    "split": split,
                    "n_prompts": n_prompts,
                    "samples": config.samples,
                    "kl_kind": "bound" if "bound" in data["kl"] else "estimate",
                    **({"heads": heads_of(chunks)} if run.method in HEAD_GUIDED else {}),
                    **summary,
                    "cost": {**cost, "train": train_cost},
                }
            )
            generations.extend(
                generation_row(ctx, run.method, setting, split, i, j, data["arrays"], data["rewards"])
                for i in range(n_prompts)
                for j in range(config.samples)
            )
    selection = choose(settings, config)
    for row in settings:
        row["selected"] = selection.get(row["method"], {}).get("setting") == row["setting"]
    planned = [f"decode {run.label} {split}" for run in decoding_runs(config) for split in SPLITS]
    landed = [f"decode {run.label} {split}" for (run, split) in finished]
    reference_test = reference_rewards.get("test", {}).get("book")
    paired = paired_against_coala(book, reference_test, selection, config)
    record = {
        **ledger_view(settings, selection, ctx.data.params["n_train_pairs"], config, paired),
        "head_controls": head_controls(book, reference_test, selection, config),
        "name": "imdb_frontier",
        "format": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv).replace(f"{ROOT}/", ""),  # no machine path in the record
        "config": asdict(config),
        "minimums": MINIMUMS,
        "environment": environment_record(),
        "versions": {**package_versions(), "vaderSentiment": LexiconJudge().key},
        "seeds": {"seed": config.seed, "chunk_seed": "int(content_key(run key-first row-end row), 16) % 2**62"},
        "data": portable_paths(ctx.data.params),  # the data files relative to $COALA_DATA_DIR, no machine path
        "stages": ctx.stages,
        "settings": settings,
        "selection": selection,
        "status": {
            "decoding_runs_done": landed,
            "decoding_runs_pending": [p for p in planned if p not in landed],
            "config_meets_minimums": all(config.meets_minimums().values()),
            "complete": not [p for p in planned if p not in landed],
            "wall_seconds_this_invocation": wall,
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in ((GENERATIONS, generations), (POOL, pool)):
        if rows or name == GENERATIONS:
            lines = "".join(json.dumps(g, sort_keys=True) + "\n" for g in rows)
            atomic_write_bytes(out_dir / name, gzip.compress(lines.encode("utf-8"), mtime=0))
    atomic_write_json(out_dir / RECORD, record)
    return record


def generation_row(
    ctx: Context,
    method: str,
    setting: str,
    split: str,
    i: int,
    j: int,
    arrays: dict[str, list[list[Any]]],
    rewards: dict[str, list[list[Any]]],
) -> dict[str, Any]:
    """One line of the generations (or pool) file: sample ``j`` of prompt ``i`` of one setting."""
    return {
        "method": method,
        "setting": setting,
        "split": split,
        "prompt_id": i,
        "sample": j,
        "prompt": ctx.data.prompts[split][i],
        "text": arrays["texts"][i][j],
        **{f"reward_{k}": v[i][j] for k, v in rewards.items()},
        **{column: arrays[name][i][j] for name, column in RESTORED_COLUMNS.items()},
    }


#: Ledger names of the methods whose headline win rates the claims rule reads (COALA = paper mode; the
#: ``pool`` control is no rival, the rule reads it to say whether the head adds to the truncation).
LEDGER_NAMES = {"coala_paper": "coala", "pool": "pool", "dpo": "dpo", "orpo": "orpo", "simpo": "simpo", "sft": "sft"}


def headline_setting(method: str, available: list[str], selection: dict[str, dict[str, Any]]) -> str | None:
    """The setting of ``method`` whose test row is its headline: the validation choice if its test row is
    among ``available``; none when validation excluded every setting (:func:`choose`); the only setting
    when no validation rule ran; else none."""
    if method in selection:
        chosen = selection[method]["setting"]
        return chosen if chosen in available else None
    return available[0] if len(available) == 1 else None


def headline_on_test(
    book: dict[tuple[str, str, str], Any], method: str, selection: dict[str, dict[str, Any]]
) -> str | None:
    """:func:`headline_setting` of ``method`` among its settings with test rows in ``book``."""
    return headline_setting(method, [s for (m, s, split) in book if m == method and split == "test"], selection)


def paired_on_test(
    book: dict[tuple[str, str, str], Any],
    first: tuple[str, str],
    second: tuple[str, str],
    reference: Any,
    config: FrontierConfig,
) -> dict[str, Any]:
    """:func:`paired_difference` of two (method, setting) test rows against the same reference samples."""
    return paired_difference(book[(*first, "test")], book[(*second, "test")], reference, config.n_boot, config.seed)


def paired_against_coala(
    book: dict[tuple[str, str, str], Any],
    reference: Any,
    selection: dict[str, dict[str, Any]],
    config: FrontierConfig,
) -> dict[str, dict[str, Any]]:
    """COALA's headline test win rate minus each other ledger method's (:func:`paired_difference`, the same
    reference samples and prompts), by the ledger name of the rival; empty without COALA's headline."""
    coala = headline_on_test(book, "coala_paper", selection)
    if reference is None or coala is None:
        return {}
    out = {}
    for method, name in LEDGER_NAMES.items():
        setting = headline_on_test(book, method, selection)
        if method == "coala_paper" or setting is None:
            continue
        diff = paired_on_test(book, ("coala_paper", coala), (method, setting), reference, config)
        out[name] = {**diff, "coala_setting": coala, "setting": setting}
    return out


def head_controls(
    book: dict[tuple[str, str, str], Any],
    reference: Any,
    selection: dict[str, dict[str, Any]],
    config: FrontierConfig,
) -> dict[str, dict[str, Any]]:
    """Each guided mode's headline test win rate minus its no-head control's (:data:`HEAD_CONTROLS`;
    :func:`paired_difference` on the same prompts and reference samples): what the head adds to the
    truncation. The null is 0; a mode or control without test rows is left out."""
    if reference is None:
        return {}
    out = {}
    for mode, control in HEAD_CONTROLS.items():
        setting, control_setting = headline_on_test(book, mode, selection), headline_on_test(book, control, selection)
        if setting is None or control_setting is None:
            continue
        diff = paired_on_test(book, (mode, setting), (control, control_setting), reference, config)
        out[mode] = {**diff, "setting": setting, "control": control, "control_setting": control_setting}
    return out


def ledger_view(
    settings: list[dict[str, Any]],
    selection: dict[str, dict[str, Any]],
    train_pairs: int,
    config: FrontierConfig,
    paired: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What :mod:`coala_lib.claims.verdicts` reads: per method the test win rate at its validation-chosen
    setting (``win_rate``, ``win_low``, ``win_high`` Wilson, ``win_boot_*``, ``n``) and ``paired``, COALA's
    win rate minus each rival's on the same prompts (:func:`paired_against_coala`). Written only once COALA
    and at least one trained baseline have test results, so a partial record never compares COALA with
    nothing."""
    rates: dict[str, dict[str, Any]] = {}
    for method, name in LEDGER_NAMES.items():
        candidates = [r for r in settings if r["method"] == method and r["split"] == "test"]
        setting = headline_setting(method, [r["setting"] for r in candidates], selection)
        row = next((r for r in candidates if r["setting"] == setting), None)
        if row is not None:
            keys = ("win_rate", "win_low", "win_high", "win_boot_low", "win_boot_high", "n", "setting")
            rates[name] = {k: row[k] for k in keys}
    if "coala" not in rates or not set(rates) - {"coala", "pool"}:
        return {}
    chosen = selection.get("coala_paper", {})
    return {
        "win_rates": rates,
        "paired_differences": paired or {},
        "train_pairs": train_pairs,
        "epochs": config.baseline_epochs,
        "lambda_selection": {"split": "validation", "judge": "book", "chosen": chosen.get("setting")},
    }


def choose(settings: list[dict[str, Any]], config: FrontierConfig) -> dict[str, dict[str, Any]]:
    """Per method with validation rows: the rule of :func:`select_setting` (never test prompts). A method
    none of whose settings passes the fluency guard gets ``setting: None`` and the reason (``excluded``):
    it keeps its rows on the frontier but has no headline, so no win-rate comparison reads it."""
    ref = next((r for r in settings if r["method"] == "reference" and r["split"] == "validation"), None)
    if ref is None:
        return {}
    rule = (
        f"highest validation win rate among settings with perplexity <= {config.perplexity_guard:g} x the "
        "reference's; ties: smaller KL"
    )
    out: dict[str, dict[str, Any]] = {}
    for method in sorted({r["method"] for r in settings} - {"reference"}):
        rows = [r for r in settings if r["method"] == method and r["split"] == "validation"]
        if not rows:
            continue
        best = select_setting(rows, ref["perplexity"], config.perplexity_guard)
        if best is not None:
            out[method] = {"setting": best["setting"], "validation_win_rate": best["win_rate"], "rule": rule}
        else:
            lowest = min(r["perplexity"] for r in rows)
            out[method] = {
                "setting": None,
                "validation_win_rate": None,
                "rule": rule,
                "excluded": f"no setting passes the fluency guard: validation perplexity {lowest:.0f} at best, "
                f"limit {config.perplexity_guard:g} x the reference's {ref['perplexity']:.0f}",
            }
    return out


# ------------------------------------------------------------------------------------------ main


def run_frontier(
    config: FrontierConfig,
    device: str = "auto",
    out_dir: Path = DEFAULT_OUT,
    cache_root: str | None = None,
    data_dir: str | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) every stage in the order of value; the record is rewritten after each one."""
    start = time.monotonic()
    seed_everything(config.seed)
    dev = resolve_device(device)
    root = cache_dir(cache_root) / "imdb_frontier"
    ctx = Context(
        config,
        dev,
        Cache(root),
        load_data(config, data_dir),
        data_dir=data_dir,
        cache_root=cache_root,
        progress=progress,
        deadline=start + 60 * max_minutes if max_minutes is not None else math.inf,
    )
    saved = read_saved(out_dir)  # before the first rewrite: what it holds can be restored into the cache
    finished: dict[tuple[Run, str], list[dict[str, Any]]] = {}
    shared: list[Callable[[], Any]] = [ctx.reference, ctx.judges]
    if any(m in config.methods for m in ("best_of_n", "coala_paper", "coala_args")):
        shared.append(ctx.head)
    for stage in shared:  # the record is rewritten as each one lands
        stage()
        record = assemble(ctx, finished, time.monotonic() - start, out_dir)
    work = [(run, split) for run in decoding_runs(config) for split in SPLITS]
    for label in restore_from_record(ctx, work, saved):
        log.info("restored %s from the record under %s", label, out_dir)
    cached = {item: ctx.is_cached(*item) for item in work}
    work.sort(key=lambda item: not cached[item])  # stable: what earlier runs left lands first, whatever the budget
    for i, (run, split) in enumerate(tqdm(work, desc="frontier", unit="run", disable=not progress)):
        chunks = ctx.decode(run, split)  # None once the budget is spent before a chunk still to compute
        if chunks is None:
            log.warning(
                "time budget spent: stopping before %s %s finished (resume with the same command)", run.label, split
            )
            break
        finished[(run, split)] = ctx.scored(run, split, chunks) if run.method == "best_of_n" else chunks
        if i + 1 == len(work) or not cached[work[i + 1]]:  # the record is rewritten before any new work
            record = assemble(ctx, finished, time.monotonic() - start, out_dir)
    return record


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="backbone alias or path (default smollm2; tiny with --scale tiny)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--scale", choices=["full", "tiny"], default="full", help="tiny: the test configuration")
    p.add_argument("--methods", nargs="+", default=None, choices=METHODS, help="a subset, run in the order of value")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of record.json and generations.jsonl.gz")
    p.add_argument("--cache-dir", default=None, help="cache root (default $COALA_CACHE_DIR or ~/.cache/coala)")
    p.add_argument("--data-dir", default=None, help="IMDb files (default $COALA_DATA_DIR, else the Hub)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after the chunk that crosses this budget")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override any FrontierConfig field")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> FrontierConfig:
    config = FrontierConfig(**(TINY if args.scale == "tiny" else {}))
    changes: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(FrontierConfig)}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in types:
            raise SystemExit(f"--set {item!r}: {name!r} is not a FrontierConfig field; fields: {sorted(types)}")
        current = getattr(config, name)
        if isinstance(current, tuple):
            kind = type(current[0]) if current else float
            changes[name] = tuple(v if kind is str else kind(v) for v in value.split(",") if v)
        else:
            changes[name] = type(current)(value)
    if args.model:
        changes["model"] = args.model
    if args.methods:
        changes["methods"] = tuple(m for m in METHODS if m in args.methods)
    return replace(config, **changes)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(args)
    record = run_frontier(
        config, args.device, args.out, args.cache_dir, args.data_dir, args.max_minutes, progress=not args.quiet
    )
    status = record["status"]
    print(
        f"{len(status['decoding_runs_done'])} decoding runs done, {len(status['decoding_runs_pending'])} pending; "
        f"record: {args.out / RECORD}"
    )
    return record


if __name__ == "__main__":
    main()
