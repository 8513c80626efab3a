"""Phase I solvers behind one entry point, :func:`fit_cronos`, each fit ending with a duality-gap certificate.

``fit_cronos(X, y, config)`` with a :class:`CronosConfig` runs in four parts: **set-up** (gates,
masks, the maps :math:`F`, :math:`G`; :func:`coala_lib.convex.problem.setup_problem`), the solver's **step** (one of the methods
below), **stopping** (:func:`should_stop`: the certified relative gap and the relative cone violation of
:mod:`coala_lib.convex.certificate`, both at most ``tol``/``cone_tol``, checked every ``certify_every``
steps; otherwise ``max_iters``), and **recovery** (:func:`recover_model`). A run that ends without a
certificate says so: ``result.certified`` is ``False`` and a :class:`UncertifiedWarning` is issued.

Methods (``config.method``):

* ``"fista"`` (gated ReLU; default there): accelerated proximal gradient with restarts
  (:mod:`coala_lib.convex.proximal`);
* ``"admm"`` (ReLU whenever :func:`coala_lib.convex.admm.exact_core` fits, i.e. :math:`\\min(n, dP)` is at most
  :func:`coala_lib.convex.admm.exact_core_limit` of the device; default there): the ADMM of :mod:`coala_lib.convex.admm` with an **exact** u-step (the direct solve of
  :class:`coala_lib.convex.pcg.WoodburyInverse` when :math:`n \\le dP`, of
  :class:`coala_lib.convex.pcg.PrimalInverse` above; PCG checks it at every certificate check, and once
  a check needed a refinement (rounding that the tightening tolerance outgrew), every step), over-relaxation :math:`\\alpha = 1.8` (Eckstein &
  Bertsekas 1992: :math:`\\hat u = \\alpha u + (1 - \\alpha) v` replaces :math:`u` in the v-step and the
  :math:`\\lambda` update, likewise :math:`\\alpha Gu + (1 - \\alpha)s` for the cone) and :math:`\\rho = 0.1\\beta`
  unless ``rho`` is given (the rule that certified fastest on both notebook 03's head,
  :math:`\\beta = 10^{-3}`, and the MiniLM targets of ``bench/solver.py``, :math:`\\beta \\approx 190`). The rule
  is not universal: on some small problems (``tests/test_two_layer.py``'s 60 x 5 one at a 1e-6 tolerance)
  it does not certify within 20,000 steps where the augmented Lagrangian does;
* ``"alm"`` (ReLU when neither exact core fits; default there): augmented Lagrangian on the cone
  constraints, FISTA inside;
* ``"cronos"``: the paper's ADMM (CRONOS; Feng, Frangella & Pilanci 2024).

The ADMM methods, their preconditioners and penalties are described in :mod:`coala_lib.convex.admm`;
FISTA and the augmented Lagrangian in :mod:`coala_lib.convex.proximal`; the shared set-up in
:mod:`coala_lib.convex.problem`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from coala_lib.convex.admm import AdmmState
from coala_lib.convex.certificate import Certificate, certify
from coala_lib.convex.config import METHODS, CronosConfig, Method  # the entry point's settings, re-exported
from coala_lib.convex.problem import Problem, WarmStart, setup_problem
from coala_lib.convex.proximal import FirstOrder
from coala_lib.convex.reformulation import (
    ActivationPatterns,
    ConvexGatedReLU,
    ConvexModel,
    ConvexReLU,
    group_norms,
)
from coala_lib.core.runtime import progress_off, synchronize

__all__ = [
    "METHODS",
    "CronosConfig",
    "CronosHistory",
    "CronosResult",
    "Method",
    "UncertifiedWarning",
    "fit_cronos",
    "recover_model",
    "should_stop",
]


class UncertifiedWarning(UserWarning):
    """A Phase I fit stopped before its duality-gap certificate reached the tolerance."""


Solver = AdmmState | FirstOrder


@dataclass
class CronosHistory:
    """One entry per step (``objective`` and ``violation`` at the iterate the fit returns, ``pcg_iters``
    0 for the first-order methods, ADMM residuals NaN for them; ``seconds`` since the start of
    :func:`fit_cronos`, synchronised on CUDA) and one ``checks`` entry per certificate
    (:meth:`Certificate.as_dict` plus ``iteration``, ``seconds`` and the solver's ``penalty``)."""

    objective: list[float] = field(default_factory=list)
    violation: list[float] = field(default_factory=list)
    primal_residual: list[float] = field(default_factory=list)
    dual_residual: list[float] = field(default_factory=list)
    pcg_iters: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.objective)

    def as_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass
class CronosResult:
    """What :func:`fit_cronos` returns: the model, its certificate, the history and timings.

    ``certificate`` is that of ``model`` (primal objective, lower bound, relative gap, cone violation);
    ``certified`` repeats its verdict. ``pcg_iterate`` is CRONOS's :math:`u` (``None`` for other methods),
    ``multipliers`` the cone multipliers the certificate used (``None`` for gated), ``warm`` where the solver
    stopped (pass it as ``start=`` to the next fit of a path)."""

    model: ConvexModel
    certificate: Certificate
    history: CronosHistory
    patterns: ActivationPatterns
    config: CronosConfig
    method: str
    iterations: int
    pcg_iterate: torch.Tensor | None
    multipliers: torch.Tensor | None
    setup_seconds: float
    preconditioner_seconds: float
    total_seconds: float
    warm: WarmStart | None = None

    @property
    def certified(self) -> bool:
        return self.certificate.certified

    @property
    def converged(self) -> bool:
        """Same as :attr:`certified`: a fit counts as converged only when its certificate says so."""
        return self.certificate.certified

    @property
    def beta(self) -> float:
        return float(self.config.beta)

    @property
    def rho(self) -> float:
        """The ADMM penalty the fit used (:meth:`CronosConfig.penalty_for`; NaN-free for every method)."""
        return self.config.penalty_for(self.method)

    def summary(self) -> dict[str, Any]:
        """Flat record for reports: method, iterations, seconds and the certificate's fields."""
        return {"method": self.method, "iterations": self.iterations, "seconds": self.total_seconds} | {
            f"certificate_{k}": v for k, v in self.certificate.as_dict().items()
        }


def should_stop(certificate: Certificate, config: CronosConfig) -> bool:
    """Stopping rule: the certificate holds (gap and cone violation within tolerance), unless the
    config asks for a fixed number of steps."""
    return config.stop_on_certificate and certificate.certified


def recover_model(patterns: ActivationPatterns, U: torch.Tensor, model: str) -> ConvexModel:
    """The convex ``model`` (``"relu"``: rows :math:`[v; w]`; ``"gated"``) of the stacked iterate ``U``
    (recovery of :func:`fit_cronos`)."""
    if model == "relu":
        P = U.shape[0] // 2
        return ConvexReLU(patterns, U[:P].clone(), U[P:].clone())
    return ConvexGatedReLU(patterns, U.clone())


def _objective_and_violation(problem: Problem, solver: Solver) -> tuple[float, float]:
    pred, GU = problem.plain_maps.outputs(solver.left)
    objective = 0.5 * float((pred - problem.y).square().sum()) + problem.beta * float(group_norms(solver.U).sum())
    if GU is None:
        return objective, 0.0
    total = float(torch.linalg.vector_norm(GU))
    return objective, (float(torch.linalg.vector_norm(torch.relu(-GU))) / total if total > 0 else 0.0)


def fit_cronos(
    X: torch.Tensor,
    y: torch.Tensor,
    config: CronosConfig | None = None,
    *,
    patterns: ActivationPatterns | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    start: WarmStart | None = None,
) -> CronosResult:
    """Fit the convex ReLU or gated-ReLU program of ``config`` (default :class:`CronosConfig`) and certify it.

    ``X`` (n, d) float32/float64 on any device (all work stays there; dtype follows ``X``); ``y`` (n,)
    labels +1/-1 (real targets need ``config.allow_real_targets``). ``patterns`` reuses given gates, else
    ``config.P`` gates are drawn with ``config.seed``. ``callback(k, U)`` sees the stacked iterate the
    fit would return after step ``k``. ``start`` (:attr:`CronosResult.warm` of a fit on the same ``X``, ``y`` and
    gates) starts the solver where that fit stopped. The result carries the model's :class:`Certificate`; when it
    is not certified a :class:`UncertifiedWarning` says by how much. CPU runs are bitwise reproducible.
    """
    config = config if config is not None else CronosConfig()
    if not isinstance(config, CronosConfig):
        raise TypeError(
            f"config must be a CronosConfig, got {type(config).__name__}; build one: CronosConfig(P=..., beta=...)"
        )
    device = X.device
    synchronize(device)
    started = time.perf_counter()
    problem = setup_problem(X, y, config, patterns)
    synchronize(device)
    setup_seconds = time.perf_counter() - started
    n, d = X.shape
    method = config.method_for(n, d, device)
    if start is not None and tuple(start.u.shape) != problem.shape:
        raise ValueError(f"start holds iterates of shape {tuple(start.u.shape)}, this problem's are {problem.shape}")
    solver: Solver = (
        AdmmState(problem, config, exact=method == "admm", start=start)
        if method in ("cronos", "admm")
        else FirstOrder(problem, config, start)
    )
    synchronize(device)
    preconditioner_seconds = time.perf_counter() - started - setup_seconds

    history = CronosHistory()
    every = config.check_interval(method)
    certificate: Certificate | None = None
    latest: Certificate | None = None  # its bound is the best so far (certify keeps the larger), carried on
    k = 0

    def check() -> Certificate:
        nonlocal latest
        cert = certify(
            problem.plain_maps,
            problem.y,
            problem.beta,
            solver.U,
            solver.multipliers(),
            tol=config.tol,
            cone_tol=config.cone_tol,
            earlier=latest,
            left=solver.left,
            candidates=solver.dual_points(),
        )
        latest = cert
        synchronize(device)
        history.checks.append(
            {"iteration": k, "seconds": time.perf_counter() - started, "penalty": solver.penalty} | cert.as_dict()
        )
        return cert

    for k in tqdm(range(1, config.max_iters + 1), disable=progress_off(progress), desc=f"phase I ({method})"):
        solver.step()
        objective, violation = _objective_and_violation(problem, solver)
        synchronize(device)
        history.objective.append(objective)
        history.violation.append(violation)
        history.primal_residual.append(solver.primal_residual)
        history.dual_residual.append(solver.dual_residual)
        history.pcg_iters.append(solver.pcg_iters)
        history.seconds.append(time.perf_counter() - started)
        if callback is not None:
            callback(k, solver.U)
        certificate = None
        if k % every == 0 or k == config.max_iters:
            certificate = check()
            if should_stop(certificate, config):
                break
            solver.observe(certificate)
    if certificate is None:
        certificate = check()
    if not certificate.certified:
        warnings.warn(
            f"Phase I ({method}, {k} steps) is NOT certified: {certificate.summary()}",
            UncertifiedWarning,
            stacklevel=2,
        )
    synchronize(device)
    return CronosResult(
        model=recover_model(problem.patterns, solver.U, problem.maps.kind),
        certificate=certificate,
        history=history,
        patterns=problem.patterns,
        config=config,
        method=method,
        iterations=k,
        pcg_iterate=solver.u.clone() if isinstance(solver, AdmmState) else None,
        multipliers=solver.multipliers(),
        setup_seconds=setup_seconds,
        preconditioner_seconds=preconditioner_seconds,
        total_seconds=time.perf_counter() - started,
        warm=solver.warm_start(),
    )
