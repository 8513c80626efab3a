"""The regularisation path of Phase I: certified fits from the zero head down in :math:`\\beta`, warm-started.

**Where the path starts.** For the convex ReLU program (:mod:`coala_lib.convex.reformulation`) the zero head
is optimal exactly when no group can lower the objective from zero. At zero the smooth part's derivative in
the direction of :math:`v_i \\in K_i = \\{v : (2D_i - I)Xv \\ge 0\\}` is :math:`-g_i^\\top v_i` with
:math:`g_i = X^\\top D_i y` (and :math:`+g_i^\\top w_i` for :math:`w_i`), the penalty's is
:math:`\\beta\\|v_i\\|`, and groups separate, so zero is optimal iff for every :math:`i`

.. math:: \\beta \\ \\ge\\ \\max\\big(\\sup_{v \\in K_i, \\|v\\| \\le 1} g_i^\\top v,\\ \\sup_{v \\in K_i, \\|v\\| \\le 1} -g_i^\\top v\\big)
          = \\max\\big(\\|\\Pi_{K_i}(g_i)\\|,\\ \\|\\Pi_{K_i}(-g_i)\\|\\big)

(Moreau: :math:`g = \\Pi_K g + \\Pi_{K^\\circ} g` with the two parts orthogonal). The polar cone is
:math:`K_i^\\circ = \\{-A_i^\\top \\mu : \\mu \\ge 0\\}` with :math:`A_i = (2D_i - I)X`, so
:math:`\\|\\Pi_{K_i}(g)\\| = \\min_{\\mu \\ge 0}\\|g + A_i^\\top\\mu\\|`: a non-negative least-squares problem, solved
exactly by an active-set method (:func:`scipy.optimize.nnls`). :func:`beta_max` is the largest of these
values; gated ReLU has no cones, and there :math:`\\beta_{\\max} = \\max_i \\|g_i\\|`.

**The path** (:func:`regularisation_path`): :math:`\\beta_k = \\beta_{\\max}\\,10^{-k\\,\\text{decades}/(m-1)}`,
:math:`k = 0, \\dots, m-1`; each fit starts where the previous one stopped (:class:`coala_lib.convex.problem.WarmStart`)
and stops at its certificate (relative gap and relative cone violation within the config's tolerances), as
every Phase I fit of the book does. ``warm=False`` fits the same points from zero, for the comparison.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from scipy.optimize import nnls
from tqdm.auto import tqdm

from coala_lib.convex.certificate import Certificate, certify
from coala_lib.convex.cronos import CronosConfig
from coala_lib.convex.phase1 import Phase1Config, fit_phase1, recover_model
from coala_lib.convex.problem import WarmStart
from coala_lib.convex.reformulation import (
    ActivationPatterns,
    ConvexModel,
    LinearMaps,
    group_norms,
    sample_gates,
)
from coala_lib.core.runtime import progress_off

__all__ = [
    "PathPoint",
    "RegularisationPath",
    "beta_max",
    "path_betas",
    "regularisation_path",
    "zero_head_certificate",
    "zero_head_duals",
]


def _cone_projection(g: np.ndarray, A: np.ndarray) -> tuple[float, np.ndarray]:
    """:math:`\\|\\Pi_K(g)\\|` for :math:`K = \\{v : Av \\ge 0\\}`, i.e. :math:`\\min_{\\mu \\ge 0}\\|g + A^\\top\\mu\\|`, and its
    minimiser :math:`\\mu`."""
    if not np.any(g):
        return 0.0, np.zeros(A.shape[0])
    mu, residual = nnls(A.T, -g, maxiter=50 * A.shape[0])
    return float(residual), mu


def zero_head_duals(
    X: torch.Tensor, y: torch.Tensor, patterns: ActivationPatterns, model: str = "relu"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per group, the smallest :math:`\\beta` at which it stays zero (module docstring; groups ordered as the
    solvers stack them: :math:`v_1..v_P, w_1..w_P` for ReLU), and the cone multipliers (n, 2P) that prove it
    (``None`` for gated): with them, :func:`coala_lib.convex.certificate.certify` certifies the zero head."""
    Xd, yd = X.double().cpu(), y.double().cpu()
    masks = patterns.to(Xd.device, Xd.dtype).masks(Xd).to(Xd.dtype).T  # (P, n)
    gs = [(Xd * (mask * yd).unsqueeze(1)).sum(0).numpy() for mask in masks]
    if model == "gated":
        return torch.tensor([float(np.linalg.norm(g)) for g in gs], dtype=torch.float64), None
    values, mus = [], []
    for sign in (1.0, -1.0):  # v groups see g_i, w groups -g_i
        for g, mask in zip(gs, masks, strict=True):
            value, mu = _cone_projection(sign * g, ((2 * mask - 1).unsqueeze(1) * Xd).numpy())
            values.append(value)
            mus.append(mu)
    return torch.tensor(values, dtype=torch.float64), torch.tensor(np.stack(mus, axis=1), dtype=torch.float64)


def beta_max(X: torch.Tensor, y: torch.Tensor, patterns: ActivationPatterns, model: str = "relu") -> float:
    """The smallest :math:`\\beta` at which the zero head is optimal for ``X``, ``y`` and ``patterns``
    (module docstring): ``model`` ``"relu"`` (cone-constrained) or ``"gated"``."""
    return float(zero_head_duals(X, y, patterns, model)[0].max())


def zero_head_certificate(
    X: torch.Tensor,
    y: torch.Tensor,
    patterns: ActivationPatterns,
    beta: float,
    model: Literal["relu", "gated"] = "relu",
    tol: float = 1e-4,
) -> Certificate:
    """The duality-gap :class:`coala_lib.convex.certificate.Certificate` of the zero head at ``beta`` (certified,
    with a zero gap up to rounding, whenever ``beta >= beta_max``)."""
    values, mu = zero_head_duals(X, y, patterns, model)
    Xd = X.double().cpu()
    maps = LinearMaps(Xd, patterns.to(Xd.device, Xd.dtype).masks(Xd), model)
    zero = torch.zeros(values.numel(), Xd.shape[1], dtype=torch.float64)
    return certify(maps, y.double().cpu(), beta, zero, mu, tol=tol, cone_tol=tol)


def path_betas(top: float, points: int = 13, decades: float = 3.0) -> list[float]:
    """``points`` log-spaced values from ``top`` down ``decades`` decades (both ends included)."""
    if not (top > 0 and math.isfinite(top)):
        raise ValueError(f"the path's top beta must be finite and > 0, got {top}")
    if points < 2 or decades <= 0:
        raise ValueError(f"a path needs points >= 2 and decades > 0, got points={points}, decades={decades}")
    return [top * 10 ** (-decades * k / (points - 1)) for k in range(points)]


@dataclass
class PathPoint:
    """One point of the path: its ``beta``, the convex ``model`` and its ``certificate``, the solver's
    ``iterations`` and ``seconds`` (0 for the zero head at :func:`beta_max`, which :func:`zero_head_certificate`
    certifies without a solver), its number of non-zero groups (``active``) and whether the fit started from
    the previous point's iterates (``warm``)."""

    beta: float
    model: ConvexModel
    certificate: Certificate
    iterations: int
    seconds: float
    method: str
    warm: bool

    @property
    def active(self) -> int:
        return int((group_norms(self.model.stacked) > 0).sum())

    @property
    def certified(self) -> bool:
        return self.certificate.certified

    def summary(self) -> dict[str, Any]:
        """What a results record keeps of the point (the certificate and cost; not the weights)."""
        cert = self.certificate
        return {
            "beta": self.beta,
            "active_groups": self.active,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "certified": cert.certified,
            "relative_gap": cert.relative_gap,
            "cone_violation_rel": cert.cone_violation_rel,
            "objective": cert.primal,
            "lower_bound": cert.lower_bound,
            "method": self.method,
            "warm": self.warm,
        }


@dataclass
class RegularisationPath:
    """The points of :func:`regularisation_path` in decreasing ``beta``, from :func:`beta_max`."""

    beta_max: float
    points: list[PathPoint]
    patterns: ActivationPatterns

    @property
    def seconds(self) -> float:
        """Wall time of every fit of the path (set-up included)."""
        return sum(p.seconds for p in self.points)

    @property
    def certified(self) -> bool:
        return all(p.certified for p in self.points)


def regularisation_path(
    X: torch.Tensor,
    y: torch.Tensor,
    config: Phase1Config | CronosConfig,
    *,
    points: int = 13,
    decades: float = 3.0,
    warm: bool = True,
    patterns: ActivationPatterns | None = None,
    top: float | None = None,
    progress: bool = False,
) -> RegularisationPath:
    """The path of ``config`` (its ``beta`` ignored): :func:`path_betas` from :func:`beta_max` down ``decades``
    decades in ``points`` points. The first point is the zero head, certified by its multipliers
    (:func:`zero_head_certificate`); every later one is a :func:`coala_lib.convex.phase1.fit_phase1` fit to
    ``config``'s stopping rule, started where the previous fit stopped unless ``warm=False`` (then from zero).
    The gates are drawn once (the model's ``P`` and ``seed``) and shared; ``top`` reuses a computed beta_max.
    ``config`` is a :class:`coala_lib.convex.phase1.Phase1Config` (or the deprecated flat ``CronosConfig``)."""
    phase1 = config.to_phase1() if isinstance(config, CronosConfig) else config
    model = phase1.model
    patterns = patterns if patterns is not None else sample_gates(X, model.P, model.seed)
    started = time.perf_counter()
    top = top if top is not None else beta_max(X, y, patterns, model.kind)
    first = zero_head_certificate(X, y, patterns, top, model.kind, phase1.stopping.tol)
    zero = torch.zeros(2 * patterns.num_patterns if model.kind == "relu" else patterns.num_patterns, X.shape[1])
    zero_model = recover_model(patterns, zero.to(X), model.kind)
    out = [PathPoint(top, zero_model, first, 0, time.perf_counter() - started, "beta_max", False)]
    start: WarmStart | None = None
    for beta in tqdm(path_betas(top, points, decades)[1:], desc="beta path", disable=progress_off(progress)):
        at_beta = replace(phase1, model=replace(model, beta=float(beta)))
        fit = fit_phase1(X, y, at_beta, patterns=patterns, start=start)
        out.append(
            PathPoint(
                float(beta),
                fit.model,
                fit.certificate,
                fit.iterations,
                fit.total_seconds,
                fit.method,
                start is not None,
            )
        )
        start = fit.warm if warm else None
    return RegularisationPath(top, out, patterns)
