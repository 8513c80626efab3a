"""The FISTA solver (``"fista"``, gated ReLU: :class:`FistaSettings`, registered here) and the first-order
machinery the augmented Lagrangian (``"alm"``, :mod:`coala_lib.convex.alm`) runs inside.

Both minimise a smooth part plus the group penalty :math:`h(U) = \\beta\\sum_j\\|U_j\\|_2` by FISTA
(Beck & Teboulle 2009) with the gradient restart of O'Donoghue & Candes (2015): momentum is reset
whenever :math:`\\langle Y_k - U_{k+1}, U_{k+1} - U_k\\rangle > 0`. The step is :math:`1/L` with
:math:`L` from a power iteration, doubled whenever the quadratic upper bound fails (backtracking;
the test reuses products the next step needs anyway). One iteration costs one product with
:math:`X` and one with :math:`X^\\top` (:math:`2 n d\\cdot\\text{groups}` multiply-adds): the momentum
point's :math:`XY^\\top` is extrapolated from the iterates' (linearity), never recomputed.

* **gated ReLU** (:class:`FistaState`): smooth part :math:`\\tfrac12\\|FU - y\\|^2`.
* **ReLU** (:class:`coala_lib.convex.alm.AugmentedLagrangianState`): the constraint :math:`GU \\ge 0` is handled by the augmented
  Lagrangian (Rockafellar 1976) with multipliers :math:`\\mu \\ge 0` and penalty :math:`\\rho`,

  .. math:: \\psi_\\rho(U; \\mu) = \\tfrac12\\|FU - y\\|^2 + \\tfrac1{2\\rho}\\big(\\|(\\mu - \\rho GU)_+\\|^2 - \\|\\mu\\|^2\\big),
            \\qquad \\nabla\\psi = F^\\top(FU - y) - G^\\top(\\mu - \\rho GU)_+ ,

  minimised over :math:`U` by the same FISTA (warm-started), then :math:`\\mu \\leftarrow (\\mu - \\rho GU)_+`.
  The multiplier estimate :math:`(\\mu - \\rho GU)_+ \\ge 0` is exactly what the duality-gap
  certificate (:mod:`coala_lib.convex.certificate`) needs. The multipliers are updated when the
  inner problem is solved to the accuracy of the current cone violation (:meth:`coala_lib.convex.alm.AlmSolver.observe`);
  :math:`\\rho` grows by 4 whenever an update fails to halve a violation still above tolerance.

:class:`FirstOrder` gives both the solver interface of :func:`coala_lib.convex.phase1.fit_phase1`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from coala_lib.convex.certificate import Certificate, DualPoint
from coala_lib.convex.config import Phase1Model, SolverSettings, StoppingRule
from coala_lib.convex.problem import Problem, WarmStart
from coala_lib.convex.reformulation import LinearMaps, group_norms
from coala_lib.convex.solvers import SolverSpec, register_solver


def group_soft_threshold(Z: torch.Tensor, threshold: float) -> torch.Tensor:
    """Prox of :math:`t\\sum_i\\|z_i\\|_2`: rows shrink by ``threshold`` in norm, or vanish if shorter."""
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    norms = group_norms(Z).unsqueeze(-1)
    scale = torch.clamp(1 - threshold / torch.clamp(norms, min=torch.finfo(Z.dtype).tiny), min=0.0)
    return Z * scale


def project_nonnegative(Z: torch.Tensor) -> torch.Tensor:
    """Euclidean projection onto the nonnegative orthant, :math:`\\max(Z, 0)`."""
    return torch.clamp(Z, min=0.0)


def squared_norm_F(maps: LinearMaps, iters: int = 30, seed: int = 0) -> float:
    """:math:`\\|F\\|_2^2` (largest eigenvalue of :math:`F^\\top F`) by ``iters`` power iterations, times 1.01."""
    g = torch.Generator().manual_seed(seed)
    U = torch.randn(maps.groups, maps.X.shape[1], generator=g, dtype=torch.float64).to(maps.X.device, maps.X.dtype)
    value = 0.0
    for _ in range(iters):
        U = U / torch.linalg.vector_norm(U)
        W = maps.FT(maps.F(U))
        value = float((U * W).sum())
        U = W
    return 1.01 * value


def squared_norm_X(X: torch.Tensor) -> float:
    """:math:`\\|X\\|_2^2` (the cone map :math:`G` acts group-wise as :math:`(2D_i - I)X`, so
    :math:`\\|G\\|_2 = \\|X\\|_2` times its scale)."""
    small = X.T @ X if X.shape[0] >= X.shape[1] else X @ X.T
    return float(torch.linalg.eigvalsh(small.to(torch.float64))[-1])


class FistaState:
    """FISTA with gradient restart on :math:`\\tfrac12\\|FU - y\\|^2 + \\beta\\sum_j \\|U_j\\|`
    (plus, in the subclass, the augmented-Lagrangian term). ``U`` is the current iterate, ``left``
    its :math:`XU^\\top`."""

    def __init__(self, maps: LinearMaps, y: torch.Tensor, beta: float, lipschitz: float, U0: torch.Tensor):
        self.maps, self.y, self.beta, self.L = maps, y, float(beta), float(lipschitz)
        self.U = U0.clone()
        self.left = maps.left(self.U)
        self.U_prev, self.left_prev = self.U, self.left
        self.t = 1.0
        self.restarts = 0
        self.backtracks = 0
        self.step_norm = math.inf

    def smooth(self, left: torch.Tensor, U: torch.Tensor, need_grad: bool) -> tuple[float, torch.Tensor | None]:
        """Value (and gradient) of the smooth part at ``U`` given its ``left``."""
        pred, _ = self.maps.outputs(left)
        r = pred - self.y
        value = 0.5 * float(r.square().sum())
        return value, (self.maps.adjoint(r) if need_grad else None)

    def multipliers(self) -> torch.Tensor | None:
        """Cone multipliers for the certificate at the current iterate (none for plain FISTA)."""
        return None

    def reset_momentum(self) -> None:
        self.t = 1.0
        self.U_prev, self.left_prev = self.U, self.left

    def step(self) -> None:
        """One accelerated proximal-gradient step (with backtracking and restart)."""
        t_next = 0.5 * (1 + math.sqrt(1 + 4 * self.t * self.t))
        momentum = (self.t - 1) / t_next
        Y = self.U + momentum * (self.U - self.U_prev)
        left_Y = self.left + momentum * (self.left - self.left_prev)
        value_Y, grad = self.smooth(left_Y, Y, need_grad=True)
        assert grad is not None
        while True:
            U_new = group_soft_threshold(Y - grad / self.L, self.beta / self.L)
            left_new = self.maps.left(U_new)
            value_new, _ = self.smooth(left_new, U_new, need_grad=False)
            diff = U_new - Y
            bound = value_Y + float((grad * diff).sum()) + 0.5 * self.L * float(diff.square().sum())
            if value_new <= bound + 1e-12 * max(abs(bound), 1.0):
                break
            self.L *= 2.0
            self.backtracks += 1
        self.step_norm = float(torch.linalg.vector_norm(diff)) * self.L
        if float(((Y - U_new) * (U_new - self.U)).sum()) > 0:
            self.restarts += 1
            t_next = 1.0
            self.U_prev, self.left_prev = U_new, left_new
        else:
            self.U_prev, self.left_prev = self.U, self.left
        self.U, self.left, self.t = U_new, left_new, t_next


class FirstOrder:
    """Adapter giving a :class:`FistaState` the solver interface of :func:`coala_lib.convex.phase1.fit_phase1`
    (:class:`coala_lib.convex.alm.AlmSolver` extends it with the augmented Lagrangian's updates)."""

    def __init__(self, state: FistaState):
        self.state = state
        self.pcg_iters = 0
        self.primal_residual = math.nan
        self.dual_residual = math.nan

    @property
    def U(self) -> torch.Tensor:
        return self.state.U

    @property
    def left(self) -> torch.Tensor:
        return self.state.left

    def multipliers(self) -> torch.Tensor | None:
        return self.state.multipliers()

    def dual_points(self) -> list[DualPoint]:
        """No candidates beyond the iterate's own residual: its multipliers are the ALM's (FISTA: none)."""
        return []

    def warm_start(self) -> WarmStart:
        """The iterate for the next fit of a path (:class:`WarmStart`). Not the ALM's multipliers: found at
        another beta and a grown penalty, they derail the next fit (on the path test's problem, primal 178.7
        instead of 61.5 at the last point); the iterate alone reaches the cold path's certified objectives."""
        U = self.state.U.clone()
        return WarmStart(U, U, self.state.beta)

    def pcg_iterate(self) -> None:
        """No PCG iterate: a first-order method has one iterate."""
        return None

    @property
    def penalty(self) -> float:
        """No penalty (NaN); the augmented Lagrangian's is its own."""
        return math.nan

    def step(self) -> None:
        self.state.step()

    def observe(self, certificate: Certificate) -> None:
        """FISTA ignores the certificate (it only stops the fit)."""


def start_iterate(problem: Problem, start: WarmStart | None) -> torch.Tensor:
    """Where a first-order method starts: zero, or the group-sparse iterate of ``start``."""
    X = problem.X
    return torch.zeros(problem.shape, dtype=X.dtype, device=X.device) if start is None else start.v.to(X)


@dataclass(frozen=True)
class FistaSettings(SolverSettings):
    """FISTA's settings: none beyond the model and the stopping rule (its step comes from a power iteration
    seeded with the model's ``seed``, and backtracking)."""

    solver: ClassVar[str] = "fista"


def build_fista(
    problem: Problem, model: Phase1Model, stopping: StoppingRule, settings: FistaSettings, start: WarmStart | None
) -> FirstOrder:
    """Accelerated proximal gradient with restarts on ``problem`` (gated ReLU)."""
    norm_F = squared_norm_F(problem.maps, seed=model.seed)
    return FirstOrder(FistaState(problem.maps, problem.y, problem.beta, norm_F, start_iterate(problem, start)))


FISTA = register_solver(
    SolverSpec(
        name="fista",
        settings=FistaSettings,
        models=("gated",),
        build=build_fista,
        check_every=10,
        summary="accelerated proximal gradient with restarts (gated ReLU; the default there)",
    )
)
