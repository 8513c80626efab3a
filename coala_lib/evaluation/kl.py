"""Sequence-level KL divergence of a sampler to the reference policy, from exact per-token log-probs.

A sampler draws a continuation :math:`y = (y_1, \\dots, y_T)` of prompt :math:`x` token by token from
distributions :math:`q_t(\\cdot) = q(\\cdot \\mid x, y_{<t})`; the reference policy has
:math:`p_t(\\cdot) = \\pi_{ref}(\\cdot \\mid x, y_{<t})`. By the chain rule

.. math::
    \\mathrm{KL}(q \\,\\|\\, \\pi_{ref}) = \\mathbb{E}_{y \\sim q} \\sum_t \\log \\frac{q_t(y_t)}{p_t(y_t)}
    = \\mathbb{E}_{y \\sim q} \\sum_t \\mathrm{KL}(q_t \\,\\|\\, p_t),

so every sampled continuation gives two unbiased estimates of the sequence KL:

* ``mc``: :math:`\\hat K_{mc}(y) = \\sum_t [\\log q_t(y_t) - \\log p_t(y_t)]` (the log-ratio of the sample);
* ``rb``: :math:`\\hat K_{rb}(y) = \\sum_t \\sum_v q_t(v) [\\log q_t(v) - \\log p_t(v)]` (Rao-Blackwellised: the
  last draw of every step is averaged out exactly, so it is never negative and has lower variance).

Both need :math:`q_t` *as it was sampled*: for reward-guided decoding that is the shifted distribution at
scored steps (pool, min-max normalised head scores, guidance scale) and the filtered one in between,
recorded by :class:`SamplingRecorder` from the very logits the sampler drew from; for a plain sampler
with no truncation (temperature 1, no top-k/top-p, no repetition penalty) :math:`q_t` is the sampling
model's own softmax, recomputed by one teacher-forced forward. :math:`p_t` is always the reference
model's full softmax from one teacher-forced forward over the prompt and the continuation. Both need
:math:`q_t \\ll p_t` (the support of :math:`q_t` inside that of :math:`p_t`), true here because the
reference softmax gives every token positive mass. The mean over samples estimates the sequence KL; an
interval comes from a bootstrap over prompts (:mod:`coala_lib.evaluation.frontier`).

Best-of-n has no per-token sampling distribution. Its KL to the distribution it draws from obeys
:math:`\\mathrm{KL} \\le \\log n - (n-1)/n` (Beirami et al. 2024), :func:`best_of_n_kl_bound`, reported as a bound.

Positions after a row's end of sequence (its EOS token, kept) are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from coala_lib.guidance import decoding as _decoding
from coala_lib.guidance.lm import position_ids

#: Largest recorded support per step; a wider one means an untruncated sampler (use teacher forcing).
MAX_RECORDED_SUPPORT = 4096


@dataclass
class KLTerms:
    """Per-sequence sums (each ``(B,)``, float64): both KL estimates, the reference and sampler
    log-probabilities of the sampled tokens and the number of counted tokens."""

    mc: torch.Tensor
    rb: torch.Tensor
    logp_ref: torch.Tensor
    logq: torch.Tensor
    tokens: torch.Tensor

    def to_lists(self) -> dict[str, list[float]]:
        return {name: getattr(self, name).tolist() for name in ("mc", "rb", "logp_ref", "logq", "tokens")}


def step_kl(q_logprobs: torch.Tensor, p_logprobs: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_v q(v) [\\log q(v) - \\log p(v)]` per row of ``(..., V)`` log-probabilities; entries with
    :math:`q(v) = 0` (``-inf``) contribute 0. Raises if :math:`q` puts mass where :math:`p` has none."""
    q = q_logprobs.exp()
    support = q > 0
    if bool((support & torch.isneginf(p_logprobs)).any()):
        raise ValueError("q puts mass on a token the reference gives probability 0: the KL is infinite")
    diff = torch.where(support, q_logprobs - p_logprobs, torch.zeros_like(q_logprobs))
    return (q * diff).sum(dim=-1)


def generated_mask(new_tokens: torch.Tensor, eos_ids: list[int] | torch.Tensor) -> torch.Tensor:
    """``(B, T)`` mask of the counted positions: every generated token up to and including the first EOS."""
    eos = torch.as_tensor(list(eos_ids) if not isinstance(eos_ids, torch.Tensor) else eos_ids, dtype=torch.long)
    is_eos = torch.isin(new_tokens, eos.to(new_tokens.device))
    ended_before = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0
    return ~ended_before


@torch.no_grad()
def teacher_forced_logprobs(
    model: Any, sequences: torch.Tensor, prompt_mask: torch.Tensor, new_mask: torch.Tensor
) -> torch.Tensor:
    """Log-softmax ``(B, T, V)`` (float32) of ``model``'s next-token logits at each generated position.

    ``sequences`` are the left-padded prompt ids followed by the ``T`` generated ids; ``prompt_mask`` marks
    the prompt's real tokens and ``new_mask`` the counted generated ones (later positions are masked out).
    """
    prompt_length = prompt_mask.shape[1]
    mask = torch.cat([prompt_mask.long(), new_mask.long()], dim=1).to(sequences.device)
    out = model(input_ids=sequences, attention_mask=mask, position_ids=position_ids(mask), use_cache=False)
    logits = out.logits[:, prompt_length - 1 : -1].float()
    return logits.log_softmax(dim=-1)


def terms_from_logprobs(
    q_logprobs: torch.Tensor, p_logprobs: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
) -> KLTerms:
    """:class:`KLTerms` from full ``(B, T, V)`` sampler and reference log-probabilities of the sampled ``tokens``."""
    idx = tokens[..., None]
    logq = q_logprobs.gather(-1, idx).squeeze(-1).double()
    logp = p_logprobs.gather(-1, idx).squeeze(-1).double()
    rb = step_kl(q_logprobs.double(), p_logprobs.double())
    return _sum_terms(logq, logp, rb, mask)


def _sum_terms(logq: torch.Tensor, logp: torch.Tensor, rb: torch.Tensor, mask: torch.Tensor) -> KLTerms:
    m = mask.to(logq.device).bool()
    zero = torch.zeros_like(logq)
    if bool((m & torch.isneginf(logq)).any()):
        raise ValueError("a sampled token has probability 0 under the recorded sampler: the record does not match")
    return KLTerms(
        mc=torch.where(m, logq - logp, zero).sum(1).cpu(),
        rb=torch.where(m, rb, zero).sum(1).cpu(),
        logp_ref=torch.where(m, logp, zero).sum(1).cpu(),
        logq=torch.where(m, logq, zero).sum(1).cpu(),
        tokens=m.double().sum(1).cpu(),
    )


@torch.no_grad()
def policy_kl_terms(
    policy: Any,
    reference: Any,
    sequences: torch.Tensor,
    prompt_mask: torch.Tensor,
    eos_ids: list[int],
    row_chunk: int = 8,
) -> KLTerms:
    """KL terms of continuations sampled from ``policy``'s own softmax (temperature 1, no truncation, no
    repetition penalty): :math:`q_t` and :math:`p_t` both by teacher forcing. ``policy is reference`` gives 0."""
    prompt_length = prompt_mask.shape[1]
    new = sequences[:, prompt_length:]
    mask = generated_mask(new, eos_ids)
    parts = []
    for start in range(0, sequences.shape[0], row_chunk):
        rows = slice(start, start + row_chunk)
        p = teacher_forced_logprobs(reference, sequences[rows], prompt_mask[rows], mask[rows])
        q = (
            p
            if policy is reference
            else teacher_forced_logprobs(policy, sequences[rows], prompt_mask[rows], mask[rows])
        )
        parts.append(terms_from_logprobs(q, p, new[rows], mask[rows]))
    return _concat(parts)


def _concat(parts: list[KLTerms]) -> KLTerms:
    return KLTerms(*(torch.cat([getattr(p, n) for p in parts]) for n in ("mc", "rb", "logp_ref", "logq", "tokens")))


@dataclass
class RecordedSteps:
    """The sampler at every step: the log-probability of the drawn token ``(B,)``, whether the distribution
    was untruncated (every token finite), and, when its support is small enough, the support ids and their
    log-probabilities ``(B, k_t)`` (padding slots: id 0 with ``-inf``; ``None`` for a wider support)."""

    chosen: list[torch.Tensor] = field(default_factory=list)
    untruncated: list[bool] = field(default_factory=list)
    ids: list[torch.Tensor | None] = field(default_factory=list)
    logq: list[torch.Tensor | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.chosen)


class SamplingRecorder:
    """Records the distribution every draw of :func:`coala_lib.guidance.guided_generate` is made from.

    The decoding loop draws each token with :func:`coala_lib.guidance.sampling.sample` from
    ``softmax(logits)``; inside :meth:`record` every such call is seen: the drawn token's log-probability
    is kept, and the support of the distribution (the finite logits) with its log-probabilities when it
    has at most ``max_support`` tokens. Greedy decoding draws nothing, so nothing is recorded for it
    (its distribution is a point mass) and the KL functions then refuse the record.
    """

    def __init__(self, max_support: int = MAX_RECORDED_SUPPORT) -> None:
        self.max_support = max_support
        self.steps = RecordedSteps()

    def _wrap(self, original: Any) -> Any:
        def recording_sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
            finite = torch.isfinite(logits)
            k = int(finite.sum(dim=-1).max())
            norm = torch.logsumexp(logits, dim=-1, keepdim=True)
            token = original(logits, generator)
            self.steps.chosen.append((logits.gather(-1, token[:, None]) - norm).squeeze(-1).double().cpu())
            self.steps.untruncated.append(bool(finite.all()))
            if k > self.max_support:
                self.steps.ids.append(None)
                self.steps.logq.append(None)
                return token
            values, ids = torch.topk(logits, k, dim=-1)
            keep = torch.isfinite(values)
            self.steps.ids.append(torch.where(keep, ids, torch.zeros_like(ids)).cpu())
            self.steps.logq.append(torch.where(keep, values - norm, torch.full_like(values, -math.inf)).float().cpu())
            return token

        return recording_sample

    @contextmanager
    def record(self) -> Iterator[RecordedSteps]:
        """Record the draws made inside the block (one decoding call); the steps are returned."""
        original = _decoding.sample
        self.steps = RecordedSteps()
        _decoding.sample = self._wrap(original)
        try:
            yield self.steps
        finally:
            _decoding.sample = original


@torch.no_grad()
def recorded_kl_terms(
    steps: RecordedSteps,
    reference: Any,
    sequences: torch.Tensor,
    prompt_mask: torch.Tensor,
    eos_ids: list[int],
    row_chunk: int = 8,
) -> KLTerms:
    """KL terms of continuations whose sampler distributions were recorded (:class:`SamplingRecorder`);
    :math:`p_t` by teacher-forcing ``reference`` over the prompt and the continuation."""
    prompt_length = prompt_mask.shape[1]
    new = sequences[:, prompt_length:]
    _check_steps(steps, new.shape[1])
    if any(ids is None for ids in steps.ids[: new.shape[1]]):
        raise ValueError(
            f"a recorded step has a support wider than {MAX_RECORDED_SUPPORT} tokens (an untruncated sampler): "
            "estimate its KL by teacher forcing (policy_kl_terms), or reference_kl_terms for the reference itself"
        )
    mask = generated_mask(new, eos_ids)
    parts = []
    for start in range(0, sequences.shape[0], row_chunk):
        rows = slice(start, start + row_chunk)
        p = teacher_forced_logprobs(reference, sequences[rows], prompt_mask[rows], mask[rows]).double()
        tok = new[rows].to(p.device)
        logq_tok, logp_tok, rb = [], [], []
        for t in range(new.shape[1]):
            ids = _present(steps.ids[t])[rows].to(p.device)
            lq = _present(steps.logq[t])[rows].to(p.device).double()
            lp = p[:, t].gather(-1, ids)
            rb.append(step_kl(lq, lp))
            hit = ids == tok[:, t, None]
            logq_tok.append(torch.where(hit, lq, torch.full_like(lq, -math.inf)).max(dim=-1).values)
            logp_tok.append(p[:, t].gather(-1, tok[:, t, None]).squeeze(-1))
        parts.append(_sum_terms(torch.stack(logq_tok, 1), torch.stack(logp_tok, 1), torch.stack(rb, 1), mask[rows]))
    return _concat(parts)


def reference_kl_terms(
    steps: RecordedSteps, sequences: torch.Tensor, prompt_length: int, eos_ids: list[int]
) -> KLTerms:
    """KL terms of continuations drawn from the *reference's own* untruncated softmax (temperature 1, no
    top-k/top-p, no repetition penalty): :math:`q_t = p_t`, so both estimates are exactly 0 and the
    reference log-probabilities are the recorded ones (no second forward). Refuses truncated steps."""
    new = sequences[:, prompt_length:]
    _check_steps(steps, new.shape[1])
    if not all(steps.untruncated[: new.shape[1]]):
        raise ValueError("a recorded step was truncated (top-k/top-p): its sampler is not the reference's softmax")
    logq = torch.stack(steps.chosen[: new.shape[1]], dim=1)
    return _sum_terms(logq, logq, torch.zeros_like(logq), generated_mask(new, eos_ids))


def _check_steps(steps: RecordedSteps, generated: int) -> None:
    if len(steps) < generated:
        raise ValueError(f"{len(steps)} recorded steps for {generated} generated tokens: record the whole decode")


def _present(tensor: torch.Tensor | None) -> torch.Tensor:
    if tensor is None:  # excluded by recorded_kl_terms' check
        raise ValueError("a recorded step has no support")
    return tensor


def best_of_n_kl_bound(n: int) -> float:
    """:math:`\\log n - (n - 1)/n`: the upper bound on the KL of best-of-n to its base sampler."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return math.log(n) - (n - 1) / n
