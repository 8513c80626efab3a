"""The frontier's stages, sharing one :class:`Context`: the reference policy (Stage 0), the judges (1), the
COALA head (2), the LM-updating baselines (3), decoding (4) and the best-of-n pool's scores.

Each stage is cached by content (:class:`~coala_lib.experiments.frontier.cache.Cache`); its key holds
:data:`~coala_lib.experiments.frontier.config.VERSION` and everything the stage's result depends on.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from coala_lib.accounting.counting import measure
from coala_lib.backbone.features import triplets_digest
from coala_lib.backbone.registry import Backbone, load_backbone
from coala_lib.backbone.sft import SFTConfig, apply_sft
from coala_lib.baselines.trl_training import BaselineConfig, load_policy, train_or_load_baseline
from coala_lib.core.files import content_key
from coala_lib.core.runtime import progress_off
from coala_lib.data import load_imdb_reviews
from coala_lib.data.frontier_splits import FrontierData
from coala_lib.evaluation.frontier import heldout_preference
from coala_lib.evaluation.kl import (
    KLTerms,
    SamplingRecorder,
    policy_kl_terms,
    recorded_kl_terms,
    reference_kl_terms,
)
from coala_lib.evaluation.lexicon import LexiconJudge
from coala_lib.evaluation.sentiment import SentimentJudge
from coala_lib.experiments.frontier.cache import Cache, chunk_seed
from coala_lib.experiments.frontier.config import VERSION, FrontierConfig
from coala_lib.experiments.frontier.methods import frontier_method, head_steered, is_trained
from coala_lib.experiments.frontier.runs import Run, eos_ids, sampler
from coala_lib.guidance import encode_prompts, guided_generate
from coala_lib.head import HeadConfig, HeadReport, train_or_load_head
from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.scoring import score_responses
from coala_lib.head.training import PIPELINE_VERSION


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
        """Whether the run's time budget (``deadline``, on :func:`time.monotonic`'s clock) is spent."""
        return time.monotonic() > self.deadline

    # Stage 0: the reference policy -------------------------------------------------------------
    def reference(self) -> Backbone:
        """The reference policy: the backbone after one epoch of LoRA SFT on ``data.sft`` (loaded once)."""
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
        """The reward judges by name: ``book`` (the book's sentiment classifier) and ``vader`` (a lexicon)."""
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
        """The COALA head trained on the training pairs' reference features (loaded once; sets ``head_key``)."""
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
        """The training settings of ``run``'s baseline: the shared ones of the config, and the method's own
        settings of the run (:meth:`~coala_lib.experiments.frontier.methods.FrontierMethod.settings_of_run`) in
        their key form."""
        settings = frontier_method(run.method).settings_of_run(self.config, run.setting)
        return BaselineConfig(
            **settings.key_fields(),
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
        """The cache key of ``run`` on ``split``: the run, the prompts, the reference, the sampler, the seed,
        the head (steered runs), the baseline's settings and pairs (trained runs) and the judges."""
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
        if head_steered(run.method):
            self.head()
            parts.append(self.head_key)
        if is_trained(run.method):
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
        if is_trained(run.method) and not missing:  # every chunk cached: the adapter is not needed, its record is
            stage = self.cache.get("stage", self.train_key(run))
            if stage is not None:
                self.stages[f"train {run.label}"] = stage
        adapter = self.train(run) if is_trained(run.method) and missing else None
        if missing:
            policy = load_policy(self.reference(), adapter, merge=True) if adapter is not None else None
            bar = tqdm(
                missing, desc=f"{run.label} {split}", unit="chunk", disable=progress_off(self.progress), leave=False
            )
            for c in bar:
                if self.out_of_time():
                    return None
                done[c] = self.cache.put("chunk", names[c], self.decode_chunk(run, split, chunks[c], policy, names[c]))
        return [entry for entry in done if entry is not None]

    def decode_chunk(self, run: Run, split: str, rows: list[tuple[int, int]], policy: Any, name: str) -> dict[str, Any]:
        """Sample the (prompt, sample) ``rows`` of chunk ``name`` (seeded by :func:`chunk_seed` of its name)
        and evaluate them: the KL terms to the reference (:mod:`coala_lib.evaluation.kl`), the judges'
        rewards and the cost."""
        reference = self.reference()
        tok = reference.tokenizer
        prompts = [self.data.prompts[split][i] for i, _ in rows]
        ids, mask = encode_prompts(tok, prompts, self.device)
        config = sampler(self.config, run, reference.model.config.vocab_size)
        generator = torch.Generator(self.device).manual_seed(chunk_seed(name))
        model = policy if policy is not None else reference.model
        head = self.head() if head_steered(run.method) else None
        # any support up to the whole vocabulary is recorded (the released script's top-p runs over all of it)
        recorder = SamplingRecorder(max_support=reference.model.config.vocab_size)
        with measure("decode", self.device) as cost, recorder.record():
            out = guided_generate(
                model, tok, head=head, config=config, generator=generator, input_ids=ids, attention_mask=mask
            )
        started = time.perf_counter()
        eos = eos_ids(model, tok)
        terms: KLTerms
        if frontier_method(run.method).recorded_kl:  # the distributions as recorded (shifted, truncated)
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
    """What the record keeps of a baseline's training log: the steps, the first and last loss, the mean loss and
    train accuracy over the last 10 % of steps (at least one), the loss curve, the epochs and the runtime."""
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
