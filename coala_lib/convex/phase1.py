"""Phase I's solver-neutral entry point: :func:`fit_phase1` with a :class:`Phase1Config`.

A :class:`Phase1Config` holds three small parts: the convex program (:class:`coala_lib.convex.config.Phase1Model`:
ReLU or gated, ``P`` gates, the group-lasso weight ``beta``), the stopping rule
(:class:`coala_lib.convex.config.StoppingRule`: certified gap and cone violation, step cap) and the solver, by
name, with each solver's own settings (one frozen dataclass per solver, registered with it in
:mod:`coala_lib.convex.solvers`):

* ``"admm"`` (:class:`coala_lib.convex.admm.AdmmSettings`): the exact, over-relaxed ADMM (direct u-step);
* ``"cronos"`` (:class:`coala_lib.convex.cronos.CronosSettings`): the paper's ADMM with a PCG u-step;
* ``"alm"`` (:class:`coala_lib.convex.alm.AlmSettings`): augmented Lagrangian, FISTA inside (ReLU);
* ``"fista"`` (:class:`coala_lib.convex.proximal.FistaSettings`): accelerated proximal gradient (gated);
* ``"auto"``: :func:`auto_solver`.

A fit runs in four parts: **set-up** (gates, masks, the maps :math:`F`, :math:`G`;
:func:`coala_lib.convex.problem.setup_problem`), the solver's **step**, **stopping** (the certified relative gap
and relative cone violation of :mod:`coala_lib.convex.certificate`, checked every ``certify_every`` steps;
otherwise ``max_iters``) and **recovery** (:func:`recover_model`). A run that ends without a certificate says
so: ``result.certified`` is ``False`` and an :class:`UncertifiedWarning` is issued.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from tqdm.auto import tqdm

from coala_lib.convex.admm import AdmmSettings
from coala_lib.convex.certificate import Certificate, certify
from coala_lib.convex.config import DEFAULT_RHO, Phase1Model, SolverSettings, StoppingRule, exact_core
from coala_lib.convex.problem import Problem, WarmStart, setup_problem
from coala_lib.convex.reformulation import ActivationPatterns, ConvexGatedReLU, ConvexModel, ConvexReLU, group_norms
from coala_lib.convex.solvers import SOLVERS, SolverState, solver_spec
from coala_lib.core.runtime import progress_off, synchronize

__all__ = [
    "Phase1Config",
    "Phase1History",
    "Phase1Result",
    "UncertifiedWarning",
    "auto_solver",
    "fit_phase1",
    "recover_model",
]

C = TypeVar("C")


class UncertifiedWarning(UserWarning):
    """A Phase I fit stopped before its duality-gap certificate reached the tolerance."""


@dataclass(frozen=True)
class Phase1Config:
    """Everything a Phase I fit needs besides the data: ``model`` (the program), ``stopping`` (the rule),
    ``solver`` (a registered name or ``"auto"``) and ``settings``, solver settings that replace the registered
    defaults (at most one per solver; those of solvers not run are ignored, so one config can carry settings
    for every solver ``"auto"`` may pick)."""

    model: Phase1Model = field(default_factory=Phase1Model)
    stopping: StoppingRule = field(default_factory=StoppingRule)
    solver: str = "auto"
    settings: tuple[SolverSettings, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model, Phase1Model) or not isinstance(self.stopping, StoppingRule):
            raise TypeError("Phase1Config.model must be a Phase1Model and Phase1Config.stopping a StoppingRule")
        if self.solver != "auto":
            spec = solver_spec(self.solver)
            if self.model.kind not in spec.models:
                raise ValueError(
                    f"Phase1Config.solver {self.solver!r} solves {spec.models} programs, not {self.model.kind!r}; "
                    f"registered solvers for it: {[n for n, s in SOLVERS.items() if self.model.kind in s.models]}"
                )
        names = [type(s).solver for s in self.settings]
        for name in names:
            solver_spec(name)
        if len(set(names)) != len(names):
            raise ValueError(f"Phase1Config.settings gives one solver's settings twice: {names}")

    def settings_for(self, name: str) -> SolverSettings:
        """The settings of solver ``name``: those given, else its registered defaults."""
        for given in self.settings:
            if type(given).solver == name:
                return given
        return solver_spec(name).settings()

    def solver_for(self, n: int, d: int, device: torch.device | str = "cpu") -> str:
        """The solver this config runs on ``n`` texts of ``d`` features: ``solver``, or :func:`auto_solver`."""
        return self.solver if self.solver != "auto" else auto_solver(self, n, d, device)

    def check_interval(self, name: str) -> int:
        """Steps between certificate checks for solver ``name``: the stopping rule's, else the solver's."""
        return self.stopping.interval(solver_spec(name).check_every)

    def reported_penalty(self, name: str) -> float:
        """The ADMM penalty a fit by solver ``name`` reports (``HeadReport``'s ``phase1.rho``): the solver's own
        rule; for a solver without a penalty, the exact ADMM's given ``rho``, else ``DEFAULT_RHO`` (what reports
        have always carried there)."""
        own = self.settings_for(name).penalty(self.model.beta)
        if own is not None:
            return own
        admm = self.settings_for("admm")
        assert isinstance(admm, AdmmSettings)
        return float(admm.rho) if admm.rho is not None else DEFAULT_RHO


def auto_solver(config: Phase1Config, n: int, d: int, device: torch.device | str = "cpu") -> str:
    """``"auto"``: ``"fista"`` for the gated program; for ReLU ``"admm"`` when its exact u-step fits
    (:func:`coala_lib.convex.config.exact_core` within :meth:`coala_lib.convex.admm.AdmmSettings.core_limit`),
    ``"alm"`` otherwise. The ReLU rule follows ``results/bench_solver_cpu_grid.json``,
    ``results/bench_solver_targets_cpu.json`` and ``results/bench_solver_heads_cpu.json``
    (``bench/solver.py``): where the core fits, the exact ADMM certified every measured target first."""
    if config.model.kind == "gated":
        return "fista"
    admm = config.settings_for("admm")
    assert isinstance(admm, AdmmSettings)
    return "admm" if exact_core(n, d, config.model.P, admm.core_limit(device)) is not None else "alm"


@dataclass
class Phase1History:
    """One entry per step (``objective`` and ``violation`` at the iterate the fit returns, ``pcg_iters``
    0 for the first-order methods, ADMM residuals NaN for them; ``seconds`` since the start of the fit,
    synchronised on CUDA) and one ``checks`` entry per certificate (:meth:`Certificate.as_dict` plus
    ``iteration``, ``seconds`` and the solver's ``penalty``)."""

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
class Phase1Result(Generic[C]):
    """What :func:`fit_phase1` returns: the model, its certificate, the history and timings.

    ``certificate`` is that of ``model`` (primal objective, lower bound, relative gap, cone violation);
    ``certified`` repeats its verdict. ``config`` is the config the caller gave (a :class:`Phase1Config`, or the
    deprecated ``CronosConfig`` of :func:`coala_lib.convex.cronos.fit_cronos`), ``phase1`` the
    :class:`Phase1Config` that ran, ``method`` the solver. ``pcg_iterate`` is an ADMM's dense :math:`u`
    (``None`` for other solvers), ``multipliers`` the cone multipliers the certificate used (``None`` for
    gated), ``warm`` where the solver stopped (pass it as ``start=`` to the next fit of a path)."""

    model: ConvexModel
    certificate: Certificate
    history: Phase1History
    patterns: ActivationPatterns
    config: C
    method: str
    iterations: int
    pcg_iterate: torch.Tensor | None
    multipliers: torch.Tensor | None
    setup_seconds: float
    preconditioner_seconds: float
    total_seconds: float
    phase1: Phase1Config
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
        """The group-lasso weight of the program (Phase I's regularisation)."""
        return float(self.phase1.model.beta)

    @property
    def rho(self) -> float:
        """The ADMM penalty the fit reports (:meth:`Phase1Config.reported_penalty`; NaN-free for every solver)."""
        return self.phase1.reported_penalty(self.method)

    def summary(self) -> dict[str, Any]:
        """Flat record for reports: method, iterations, seconds and the certificate's fields."""
        return {"method": self.method, "iterations": self.iterations, "seconds": self.total_seconds} | {
            f"certificate_{k}": v for k, v in self.certificate.as_dict().items()
        }


def recover_model(patterns: ActivationPatterns, U: torch.Tensor, model: str) -> ConvexModel:
    """The convex ``model`` (``"relu"``: rows :math:`[v; w]`; ``"gated"``) of the stacked iterate ``U``."""
    if model == "relu":
        P = U.shape[0] // 2
        return ConvexReLU(patterns, U[:P].clone(), U[P:].clone())
    return ConvexGatedReLU(patterns, U.clone())


def fit_phase1(
    X: torch.Tensor,
    y: torch.Tensor,
    config: Phase1Config | None = None,
    *,
    patterns: ActivationPatterns | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    start: WarmStart | None = None,
) -> Phase1Result[Phase1Config]:
    """Fit the convex ReLU or gated-ReLU program of ``config`` (default :class:`Phase1Config`) and certify it.

    ``X`` (n, d) float32/float64 on any device (all work stays there; dtype follows ``X``); ``y`` (n,)
    labels +1/-1 (real targets need ``config.model.allow_real_targets``). ``patterns`` reuses given gates, else
    ``config.model.P`` gates are drawn with its ``seed``. ``callback(k, U)`` sees the stacked iterate the fit
    would return after step ``k``. ``start`` (:attr:`Phase1Result.warm` of a fit on the same ``X``, ``y`` and
    gates) starts the solver where that fit stopped. The result carries the model's :class:`Certificate`; when
    it is not certified an :class:`UncertifiedWarning` says by how much. CPU runs are bitwise reproducible.
    """
    config = config if config is not None else Phase1Config()
    if not isinstance(config, Phase1Config):
        raise TypeError(
            f"config must be a Phase1Config, got {type(config).__name__}; build one: "
            "Phase1Config(model=Phase1Model(P=..., beta=...), solver='auto')"
        )
    return run_phase1(X, y, config, config, patterns=patterns, progress=progress, callback=callback, start=start)


class _Clock:
    """Seconds since the fit started, synchronised on ``device`` (CUDA work is asynchronous)."""

    def __init__(self, device: torch.device):
        self.device = device
        synchronize(device)
        self.started = time.perf_counter()

    def __call__(self) -> float:
        synchronize(self.device)
        return time.perf_counter() - self.started


class _Checker:
    """The certificate checks of one fit: each is certified against the best lower bound so far and logged."""

    def __init__(
        self, problem: Problem, solver: SolverState, stopping: StoppingRule, clock: _Clock, history: Phase1History
    ):
        self.problem, self.solver, self.stopping, self.clock, self.history = problem, solver, stopping, clock, history
        self.latest: Certificate | None = None  # its bound is the best so far (certify keeps the larger)

    def __call__(self, k: int) -> Certificate:
        problem, solver = self.problem, self.solver
        cert = certify(
            problem.plain_maps,
            problem.y,
            problem.beta,
            solver.U,
            solver.multipliers(),
            tol=self.stopping.tol,
            cone_tol=self.stopping.cone_tol,
            earlier=self.latest,
            left=solver.left,
            candidates=solver.dual_points(),
        )
        self.latest = cert
        self.history.checks.append(
            {"iteration": k, "seconds": self.clock(), "penalty": solver.penalty} | cert.as_dict()
        )
        return cert


def _objective_and_violation(problem: Problem, solver: SolverState) -> tuple[float, float]:
    pred, GU = problem.plain_maps.outputs(solver.left)
    objective = 0.5 * float((pred - problem.y).square().sum()) + problem.beta * float(group_norms(solver.U).sum())
    if GU is None:
        return objective, 0.0
    total = float(torch.linalg.vector_norm(GU))
    return objective, (float(torch.linalg.vector_norm(torch.relu(-GU))) / total if total > 0 else 0.0)


def _record_step(history: Phase1History, problem: Problem, solver: SolverState, clock: _Clock) -> None:
    objective, violation = _objective_and_violation(problem, solver)
    seconds = clock()
    history.objective.append(objective)
    history.violation.append(violation)
    history.primal_residual.append(solver.primal_residual)
    history.dual_residual.append(solver.dual_residual)
    history.pcg_iters.append(solver.pcg_iters)
    history.seconds.append(seconds)


def _iterate(
    problem: Problem,
    solver: SolverState,
    config: Phase1Config,
    method: str,
    clock: _Clock,
    progress: bool,
    callback: Callable[[int, torch.Tensor], None] | None,
) -> tuple[Phase1History, Certificate, int]:
    """Step ``solver`` until the stopping rule holds at a certificate check or ``max_iters`` steps ran."""
    stopping = config.stopping
    history = Phase1History()
    check = _Checker(problem, solver, stopping, clock, history)
    every = config.check_interval(method)
    certificate: Certificate | None = None
    k = 0
    for k in tqdm(range(1, stopping.max_iters + 1), disable=progress_off(progress), desc=f"phase I ({method})"):
        solver.step()
        _record_step(history, problem, solver, clock)
        if callback is not None:
            callback(k, solver.U)
        certificate = None
        if k % every == 0 or k == stopping.max_iters:
            certificate = check(k)
            if stopping.stops(certificate):
                break
            solver.observe(certificate)
    if certificate is None:
        certificate = check(k)
    return history, certificate, k


def run_phase1(
    X: torch.Tensor,
    y: torch.Tensor,
    config: Phase1Config,
    record: C,
    *,
    patterns: ActivationPatterns | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    start: WarmStart | None = None,
) -> Phase1Result[C]:
    """:func:`fit_phase1`'s work, with ``record`` the config the result carries (what the caller gave)."""
    clock = _Clock(X.device)
    n, d = X.shape
    method = config.solver_for(n, d, X.device)
    spec, settings = solver_spec(method), config.settings_for(method)
    problem = setup_problem(X, y, config.model, settings, patterns)
    setup_seconds = clock()
    if start is not None and tuple(start.u.shape) != problem.shape:
        raise ValueError(f"start holds iterates of shape {tuple(start.u.shape)}, this problem's are {problem.shape}")
    solver = spec.build(problem, config.model, config.stopping, settings, start)
    preconditioner_seconds = clock() - setup_seconds
    history, certificate, k = _iterate(problem, solver, config, method, clock, progress, callback)
    if not certificate.certified:
        warnings.warn(
            f"Phase I ({method}, {k} steps) is NOT certified: {certificate.summary()}", UncertifiedWarning, stacklevel=3
        )
    synchronize(X.device)
    return Phase1Result(
        model=recover_model(problem.patterns, solver.U, problem.maps.kind),
        certificate=certificate,
        history=history,
        patterns=problem.patterns,
        config=record,
        method=method,
        iterations=k,
        pcg_iterate=solver.pcg_iterate(),
        multipliers=solver.multipliers(),
        setup_seconds=setup_seconds,
        preconditioner_seconds=preconditioner_seconds,
        total_seconds=clock(),
        phase1=config,
        warm=solver.warm_start(),
    )
