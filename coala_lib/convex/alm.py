"""The augmented-Lagrangian solver of the cone-constrained ReLU program (``"alm"``: :class:`AlmSettings`,
registered here): FISTA (:mod:`coala_lib.convex.proximal`) on

.. math:: \\psi_\\rho(U; \\mu) = \\tfrac12\\|FU - y\\|^2 + \\tfrac1{2\\rho}\\big(\\|(\\mu - \\rho GU)_+\\|^2 - \\|\\mu\\|^2\\big),

then :math:`\\mu \\leftarrow (\\mu - \\rho GU)_+` once the inner problem is solved to the accuracy the
certificate shows (:meth:`AlmSolver.observe`); :math:`\\rho` grows by 4 whenever an update fails to halve
a violation still above tolerance. The ReLU default when the exact ADMM's core does not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from coala_lib.convex.certificate import Certificate
from coala_lib.convex.config import Phase1Model, SolverSettings, StoppingRule, check_positive
from coala_lib.convex.problem import Problem, WarmStart
from coala_lib.convex.proximal import FirstOrder, FistaState, squared_norm_F, squared_norm_X, start_iterate
from coala_lib.convex.reformulation import LinearMaps
from coala_lib.convex.solvers import SolverSpec, register_solver


class AugmentedLagrangianState(FistaState):
    """FISTA on :math:`\\psi_\\rho(\\cdot; \\mu)` (module docstring) with multiplier and penalty updates.

    ``rho`` is the penalty on the cone constraint; :math:`L = \\|F\\|^2 + \\rho\\|G\\|^2` is updated with it.
    """

    def __init__(
        self,
        maps: LinearMaps,
        y: torch.Tensor,
        beta: float,
        norm_F: float,
        norm_G: float,
        rho: float,
        U0: torch.Tensor,
    ):
        super().__init__(maps, y, beta, norm_F + rho * norm_G, U0)
        self.norm_F, self.norm_G, self.rho = norm_F, norm_G, float(rho)
        self.mu = torch.zeros(maps.X.shape[0], maps.groups, dtype=maps.X.dtype, device=maps.X.device)
        self.updates = 0
        self.last_violation = math.inf

    def smooth(self, left: torch.Tensor, U: torch.Tensor, need_grad: bool) -> tuple[float, torch.Tensor | None]:
        pred, GU = self.maps.outputs(left)
        assert GU is not None
        r = pred - self.y
        q = (self.mu - self.rho * GU).clamp(min=0.0)
        value = 0.5 * float(r.square().sum()) + (float(q.square().sum()) - float(self.mu.square().sum())) / (
            2 * self.rho
        )
        return value, (self.maps.adjoint(r, q) if need_grad else None)

    def multipliers(self) -> torch.Tensor:
        """:math:`(\\mu - \\rho GU)_+` at the current iterate: the estimate of the optimal multipliers."""
        _, GU = self.maps.outputs(self.left)
        assert GU is not None
        return (self.mu - self.rho * GU).clamp(min=0.0)

    def update_multipliers(self, violation: float, cone_tol: float) -> None:
        """:math:`\\mu \\leftarrow (\\mu - \\rho GU)_+`; :math:`\\rho \\times 4` when ``violation`` (relative, at the
        current iterate) is above ``cone_tol`` and more than half of the one at the previous update."""
        self.mu = self.multipliers()
        if violation > cone_tol and violation > 0.5 * self.last_violation:
            self.rho *= 4.0
            self.L = max(self.L, self.norm_F + self.rho * self.norm_G)
        self.last_violation = violation
        self.updates += 1
        self.reset_momentum()


class AlmSolver(FirstOrder):
    """:class:`FirstOrder` for an :class:`AugmentedLagrangianState`: it updates the multipliers from the
    certificate (:meth:`observe`) and reports its penalty."""

    state: AugmentedLagrangianState

    def __init__(self, state: AugmentedLagrangianState, cone_tol: float):
        super().__init__(state)
        self.cone_tol = cone_tol

    @property
    def penalty(self) -> float:
        """The augmented-Lagrangian penalty."""
        return self.state.rho

    def observe(self, certificate: Certificate) -> None:
        """Update :math:`\\mu` once the inner problem is solved to the accuracy the certificate shows,
        i.e. when the unscaled dual point's infeasibility is at most the cone violation (or a tenth of
        the gap): then more inner steps cannot help, only new multipliers can."""
        if certificate.certified:
            return
        target = max(certificate.cone_violation_rel, 0.1 * abs(certificate.relative_gap))
        if certificate.dual_infeasibility <= target:
            self.state.update_multipliers(certificate.cone_violation_rel, self.cone_tol)


@dataclass(frozen=True)
class AlmSettings(SolverSettings):
    """The augmented Lagrangian's settings: ``rho``, its initial penalty in units of
    :math:`\\|F\\|^2/\\|X\\|^2` (scale-free)."""

    solver: ClassVar[str] = "alm"
    rho: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self, "rho")


def build_alm(
    problem: Problem, model: Phase1Model, stopping: StoppingRule, settings: AlmSettings, start: WarmStart | None
) -> AlmSolver:
    """The augmented Lagrangian on ``problem`` (ReLU), FISTA inside."""
    maps = problem.maps
    norm_F = squared_norm_F(maps, seed=model.seed)
    U0 = start_iterate(problem, start)
    norm_G = squared_norm_X(problem.X)
    rho = settings.rho * norm_F / norm_G
    state = AugmentedLagrangianState(maps, problem.y, problem.beta, norm_F, norm_G, rho, U0)
    return AlmSolver(state, stopping.cone_tol)


ALM = register_solver(
    SolverSpec(
        name="alm",
        settings=AlmSettings,
        models=("relu",),
        build=build_alm,
        check_every=10,
        summary="augmented Lagrangian on the cone constraints, FISTA inside (ReLU beyond the exact core)",
    )
)
