"""Reward-guided decoding with the COALA head (paper App. H.3), its ablations, and best-of-n.

Interface (transformers' conventions): prompts as strings or as left-padded ``input_ids`` +
``attention_mask``; a :class:`~coala_lib.guidance.config.GuidanceConfig`; a ``torch.Generator`` for
the draws; the result holds ``sequences`` (prompt + generated ids, like ``generate``), the decoded
``texts`` and a per-step trace of the pools and head scores. It is a decoding loop rather than a
``LogitsProcessor`` because a processor sees only ids and logits: it could not reuse the KV cache
or the hidden states, so it would have to re-run the model for every candidate (the naive path).

One step, for a row whose prefix is :math:`x`, with processed logits :math:`z` (repetition penalty,
temperature :math:`T`, top-k, top-p; see :mod:`coala_lib.guidance.sampling`) and head score
:math:`s(\\cdot)` of the pooled last-layer features:

* plain: :math:`v \\sim \\mathrm{softmax}(z)`.
* ``paper`` (every N-th token, plain in between): pool :math:`P = \\{v: z_v > -\\infty\\}`,
  :math:`\\hat s_v` = min-max of :math:`s(xv)` over :math:`P`, and
  :math:`v \\sim \\mathrm{softmax}(z_v + \\lambda \\hat s_v)` over :math:`P`. The paper only says the
  scores "reweight" the candidates with scale :math:`\\lambda`; we implement it as this logit shift,
  i.e. :math:`p'_v \\propto p_v e^{\\lambda \\hat s_v}`. The released script tilts the same way but by
  :math:`\\lambda / T` (it adds before the temperature) over the whole vocabulary's nucleus, with its own
  repetition rule and every 6th token (:class:`~coala_lib.guidance.config.GuidanceConfig` lists the differences).
* ``additive``: the pool is the top-k of :math:`z` before top-p; the shift is applied, then top-p.
* ``released``: the released script: :math:`z` = logits with every seen token's logit divided by the
  penalty; pool = the top-k of :math:`z`; :math:`v \\sim \\mathrm{softmax}(\\mathrm{top}_p((z + \\lambda \\hat s)/T))` over
  the whole vocabulary, on the 6th, 12th, ... token; plain steps draw from :math:`\\mathrm{top}_p(z / T)`.
* ``args``: every token, :math:`r_v = \\log p(v \\mid x) + w\\, s(xv)` over the top-k of the
  repetition-penalised log-probabilities; greedy :math:`\\arg\\max r`, or :math:`\\mathrm{softmax}(r / T)`.
* ``best_of_n``: n plain samples per prompt, keep the one whose final pooled features score highest.

With :math:`\\lambda = 0` the draws (one ``multinomial`` over the batch per token, like ``generate``)
are exactly those of plain sampling under the same generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from coala_lib.backbone.features import prompt_text, tokenize
from coala_lib.core.runtime import progress_off
from coala_lib.guidance.config import GuidanceConfig
from coala_lib.guidance.lm import CachedPrefix, Prefix, RecomputedPrefix
from coala_lib.guidance.sampling import (
    add_to_pool,
    divide_seen,
    minmax_normalise,
    pool_of,
    released_shift,
    repetition_penalty,
    sample,
    sampling_logits,
    top_k_filter,
    top_p_filter,
)
from coala_lib.head.coala_head import CoalaHead

#: The modes that guide sampled steps with the head (``best_of_n`` reranks whole samples instead).
STEP_MODES: tuple[str, ...] = ("paper", "additive", "released", "args")


@dataclass
class GuidedStep:
    """One scored step: candidate ids, validity, their processed LM logits (``args``: log-probabilities),
    raw and normalised head scores (all B, k) and the chosen ids (B,)."""

    step: int
    candidates: torch.Tensor
    valid: torch.Tensor
    logits: torch.Tensor
    scores: torch.Tensor
    normalised: torch.Tensor
    chosen: torch.Tensor


@dataclass
class GenerationOutput:
    """What :func:`guided_generate` returns.

    ``sequences`` (B, prompt + new) are the left-padded prompt ids followed by the generated ids
    (``pad_token_id`` after a row's EOS); ``final_scores`` are the head scores of each whole text's
    pooled features (``None`` without a head); ``steps`` is the trace of scored steps; ``stats``
    counts model work (``processed_tokens``: token positions fed through the model).
    """

    sequences: torch.Tensor
    texts: list[str]
    prompt_length: int
    final_scores: torch.Tensor | None
    steps: list[GuidedStep] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def new_tokens(self) -> torch.Tensor:
        return self.sequences[:, self.prompt_length :]


def encode_prompts(
    tokenizer: Any, prompts: Sequence[str], device: torch.device | str = "cpu", max_length: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render and tokenize ``prompts`` as feature extraction does (:func:`coala_lib.backbone.features.prompt_text`,
    chat template when the tokenizer has one), left-padded -> (input_ids, attention_mask)."""
    if isinstance(prompts, str) or not len(prompts):
        raise ValueError("prompts must be a non-empty list of strings")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = tokenize(tokenizer, [prompt_text(tokenizer, p) for p in prompts], max_length)
    if any(len(e) == 0 for e in encoded):
        raise ValueError("a prompt encodes to no token; give every prompt some text")
    width = max(len(e) for e in encoded)
    ids = torch.tensor([[pad_id] * (width - len(e)) + e for e in encoded], device=device)
    mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=device)
    return ids, mask


def _first(attribute: str, *sources: Any) -> Any:
    return next((getattr(s, attribute) for s in sources if getattr(s, attribute, None) is not None), None)


def _special_ids(model: PreTrainedModel, tokenizer: Any | None) -> tuple[int, list[int]]:
    """(pad id, EOS ids): pad from the tokenizer first, EOS from the generation config first (as ``generate``)."""
    pad = _first("pad_token_id", tokenizer, model.generation_config, model.config)
    eos = _first("eos_token_id", model.generation_config, model.config, tokenizer)
    eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    if pad is None and not eos_ids:
        raise ValueError("neither the tokenizer nor the model names a pad or EOS token; set tokenizer.pad_token")
    return int(eos_ids[0] if pad is None else pad), eos_ids


def _check_head(model: PreTrainedModel, head: CoalaHead | None, config: GuidanceConfig) -> str:
    """Validate the head against the model and the config; return the pooling to use."""
    if head is None:
        # lambda = 0 needs no head: a step mode then samples as its own unguided steps (its no-head control)
        if config.needs_head and not (config.mode in STEP_MODES and config.guidance_scale == 0):
            raise ValueError(
                f"mode={config.mode!r} needs a head; pass head=CoalaHead(...), use mode='plain', or "
                "guidance_scale=0 (the mode's own sampler without the head)"
            )
        return config.pooling or "mean"
    dim = model.get_output_embeddings().weight.shape[1]
    if head.dim != dim:
        raise ValueError(
            f"the head expects {head.dim}-dimensional features but the model's last layer has "
            f"{dim}; use a head trained on this backbone"
        )
    if config.pooling is not None and config.pooling != head.pooling:
        raise ValueError(
            f"config.pooling={config.pooling!r} but the head was trained on {head.pooling!r} "
            f"features; set pooling=None (use the head's) or {head.pooling!r}"
        )
    return head.pooling


def _score(head: CoalaHead, features: torch.Tensor) -> torch.Tensor:
    """Head scores of features (..., d) -> (...)."""
    return head.score(features.reshape(-1, features.shape[-1])).reshape(features.shape[:-1])


def _guided_token(
    prefix: Prefix,
    head: CoalaHead,
    penalised: torch.Tensor,
    config: GuidanceConfig,
    generator: torch.Generator | None,
    step: int,
) -> tuple[torch.Tensor, GuidedStep]:
    """One scored step of the ``paper``, ``additive``, ``released`` or ``args`` mode."""
    if config.mode == "args":
        logprobs = penalised.log_softmax(dim=-1)
        ids, valid = pool_of(top_k_filter(logprobs, config.top_k), config.top_k)
        scores = _score(head, prefix.candidate_features(ids))
        ranked = add_to_pool(logprobs, ids, valid, config.guidance_scale * scores)
        token = ranked.argmax(dim=-1) if config.greedy else sample(ranked / config.temperature, generator)
        return token, GuidedStep(step, ids, valid, logprobs.gather(1, ids), scores, scores, token)
    if config.mode == "released":
        ids, valid = pool_of(top_k_filter(penalised, config.top_k), config.top_k)
        scores = _score(head, prefix.candidate_features(ids))
        normalised = minmax_normalise(scores, valid)
        shifted = released_shift(
            penalised, ids, valid, config.guidance_scale * normalised, config.temperature, config.top_p
        )
        token = sample(shifted, generator)
        return token, GuidedStep(step, ids, valid, penalised.gather(1, ids), scores, normalised, token)
    tempered = penalised / config.temperature
    if config.mode == "paper":
        base = sampling_logits(penalised, config.temperature, config.top_k, config.top_p)
    else:
        base = top_k_filter(tempered, config.top_k)
    ids, valid = pool_of(base)
    scores = _score(head, prefix.candidate_features(ids))
    normalised = minmax_normalise(scores, valid)
    shifted = add_to_pool(base, ids, valid, config.guidance_scale * normalised)
    if config.mode == "additive":
        shifted = top_p_filter(shifted, config.top_p)
    token = sample(shifted, generator)
    return token, GuidedStep(step, ids, valid, base.gather(1, ids), scores, normalised, token)


def _decode(
    model: PreTrainedModel,
    head: CoalaHead | None,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    config: GuidanceConfig,
    pooling: str,
    generator: torch.Generator | None,
    eos: torch.Tensor,
    pad_id: int,
    progress: bool,
) -> tuple[Prefix, list[GuidedStep]]:
    """The token loop shared by every mode; returns the final prefixes and the trace."""
    if config.use_cache:
        prefix: Prefix = CachedPrefix(model, input_ids, attention_mask, pooling)
    else:
        prefix = RecomputedPrefix(model, input_ids, attention_mask, pooling)
    eos = eos.to(input_ids.device)
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    steps: list[GuidedStep] = []
    guided_mode = config.mode in STEP_MODES
    released = config.mode == "released"
    penalty = divide_seen if released else repetition_penalty
    for step in tqdm(range(config.max_new_tokens), desc=f"decode ({config.mode})", disable=progress_off(progress)):
        penalised = penalty(prefix.logits, prefix.input_ids, prefix.attention_mask, config.repetition_penalty)
        # the released script's counter guides the every-th token (6th, 12th, ...); the others the 1st, (N+1)th, ...
        scored = config.mode == "args" or (step + int(released)) % config.every == 0
        if head is not None and guided_mode and scored:
            token, record = _guided_token(prefix, head, penalised, config, generator, step)
            steps.append(record)
        elif released:
            token = sample(top_p_filter(penalised / config.temperature, config.top_p), generator)
        else:
            token = sample(sampling_logits(penalised, config.temperature, config.top_k, config.top_p), generator)
        token = torch.where(finished, torch.full_like(token, pad_id), token)
        prefix.append(token, ~finished)
        finished = finished | torch.isin(token, eos)
        if bool(finished.all()):
            break
    return prefix, steps


@torch.no_grad()
def guided_generate(
    model: PreTrainedModel,
    tokenizer: Any | None,
    prompts: Sequence[str] | None = None,
    *,
    head: CoalaHead | None = None,
    config: GuidanceConfig = GuidanceConfig(),
    generator: torch.Generator | None = None,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    progress: bool = False,
) -> GenerationOutput:
    """Decode from ``prompts`` (or left-padded ``input_ids`` + ``attention_mask``) as ``config`` says.

    ``generator`` seeds every draw (pass ``torch.Generator(device).manual_seed(seed)``); the model is
    used frozen and in eval mode; ``head`` is required by every mode but ``plain``. ``tokenizer`` may
    be ``None`` with ``input_ids`` (no texts are decoded; pad/EOS ids come from the model's config).
    """
    pooling = _check_head(model, head, config)
    device = model.get_output_embeddings().weight.device
    if prompts is not None and input_ids is None:
        if tokenizer is None:
            raise ValueError("prompts need a tokenizer; pass one or give input_ids")
        input_ids, attention_mask = encode_prompts(tokenizer, prompts, device)
    elif prompts is not None or input_ids is None:
        raise ValueError("pass either prompts (strings) or input_ids (+ attention_mask), not both or neither")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    pad_id, eos_ids = _special_ids(model, tokenizer)
    eos = torch.tensor([] if config.ignore_eos else eos_ids, dtype=torch.long)
    model.eval()
    repeats = config.num_samples if config.mode == "best_of_n" else 1
    ids, mask = input_ids.repeat_interleave(repeats, 0), attention_mask.repeat_interleave(repeats, 0)
    prefix, steps = _decode(model, head, ids, mask, config, pooling, generator, eos, pad_id, progress)
    generated = prefix.input_ids[:, input_ids.shape[1] :]  # finished rows already hold pad_id
    scores = _score(head, prefix.features()) if head is not None else None
    stats: dict[str, Any] = {
        "processed_tokens": prefix.processed_tokens,
        "mode": config.mode,
        "use_cache": config.use_cache,
    }
    if config.mode == "best_of_n" and scores is not None:  # best_of_n needs a head: scores exist
        per_prompt = scores.view(-1, repeats)
        best = per_prompt.argmax(dim=1)
        generated = generated[torch.arange(per_prompt.shape[0], device=best.device) * repeats + best]
        scores = per_prompt.max(dim=1).values
        stats.update(candidate_scores=per_prompt, chosen_sample=best)
    return GenerationOutput(
        sequences=torch.cat([input_ids, generated], dim=1),
        texts=tokenizer.batch_decode(generated, skip_special_tokens=True) if tokenizer else [],
        prompt_length=input_ids.shape[1],
        final_scores=scores,
        steps=steps,
        stats=stats,
    )
