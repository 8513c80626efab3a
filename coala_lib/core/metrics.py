"""Pairwise accuracy: the one definition every stage uses.

For row-aligned scores :math:`s_{c,i}` (chosen) and :math:`s_{r,i}` (rejected) of :math:`n` prompt-matched pairs,

.. math:: \\mathrm{acc} = \\frac1n \\sum_{i=1}^n \\Big( [s_{c,i} > s_{r,i}] + \\tfrac12 [s_{c,i} = s_{r,i}] \\Big),

so a **tie counts one half**: a scorer that cannot tell the two apart (e.g. all-zero weights) gets exactly
0.5, chance, rather than 0. With continuous scores ties have probability zero and the value equals the
strict share of pairs ranked correctly. The per-pair terms are the outcomes
:math:`o_i \\in \\{1, \tfrac12, 0\\}` (:func:`outcomes_from_scores`), which win rates count too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

WIN, TIE, LOSS = 1.0, 0.5, 0.0


def pairwise_accuracy(
    chosen: torch.Tensor | np.ndarray | Sequence[float], rejected: torch.Tensor | np.ndarray | Sequence[float]
) -> float:
    """Share of pairs with ``chosen[i] > rejected[i]``, a tie counting one half (module docstring)."""
    c, r = _scores(chosen), _scores(rejected)
    if c.shape != r.shape or c.numel() == 0:
        raise ValueError(
            f"chosen and rejected must be non-empty scores of one shape (entry i of each from the same "
            f"prompt), got shapes {tuple(c.shape)} and {tuple(r.shape)}"
        )
    return float(((c > r).double() + 0.5 * (c == r).double()).mean())


def _scores(values: torch.Tensor | np.ndarray | Sequence[float]) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().double().cpu()
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def outcomes_from_scores(
    a: Sequence[float] | np.ndarray | torch.Tensor,
    b: Sequence[float] | np.ndarray | torch.Tensor,
    tie_tolerance: float = 0.0,
) -> np.ndarray:
    """Outcomes of A against B from pointwise scores (higher is better): :data:`WIN`, :data:`LOSS`, or
    :data:`TIE` when :math:`|a-b| \\le` ``tie_tolerance``."""
    sa, sb = _scores(a).numpy().ravel(), _scores(b).numpy().ravel()
    if sa.shape != sb.shape:
        raise ValueError(f"a and b must hold one score per judgment each, got {sa.shape} and {sb.shape}")
    if tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be >= 0, got {tie_tolerance}")
    diff = sa - sb
    return np.where(np.abs(diff) <= tie_tolerance, TIE, np.where(diff > 0, WIN, LOSS))
