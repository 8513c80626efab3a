"""Masked pooling of last-layer hidden states into one feature vector per text.

The same function serves feature extraction for training and reward-guided decoding, so the
head always sees features built the same way (the reference code trains on one pooling and
decodes with another).

* ``mean``: :math:`f = \\sum_t m_t h_t / \\sum_t m_t` over real (unpadded) tokens.
* ``last``: :math:`f = h_{t^*}` with :math:`t^*` the last real token (works for left or right padding).
"""

from __future__ import annotations

import torch

POOLINGS: tuple[str, ...] = ("mean", "last")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str) -> torch.Tensor:
    """Pool ``hidden`` (B, T, d) over the tokens where ``attention_mask`` (B, T) is 1 into (B, d).

    ``method`` is one of :data:`POOLINGS` (it usually comes from a saved head or a JSON config, so it
    is checked here rather than typed as a literal).
    """
    if hidden.ndim != 3:
        raise ValueError(f"hidden must have shape (batch, tokens, dim), got {tuple(hidden.shape)}")
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} does not match hidden's "
            f"(batch, tokens) = {tuple(hidden.shape[:2])}"
        )
    mask = attention_mask.to(hidden.dtype)
    counts = mask.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError("a row of attention_mask has no real token; every text needs at least one token")
    if method == "mean":
        summed = torch.einsum("btd,bt->bd", hidden.float(), mask.float())
        return (summed / counts.float().unsqueeze(1)).to(hidden.dtype)
    if method == "last":
        positions = torch.arange(hidden.shape[1], device=hidden.device).expand_as(attention_mask)
        last = torch.where(attention_mask.bool(), positions, -1).max(dim=1).values
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling={method!r} is not supported; choose one of {POOLINGS}")
