"""The sampler: logit processing, candidate pools, score normalisation and the guided reweighting.

All functions act on a batch of next-token logits ``(B, V)``; filtered-out tokens carry ``-inf``.
The processing order and arithmetic follow transformers' ``generate(do_sample=True)``: repetition
penalty, temperature, top-k, top-p, then ``torch.multinomial`` on the softmax, so that plain sampling
here and there draw the same tokens from the same seed.

* Repetition penalty (CTRL, Keskar et al. 2019): for every token id present in the prefix,
  :math:`\\ell \\mapsto \\ell / \\rho` if :math:`\\ell > 0` else :math:`\\ell \\rho`. The released COALA script
  instead divides every seen token's logit by :math:`\\rho` whatever its sign (:func:`divide_seen`), which
  *raises* a negative logit.
* Top-k keeps the logits :math:`\\ge` the k-th largest; top-p keeps the smallest high-probability set
  whose mass reaches p (tokens whose ascending cumulative mass is :math:`\\le 1 - p` are dropped).
* Min-max normalisation within a pool :math:`P`: :math:`\\hat s_c = (s_c - \\min_P s) / (\\max_P s - \\min_P s)`,
  and :math:`\\hat s = 0` when all scores in the pool are equal.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def repetition_penalty(
    logits: torch.Tensor, token_ids: torch.Tensor, token_mask: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Penalise every token id that occurs in the real (``token_mask == 1``) prefix tokens."""
    if penalty == 1.0:
        return logits
    ids = token_ids.masked_fill(token_mask == 0, logits.shape[-1])  # padding goes to a spare column
    widened = torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], dim=1)
    seen = torch.gather(widened, 1, ids)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return widened.scatter(1, ids, seen)[:, :-1]


def divide_seen(logits: torch.Tensor, token_ids: torch.Tensor, token_mask: torch.Tensor, factor: float) -> torch.Tensor:
    """The released script's rule: every token id in the real prefix has its logit divided by ``factor``."""
    if factor == 1.0:
        return logits
    ids = token_ids.masked_fill(token_mask == 0, logits.shape[-1])  # padding goes to a spare column
    widened = torch.cat([logits, logits.new_zeros(logits.shape[0], 1)], dim=1)
    return widened.scatter(1, ids, torch.gather(widened, 1, ids) / factor)[:, :-1]


def released_shift(
    logits: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor, bonus: torch.Tensor, temperature: float, top_p: float
) -> torch.Tensor:
    """The released script's guided logits: ``bonus`` added to the pool ids *before* the temperature, every
    other token kept, then the top-p nucleus of the whole vocabulary: ``top_p((z + b) / T)``."""
    shifted = logits.scatter_add(1, ids, torch.where(valid, bonus, torch.zeros_like(bonus)))
    return top_p_filter(shifted / temperature, top_p)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits per row (ties with the k-th value are kept); ``k`` at least the vocabulary
    keeps every logit without sorting (a full-vocabulary sort was a fifth of a plain decoding step here)."""
    if k >= logits.shape[-1]:
        return logits
    threshold = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most probable tokens until their mass reaches ``p`` (at least one)."""
    if p >= 1.0:
        return logits
    ascending, order = torch.sort(logits, dim=-1)
    mass_below = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = mass_below <= 1 - p
    drop_sorted[..., -1] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def sampling_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Temperature, then top-k, then top-p: the logits plain sampling draws from."""
    return top_p_filter(top_k_filter(logits / temperature, top_k), top_p)


def sample(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row from ``softmax(logits)`` (``-inf`` = excluded), as transformers draws it."""
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def pool_of(logits: torch.Tensor, max_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidate pool of each row: the token ids with finite logits, best first.

    Returns ``(ids, valid)`` of shape ``(B, k)`` with ``k`` the largest pool in the batch (at most
    ``max_size``); slots past a row's pool repeat its best token and have ``valid = False``.
    """
    sizes = torch.isfinite(logits).sum(dim=-1)
    k = int(sizes.max())
    if max_size is not None:
        k = min(k, max_size)
    values, ids = torch.topk(logits, k, dim=-1)
    valid = torch.isfinite(values)
    ids = torch.where(valid, ids, ids[:, :1])
    return ids, valid


def minmax_normalise(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Min-max normalise ``scores`` (B, k) over the ``valid`` slots of each row; 0 where undefined."""
    low = scores.masked_fill(~valid, float("inf")).min(dim=-1, keepdim=True).values
    high = scores.masked_fill(~valid, NEG_INF).max(dim=-1, keepdim=True).values
    spread = high - low
    normalised = (scores - low) / torch.where(spread > 0, spread, torch.ones_like(spread))
    return torch.where(valid & (spread > 0), normalised, torch.zeros_like(scores))


def add_to_pool(logits: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor, bonus: torch.Tensor) -> torch.Tensor:
    """``logits`` with ``bonus`` (B, k) added at the valid pool ids and ``-inf`` outside the pool."""
    values = torch.gather(logits, 1, ids) + bonus
    values = values.masked_fill(~valid, NEG_INF)
    # invalid slots repeat a valid id with -inf: "amax" keeps the valid value whatever the order
    return torch.full_like(logits, NEG_INF).scatter_reduce(1, ids, values, reduce="amax")
