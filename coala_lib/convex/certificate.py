"""A duality-gap certificate for the convex ReLU and gated-ReLU programs.

Write :math:`f(z) = \\tfrac12\\|z - y\\|^2`, :math:`h(U) = \\beta\\sum_j \\|U_j\\|_2` (rows :math:`U_j`: the
:math:`2P` groups :math:`[v; w]` for ReLU, the :math:`P` groups :math:`u` for gated) and the maps :math:`F`,
:math:`G` of :class:`coala_lib.convex.reformulation.LinearMaps`. The ReLU program is
:math:`p^\\star = \\min_U f(FU) + h(U)` s.t. :math:`GU \\ge 0`; the gated one drops the constraint.

**Lagrangian.** With a multiplier :math:`\\lambda \\in \\mathbb R^n` for :math:`z = FU` and
:math:`\\mu \\in \\mathbb R^{n \\times 2P}_{\\ge 0}` for :math:`GU \\ge 0`,

.. math:: L(U, z, \\lambda, \\mu) = f(z) + h(U) + \\lambda^\\top (FU - z) - \\langle \\mu, GU \\rangle .

**Dual.** Minimising over :math:`z` gives :math:`-f^*(\\lambda) = -\\tfrac12\\|\\lambda\\|^2 - \\lambda^\\top y`;
minimising over :math:`U` gives 0 if every group satisfies
:math:`\\|(F^\\top\\lambda - G^\\top\\mu)_j\\|_2 \\le \\beta` and :math:`-\\infty` otherwise (:math:`h^*` is the
indicator of the dual-norm ball). So for every dual-feasible :math:`(\\lambda, \\mu)`

.. math:: d(\\lambda) = -\\tfrac12\\|\\lambda\\|^2 - \\lambda^\\top y \\;\\le\\; p^\\star

(weak duality; the constraint is homogeneous, so :math:`\\mu` enters only through feasibility). The
gated dual has :math:`\\mu = 0`.

**Scaling to feasibility.** From a primal iterate :math:`U` take :math:`\\lambda_0 = FU - y` (the
optimal :math:`\\lambda` is the residual at the optimum) and :math:`\\mu_0 \\ge 0` (the solver's cone
multipliers, projected onto :math:`\\mu \\ge 0`). The feasibility constraint is positively homogeneous
in :math:`(\\lambda, \\mu)`, so :math:`(t\\lambda_0, t\\mu_0)` is feasible for
:math:`0 \\le t \\le t_{\\max} = \\beta / \\max_j \\|(F^\\top\\lambda_0 - G^\\top\\mu_0)_j\\|`. The dual objective is
a concave quadratic in :math:`t`, maximised at :math:`t^\\star = -\\lambda_0^\\top y/\\|\\lambda_0\\|^2`; the bound
uses :math:`t = \\min(\\max(t^\\star, 0), t_{\\max})` and is rigorous whatever :math:`U` and :math:`\\mu_0` are (only
its tightness depends on them). At a KKT point :math:`t = 1` and the bound equals :math:`p^\\star`.

**Primal side.** :math:`f(FU) + h(U)` bounds :math:`p^\\star` from above only when :math:`GU \\ge 0`; the
certificate therefore reports the cone violation of :math:`U` next to the gap, and certifies only when
both the relative gap :math:`(p - d)/|p|` and the relative violation :math:`\\|(-GU)_+\\|/\\|GU\\|` are
at most the tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from coala_lib.convex.reformulation import LinearMaps, group_norms


@dataclass(frozen=True)
class Certificate:
    """Primal objective and dual lower bound of an iterate, their gap, and its cone violation.

    ``relative_gap`` is :math:`(p - d)/|p|`; ``cone_violation_max`` is :math:`\\max(-GU)_+` and
    ``cone_violation_rel`` :math:`\\|(-GU)_+\\|_2/\\|GU\\|_2` (both 0 for gated). ``certified`` is
    ``relative_gap <= tol and cone_violation_rel <= cone_tol``; ``dual_scale`` is the :math:`t` used and
    ``dual_infeasibility`` :math:`\\max_j\\|(F^\\top\\lambda_0 - G^\\top\\mu_0)_j\\|/\\beta - 1` (clipped at 0): how far the
    unscaled dual point is from feasible (small when the iterate is near a minimiser for its multipliers).
    """

    primal: float
    lower_bound: float
    gap: float
    relative_gap: float
    cone_violation_max: float
    cone_violation_rel: float
    dual_scale: float
    dual_infeasibility: float
    tol: float
    cone_tol: float
    certified: bool

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)

    def summary(self) -> str:
        status = "certified" if self.certified else "NOT certified"
        return (
            f"primal {self.primal:.8g}, lower bound {self.lower_bound:.8g}, relative gap {self.relative_gap:.2e}, "
            f"cone violation {self.cone_violation_rel:.2e} (max {self.cone_violation_max:.2e}): {status} "
            f"at tol {self.tol:g} / {self.cone_tol:g}"
        )


def dual_bound(
    maps: LinearMaps, y: torch.Tensor, beta: float, residual: torch.Tensor, mu: torch.Tensor | None
) -> tuple[float, float, float]:
    """(:math:`d(t\\lambda_0)`, :math:`t`, dual infeasibility) for :math:`\\lambda_0` = ``residual`` = :math:`FU - y` and the
    multipliers ``mu`` (n, 2P) (projected onto :math:`\\ge 0` here; ``None`` = 0, the only choice for gated)."""
    lam_sq = float(residual.square().sum())
    if lam_sq == 0.0:
        return 0.0, 0.0, 0.0
    Z = maps.adjoint(residual, mu.clamp(min=0.0) if maps.kind == "relu" and mu is not None else None)
    worst = float(group_norms(Z).max())
    lam_y = float(residual @ y)
    t_max = beta / worst if worst > 0 else float("inf")
    t = min(max(-lam_y / lam_sq, 0.0), t_max)
    return -0.5 * t * t * lam_sq - t * lam_y, t, max(worst / beta - 1.0, 0.0) if beta > 0 else worst


def violation_of(GU: torch.Tensor | None) -> tuple[float, float]:
    """(:math:`\\max(-GU)_+`, :math:`\\|(-GU)_+\\|/\\|GU\\|`) of cone values ``GU``; (0, 0) for ``None`` (gated)."""
    if GU is None:
        return 0.0, 0.0
    neg = torch.relu(-GU)
    total = float(torch.linalg.vector_norm(GU))
    norm = float(torch.linalg.vector_norm(neg))
    return float(neg.max()) + 0.0, (norm / total if total > 0 else 0.0)


def certify(
    maps: LinearMaps,
    y: torch.Tensor,
    beta: float,
    U: torch.Tensor,
    mu: torch.Tensor | None = None,
    *,
    tol: float = 1e-4,
    cone_tol: float = 1e-4,
    lower_bound: float = -float("inf"),
    left: torch.Tensor | None = None,
    dual_residual: torch.Tensor | None = None,
) -> Certificate:
    """The :class:`Certificate` of the stacked iterate ``U`` with cone multipliers ``mu`` (module docstring).

    ``lower_bound`` is a bound already proven (e.g. from an earlier iterate); the larger one is kept.
    ``left`` optionally passes ``maps.left(U)`` when the caller has it (saves one pass over ``X``).
    ``dual_residual`` replaces :math:`\\lambda_0 = FU - y` by another residual :math:`FU' - y` (any
    :math:`\\lambda_0` gives a valid bound; ADMM's stationarity holds at its PCG iterate, not at ``U``).
    """
    pred, GU = maps.outputs(maps.left(U) if left is None else left)
    residual = pred - y
    primal = 0.5 * float(residual.square().sum()) + beta * float(group_norms(U).sum())
    lam0 = residual if dual_residual is None else dual_residual
    bound, t, infeasibility = dual_bound(maps, y, beta, lam0, mu)
    bound = max(bound, lower_bound)
    vmax, vrel = violation_of(GU)
    gap = primal - bound
    rel = gap / abs(primal) if primal != 0 else (0.0 if gap == 0 else float("inf"))
    return Certificate(
        primal=primal,
        lower_bound=bound,
        gap=gap,
        relative_gap=rel,
        cone_violation_max=vmax,
        cone_violation_rel=vrel,
        dual_scale=t,
        dual_infeasibility=infeasibility,
        tol=tol,
        cone_tol=cone_tol,
        certified=bool(rel <= tol and vrel <= cone_tol),
    )
