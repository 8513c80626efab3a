"""Pairwise accuracy: the one definition every stage uses.

For row-aligned scores :math:`s_{c,i}` (chosen) and :math:`s_{r,i}` (rejected) of :math:`n` prompt-matched pairs,

.. math:: \\mathrm{acc} = \\frac1n \\sum_{i=1}^n \\Big( [s_{c,i} > s_{r,i}] + \\tfrac12 [s_{c,i} = s_{r,i}] \\Big),

so a **tie counts one half**: a scorer that cannot tell the two apart (e.g. all-zero weights) gets exactly
0.5, chance, rather than 0. With continuous scores ties have probability zero and the value equals the
strict share of pairs ranked correctly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


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
