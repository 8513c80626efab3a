"""First-order solvers for the convex programs: accelerated proximal gradient and an augmented Lagrangian.

Both minimise a smooth part plus the group penalty :math:`h(U) = \\beta\\sum_j\\|U_j\\|_2` by FISTA
(Beck & Teboulle 2009) with the gradient restart of O'Donoghue & Candes (2015): momentum is reset
whenever :math:`\\langle Y_k - U_{k+1}, U_{k+1} - U_k\\rangle > 0`. The step is :math:`1/L` with
:math:`L` from a power iteration, doubled whenever the quadratic upper bound fails (backtracking;
the test reuses products the next step needs anyway). One iteration costs one product with
:math:`X` and one with :math:`X^\\top` (:math:`2 n d\\cdot\\text{groups}` multiply-adds): the momentum
point's :math:`XY^\\top` is extrapolated from the iterates' (linearity), never recomputed.

* **gated ReLU** (:class:`FistaState`): smooth part :math:`\\tfrac12\\|FU - y\\|^2`.
* **ReLU** (:class:`AugmentedLagrangianState`): the constraint :math:`GU \\ge 0` is handled by the augmented
  Lagrangian (Rockafellar 1976) with multipliers :math:`\\mu \\ge 0` and penalty :math:`\\rho`,

  .. math:: \\psi_\\rho(U; \\mu) = \\tfrac12\\|FU - y\\|^2 + \\tfrac1{2\\rho}\\big(\\|(\\mu - \\rho GU)_+\\|^2 - \\|\\mu\\|^2\\big),
            \\qquad \\nabla\\psi = F^\\top(FU - y) - G^\\top(\\mu - \\rho GU)_+ ,

  minimised over :math:`U` by the same FISTA (warm-started), then :math:`\\mu \\leftarrow (\\mu - \\rho GU)_+`.
  The multiplier estimate :math:`(\\mu - \\rho GU)_+ \\ge 0` is exactly what the duality-gap
  certificate (:mod:`coala_lib.convex.certificate`) needs. The multipliers are updated when the
  inner problem is solved to the accuracy of the current cone violation (see :meth:`AugmentedLagrangianState.ready`);
  :math:`\\rho` grows by 4 whenever an update fails to halve a violation still above tolerance.

:class:`FirstOrder` gives both the solver interface of :func:`coala_lib.convex.cronos.fit_cronos`.
"""

from __future__ import annotations

import math

import torch

from coala_lib.convex.certificate import Certificate, DualPoint
from coala_lib.convex.config import CronosConfig
from coala_lib.convex.problem import Problem, WarmStart
from coala_lib.convex.reformulation import LinearMaps, group_norms


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


class FirstOrder:
    """Adapter giving :class:`FistaState` / :class:`AugmentedLagrangianState` the solver interface of
    :func:`fit_cronos`; the ALM updates its multipliers from the certificate (see :meth:`observe`)."""

    def __init__(self, problem: Problem, config: CronosConfig, start: WarmStart | None = None):
        maps, X = problem.maps, problem.X
        norm_F = squared_norm_F(maps, seed=config.seed)
        U0 = torch.zeros(problem.shape, dtype=X.dtype, device=X.device) if start is None else start.v.to(X)
        self.state: FistaState
        if maps.kind == "relu":
            norm_G = squared_norm_X(X)
            rho = config.alm_rho * norm_F / norm_G
            self.state = AugmentedLagrangianState(maps, problem.y, problem.beta, norm_F, norm_G, rho, U0)
        else:
            self.state = FistaState(maps, problem.y, problem.beta, norm_F, U0)
        self.cone_tol = config.cone_tol
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

    @property
    def penalty(self) -> float:
        """The augmented-Lagrangian penalty (NaN for FISTA)."""
        return self.state.rho if isinstance(self.state, AugmentedLagrangianState) else math.nan

    def step(self) -> None:
        self.state.step()

    def observe(self, certificate: Certificate) -> None:
        """ALM: update :math:`\\mu` once the inner problem is solved to the accuracy the certificate shows,
        i.e. when the unscaled dual point's infeasibility is at most the cone violation (or a tenth of
        the gap): then more inner steps cannot help, only new multipliers can."""
        state = self.state
        if not isinstance(state, AugmentedLagrangianState) or certificate.certified:
            return
        target = max(certificate.cone_violation_rel, 0.1 * abs(certificate.relative_gap))
        if certificate.dual_infeasibility <= target:
            state.update_multipliers(certificate.cone_violation_rel, self.cone_tol)
