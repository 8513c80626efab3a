"""Win rates, their intervals, length statistics and a length-controlled win rate; reward-margin statistics.

**Outcomes.** One judgment of system A against system B is an outcome :math:`o \\in \\{1, \\tfrac12, 0\\}`
(A wins, tie, A loses). Ties are kept explicit and reported two ways: ``ties="half"`` counts a tie as
half a win, :math:`\\hat p = (W + T/2) / n`; ``ties="exclude"`` drops ties, :math:`\\hat p = W / (W + L)`.

**Intervals.** The Wilson score interval for :math:`\\hat p` over :math:`n` judgments at level :math:`1-\\alpha`
(:math:`z = \\Phi^{-1}(1 - \\alpha/2)`),

.. math:: \\frac{\\hat p + \\frac{z^2}{2n} \\pm z\\sqrt{\\frac{\\hat p(1-\\hat p)}{n} + \\frac{z^2}{4n^2}}}{1 + z^2/n},

which stays inside :math:`[0, 1]` and keeps its coverage for small :math:`n` or :math:`\\hat p` near 0 or 1. The Wald
interval :math:`\\hat p \\pm z\\sqrt{\\hat p(1-\\hat p)/n}` is given for comparison with the paper, which computes it
with :math:`n` = the number of *raters* (107) although each rater made many judgments. With ties counted
as halves :math:`W + T/2` need not be an integer; the formulas are used as they stand.

**Length control.** Judges (human and LLM) favour longer answers. :func:`length_controlled_win_rate` fits the
logistic regression :math:`P(\\text{win}) = \\sigma(b_0 + b_1 \\Delta)` with :math:`\\Delta` the length difference
(A minus B, in words, divided by its standard deviation so :math:`b_1` is per s.d.), a tie entering as half a
win and half a loss, and reports :math:`\\sigma(b_0)`: the win rate predicted at equal length, with a
Wald interval for :math:`b_0` from the inverse Fisher information mapped through :math:`\\sigma`. AlpacaEval 2's
length-controlled win rate differs in its details: a GLM per model with instruction-difficulty and model
terms, a tanh of the standardised length difference, fitted against a leaderboard of models.

**Reward margins.** For pairs with rewards :math:`r_c, r_r` of the chosen and rejected responses and
margins :math:`m_i = r_{c,i} - r_{r,i}`: the pairwise accuracy :math:`\\frac1n\\sum_i (1[m_i > 0] + \\tfrac12 1[m_i = 0])`;
the paper's COALA curve :math:`\\frac1n\\sum_i \\sigma(m_i)` (scale-dependent); and our comparable score, the
sigmoid of the standardised margin :math:`\\frac1n\\sum_i \\sigma(m_i / \\sqrt{\\overline{m^2}})`, which does
not change when a method's rewards are multiplied by any positive constant (e.g. DPO's :math:`\\beta`), lies in
:math:`(0, 1)`, equals 0.5 when margins are symmetric about zero and :math:`\\sigma(1) \\approx 0.731` when all are equal and positive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from coala_lib.core.metrics import LOSS, TIE, WIN, pairwise_accuracy

Ties = Literal["half", "exclude"]


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (e.g. 0.95), got {level}")
    return float(norm.ppf(0.5 + level / 2))


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the module docstring for ``successes`` out of ``n`` (``n > 0``)."""
    if n <= 0:
        raise ValueError(f"n must be positive (the number of judgments), got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n] = [0, {n}], got {successes}")
    z, p = _z(level), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wald_interval(p: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wald interval :math:`\\hat p \\pm z\\sqrt{\\hat p(1-\\hat p)/n}` (not clipped, as the paper reports it)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be a proportion in [0, 1], got {p}")
    half = _z(level) * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def as_outcomes(outcomes: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    """``outcomes`` as a float array, checked to hold only 1 (win), 0.5 (tie) and 0 (loss)."""
    array = np.asarray(outcomes.cpu() if isinstance(outcomes, torch.Tensor) else outcomes, dtype=float).ravel()
    if array.size == 0:
        raise ValueError("outcomes is empty: there is no judgment to count")
    if not np.isin(array, (WIN, TIE, LOSS)).all():
        raise ValueError(
            "outcomes must be 1 (win), 0.5 (tie) or 0 (loss); convert judge scores with outcomes_from_scores"
        )
    return array


@dataclass(frozen=True)
class WinRate:
    """Counts, both tie conventions with Wilson intervals, and the Wald interval over ``n_raters`` if given."""

    wins: int
    ties: int
    losses: int
    rate: float
    low: float
    high: float
    rate_excluding_ties: float
    low_excluding_ties: float
    high_excluding_ties: float
    wald_low: float = math.nan
    wald_high: float = math.nan
    n_raters: int | None = None

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    def to_dict(self) -> dict[str, float | int | None]:
        return {**asdict(self), "n": self.n}


def win_rate(
    outcomes: Sequence[float] | np.ndarray | torch.Tensor, level: float = 0.95, n_raters: int | None = None
) -> WinRate:
    """Win rate of A over B from ``outcomes`` (module docstring), ties as halves and excluded.

    ``n_raters`` adds the paper's Wald interval of the ties-as-half rate computed with ``n = n_raters``.
    Without decisive judgments the excluding-ties rate is NaN.
    """
    o = as_outcomes(outcomes)
    wins, ties, losses = int((o == WIN).sum()), int((o == TIE).sum()), int((o == LOSS).sum())
    rate = (wins + ties / 2) / o.size
    low, high = wilson_interval(wins + ties / 2, o.size, level)
    decisive = wins + losses
    if decisive:
        excl, (elow, ehigh) = wins / decisive, wilson_interval(wins, decisive, level)
    else:
        excl = elow = ehigh = math.nan
    wald = wald_interval(rate, n_raters, level) if n_raters is not None else (math.nan, math.nan)
    return WinRate(wins, ties, losses, rate, low, high, excl, elow, ehigh, wald[0], wald[1], n_raters)


def win_rate_table(outcomes: Mapping[str, Sequence[float] | np.ndarray], level: float = 0.95) -> pd.DataFrame:
    """One row per comparison name (e.g. ``"COALA vs base"``) with every field of :class:`WinRate`."""
    if not outcomes:
        raise ValueError("outcomes is empty: pass {comparison name: outcomes}")
    rows = [{"comparison": name, **win_rate(o, level).to_dict()} for name, o in outcomes.items()]
    return pd.DataFrame(rows).set_index("comparison")


def word_lengths(texts: Sequence[str]) -> np.ndarray:
    """Length of each text in whitespace-separated words."""
    return np.array([len(t.split()) for t in texts], dtype=float)


def length_stats(texts: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per system: number of texts and the mean, s.d., median, min and max length in words."""
    rows = []
    for name, items in texts.items():
        lengths = word_lengths(items)
        if lengths.size == 0:
            raise ValueError(f"system {name!r} has no texts")
        rows.append(
            {
                "system": name,
                "n": lengths.size,
                "mean_words": lengths.mean(),
                "sd_words": lengths.std(ddof=0),
                "median_words": float(np.median(lengths)),
                "min_words": lengths.min(),
                "max_words": lengths.max(),
            }
        )
    return pd.DataFrame(rows).set_index("system")


@dataclass(frozen=True)
class LengthControlled:
    """:math:`\\sigma(b_0)` with its interval, the slope :math:`b_1` per s.d. of length difference, and that s.d."""

    rate: float
    low: float
    high: float
    slope: float
    length_sd: float
    n: int


def length_controlled_win_rate(
    outcomes: Sequence[float] | np.ndarray,
    length_difference: Sequence[float] | np.ndarray,
    level: float = 0.95,
    max_iters: int = 100,
) -> LengthControlled:
    """The length-controlled win rate of the module docstring, by Newton's method on the weighted log-likelihood.

    ``length_difference[i]`` is len(A) - len(B) for judgment ``i``. Separable data (e.g. A wins exactly
    when it is longer) has no finite maximum-likelihood fit and raises a ``ValueError``.
    """
    o = as_outcomes(outcomes)
    delta = np.asarray(length_difference, dtype=float).ravel()
    if delta.shape != o.shape:
        raise ValueError(f"length_difference must have one entry per outcome ({o.size}), got {delta.size}")
    scale = float(delta.std()) or 1.0
    X = np.column_stack([np.ones_like(delta), delta / scale])
    # a tie is half a win and half a loss: each row enters as a win with weight o and a loss with weight 1 - o
    beta = np.zeros(2)
    separable = ValueError("the outcomes are (nearly) separable by length: no finite length-controlled fit exists")
    for _ in range(max_iters):
        p = 1 / (1 + np.exp(-X @ beta))
        hess = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, X.T @ (o - p))
        except np.linalg.LinAlgError:
            raise separable from None
        beta += step
        if np.abs(beta).max() > 30 or not np.isfinite(beta).all():
            raise separable
        if np.abs(step).max() < 1e-10:
            break
    p = 1 / (1 + np.exp(-X @ beta))
    cov = np.linalg.inv((X * (p * (1 - p))[:, None]).T @ X)
    half = _z(level) * math.sqrt(cov[0, 0])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    return LengthControlled(sig(beta[0]), sig(beta[0] - half), sig(beta[0] + half), float(beta[1]), scale, o.size)


# ------------------------------------------------------------------------------------------ reward margins


def _margins(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    c, r = torch.as_tensor(chosen).double().ravel(), torch.as_tensor(rejected).double().ravel()
    if c.shape != r.shape or c.numel() == 0:
        raise ValueError(
            f"chosen and rejected must be non-empty and row-aligned, got {tuple(c.shape)}, {tuple(r.shape)}"
        )
    return c - r


def mean_sigmoid_margin(chosen: torch.Tensor, rejected: torch.Tensor) -> float:
    """:math:`\\overline{\\sigma(r_c - r_r)}`: the quantity the paper plots for COALA (depends on the reward scale)."""
    return float(torch.sigmoid(_margins(chosen, rejected)).mean())


def standardized_margin_score(chosen: torch.Tensor, rejected: torch.Tensor) -> float:
    """:math:`\\overline{\\sigma(m / \\sqrt{\\overline{m^2}})}`: scale-free, comparable across methods (0.5 if all margins are 0)."""
    m = _margins(chosen, rejected)
    rms = float(m.square().mean().sqrt())
    if rms == 0:
        return 0.5
    return float(torch.sigmoid(m / rms).mean())


def margin_summary(rewards: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> pd.DataFrame:
    """Per method (``{name: (chosen, rejected)}``): pairwise accuracy, standardised-margin score, the raw
    mean margin and mean sigmoid margin (the paper's mixed-scale quantities), and the number of pairs."""
    rows = []
    for name, (c, r) in rewards.items():
        m = _margins(c, r)
        rows.append(
            {
                "method": name,
                "pairs": m.numel(),
                "pairwise_accuracy": pairwise_accuracy(c, r),
                "standardized_margin_score": standardized_margin_score(c, r),
                "mean_margin": float(m.mean()),
                "mean_sigmoid_margin": mean_sigmoid_margin(c, r),
            }
        )
    return pd.DataFrame(rows).set_index("method")
