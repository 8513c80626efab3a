"""The head as a reranker: scores of whole (prompt, response) texts.

A best-of-n pool is sampled from the reference alone; the head only picks among it. Scoring a finished
response the way the head's training pairs were featurised,

.. math::  s(x, y) = w_2^\\top \\big(W_1 \\tilde f(\\mathrm{render}(x, y))\\big)_+,

keeps the pool independent of the head: a new head re-scores the same pool (one forward pass per text)
instead of sampling it again.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from coala_lib.backbone.features import pooled_features, render
from coala_lib.backbone.registry import Backbone
from coala_lib.head.coala_head import CoalaHead


@torch.no_grad()
def score_responses(
    backbone: Backbone,
    head: CoalaHead,
    prompts: Sequence[str],
    responses: Sequence[str],
    max_length: int,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Head scores (n,) on the CPU of ``render(prompt, response)`` for each aligned pair, featurised as the
    head's training texts are (:func:`~coala_lib.backbone.features.pooled_features`, the head's pooling)."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses; give one response per prompt")
    if head.model_id != backbone.model_id:
        raise ValueError(
            f"the head was trained on {head.model_id!r} features but the backbone is {backbone.model_id!r}; "
            "score with the backbone the head was trained on"
        )
    texts = [render(backbone.tokenizer, p, r) for p, r in zip(prompts, responses)]
    features = pooled_features(backbone, texts, max_length=max_length, pooling=head.pooling, batch_size=batch_size)
    return head.score(features.to(head.W1.device)).cpu()
