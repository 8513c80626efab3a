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

**Correcting the dual point (tall problems).** The scaling fails where :math:`\\|F\\|` is large next to
:math:`\\beta`: an error :math:`\\delta` in :math:`U` moves :math:`F^\\top\\lambda_0` by :math:`F^\\top F\\delta`, so
:math:`t_{\\max}` collapses long before the primal objective stops improving. When
:math:`M = [D_1X, \\dots, D_PX]` (:math:`n \\times dP`) has full column rank (:math:`n > dP`), a feasible
:math:`\\lambda` can be built instead of scaled: with :math:`h_i = (M^\\top\\lambda)_i` and
:math:`c = G^\\top\\mu = [c_v; c_w]`, feasibility reads :math:`h_i \\in C_i = B(c_{v,i}, \\beta) \\cap B(-c_{w,i}, \\beta)`
(ReLU; :math:`F^\\top\\lambda = [h; -h]`) or :math:`h_i \\in B(0, \\beta)` (gated). Project
:math:`h^0 = M^\\top\\lambda_0` onto :math:`C` (:func:`lens_projection`), then take the :math:`\\lambda` that
maximises :math:`d` on :math:`\\{M^\\top\\lambda = h\\}`: :math:`\\lambda = Mw - y` with
:math:`M^\\top M\\, w = h + M^\\top y` (:class:`GramCorrection`). That is exactly the residual of the
primal point whose stationarity equation holds with the projected subgradient, so it is accurate to
the error in :math:`h`, not to :math:`\\|F\\|^2` times the error in :math:`U`. Rounding in the solve is
absorbed by the scaling above, which is applied to every candidate: the bound stays rigorous.

**The gated relaxation's dual (ReLU).** :math:`\\mu = 0` is always allowed: :math:`(\\lambda, 0)` is
feasible when every :math:`\\|(M^\\top\\lambda)_i\\| \\le \\beta`, the gated program's dual constraint, so the gated
optimum (which is :math:`\\le p^\\star`: :math:`u_i = v_i - w_i` has the same fit and
:math:`\\|u_i\\| \\le \\|v_i\\| + \\|w_i\\|`) bounds the ReLU one. The bound is tight when the cone constraints barely
move the optimum, as on tall problems, and there it needs no multipliers at all, where ADMM's, scaled,
prove little (``tests/test_certificate.py`` measures both on planted data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch

from coala_lib.convex.reformulation import LinearMaps, group_norms


@dataclass(frozen=True)
class Certificate:
    """Primal objective and dual lower bound of an iterate, their gap, and its cone violation.

    ``relative_gap`` is :math:`(p - d)/|p|`; ``cone_violation_max`` is :math:`\\max(-GU)_+` and
    ``cone_violation_rel`` :math:`\\|(-GU)_+\\|_2/\\|GU\\|_2` (both 0 for gated). ``certified`` is
    ``relative_gap <= tol and cone_violation_rel <= cone_tol``; ``dual_scale`` is the :math:`t` used and
    ``dual_infeasibility`` :math:`\\max_j\\|(F^\\top\\lambda_0 - G^\\top\\mu_0)_j\\|/\\beta - 1` (clipped at 0): how far the
    unscaled dual point is from feasible (small when the iterate is near a minimiser for its multipliers);
    both describe this check's best candidate. ``dual_point`` names the :class:`DualPoint` that gave the bound
    (``"iterate"``: :math:`FU - y` with the given multipliers), or the earlier one whose bound was carried over.
    """

    primal: float
    lower_bound: float
    gap: float
    relative_gap: float
    cone_violation_max: float
    cone_violation_rel: float
    dual_scale: float
    dual_infeasibility: float
    dual_point: str
    tol: float
    cone_tol: float
    certified: bool

    def as_dict(self) -> dict[str, float | bool | str]:
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


def lens_projection(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, radius: float) -> torch.Tensor:
    """Row-wise Euclidean projection of ``x`` onto :math:`B(a_i, r) \\cap B(b_i, r)` (all (k, d)).

    The projection is ``x`` inside both balls, else the projection onto one ball if it lies in the
    other, else the nearest point of the circle where the two spheres meet (centre :math:`(a + b)/2`,
    radius :math:`\\sqrt{r^2 - \\|b - a\\|^2/4}`, in the hyperplane normal to :math:`b - a`). An empty
    intersection (:math:`\\|b - a\\| > 2r`) returns the midpoint: not feasible, and the caller's scaling
    then decides how much of the bound survives."""

    def onto_ball(centre: torch.Tensor) -> torch.Tensor:
        offset = x - centre
        norm = group_norms(offset)[:, None]
        return centre + offset * torch.clamp(radius / norm.clamp(min=torch.finfo(x.dtype).tiny), max=1.0)

    def inside(z: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        return (group_norms(z - centre) <= radius)[:, None]

    pa, pb = onto_ball(a), onto_ball(b)
    mid = 0.5 * (a + b)
    axis = b - a
    half = 0.5 * group_norms(axis)[:, None]
    axis = axis / (2 * half).clamp(min=torch.finfo(x.dtype).tiny)
    off = x - mid
    off = off - (off * axis).sum(-1, keepdim=True) * axis
    circle_radius = (radius**2 - half.square()).clamp(min=0.0).sqrt()
    circle = mid + circle_radius * off / group_norms(off)[:, None].clamp(min=torch.finfo(x.dtype).tiny)
    out = torch.where(inside(pb, a), pb, circle)
    out = torch.where(inside(pa, b), pa, out)
    return torch.where(inside(x, a) & inside(x, b), x, out)


def gram_factor(gram: torch.Tensor) -> torch.Tensor:
    """Cholesky factor (float64) of :math:`M^\\top M + \\epsilon I`, ``gram`` = :math:`M^\\top M`, with
    :math:`\\epsilon = 10^{-12}` of its mean diagonal (a pattern active on fewer than ``d`` rows leaves
    :math:`M` rank-deficient; the ridge only perturbs :math:`h` by :math:`\\epsilon w`, which the scaling absorbs)."""
    shifted = gram.to(torch.float64, copy=True)
    shifted.diagonal().add_(1e-12 * float(shifted.diagonal().mean()) + torch.finfo(torch.float64).tiny)
    return torch.linalg.cholesky(shifted)


class DualPoint(NamedTuple):
    """A candidate :math:`(\\lambda_0, \\mu_0)` for :func:`certify`, named for the record (``Certificate.dual_point``)."""

    name: str
    residual: torch.Tensor
    mu: torch.Tensor | None


class GramCorrection:
    """The corrected dual point :math:`\\lambda = Mw - y` of the module docstring, for one problem.

    Built once per fit from ``factor`` = :func:`gram_factor` of :math:`M^\\top M` (the weights-side u-step
    inverse has it, :class:`coala_lib.convex.pcg.PrimalInverse`), with :math:`M^\\top y` computed here. A call
    corrects one residual for several multiplier choices at once: one pass over ``X`` for :math:`M^\\top\\lambda_0`,
    one more per multiplier and per result, and one pair of (dP, dP) triangular solves for all of them (the factor
    is read once per call, not once per multiplier choice)."""

    def __init__(self, maps: LinearMaps, y: torch.Tensor, beta: float, factor: torch.Tensor):
        self.maps, self.y, self.beta, self.factor = maps, y, beta, factor
        self.P, self.d = maps.P, maps.X.shape[1]
        self.Mty = maps.adjoint(y)[: self.P]  # ReLU: F^T y = [M^T y; -M^T y]

    def __call__(self, residual: torch.Tensor, mus: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
        """One :math:`\\lambda` per entry of ``mus`` from :math:`\\lambda_0` = ``residual``: the multipliers
        (projected onto :math:`\\ge 0`; ReLU only) or ``None`` (the gated relaxation's dual)."""
        maps, P = self.maps, self.P
        h0 = maps.adjoint(residual)[:P]
        targets = []
        for mu in mus:
            if maps.kind == "relu" and mu is not None:
                cone = -maps.adjoint(torch.zeros_like(residual), mu.clamp(min=0.0))
                h = lens_projection(h0, cone[:P], -cone[P:], self.beta)
            else:
                zero = torch.zeros_like(h0)
                h = lens_projection(h0, zero, zero, self.beta)
            targets.append((h + self.Mty).reshape(-1))
        W = torch.cholesky_solve(torch.stack(targets, dim=1).to(torch.float64), self.factor).to(self.y.dtype)
        points = []
        for w in W.T.reshape(len(targets), P, self.d):
            stacked = torch.cat([w, torch.zeros_like(w)]) if maps.kind == "relu" else w
            points.append(maps.F(stacked) - self.y)
        return points


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
    earlier: Certificate | None = None,
    left: torch.Tensor | None = None,
    candidates: Sequence[DualPoint] = (),
) -> Certificate:
    """The :class:`Certificate` of the stacked iterate ``U`` with cone multipliers ``mu`` (module docstring).

    ``earlier`` is a certificate of an earlier iterate of the same problem: its bound stays proven, so the
    larger bound is kept, with the name of the dual point that proved it. ``left`` optionally passes
    ``maps.left(U)`` when the caller has it (saves one pass over ``X``). ``candidates`` are further
    :class:`DualPoint` s tried after ``DualPoint("iterate", FU - y, mu)`` (any pair gives a valid bound:
    ADMM's PCG residual, the corrected points of :class:`GramCorrection`); the best bound is kept, and
    ``dual_scale`` and ``dual_infeasibility`` describe the best candidate of this call.
    """
    pred, GU = maps.outputs(maps.left(U) if left is None else left)
    residual = pred - y
    primal = 0.5 * float(residual.square().sum()) + beta * float(group_norms(U).sum())
    points = [DualPoint("iterate", residual, mu), *candidates]
    bounds = [dual_bound(maps, y, beta, point.residual, point.mu) for point in points]
    best = max(range(len(points)), key=lambda i: bounds[i][0])
    bound, t, infeasibility = bounds[best]
    name = points[best].name
    if earlier is not None and earlier.lower_bound > bound:
        bound, name = earlier.lower_bound, earlier.dual_point
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
        dual_point=name,
        tol=tol,
        cone_tol=cone_tol,
        certified=bool(rel <= tol and vrel <= cone_tol),
    )
