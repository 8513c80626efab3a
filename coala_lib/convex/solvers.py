"""The Phase I solvers' registry: each solver is one file that declares its settings (a frozen
:class:`coala_lib.convex.config.SolverSettings`), a ``build`` function that starts it on a set-up
:class:`coala_lib.convex.problem.Problem`, and one :func:`register_solver` call.

Built in (each registered by its own module, which the package's ``__init__`` imports): ``"admm"``
(:mod:`coala_lib.convex.admm`), ``"cronos"`` (:mod:`coala_lib.convex.cronos`), ``"fista"``
(:mod:`coala_lib.convex.proximal`) and ``"alm"`` (:mod:`coala_lib.convex.alm`).
:func:`coala_lib.convex.phase1.fit_phase1` runs whichever one a
:class:`coala_lib.convex.phase1.Phase1Config` names; CONTRIBUTING.md shows how to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from coala_lib.convex.certificate import Certificate, DualPoint
from coala_lib.convex.config import Phase1Model, SolverSettings, StoppingRule
from coala_lib.convex.problem import Problem, WarmStart


class SolverState(Protocol):
    """What :func:`coala_lib.convex.phase1.fit_phase1` asks of a running solver: one iteration per
    :meth:`step`, the iterate it would return (``U`` and its :math:`XU^\\top`, ``left``), the certificate's
    inputs (:meth:`multipliers`, :meth:`dual_points`), a reaction to each certificate (:meth:`observe`), where
    it stands (:meth:`warm_start`) and the per-step numbers its history records."""

    pcg_iters: int
    primal_residual: float
    dual_residual: float

    @property
    def U(self) -> torch.Tensor: ...

    @property
    def left(self) -> torch.Tensor: ...

    @property
    def penalty(self) -> float: ...

    def step(self) -> None: ...

    def observe(self, certificate: Certificate) -> None: ...

    def multipliers(self) -> torch.Tensor | None: ...

    def dual_points(self) -> list[DualPoint]: ...

    def warm_start(self) -> WarmStart: ...

    def pcg_iterate(self) -> torch.Tensor | None: ...


#: ``build(problem, model, stopping, settings, start)``: the solver started on ``problem``.
Builder = Callable[[Problem, Phase1Model, StoppingRule, Any, "WarmStart | None"], SolverState]


@dataclass(frozen=True)
class SolverSpec:
    """A registered Phase I solver: its ``name``, its ``settings`` class (built with its defaults when a
    config gives none), the programs it solves (``models``: ``"relu"``, ``"gated"``), its ``build`` function,
    the default steps between certificate checks (``check_every``) and a one-line ``summary``."""

    name: str
    settings: type[SolverSettings]
    models: tuple[str, ...]
    build: Builder
    check_every: int = 10
    summary: str = ""


#: name -> solver; filled by :func:`register_solver` as the solver modules are imported.
SOLVERS: dict[str, SolverSpec] = {}


def register_solver(spec: SolverSpec) -> SolverSpec:
    """Add ``spec`` to :data:`SOLVERS` (its settings class must name it; a name is registered once)."""
    if spec.name == "auto" or not spec.name:
        raise ValueError(f"solver name {spec.name!r} is reserved or empty; pick another")
    if spec.settings.solver != spec.name:
        raise ValueError(f"{spec.settings.__name__}.solver is {spec.settings.solver!r}, the solver is {spec.name!r}")
    if spec.name in SOLVERS and SOLVERS[spec.name] != spec:
        raise ValueError(f"a Phase I solver named {spec.name!r} is already registered")
    SOLVERS[spec.name] = spec
    return spec


def solver_spec(name: str) -> SolverSpec:
    """The registered solver ``name`` (a ``ValueError`` lists the registered ones)."""
    if name not in SOLVERS:
        raise ValueError(f"unknown Phase I solver {name!r}; registered: {sorted(SOLVERS)} (or 'auto')")
    return SOLVERS[name]
