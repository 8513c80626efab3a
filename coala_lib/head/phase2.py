"""Phase II: the convex COALA preference loss on the frozen first layer, solved to a certified optimum.

With :math:`W_1` frozen, every text has fixed features :math:`h = (W_1 \\tilde f)_+ \\in \\mathbb R^m` and score
:math:`s = \\theta^\\top h`. Both objectives below are logistic losses with an offset,

.. math:: L(\\theta) = \\frac1N \\sum_{i=1}^N \\log\\big(1 + e^{\\gamma - \\beta z_i^\\top \\theta}\\big)
          + \\frac{\\lambda}{2}\\|\\theta\\|^2,

and differ only in the rows :math:`z_i` of the design (:func:`design`):

* ``pointwise`` (paper eq. 9): :math:`N = 2n` rows :math:`z = y\\,h` with :math:`y = +1` for every chosen text and
  :math:`-1` for every rejected text; the prompt pairing is not used at all.
* ``pairwise`` (prompt-matched Bradley-Terry, the default): :math:`N = n` rows :math:`z_i = h_{c,i} - h_{r,i}`, the
  chosen and rejected responses to the same prompt. ``pairing="random"`` pairs chosen :math:`i` with the
  rejected text of a random other prompt (what the reference code does); it exists to show the effect.

The offset :math:`\\gamma` is not an intercept: a logistic intercept :math:`b` enters as :math:`-y b` and changes sign
with the label, whereas :math:`\\gamma` enters with the same sign for every row, asking every row to clear a
margin. Off-the-shelf logistic solvers (scikit-learn) therefore cannot express it; the tests compare
against scipy with the offset written out, and against scikit-learn at :math:`\\gamma = 0`. The reference
code's extra margin :math:`m` (``log(1 + exp(m - (...)))``) is the same family with :math:`\\gamma + m` in place of
:math:`\\gamma`, so it needs no option of its own.

:math:`L` is convex and smooth (its Hessian is :math:`\\frac{\\beta^2}{N} Z^\\top \\mathrm{diag}(\\sigma(1-\\sigma)) Z + \\lambda I`),
strongly convex when :math:`\\lambda > 0`. :func:`solve_newton` runs damped Newton to a gradient-norm
tolerance; for :math:`\\lambda > 0` the certified sub-optimality is :math:`L(\\theta) - L^* \\le \\|\\nabla L\\|^2 / (2\\lambda)`.
:func:`train_adamw` is the paper's practical solver (AdamW, lr 1e-4, batch 128), logging per step the
reward margin on the training pairs: the mean score margin :math:`\\overline{s_c - s_r}` and the mean
:math:`\\overline{\\sigma(s_c - s_r)}` (the quantity the paper plots for COALA).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from coala_lib.core.metrics import pairwise_accuracy
from coala_lib.core.runtime import progress_off

OBJECTIVES: tuple[str, ...] = ("pairwise", "pointwise")
PAIRINGS: tuple[str, ...] = ("matched", "random")


@dataclass
class PhaseIIResult:
    """A Phase II solution: ``theta`` (m,), final objective and gradient norm, per-step history."""

    theta: torch.Tensor
    loss: float
    grad_norm: float
    iterations: int
    converged: bool
    solver: str
    gap_bound: float = math.inf
    history: dict[str, list[float]] = field(default_factory=dict)


def _check_pair(h_chosen: torch.Tensor, h_rejected: torch.Tensor) -> None:
    if h_chosen.ndim != 2 or h_chosen.shape != h_rejected.shape:
        raise ValueError(
            f"h_chosen {tuple(h_chosen.shape)} and h_rejected {tuple(h_rejected.shape)} must both be (n, m), "
            "row i of each from the same prompt"
        )
    if h_chosen.shape[0] == 0:
        raise ValueError("no pairs: h_chosen and h_rejected are empty")


def design(
    h_chosen: torch.Tensor,
    h_rejected: torch.Tensor,
    objective: str = "pairwise",
    pairing: str = "matched",
    seed: int = 0,
) -> torch.Tensor:
    """Rows :math:`z_i` of the loss in the module docstring, in float64 on the CPU."""
    _check_pair(h_chosen, h_rejected)
    hc, hr = h_chosen.detach().double().cpu(), h_rejected.detach().double().cpu()
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not one of {OBJECTIVES}")
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing={pairing!r} is not one of {PAIRINGS}")
    if objective == "pointwise":
        if pairing != "matched":
            raise ValueError("pairing only applies to objective='pairwise'; the pointwise loss never pairs texts")
        return torch.cat([hc, -hr])
    if pairing == "random":
        hr = hr[torch.randperm(hr.shape[0], generator=torch.Generator().manual_seed(seed))]
    return hc - hr


def loss_value(theta: torch.Tensor, Z: torch.Tensor, beta: float, gamma: float, l2: float = 0.0) -> float:
    """:math:`L(\\theta)` of the module docstring."""
    u = gamma - beta * (Z @ theta)
    return float(torch.nn.functional.softplus(u).mean() + 0.5 * l2 * theta.square().sum())


def gradient(theta: torch.Tensor, Z: torch.Tensor, beta: float, gamma: float, l2: float = 0.0) -> torch.Tensor:
    """:math:`\\nabla L(\\theta) = -\\frac{\\beta}{N} Z^\\top \\sigma(\\gamma - \\beta Z\\theta) + \\lambda\\theta`."""
    u = gamma - beta * (Z @ theta)
    return -beta * (Z.T @ torch.sigmoid(u)) / Z.shape[0] + l2 * theta


def solve_newton(
    Z: torch.Tensor,
    beta: float = 2.5,
    gamma: float = 0.5,
    l2: float = 1e-4,
    tol: float = 1e-10,
    max_iters: int = 100,
    theta0: torch.Tensor | None = None,
) -> PhaseIIResult:
    """Damped Newton (Armijo backtracking) on :math:`L` until :math:`\\|\\nabla L\\|_2 \\le` ``tol``.

    ``converged`` is False when ``max_iters`` is reached first. ``gap_bound`` is the certificate
    :math:`\\|\\nabla L\\|^2/(2\\lambda)` when :math:`\\lambda > 0`, else infinite: with ``l2 = 0`` on separable rows the
    infimum is not attained and the gradient vanishes only as :math:`\\|\\theta\\| \\to \\infty`, so a small gradient
    certifies nothing there (pass ``l2 > 0``).
    """
    _check_hyper(beta, gamma, l2)
    Z = Z.double().cpu()
    if Z.ndim != 2 or Z.shape[0] == 0:
        raise ValueError(f"Z must be a non-empty (N, m) design, got {tuple(Z.shape)}")
    N, m = Z.shape
    theta = torch.zeros(m, dtype=torch.float64) if theta0 is None else theta0.detach().double().cpu().clone()
    history: dict[str, list[float]] = {"loss": [], "grad_norm": []}
    ridge = max(l2, 1e-12)
    converged, k = False, 0
    for k in range(max_iters + 1):
        g = gradient(theta, Z, beta, gamma, l2)
        value, gnorm = loss_value(theta, Z, beta, gamma, l2), float(g.norm())
        history["loss"].append(value)
        history["grad_norm"].append(gnorm)
        if gnorm <= tol:
            converged = True
            break
        if k == max_iters:
            break
        p = torch.sigmoid(gamma - beta * (Z @ theta))
        H = (beta**2 / N) * (Z.T * (p * (1 - p))) @ Z + ridge * torch.eye(m, dtype=torch.float64)
        step = torch.linalg.solve(H, g)
        t, slope = 1.0, float(g @ step)
        while loss_value(theta - t * step, Z, beta, gamma, l2) > value - 1e-4 * t * slope and t > 1e-12:
            t *= 0.5
        theta = theta - t * step
    gap = gnorm**2 / (2 * l2) if l2 > 0 else math.inf
    return PhaseIIResult(theta, value, gnorm, k, converged, "newton", gap, history)


@dataclass(frozen=True)
class Unregularised:
    r"""Phase II on the paper's loss, without the ridge (:math:`\lambda = 0`).

    ``separable``: some :math:`\theta` has :math:`Z\theta \ge 0` with :math:`Z\theta \ne 0`, so :math:`L` decreases
    along that ray for ever and has **no finite minimiser** (when every row can be made positive, its
    infimum is 0, approached as :math:`\|\theta\| \to \infty` and never reached). Otherwise a minimiser exists and
    Newton's method reaches it. ``loss``, ``grad_norm``, ``theta_norm`` are those of the last Newton iterate.
    """

    separable: bool
    loss: float
    grad_norm: float
    theta_norm: float
    iterations: int


def has_recession_direction(Z: torch.Tensor) -> bool:
    r"""Whether :math:`\exists\,\theta: Z\theta \ge 0,\ \mathbf 1^\top Z\theta = 1` (a linear programme, HiGHS):
    the rows are (weakly) separable, and the logistic loss of the module docstring with
    :math:`\lambda = 0` has no finite minimiser."""
    import numpy as np
    from scipy.optimize import linprog

    A = Z.detach().double().cpu().numpy()
    if A.ndim != 2 or A.shape[0] == 0:
        raise ValueError(f"Z must be a non-empty (N, m) design, got {A.shape}")
    result = linprog(
        np.zeros(A.shape[1]),
        A_ub=-A,
        b_ub=np.zeros(A.shape[0]),
        A_eq=A.sum(axis=0, keepdims=True),
        b_eq=[1.0],
        bounds=[(None, None)] * A.shape[1],
        method="highs",
    )
    if result.status not in (0, 2):
        raise RuntimeError(f"the separability LP did not finish: {result.message}")
    return result.status == 0


def solve_unregularised(
    Z: torch.Tensor, beta: float = 2.5, gamma: float = 0.5, tol: float = 1e-10, max_iters: int = 100
) -> Unregularised:
    r"""Phase II exactly as the paper states it (no ridge): :class:`Unregularised` from the separability LP
    and ``max_iters`` damped Newton steps with :math:`\lambda = 0` (on separable rows they only push the loss
    towards its infimum)."""
    fit = solve_newton(Z, beta, gamma, l2=0.0, tol=tol, max_iters=max_iters)
    return Unregularised(has_recession_direction(Z), fit.loss, fit.grad_norm, float(fit.theta.norm()), fit.iterations)


def margins(theta: torch.Tensor, h_chosen: torch.Tensor, h_rejected: torch.Tensor) -> torch.Tensor:
    """Score margins :math:`s_{c,i} - s_{r,i} = \\theta^\\top(h_{c,i} - h_{r,i})` of matched pairs."""
    _check_pair(h_chosen, h_rejected)
    return (h_chosen.double().cpu() - h_rejected.double().cpu()) @ theta.double().cpu()


def head_pairwise_accuracy(theta: torch.Tensor, h_chosen: torch.Tensor, h_rejected: torch.Tensor) -> float:
    """:func:`coala_lib.core.metrics.pairwise_accuracy` (ties one half) of the scores :math:`\theta^\top h_c`
    and :math:`\theta^\top h_r` of matched pairs."""
    _check_pair(h_chosen, h_rejected)
    theta64 = theta.double().cpu()
    return pairwise_accuracy(h_chosen.double().cpu() @ theta64, h_rejected.double().cpu() @ theta64)


def train_adamw(
    Z: torch.Tensor,
    h_chosen: torch.Tensor,
    h_rejected: torch.Tensor,
    beta: float = 2.5,
    gamma: float = 0.5,
    l2: float = 1e-4,
    lr: float = 1e-4,
    epochs: int = 500,
    batch_size: int = 128,
    weight_decay: float = 0.0,
    theta0: torch.Tensor | None = None,
    seed: int = 0,
    log_every: int = 1,
    progress: bool = False,
) -> PhaseIIResult:
    """Minibatch AdamW on :math:`L` (the paper's solver), logging every ``log_every`` steps.

    The history holds, per logged step: ``step``, the full training objective ``loss``, and on the
    matched training pairs ``(h_chosen, h_rejected)`` the mean score margin ``margin`` and the mean
    ``margin_sigmoid`` :math:`\\sigma(s_c - s_r)`. ``weight_decay`` is AdamW's decoupled decay, applied on top of
    the ``l2`` term that is part of :math:`L` (keep it 0 to minimise exactly :math:`L`).
    """
    _check_hyper(beta, gamma, l2)
    if lr <= 0 or epochs < 1 or batch_size < 1 or log_every < 1:
        raise ValueError(
            f"need lr > 0, epochs, batch_size, log_every >= 1; got {lr}, {epochs}, {batch_size}, {log_every}"
        )
    Z = Z.double().cpu()
    N, m = Z.shape
    theta = torch.zeros(m, dtype=torch.float64) if theta0 is None else theta0.detach().double().cpu().clone()
    theta.requires_grad_(True)
    opt = torch.optim.AdamW([theta], lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    _check_pair(h_chosen, h_rejected)
    D = h_chosen.double().cpu() - h_rejected.double().cpu()
    history: dict[str, list[float]] = {"step": [], "loss": [], "margin": [], "margin_sigmoid": []}

    def log(step: int) -> None:
        with torch.no_grad():
            margin = D @ theta
            history["step"].append(step)
            history["loss"].append(loss_value(theta, Z, beta, gamma, l2))
            history["margin"].append(float(margin.mean()))
            history["margin_sigmoid"].append(float(torch.sigmoid(margin).mean()))

    step = 0
    log(step)
    for _ in tqdm(range(epochs), desc="Phase II AdamW", disable=progress_off(progress)):
        for batch in torch.randperm(N, generator=gen).split(batch_size):
            Zb = Z[batch]
            loss = torch.nn.functional.softplus(gamma - beta * (Zb @ theta)).mean() + 0.5 * l2 * theta.square().sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % log_every == 0:
                log(step)
    final = theta.detach()
    g = gradient(final, Z, beta, gamma, l2)
    gnorm = float(g.norm())
    gap = gnorm**2 / (2 * l2) if l2 > 0 else math.inf
    return PhaseIIResult(final, loss_value(final, Z, beta, gamma, l2), gnorm, step, False, "adamw", gap, history)


def _check_hyper(beta: float, gamma: float, l2: float) -> None:
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta (Phase II inverse temperature) must be finite and > 0, got {beta}")
    if not math.isfinite(gamma):
        raise ValueError(f"gamma (margin offset) must be finite, got {gamma}")
    if not (l2 >= 0 and math.isfinite(l2)):
        raise ValueError(f"l2 must be finite and >= 0, got {l2}")


def compare_pairings(
    h_train: tuple[torch.Tensor, torch.Tensor],
    h_eval: tuple[torch.Tensor, torch.Tensor],
    beta: float = 2.5,
    gamma: float = 0.5,
    l2: float = 1e-4,
    random_seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> list[dict[str, Any]]:
    """Certified optima of the pointwise, prompt-matched pairwise and randomly paired pairwise losses,
    one row each (one per seed for random pairing): train loss and held-out pairwise accuracy."""
    runs: list[tuple[str, str, int]] = [("pointwise", "matched", 0), ("pairwise", "matched", 0)]
    runs += [("pairwise", "random", s) for s in random_seeds]
    rows = []
    for objective, pairing, seed in runs:
        fit = solve_newton(design(*h_train, objective, pairing, seed), beta, gamma, l2)
        rows.append(
            {
                "objective": objective,
                "pairing": pairing,
                "seed": seed,
                "loss": fit.loss,
                "grad_norm": fit.grad_norm,
                "train_pairwise": head_pairwise_accuracy(fit.theta, *h_train),
                "eval_pairwise": head_pairwise_accuracy(fit.theta, *h_eval),
            }
        )
    return rows


def objective_agreement(
    h_train: tuple[torch.Tensor, torch.Tensor],
    h_eval: tuple[torch.Tensor, torch.Tensor],
    betas: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 2.5, 10.0),
    gamma: float = 0.5,
    l2: float = 1e-4,
) -> list[dict[str, float]]:
    """Per ``beta``: cosine between the pointwise and pairwise optima and their held-out pairwise accuracies.

    At :math:`\\theta = 0` both gradients equal :math:`-c\\,\\beta\\,\\sigma(\\gamma)\\,\\overline{(h_c - h_r)}` (:math:`c = 1/2` and
    :math:`1`), so the two objectives agree to first order and their optima align as :math:`\\beta \\to 0`.
    """
    rows = []
    for beta in betas:
        point = solve_newton(design(*h_train, "pointwise"), beta, gamma, l2).theta
        pair = solve_newton(design(*h_train, "pairwise"), beta, gamma, l2).theta
        cosine = float(point @ pair / (point.norm() * pair.norm()).clamp(min=1e-300))
        rows.append(
            {
                "beta": beta,
                "cosine": cosine,
                "eval_pointwise_head": head_pairwise_accuracy(point, *h_eval),
                "eval_pairwise_head": head_pairwise_accuracy(pair, *h_eval),
            }
        )
    return rows
