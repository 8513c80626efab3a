"""Implicit rewards of trained baselines on held-out pairs, computed by our code the same way for every method,
so that one pairwise accuracy compares them all (each method's reward is its
:attr:`~coala_lib.baselines.methods.PreferenceMethod.reward`; COALA's is its head score, :func:`head_rewards`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from coala_lib.backbone.features import pooled_features, prompt_text, render, tokenize
from coala_lib.backbone.registry import Backbone
from coala_lib.baselines.methods import MethodSettings, preference_method
from coala_lib.baselines.training_step import PairBatch, sequence_logps
from coala_lib.baselines.trl_training import BaselineConfig, BaselineResult, load_policy, train_grid
from coala_lib.core.runtime import progress_off
from coala_lib.data.schema import Triplet
from coala_lib.head.coala_head import CoalaHead


def _check_triplets(triplets: Sequence[Triplet]) -> None:
    if len(triplets) == 0:
        raise ValueError("triplets is empty: pass the held-out triplets (e.g. pipeline.load_splits)")


@dataclass
class PairRewards:
    """Row-aligned rewards of held-out pairs: ``chosen[i]`` and ``rejected[i]`` answer the same prompt."""

    method: str
    chosen: torch.Tensor
    rejected: torch.Tensor

    @property
    def margins(self) -> torch.Tensor:
        return self.chosen - self.rejected


def pair_batch(tokenizer: Any, triplets: Sequence[Triplet], max_length: int) -> PairBatch:
    """Prompt + chosen rows then prompt + rejected rows, left-truncated to ``max_length``, with the response
    tokens marked (the rendering of :func:`coala_lib.backbone.features.render`). Rows are *right*-padded, so every
    real token keeps its position whatever the position encoding (GPT-2's absolute positions included)."""
    unlimited = 1_000_000
    texts = [render(tokenizer, t.prompt, t.chosen) for t in triplets] + [
        render(tokenizer, t.prompt, t.rejected) for t in triplets
    ]
    prompts = tokenize(tokenizer, [prompt_text(tokenizer, t.prompt) for t in triplets] * 2, unlimited)
    full = tokenize(tokenizer, texts, unlimited)
    n_response = [max(0, min(len(ids) - len(p), max_length)) for ids, p in zip(full, prompts)]
    rows = [ids[-max_length:] for ids in full]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    response = torch.zeros_like(input_ids)
    for i, (ids, k) in enumerate(zip(rows, n_response)):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention[i, : len(ids)] = 1
        response[i, len(ids) - k : len(ids)] = 1
    return PairBatch(input_ids, attention, response)


@torch.no_grad()
def response_logps(
    policy: Any,
    tokenizer: Any,
    triplets: Sequence[Triplet],
    max_length: int = 128,
    batch_size: int = 8,
    reference: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed response log-probabilities and response lengths, each ``(2, n)`` float32 on the CPU
    (row 0: chosen, row 1: rejected). ``reference=True`` evaluates ``policy`` with its LoRA adapters
    disabled (:math:`\\pi_{ref}`)."""
    policy.eval()
    logps, counts = [], []
    starts = range(0, len(triplets), batch_size)
    for start in tqdm(starts, desc="log-probs", disable=progress_off(progress), leave=False):
        batch = pair_batch(tokenizer, triplets[start : start + batch_size], max_length)
        device = next(policy.parameters()).device
        rows = tuple(t.to(device) for t in batch.rows())
        if reference:
            with policy.disable_adapter():
                lp, cnt = sequence_logps(policy, *rows)
        else:
            lp, cnt = sequence_logps(policy, *rows)
        logps.append(lp.float().cpu().view(2, -1))
        counts.append(cnt.float().cpu().view(2, -1))
    return torch.cat(logps, dim=1), torch.cat(counts, dim=1)


@dataclass
class HeldOutLogProbs:
    """What a method's loss and reward need on held-out pairs, each ``(2, n)`` (row 0 chosen, row 1 rejected):
    the policy's summed response log-probabilities, the response lengths and, for a method that
    ``uses_reference``, the reference's (the policy with its adapters disabled), else ``None``."""

    logps: torch.Tensor
    counts: torch.Tensor
    reference: torch.Tensor | None


def heldout_logps(
    method: str,
    policy: Any,
    tokenizer: Any,
    triplets: Sequence[Triplet],
    max_length: int = 128,
    batch_size: int = 8,
    progress: bool = False,
) -> HeldOutLogProbs:
    """:class:`HeldOutLogProbs` of a trained ``policy`` (a PEFT model) for ``method`` on ``triplets``."""
    spec = preference_method(method)
    _check_triplets(triplets)
    logps, counts = response_logps(policy, tokenizer, triplets, max_length, batch_size, progress=progress)
    ref = None
    if spec.uses_reference:
        ref, _ = response_logps(policy, tokenizer, triplets, max_length, batch_size, reference=True, progress=progress)
    return HeldOutLogProbs(logps, counts, ref)


def settings_from(method: str, settings: MethodSettings | Mapping[str, Any] | float) -> MethodSettings:
    """``method``'s typed settings from typed settings, a key-form mapping or a bare key-form ``beta``."""
    if isinstance(settings, MethodSettings):
        return settings
    values = settings if isinstance(settings, Mapping) else {"beta": float(settings)}
    return preference_method(method).settings_of(values)


def implicit_rewards(
    method: str,
    policy: Any,
    tokenizer: Any,
    triplets: Sequence[Triplet],
    beta: MethodSettings | Mapping[str, Any] | float,
    max_length: int = 128,
    batch_size: int = 8,
    progress: bool = False,
) -> PairRewards:
    """The method's implicit reward (:attr:`~coala_lib.baselines.methods.PreferenceMethod.reward`) for a trained
    ``policy`` (a PEFT model) on ``triplets``; ``beta`` is the run's settings (:func:`settings_from`)."""
    held = heldout_logps(method, policy, tokenizer, triplets, max_length, batch_size, progress)
    reward = preference_method(method).reward(held.logps, held.counts, held.reference, settings_from(method, beta))
    return PairRewards(method, reward[0], reward[1])


def head_rewards(
    backbone: Backbone, head: CoalaHead, triplets: Sequence[Triplet], max_length: int = 128
) -> PairRewards:
    """COALA's reward: the head score :math:`s` of the pooled features of prompt + chosen and prompt + rejected."""
    _check_triplets(triplets)
    texts = [render(backbone.tokenizer, t.prompt, t.chosen) for t in triplets]
    texts += [render(backbone.tokenizer, t.prompt, t.rejected) for t in triplets]
    scores = head.score(pooled_features(backbone, texts, max_length, head.pooling)).float().cpu()
    n = len(triplets)
    return PairRewards("coala", scores[:n], scores[n:])


def sweep(
    backbone: Backbone,
    train: Sequence[Triplet],
    heldout: Sequence[Triplet],
    grids: Mapping[str, Mapping[str, Sequence[float]]],
    config: BaselineConfig = BaselineConfig(),
    cache_root: str | Path | None = None,
) -> dict[str, tuple[BaselineResult, PairRewards]]:
    """Train (or load) every method of ``grids`` at every grid point on ``train`` and compute its implicit
    rewards on ``heldout``; keys are ``"dpo beta=0.1"``-style labels."""
    out: dict[str, tuple[BaselineResult, PairRewards]] = {}
    for label, result in train_grid(backbone, train, grids, config, cache_root).items():
        method, beta = result.method, float(result.params["beta"])
        policy = load_policy(backbone, result.adapter_dir)
        rewards = implicit_rewards(method, policy, backbone.tokenizer, heldout, beta, config.max_length)
        out[label] = (result, rewards)
    return out
