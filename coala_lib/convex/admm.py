"""The exact, over-relaxed ADMM solver of Phase I (``"admm"``: :class:`AdmmSettings`, registered here) and
the ADMM iteration it shares with CRONOS (``"cronos"``, registered with its settings in
:mod:`coala_lib.convex.cronos`), both run by :func:`coala_lib.convex.phase1.fit_phase1`.

The convex ReLU program of :mod:`coala_lib.convex.reformulation` is split as

.. math:: \\min\\ \\tfrac12\\|F u - y\\|^2 + \\beta\\|v\\|_{2,1} + \\mathbb I_{\\ge 0}(s)
          \\quad \\text{s.t.}\\quad u = v,\\ G u = s,

and solved by scaled ADMM with penalty :math:`\\rho` and step :math:`\\gamma = 1`:

1. u-step: :math:`(I + F^\\top F/\\rho + G^\\top G)\\, u = F^\\top y/\\rho + v - \\lambda + G^\\top(s - \\nu)` by PCG,
   warm-started at the previous :math:`u`, to relative tolerance :math:`\\text{tol}_k = \\text{pcg\\_tol}/k^2`
   (summable, as the convergence theory asks; floored at 10 machine epsilons of the dtype);
2. v-step: group soft-threshold :math:`v_i = (1 - (\\beta/\\rho)/\\|z_i\\|)_+ z_i` of :math:`z = u + \\lambda`;
3. s-step: :math:`s = \\max(G u + \\nu, 0)`;
4. duals: :math:`\\lambda \\mathrel{+}= u - v`, :math:`\\nu \\mathrel{+}= G u - s`.

Its cone multipliers for the certificate are :math:`\\mu = -\\rho c\\,\\nu \\ge 0` (projected; the ADMM
Lagrangian carries :math:`\\rho\\nu^\\top(cGu - s)`, and :math:`s \\ge 0` makes :math:`\\rho\\nu \\le 0` at a solution).
The gated-ReLU program has no :math:`G` and no :math:`s`. The system matrix never changes, so its
preconditioner is built once before the first iteration (``preconditioner=``):

* ``"kronecker"`` (default): since :math:`F^\\top F` has blocks :math:`X^\\top D_i D_j X \\approx C_{ij} X^\\top X`
  (:math:`C_{ij}` = fraction of rows active in patterns i and j), :math:`A \\approx I + Q \\otimes X^\\top X` with a
  (2P, 2P) matrix :math:`Q`, inverted exactly by two eigendecompositions
  (:class:`coala_lib.convex.pcg.KroneckerSumInverse`). It captures the dominant :math:`1/\\rho` part of the spectrum,
  which is *not* low rank (about :math:`Pd` eigenvalues of order :math:`1/\\rho`), so PCG needs a few iterations
  per u-step whatever :math:`\\rho`;
* ``"block_nystrom"``: :math:`B = I_{2P} \\otimes (I + c^2 X^\\top X)` inverted exactly (one Cholesky) plus a rank-``rank``
  Nystrom sketch of :math:`F^\\top F/\\rho` in the :math:`B`-whitened space (:mod:`coala_lib.convex.nystrom`);
* ``"nystrom"``: the spec's rank-``rank`` randomized Nystrom preconditioner of :math:`F^\\top F/\\rho + G^\\top G`;
* ``"none"``: plain CG. :math:`G^\\top G = I_{2P} \\otimes X^\\top X`, so a
  matvec costs about :math:`2ndP` multiply-adds for :math:`F^\\top F` (:math:`F` only sees :math:`v - w`) plus
  :math:`2Pd^2` with the precomputed Gram matrix (used when :math:`d < 2n`).

The returned model is the **group-sparse prox iterate** :math:`v` (its zero groups are exactly zero,
so the recovered network has only the neurons :math:`v` selects); the PCG iterate :math:`u` is kept in
the result. ``keep="pcg"`` returns :math:`u` instead, as the reference code does (dense; its recovery
differs from the convex model): :meth:`coala_lib.convex.cronos.CronosConfig.paper` is that setting, 6 ADMM iterations.

``rho`` and ``cone_scale`` (ADMM only): under :math:`X \\to aX` the penalty on :math:`Gu = s` is measured in
the units of the loss whatever the feature scale, the consensus penalty scales like :math:`\\rho/a^2`;
hence the constant ``DEFAULT_RHO = 1e-3``. ``cone_scale`` :math:`c` writes the cone constraint as
:math:`cGu = s` (same program; the u-matrix becomes :math:`I + F^\\top F/\\rho + c^2 G^\\top G`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from coala_lib.convex.certificate import Certificate, DualPoint, GramCorrection
from coala_lib.convex.config import (
    ADMM_RELAXATION,
    ADMM_RHO_PER_BETA,
    DEFAULT_RHO,
    PRECONDITIONERS,
    Phase1Model,
    Preconditioner,
    SolverSettings,
    StoppingRule,
    check_at_least_one,
    check_positive,
    exact_core,
    exact_core_limit,
)
from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, PrimalInverse, WoodburyInverse, pcg
from coala_lib.convex.problem import Problem, WarmStart
from coala_lib.convex.proximal import group_soft_threshold, project_nonnegative
from coala_lib.convex.reformulation import LinearMaps
from coala_lib.convex.solvers import SolverSpec, register_solver


@dataclass(frozen=True)
class AdmmCommon(SolverSettings):
    """Settings both ADMM solvers share: ``rho`` the penalty (``None``: the solver's rule, :meth:`penalty`),
    ``pcg_max_iters`` and ``pcg_tol`` of the u-step's PCG, ``cone_scale`` :math:`c` of the cone constraint
    :math:`cGu = s`, ``use_gram`` (``None``: precompute :math:`X^\\top X` when ``d < 2n``) and ``keep``
    (``"prox"``: the group-sparse :math:`v`; ``"pcg"``: the dense PCG iterate :math:`u`, as the reference code)."""

    rho: float | None = None
    pcg_max_iters: int = 32
    pcg_tol: float = 1e-3
    cone_scale: float = 1.0
    use_gram: bool | None = None
    keep: Literal["prox", "pcg"] = "prox"

    def __post_init__(self) -> None:
        if self.rho is not None:
            check_positive(self, "rho")
        check_positive(self, "pcg_tol", "cone_scale")
        check_at_least_one(self, "pcg_max_iters")
        if self.keep not in ("prox", "pcg"):
            raise ValueError(
                f"{type(self).__name__}.keep must be 'prox' (group-sparse iterate) or 'pcg' (dense PCG iterate), "
                f"got {self.keep!r}"
            )

    def wants_gram(self, n: int, d: int, relu: bool) -> bool:
        return relu and (self.use_gram if self.use_gram is not None else d < 2 * n)

    def map_scale(self) -> float:
        return self.cone_scale

    def penalty(self, beta: float) -> float | None:
        return float(self.rho) if self.rho is not None else DEFAULT_RHO


@dataclass(frozen=True)
class AdmmSettings(AdmmCommon):
    """The exact ADMM's settings: :class:`AdmmCommon`'s, with ``rho`` defaulting to ``ADMM_RHO_PER_BETA * beta``
    (``DEFAULT_RHO`` when ``beta = 0``), and ``exact_max_core``, the largest :math:`\\min(n, dP)` its u-step
    factors (``None``: :func:`coala_lib.convex.config.exact_core_limit` of the data's device); it also decides
    ``"auto"`` between this solver and the augmented Lagrangian for ReLU."""

    solver: ClassVar[str] = "admm"
    exact_max_core: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.exact_max_core is not None and self.exact_max_core < 1:
            raise ValueError(
                "AdmmSettings.exact_max_core (largest exact u-step core) must be >= 1, or None for the device's "
                f"limit, got {self.exact_max_core!r}"
            )

    def penalty(self, beta: float) -> float | None:
        if self.rho is None and beta > 0:
            return ADMM_RHO_PER_BETA * beta
        return super().penalty(beta)

    def core_limit(self, device: torch.device | str = "cpu") -> int:
        """``exact_max_core``, or :func:`exact_core_limit` of ``device`` when it is ``None``."""
        return self.exact_max_core if self.exact_max_core is not None else exact_core_limit(device)


class SystemOperator:
    """The u-step matrix :math:`A = I + F^\\top F/\\rho + G^\\top G` (ReLU) or :math:`I + F^\\top F/\\rho` (gated)."""

    def __init__(self, maps: LinearMaps, rho: float):
        self.maps, self.rho = maps, rho

    @property
    def shape(self) -> tuple[int, int]:
        return (self.maps.groups, self.maps.X.shape[1])

    def psd_part(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`(F^\\top F/\\rho + G^\\top G) U`; ``U`` may carry leading batch dimensions."""
        out = self.maps.FT(self.maps.F(U)) / self.rho
        if self.maps.kind == "relu":
            out = out + self.maps.GTG(U)
        return out

    def __call__(self, U: torch.Tensor) -> torch.Tensor:
        return U + self.psd_part(U)

    def data_part(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`F^\\top F U/\\rho`, the part of :math:`A` that is not block diagonal."""
        return self.maps.FT(self.maps.F(U)) / self.rho

    def block(self) -> torch.Tensor:
        """The repeated (d, d) block :math:`K` of :math:`B = I_{groups} \\otimes K = A - F^\\top F/\\rho`:
        :math:`I + c^2 X^\\top X` (ReLU) or :math:`I` (gated)."""
        X = self.maps.X
        eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
        if self.maps.kind != "relu":
            return eye
        gram = self.maps.gram if self.maps.gram is not None else X.T @ X
        return eye + self.maps.cone_scale**2 * gram

    def kronecker_model(self) -> KroneckerSumInverse:
        """Exact inverse of :math:`I + Q \\otimes X^\\top X`, the u-matrix with every
        :math:`X^\\top D_i D_j X` replaced by :math:`C_{ij} X^\\top X`, :math:`C_{ij}` = the fraction of rows
        active in both patterns. ReLU: :math:`Q = c^2 I_{2P} + E^\\top C E/\\rho` with :math:`E = [I_P, -I_P]`
        (:math:`F` sees :math:`v - w`); gated: :math:`Q = C/\\rho`. Exact when all patterns are equal."""
        X, masks = self.maps.X, self.maps.masks
        C = masks.T @ masks / masks.shape[0]
        if self.maps.kind == "relu":
            E = torch.cat([torch.eye(self.maps.P, dtype=X.dtype, device=X.device)] * 2, dim=1)
            E[:, self.maps.P :] *= -1
            Q = (
                self.maps.cone_scale**2 * torch.eye(2 * self.maps.P, dtype=X.dtype, device=X.device)
                + E.T @ C @ E / self.rho
            )
        else:
            Q = C / self.rho
        gram = self.maps.gram if self.maps.gram is not None else X.T @ X
        return KroneckerSumInverse(Q, gram)

    def preconditioner(
        self, kind: Preconditioner, rank: int, seed: int = 0
    ) -> (
        KroneckerSumInverse
        | WoodburyInverse
        | PrimalInverse
        | NystromPreconditioner
        | BlockNystromPreconditioner
        | None
    ):
        """``"kronecker"``: :meth:`kronecker_model` (no sketch, ``rank`` unused);
        ``"block_nystrom"``: exact :math:`B^{-1}` combined with a rank-``rank`` Nystrom sketch of the
        :math:`B`-whitened :math:`F^\\top F/\\rho` (:func:`coala_lib.convex.nystrom.build_block_nystrom`); ``"nystrom"``: a
        rank-``rank`` Nystrom preconditioner of the whole PSD part with shift 1; ``"none"``: ``None``."""
        if kind not in PRECONDITIONERS:
            raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {kind!r}")
        if kind == "none":
            return None
        if kind == "kronecker":
            return self.kronecker_model()
        if kind == "woodbury":
            return WoodburyInverse(self.maps, self.block(), self.rho)
        if kind == "primal":
            return PrimalInverse(self.maps, self.block(), self.rho)
        rank = min(rank, self.shape[0] * self.shape[1])
        X = self.maps.X
        if kind == "nystrom":
            return build_nystrom(self.psd_part, self.shape, rank, 1.0, seed=seed, dtype=X.dtype, device=X.device)
        return build_block_nystrom(self.data_part, self.shape, self.block(), rank, seed=seed)

    def dense(self) -> torch.Tensor:
        """The full (N, N) matrix, N = groups * d (small problems and tests only)."""
        N = self.shape[0] * self.shape[1]
        eye = torch.eye(N, dtype=self.maps.X.dtype, device=self.maps.X.device).reshape(N, *self.shape)
        return self(eye).reshape(N, N).T


class AdmmState:
    """The ADMM iterates (module docstring) and one iteration per :meth:`step`: CRONOS (``exact=False``:
    the given ``preconditioner`` of rank ``rank``, plain updates) or ``"admm"`` (``exact=True``: the exact
    ``"woodbury"`` or ``"primal"`` inverse, over-relaxed). ``seed`` draws the Nystrom sketches;
    ``track_every`` is how often the exact method records its dual residual (its certificate interval)."""

    def __init__(
        self,
        problem: Problem,
        settings: AdmmCommon,
        *,
        preconditioner: Preconditioner,
        exact: bool = False,
        rank: int = 0,
        seed: int = 0,
        track_every: int = 1,
        start: WarmStart | None = None,
    ):
        self.problem, self.settings = problem, settings
        maps = problem.maps
        self.exact = exact
        rho = settings.penalty(problem.beta)
        assert rho is not None
        self.rho = rho
        self.alpha = ADMM_RELAXATION if exact else 1.0
        # CRONOS records its dual residual every step (notebook 02 plots it); the exact ADMM only at its
        # certificate checks, which saves the pass over X that G^T(s - s_old) costs.
        self.track_every = track_every if exact else 1
        self.system = SystemOperator(maps, self.rho)
        self.Fty = maps.FT(problem.y) / self.rho
        self.precond = self.system.preconditioner(preconditioner, rank, seed)
        # The certificate's corrected dual points need the Cholesky factor of M^T M, which only the
        # weights-side inverse (n > dP) forms.
        self.correction = (
            GramCorrection(problem.plain_maps, problem.y, problem.beta, self.precond.gram_factor)
            if isinstance(self.precond, PrimalInverse)
            else None
        )
        X = problem.X
        self.relu = maps.kind == "relu"
        self.u = torch.zeros(problem.shape, dtype=X.dtype, device=X.device)
        self.v, self.lam = torch.zeros_like(self.u), torch.zeros_like(self.u)
        n = X.shape[0]
        self.s = torch.zeros(n, 2 * maps.P, dtype=X.dtype, device=X.device) if self.relu else None
        self.nu = torch.zeros_like(self.s) if self.s is not None else None
        self.Gt_s_minus_nu = torch.zeros_like(self.u)
        if start is not None:
            self.resume(start)
        self.floor = 10 * torch.finfo(X.dtype).eps
        self.k = 0
        self.left_uv = maps.left(torch.stack([self.u, self.v]))
        self.pcg_iters = 0
        # Exact method: the direct solve's residual is checked at every certificate check (one matvec with
        # A); once a check has needed PCG refinement (rounding that the tightening tolerance outgrew, as on
        # the grid's n = 1e4, P = 64 Woodbury core), every later step is checked and refined.
        self.refine = False
        self.primal_residual = math.nan
        self.dual_residual = math.nan

    def resume(self, start: WarmStart) -> None:
        """Start from ``start`` (:class:`WarmStart`: its multipliers rescaled to this fit's beta and penalty)."""
        like = self.u
        self.u, self.v = start.u.to(like.device, like.dtype).clone(), start.v.to(like.device, like.dtype).clone()
        if start.consensus is not None:
            ratio = self.problem.beta / start.beta if start.beta > 0 else 1.0
            self.lam = (ratio / self.rho) * start.consensus.to(like.device, like.dtype)
        if self.s is not None and start.s is not None and start.cone is not None:
            self.s = start.s.to(like.device, like.dtype).clone()
            self.nu = start.cone.to(like.device, like.dtype) / self.rho
            self.Gt_s_minus_nu = self.problem.maps.GT(self.s - self.nu)

    def warm_start(self) -> WarmStart:
        """Where this run stands, for the next fit of a path (:class:`WarmStart`)."""
        return WarmStart(
            self.u.clone(),
            self.v.clone(),
            self.problem.beta,
            self.rho * self.lam,
            None if self.s is None else self.s.clone(),
            None if self.nu is None else self.rho * self.nu,
        )

    @property
    def penalty(self) -> float:
        return self.rho

    @property
    def U(self) -> torch.Tensor:
        """The iterate the fit returns: :math:`v` (``keep="prox"``) or :math:`u` (``"pcg"``)."""
        return self.u if self.settings.keep == "pcg" else self.v

    @property
    def left(self) -> torch.Tensor:
        return self.left_uv[:, 0] if self.settings.keep == "pcg" else self.left_uv[:, 1]

    def pcg_residual(self) -> torch.Tensor:
        """:math:`F u - y` at the PCG iterate, where the u-step's stationarity holds: the certificate's
        :math:`\\lambda_0` (with :math:`\\mu = -\\rho c\\nu`, the dual point is feasible up to ADMM's residuals)."""
        return self.problem.plain_maps.outputs(self.left_uv[:, 0])[0] - self.problem.y

    def multipliers(self) -> torch.Tensor | None:
        """:math:`\\mu = (-\\rho c\\,\\nu)_+` for the unscaled cone map (None for gated)."""
        if self.nu is None:
            return None
        return (-self.rho * self.problem.maps.cone_scale * self.nu).clamp(min=0.0)

    def dual_points(self) -> list[DualPoint]:
        """The certificate's candidates beyond the returned iterate's own residual: the PCG iterate's residual
        with the multipliers (``"pcg"``), and when the weights-side inverse holds the Gram factor (n > dP)
        that residual corrected to feasibility (:class:`GramCorrection`) with the multipliers
        (``"corrected"``; measured to give the bound on MiniLM ReLU features, where the cones move the optimum)
        and with none (``"corrected_gated"``, the gated relaxation's dual; it gives the bound on the planted
        tall problems, where they barely do)."""
        mu = self.multipliers()
        residual = self.pcg_residual()
        points = [DualPoint("pcg", residual, mu)]
        if self.correction is not None:
            named = [("corrected", mu), ("corrected_gated", None)] if mu is not None else [("corrected_gated", None)]
            lams = self.correction(residual, [m for _, m in named])
            points += [DualPoint(name, lam, m) for (name, m), lam in zip(named, lams, strict=True)]
        return points

    def step(self) -> None:
        maps, rho, alpha = self.problem.maps, self.rho, self.alpha
        self.k += 1
        rhs = self.Fty + self.v - self.lam + self.Gt_s_minus_nu
        tol = max(self.settings.pcg_tol / self.k**2, self.floor)
        direct = self.precond if self.exact else None  # the exact method's inverse (never None there)
        if direct is not None and not (self.refine or self.k % self.track_every == 0):
            self.u, self.pcg_iters = direct(rhs), 0  # the direct solve, unchecked between checks
        else:
            # CRONOS warm-starts PCG at the previous u; the exact method starts it at the direct solve, so that
            # it only checks (and, when rounding needs it, refines) that solution.
            start = direct(rhs) if direct is not None else self.u
            solve = pcg(self.system, rhs, start, self.precond, tol=tol, max_iters=self.settings.pcg_max_iters)
            self.u, self.pcg_iters = solve.x, solve.iterations
            self.refine = self.refine or (self.exact and solve.iterations > 0)
        v_old = self.v
        u_hat = alpha * self.u + (1 - alpha) * v_old  # over-relaxation (alpha = 1: plain ADMM)
        self.v = group_soft_threshold(u_hat + self.lam, self.problem.beta / rho)
        self.lam = self.lam + u_hat - self.v
        self.left_uv = maps.left(torch.stack([self.u, self.v]))  # one pass over X: X u^T and X v^T
        primal_sq = float((self.u - self.v).square().sum())
        dual_vec: torch.Tensor | None = self.v - v_old
        if self.s is not None and self.nu is not None:
            Gu = maps.outputs(self.left_uv[:, 0])[1]
            assert Gu is not None
            s_old = self.s
            g_hat = alpha * Gu + (1 - alpha) * s_old
            self.s = project_nonnegative(g_hat + self.nu)
            self.nu = self.nu + g_hat - self.s
            primal_sq += float((Gu - self.s).square().sum())
            if self.k % self.track_every == 0:
                Gt = maps.GT(torch.stack([self.s - self.nu, self.s - s_old], dim=1))  # one pass over X
                self.Gt_s_minus_nu = Gt[0]
                dual_vec = self.v - v_old + Gt[1]
            else:
                self.Gt_s_minus_nu = maps.GT(self.s - self.nu)
                dual_vec = None
        self.primal_residual = primal_sq**0.5
        self.dual_residual = math.nan if dual_vec is None else rho * float(torch.linalg.vector_norm(dual_vec))

    def observe(self, certificate: Certificate) -> None:
        """CRONOS keeps its penalty fixed (the paper's method)."""

    def pcg_iterate(self) -> torch.Tensor:
        """CRONOS's dense PCG iterate :math:`u` (a copy)."""
        return self.u.clone()


def build_admm(
    problem: Problem, model: Phase1Model, stopping: StoppingRule, settings: AdmmSettings, start: WarmStart | None
) -> AdmmState:
    """The exact ADMM on ``problem``: its u-step factors the smaller core (:func:`exact_core`), which must fit
    ``settings.core_limit`` of the data's device."""
    n, d = problem.X.shape
    limit = settings.core_limit(problem.X.device)
    core = exact_core(n, d, problem.maps.P, limit)
    if core is None:
        raise ValueError(
            f"the exact ADMM factors an (m, m) matrix, m = min(n, dP) <= {limit} (AdmmSettings.exact_max_core, "
            f"default: the device's memory); got n={n}, dP={d * problem.maps.P}; use solver 'auto' "
            "(the augmented Lagrangian there), 'cronos', or raise AdmmSettings.exact_max_core"
        )
    track_every = stopping.interval(ADMM.check_every)
    return AdmmState(
        problem, settings, preconditioner=core, exact=True, seed=model.seed, track_every=track_every, start=start
    )


ADMM = register_solver(
    SolverSpec(
        name="admm",
        settings=AdmmSettings,
        models=("relu", "gated"),
        build=build_admm,
        check_every=10,
        summary="exact, over-relaxed ADMM (direct u-step; the ReLU default while its core fits)",
    )
)
