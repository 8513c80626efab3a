"""CRONOS: scaled ADMM with Nystrom-preconditioned CG for the convex two-layer programs.

The convex ReLU program of :mod:`coala_lib.convex.reformulation` is split as

.. math:: \\min\\ \\tfrac12\\|F u - y\\|^2 + \\beta\\|v\\|_{2,1} + \\mathbb I_{\\ge 0}(s)
          \\quad \\text{s.t.}\\quad u = v,\\ G u = s,

and solved by scaled ADMM with penalty :math:`\\rho` and step :math:`\\gamma = 1` (Feng, Frangella & Pilanci 2024):

1. u-step: :math:`(I + F^\\top F/\\rho + G^\\top G)\\, u = F^\\top y/\\rho + v - \\lambda + G^\\top(s - \\nu)` by PCG,
   warm-started at the previous :math:`u`, to relative tolerance :math:`\\text{tol}_k = \\text{pcg\\_tol}/k^2`
   (summable, as the convergence theory asks; floored at 10 machine epsilons of the dtype);
2. v-step: group soft-threshold :math:`v_i = (1 - (\\beta/\\rho)/\\|z_i\\|)_+ z_i` of :math:`z = u + \\lambda`;
3. s-step: :math:`s = \\max(G u + \\nu, 0)`;
4. duals: :math:`\\lambda \\mathrel{+}= u - v`, :math:`\\nu \\mathrel{+}= G u - s`.

The gated-ReLU program has no :math:`G` and no :math:`s`. The system matrix never changes, so its
preconditioner is built once before the first iteration (``preconditioner=``):

* ``"kronecker"`` (default): since :math:`F^\\top F` has blocks :math:`X^\\top D_i D_j X \\approx C_{ij} X^\\top X`
  (:math:`C_{ij}` = fraction of rows active in patterns i and j), :math:`A \\approx I + Q \\otimes X^\\top X` with a
  (2P, 2P) matrix :math:`Q`, inverted exactly by two eigendecompositions
  (:class:`coala_lib.convex.pcg.KroneckerSumInverse`). It captures the dominant :math:`1/\\rho` part of the spectrum,
  which is *not* low rank (about :math:`Pd` eigenvalues of order :math:`1/\\rho`), so PCG needs a few iterations
  per u-step whatever :math:`\\rho` (``bench/solver.py``: 139 PCG iterations to a 1e-3 gap against 860);
* ``"block_nystrom"``: :math:`B = I_{2P} \\otimes (I + c^2 X^\\top X)` inverted exactly (one Cholesky) plus a rank-``rank``
  Nystrom sketch of :math:`F^\\top F/\\rho` in the :math:`B`-whitened space (:mod:`coala_lib.convex.nystrom`);
* ``"nystrom"``: the spec's rank-``rank`` randomized Nystrom preconditioner of :math:`F^\\top F/\\rho + G^\\top G`;
* ``"none"``: plain CG. :math:`G^\\top G = I_{2P} \\otimes X^\\top X`, so a
matvec costs about :math:`2ndP` multiply-adds for :math:`F^\\top F` (:math:`F` only sees :math:`v - w`) plus
:math:`2Pd^2` with the precomputed Gram matrix (used when :math:`d < 2n`).

Stopping follows Boyd et al. (2011, sec. 3.3): primal residual :math:`r = (u - v, Gu - s)`, dual residual
:math:`\\rho\\,(\\Delta v + G^\\top \\Delta s)`, with tolerances :math:`\\sqrt{p}\\,\\text{atol} + \\text{rtol}\\cdot\\text{scale}`.

The returned model is the **group-sparse prox iterate** :math:`v` (its zero groups are exactly zero,
so the recovered network has only the neurons :math:`v` selects); the PCG iterate :math:`u` is kept in
the result for comparison (the reference code returns :math:`u`, which is dense and whose recovery
differs from the convex model).

Choosing :math:`\\rho`. Under :math:`X \\to aX` the solution maps to :math:`u/a` and :math:`Gu` is unchanged, so the
penalty on the cone constraint :math:`Gu = s` is measured in the units of the loss (squared
predictions) whatever the feature scale, while the consensus penalty on :math:`u = v` scales like
:math:`\\rho/a^2`; the former dominates convergence in our sweeps (``tests``, ``bench/solver.py``). Hence a
constant default ``DEFAULT_RHO = 1e-3`` (between the code's 1e-4 and the paper's 0.01), which reached
1e-4 relative gap to Clarabel on standardised data; larger :math:`\\rho` (1e-2 .. 1) leaves the cone
constraints tighter but slows the objective, smaller is erratic. ``cone_scale`` :math:`c` optionally
writes the cone constraint as :math:`cGu = s` (the same program; the u-step matrix becomes
:math:`I + F^\\top F/\\rho + c^2 G^\\top G`), which decouples the two penalties: :math:`\\rho c^2` for the cone,
:math:`\\rho` for consensus. A large :math:`\\rho` with :math:`\\rho c^2 \\approx 10^{-3}` makes the u-system better conditioned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, pcg
from coala_lib.convex.reformulation import (
    ActivationPatterns,
    ConvexGatedReLU,
    ConvexModel,
    ConvexReLU,
    LinearMaps,
    group_norms,
    sample_gates,
)
from coala_lib.core.checks import validate_features, validate_targets
from coala_lib.core.runtime import progress_off, synchronize

DEFAULT_RHO = 1e-3
PRECONDITIONERS = ("kronecker", "block_nystrom", "nystrom", "none")
Preconditioner = Literal["kronecker", "block_nystrom", "nystrom", "none"]


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
    ) -> KroneckerSumInverse | NystromPreconditioner | BlockNystromPreconditioner | None:
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


@dataclass
class CronosHistory:
    """One entry per ADMM iteration. ``objective`` is at the prox iterate :math:`v`;
    ``violation`` is :math:`\\|(-Gv)_+\\| / \\|Gv\\|` (0 for gated); ``seconds`` is the wall time since the
    start of :func:`fit_cronos` (Nystrom build included), synchronised on CUDA."""

    objective: list[float] = field(default_factory=list)
    primal_residual: list[float] = field(default_factory=list)
    dual_residual: list[float] = field(default_factory=list)
    primal_tol: list[float] = field(default_factory=list)
    dual_tol: list[float] = field(default_factory=list)
    violation: list[float] = field(default_factory=list)
    pcg_iters: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.objective)

    def as_dict(self) -> dict[str, list]:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass
class CronosResult:
    """What :func:`fit_cronos` returns: the model (prox iterate :math:`v`), history and timings."""

    model: ConvexModel
    history: CronosHistory
    patterns: ActivationPatterns
    converged: bool
    iterations: int
    beta: float
    rho: float
    pcg_iterate: torch.Tensor
    setup_seconds: float
    nystrom_seconds: float
    total_seconds: float


def fit_cronos(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    P: int = 10,
    beta: float = 1e-3,
    rho: float = DEFAULT_RHO,
    model: Literal["relu", "gated"] = "relu",
    max_iters: int = 500,
    rtol: float = 1e-4,
    atol: float = 1e-7,
    pcg_max_iters: int = 32,
    pcg_tol: float = 1e-3,
    rank: int = 20,
    seed: int = 0,
    preconditioner: Preconditioner = "kronecker",
    patterns: ActivationPatterns | None = None,
    cone_scale: float = 1.0,
    use_gram: bool | None = None,
    allow_real_targets: bool = False,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> CronosResult:
    """Fit the convex ReLU (``model="relu"``) or gated-ReLU (``"gated"``) program by CRONOS.

    ``X`` (n, d) float32/float64 on any device (all work stays there; dtype follows ``X``);
    ``y`` (n,) with labels +1/-1 (real targets need ``allow_real_targets=True``). ``patterns``
    reuses given gates, else ``P`` gates are drawn with ``seed`` (:func:`coala_lib.convex.reformulation.sample_gates`).
    ``rho``/``cone_scale``: see the module docstring. Stops when both Boyd residual tests pass with ``rtol`` /
    ``atol`` or after ``max_iters``. ``use_gram=None`` precomputes :math:`X^\\top X` when ``d < 2n``.
    ``callback(k, v)`` sees the stacked prox iterate after each iteration. The Nystrom sketch and
    the gates share ``seed``, so a CPU run is bitwise reproducible. ``preconditioner``: see the module
    docstring (``rank`` is used by the two Nystrom variants only); ``nystrom_seconds`` in the result is the
    build time of whichever preconditioner was chosen.
    """
    validate_features(X)
    validate_targets(y, X, allow_real_targets)
    if model not in ("relu", "gated"):
        raise ValueError(f"model must be 'relu' or 'gated', got {model!r}")
    if beta < 0 or not math.isfinite(beta):
        raise ValueError(f"beta (group-lasso weight) must be finite and >= 0, got {beta}")
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho (ADMM penalty) must be finite and > 0, got {rho}; the default is {DEFAULT_RHO}")
    if not (cone_scale > 0 and math.isfinite(cone_scale)):
        raise ValueError(f"cone_scale must be finite and > 0, got {cone_scale}")
    if max_iters < 1 or pcg_max_iters < 1 or rank < 1:
        raise ValueError(f"max_iters, pcg_max_iters and rank must be >= 1, got {max_iters}, {pcg_max_iters}, {rank}")
    if preconditioner not in PRECONDITIONERS:
        raise ValueError(f"preconditioner must be one of {PRECONDITIONERS}, got {preconditioner!r}")
    if rtol < 0 or atol < 0 or rtol + atol == 0:
        raise ValueError(f"need rtol, atol >= 0 and not both zero, got rtol={rtol}, atol={atol}")
    y = y.to(X.device, X.dtype)
    device = X.device

    synchronize(device)
    start = time.perf_counter()
    if patterns is None:
        patterns = sample_gates(X, P, seed)
    elif patterns.dim != X.shape[1]:
        raise ValueError(f"patterns were drawn for d={patterns.dim} but X has d={X.shape[1]}")
    patterns = patterns.to(device, X.dtype)
    n, d = X.shape
    if use_gram is None:
        use_gram = model == "relu" and d < 2 * n
    gram = X.T @ X if use_gram and model == "relu" else None
    maps = LinearMaps(X, patterns.masks(X), model, gram, cone_scale)
    rho = float(rho)
    system = SystemOperator(maps, rho)
    Fty = maps.FT(y) / rho
    synchronize(device)
    setup_seconds = time.perf_counter() - start

    precond = system.preconditioner(preconditioner, rank, seed)
    synchronize(device)
    nystrom_seconds = time.perf_counter() - start - setup_seconds

    relu = model == "relu"
    shape = system.shape
    u = torch.zeros(shape, dtype=X.dtype, device=device)
    v, lam = torch.zeros_like(u), torch.zeros_like(u)
    s = torch.zeros(n, 2 * maps.P, dtype=X.dtype, device=device) if relu else None
    nu = torch.zeros_like(s) if relu else None
    Gt_s_minus_nu = torch.zeros_like(u)
    Gt_nu = torch.zeros_like(u)
    floor = 10 * torch.finfo(X.dtype).eps
    history = CronosHistory()
    converged = False
    p_dim = u.numel() + (s.numel() if relu else 0)
    k = 0
    for k in tqdm(range(1, max_iters + 1), disable=progress_off(progress), desc="cronos"):
        rhs = Fty + v - lam + Gt_s_minus_nu
        solve = pcg(system, rhs, u, precond, tol=max(pcg_tol / k**2, floor), max_iters=pcg_max_iters)
        u = solve.x
        v_old = v
        v = group_soft_threshold(u + lam, beta / rho)
        lam = lam + u - v
        # One pass over X gives X u^T, X v^T: hence Gu, Gv and F v.
        XUV = maps.left(torch.stack([u, v]))  # (n, 2, groups)
        Fv = (XUV[:, 1, : maps.P] - XUV[:, 1, maps.P :] if relu else XUV[:, 1]) * maps.masks
        Fv = Fv.sum(-1)
        objective = 0.5 * float((Fv - y).square().sum()) + beta * float(group_norms(v).sum())
        primal_sq = float((u - v).square().sum())
        u_sq, v_sq = float(u.square().sum()), float(v.square().sum())
        dual_vec = v - v_old
        if relu:
            signs = torch.cat([maps.signs, maps.signs], dim=1)
            Gu, Gv = XUV[:, 0] * signs, XUV[:, 1] * signs
            s_old = s
            s = project_nonnegative(Gu + nu)
            nu = nu + Gu - s
            primal_sq += float((Gu - s).square().sum())
            u_sq += float(Gu.square().sum())
            v_sq += float(s.square().sum())
            Gt = maps.GT(torch.stack([s - nu, s - s_old, nu], dim=1))  # one pass over X
            Gt_s_minus_nu, Gt_nu = Gt[0], Gt[2]
            dual_vec = dual_vec + Gt[1]
            neg = float(torch.relu(-Gv).square().sum()) ** 0.5
            violation = neg / max(float(Gv.square().sum()) ** 0.5, torch.finfo(X.dtype).tiny)
        else:
            violation = 0.0
        primal = primal_sq**0.5
        dual = rho * float(torch.linalg.vector_norm(dual_vec))
        primal_tol = p_dim**0.5 * atol + rtol * max(u_sq, v_sq) ** 0.5
        dual_tol = u.numel() ** 0.5 * atol + rtol * rho * float(torch.linalg.vector_norm(lam + Gt_nu))
        synchronize(device)
        history.objective.append(objective)
        history.primal_residual.append(primal)
        history.dual_residual.append(dual)
        history.primal_tol.append(primal_tol)
        history.dual_tol.append(dual_tol)
        history.violation.append(violation)
        history.pcg_iters.append(solve.iterations)
        history.seconds.append(time.perf_counter() - start)
        if callback is not None:
            callback(k, v)
        if primal <= primal_tol and dual <= dual_tol:
            converged = True
            break

    P_ = maps.P
    fitted: ConvexModel
    if relu:
        fitted = ConvexReLU(patterns, v[:P_].clone(), v[P_:].clone())
    else:
        fitted = ConvexGatedReLU(patterns, v.clone())
    synchronize(device)
    return CronosResult(
        model=fitted,
        history=history,
        patterns=patterns,
        converged=converged,
        iterations=k,
        beta=float(beta),
        rho=rho,
        pcg_iterate=u,
        setup_seconds=setup_seconds,
        nystrom_seconds=nystrom_seconds,
        total_seconds=time.perf_counter() - start,
    )
