"""Phase I solvers behind one entry point, :func:`fit_cronos`, each fit ending with a duality-gap certificate.

``fit_cronos(X, y, config)`` with a :class:`CronosConfig` runs in four parts: **set-up** (gates,
masks, the maps :math:`F`, :math:`G`; :func:`setup_problem`), the solver's **step** (one of the methods
below), **stopping** (:func:`should_stop`: the certified relative gap and the relative cone violation of
:mod:`coala_lib.convex.certificate`, both at most ``tol``/``cone_tol``, checked every ``certify_every``
steps; otherwise ``max_iters``), and **recovery** (:func:`recover_model`). A run that ends without a
certificate says so: ``result.certified`` is ``False`` and a :class:`UncertifiedWarning` is issued.

Methods (``config.method``):

* ``"fista"`` (gated ReLU; default there): accelerated proximal gradient with restarts
  (:mod:`coala_lib.convex.proximal`);
* ``"admm"`` (ReLU whenever :func:`exact_core` fits, i.e. :math:`\\min(n, dP)` is at most
  :func:`exact_core_limit` of the device; default there): the ADMM below with an **exact** u-step (the direct solve of
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
* ``"cronos"``: the paper's ADMM (CRONOS; Feng, Frangella & Pilanci 2024), kept as described next.

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
differs from the convex model): :meth:`CronosConfig.paper` is that setting, 6 ADMM iterations.

``rho`` and ``cone_scale`` (ADMM only): under :math:`X \\to aX` the penalty on :math:`Gu = s` is measured in
the units of the loss whatever the feature scale, the consensus penalty scales like :math:`\\rho/a^2`;
hence the constant ``DEFAULT_RHO = 1e-3``. ``cone_scale`` :math:`c` writes the cone constraint as
:math:`cGu = s` (same program; the u-matrix becomes :math:`I + F^\\top F/\\rho + c^2 G^\\top G`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from coala_lib.convex.certificate import Certificate, DualPoint, GramCorrection, certify
from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, PrimalInverse, WoodburyInverse, pcg
from coala_lib.convex.proximal import (
    AugmentedLagrangianState,
    FistaState,
    group_soft_threshold,
    project_nonnegative,
    squared_norm_F,
    squared_norm_X,
)
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
#: ``method="admm"``: over-relaxation and penalty per unit of beta (module docstring).
ADMM_RELAXATION = 1.8
ADMM_RHO_PER_BETA = 0.1
#: Memory the exact u-step's (m, m) matrices may take on CPU, m = min(n, dP): at most four float64 ones at
#: once (the core, its Cholesky factor and inverse; the weights-side inverse also keeps the Gram factor),
#: 32 m^2 bytes (m = 16,384 in 8 GiB; a 10,000 core is factored and inverted in 31 s on one core of the
#: book's CPU). On a GPU the budget is half its free memory (:func:`exact_core_limit`).
EXACT_CORE_CPU_BYTES = 8 * 2**30
PRECONDITIONERS = ("kronecker", "woodbury", "primal", "block_nystrom", "nystrom", "none")
Preconditioner = Literal["kronecker", "woodbury", "primal", "block_nystrom", "nystrom", "none"]
METHODS = ("auto", "admm", "cronos", "fista", "alm")
Method = Literal["auto", "admm", "cronos", "fista", "alm"]

__all__ = [
    "ADMM_RELAXATION",
    "ADMM_RHO_PER_BETA",
    "DEFAULT_RHO",
    "EXACT_CORE_CPU_BYTES",
    "METHODS",
    "PRECONDITIONERS",
    "CronosConfig",
    "CronosHistory",
    "CronosResult",
    "Problem",
    "SystemOperator",
    "UncertifiedWarning",
    "WarmStart",
    "exact_core",
    "exact_core_limit",
    "fit_cronos",
    "group_soft_threshold",
    "project_nonnegative",
    "recover_model",
    "setup_problem",
    "should_stop",
]


class UncertifiedWarning(UserWarning):
    """A Phase I fit stopped before its duality-gap certificate reached the tolerance."""


@dataclass(frozen=True)
class WarmStart:
    """Where a fit on the same data and gates ended, to start the next one there (a regularisation path).

    ``u``, ``v`` the stacked iterates (``v`` the group-sparse one; the first-order methods have one iterate,
    stored in both), ``consensus`` and ``cone`` the *unscaled* multipliers of :math:`u = v` and of the cone
    (:math:`\\rho\\lambda`, :math:`\\rho\\nu`; ``None`` where the method has none), ``s`` the cone slack, and the
    ``beta`` they were found at. A fit at :math:`\\beta'` starts from :math:`\\lambda = (\\beta'/\\beta)\\,\\rho\\lambda/\\rho'`
    (the consensus multiplier of an active group is :math:`\\beta` times its direction at the optimum) and
    :math:`\\nu = \\rho\\nu/\\rho'` (the cone multipliers answer the loss, not the penalty)."""

    u: torch.Tensor
    v: torch.Tensor
    beta: float
    consensus: torch.Tensor | None = None
    s: torch.Tensor | None = None
    cone: torch.Tensor | None = None


@dataclass(frozen=True)
class CronosConfig:
    """Everything a Phase I fit needs besides the data.

    ``model``: ``"relu"`` (cone-constrained) or ``"gated"``; ``P`` gates drawn with ``seed``; ``beta``
    the group-lasso weight. ``method``: ``"auto"`` (:meth:`method_for`: ``"admm"`` for ReLU when an exact
    u-step fits, ``"alm"`` otherwise, ``"fista"`` for gated), ``"admm"``, ``"cronos"``,
    ``"fista"`` (gated only) or ``"alm"`` (ReLU only). Stopping: certified relative gap
    ``<= tol`` and relative cone violation ``<= cone_tol``, checked every ``certify_every`` steps
    (``None``: 1 for CRONOS, 10 for the other methods), at most ``max_iters`` steps;
    ``stop_on_certificate=False`` always runs ``max_iters`` steps (the paper's fixed budget).
    ``alm_rho``: initial augmented-Lagrangian penalty in units of :math:`\\|F\\|^2/\\|X\\|^2` (scale-free).
    ADMM (``"cronos"``, ``"admm"``): ``rho`` (``None``: ``DEFAULT_RHO`` for CRONOS,
    ``ADMM_RHO_PER_BETA * beta`` for ``"admm"``), ``pcg_max_iters``, ``pcg_tol``, ``cone_scale``, ``use_gram``
    (``None``: precompute :math:`X^\\top X` when ``d < 2n``) and ``keep`` (``"prox"``: the group-sparse
    :math:`v`; ``"pcg"``: the dense PCG iterate :math:`u`, as the reference code); CRONOS only: ``rank``
    and ``preconditioner`` (``"admm"`` always uses the exact ``"woodbury"`` or ``"primal"`` inverse).
    ``exact_max_core``: largest :math:`\\min(n, dP)` the exact u-step factors (``None``: :func:`exact_core_limit`
    of the data's device); it decides ``"auto"`` between ``"admm"`` and ``"alm"`` for ReLU.
    """

    P: int = 10
    beta: float = 1e-3
    model: Literal["relu", "gated"] = "relu"
    method: Method = "auto"
    tol: float = 1e-4
    cone_tol: float = 1e-4
    max_iters: int = 20_000
    certify_every: int | None = None
    stop_on_certificate: bool = True
    seed: int = 0
    alm_rho: float = 1.0
    rho: float | None = None
    pcg_max_iters: int = 32
    pcg_tol: float = 1e-3
    rank: int = 20
    preconditioner: Preconditioner = "kronecker"
    cone_scale: float = 1.0
    use_gram: bool | None = None
    keep: Literal["prox", "pcg"] = "prox"
    exact_max_core: int | None = None
    allow_real_targets: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ValueError:
            return ValueError(f"CronosConfig.{name} {rule}, got {getattr(self, name)!r}")

        if self.model not in ("relu", "gated"):
            raise bad("model", "must be 'relu' or 'gated'")
        if self.method not in METHODS:
            raise bad("method", f"must be one of {METHODS}")
        if self.method == "fista" and self.model == "relu":
            raise bad("method", "'fista' has no cone constraints: use 'alm' or 'cronos' for model='relu'")
        if self.method == "alm" and self.model == "gated":
            raise bad("method", "'alm' handles cone constraints: use 'fista' or 'cronos' for model='gated'")
        if not isinstance(self.P, int) or self.P < 1:
            raise bad("P", "(number of sampled patterns) must be an integer >= 1")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise bad("beta", "(group-lasso weight) must be finite and >= 0")
        for name in ("rho", "cone_scale", "alm_rho", "tol", "cone_tol", "pcg_tol"):
            if name == "rho" and self.rho is None:
                continue
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise bad(name, f"must be finite and > 0 (rho's default is {DEFAULT_RHO})")
        for name in ("max_iters", "pcg_max_iters", "rank"):
            if getattr(self, name) < 1:
                raise bad(name, "must be >= 1")
        if self.certify_every is not None and self.certify_every < 1:
            raise bad("certify_every", "must be >= 1 or None")
        if self.exact_max_core is not None and self.exact_max_core < 1:
            raise bad("exact_max_core", "(largest exact u-step core) must be >= 1, or None for the device's limit")
        if self.preconditioner not in PRECONDITIONERS:
            raise bad("preconditioner", f"must be one of {PRECONDITIONERS}")
        if self.keep not in ("prox", "pcg"):
            raise bad("keep", "must be 'prox' (group-sparse iterate) or 'pcg' (dense PCG iterate)")
        if self.keep == "pcg" and self.method not in ("cronos", "admm"):
            raise bad("keep", "'pcg' exists only for the ADMM methods 'cronos' and 'admm'")

    def core_limit(self, device: torch.device | str = "cpu") -> int:
        """``exact_max_core``, or :func:`exact_core_limit` of ``device`` when it is ``None``."""
        return self.exact_max_core if self.exact_max_core is not None else exact_core_limit(device)

    def method_for(self, n: int, d: int, device: torch.device | str = "cpu") -> str:
        """The method that fits ``n`` texts of ``d`` features on ``device``: ``method`` itself, or for
        ``"auto"`` ``"fista"`` (gated), ``"admm"`` (ReLU with an exact u-step that fits, :func:`exact_core`)
        or ``"alm"`` (ReLU otherwise)."""
        if self.method != "auto":
            return self.method
        if self.model == "gated":
            return "fista"
        return "admm" if exact_core(n, d, self.P, self.core_limit(device)) is not None else "alm"

    def check_interval(self, method: str) -> int:
        """Steps between certificate checks for ``method`` (:meth:`method_for`)."""
        if self.certify_every is not None:
            return self.certify_every
        return 1 if method == "cronos" else 10

    def penalty_for(self, method: str) -> float:
        """The ADMM penalty :math:`\\rho`: ``rho`` if given, else ``DEFAULT_RHO`` (CRONOS) or
        ``ADMM_RHO_PER_BETA * beta`` (``"admm"``; ``DEFAULT_RHO`` when ``beta = 0``)."""
        if self.rho is not None:
            return float(self.rho)
        if method == "admm" and self.beta > 0:
            return ADMM_RHO_PER_BETA * self.beta
        return DEFAULT_RHO

    @classmethod
    def paper(cls, **overrides: Any) -> CronosConfig:
        """The reference code's Phase I: CRONOS, 6 ADMM iterations, rho 1e-4, 32 PCG iterations, Nystrom rank
        20, beta 1e-3, P 10, returning the dense PCG iterate (an early-stopped solution, certified or not)."""
        base = cls(
            P=10,
            beta=1e-3,
            method="cronos",
            rho=1e-4,
            max_iters=6,
            pcg_max_iters=32,
            rank=20,
            preconditioner="nystrom",
            keep="pcg",
            stop_on_certificate=False,
        )
        return replace(base, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def exact_core_limit(device: torch.device | str = "cpu") -> int:
    """Largest core :math:`m = \\min(n, dP)` the exact u-step factors on ``device``: its peak of
    :math:`32 m^2` bytes (four float64 (m, m) matrices) within :data:`EXACT_CORE_CPU_BYTES` on CPU (16,384),
    within half the free memory on a GPU (about 46,000 on an idle 141 GB H200). Forming the core costs
    :math:`m^2 \\max(n, dP)` and factoring it :math:`m^3`, so the limit is one of memory, not time."""
    device = torch.device(device)
    budget = torch.cuda.mem_get_info(device)[0] / 2 if device.type == "cuda" else EXACT_CORE_CPU_BYTES
    return math.isqrt(int(budget) // 32)


def exact_core(n: int, d: int, P: int, limit: int) -> Preconditioner | None:
    """The exact u-step inverse for ``n`` texts, ``d`` features and ``P`` patterns: ``"woodbury"`` (an
    (n, n) core) when :math:`n \\le dP`, ``"primal"`` (a (dP, dP) core) above; ``None`` when the smaller
    core exceeds ``limit`` (:meth:`CronosConfig.core_limit`)."""
    if min(n, d * P) > limit:
        return None
    return "woodbury" if n <= d * P else "primal"


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


@dataclass
class Problem:
    """The set-up shared by every method: data, gates, maps (with CRONOS's ``cone_scale``) and the
    unscaled maps the certificate uses."""

    X: torch.Tensor
    y: torch.Tensor
    beta: float
    patterns: ActivationPatterns
    maps: LinearMaps
    plain_maps: LinearMaps

    @property
    def shape(self) -> tuple[int, int]:
        return (self.maps.groups, int(self.X.shape[1]))


def setup_problem(
    X: torch.Tensor, y: torch.Tensor, config: CronosConfig, patterns: ActivationPatterns | None = None
) -> Problem:
    """Check the data, draw (or check) the gates and build the maps (set-up of :func:`fit_cronos`)."""
    validate_features(X)
    validate_targets(y, X, config.allow_real_targets)
    y = y.to(X.device, X.dtype)
    if patterns is None:
        patterns = sample_gates(X, config.P, config.seed)
    elif patterns.dim != X.shape[1]:
        raise ValueError(f"patterns were drawn for d={patterns.dim} but X has d={X.shape[1]}")
    patterns = patterns.to(X.device, X.dtype)
    n, d = X.shape
    relu = config.model == "relu"
    use_gram = config.use_gram if config.use_gram is not None else (relu and d < 2 * n)
    gram = X.T @ X if use_gram and relu and config.method_for(n, d, X.device) in ("cronos", "admm") else None
    masks = patterns.masks(X)
    maps = LinearMaps(X, masks, config.model, gram, config.cone_scale)
    plain = maps if config.cone_scale == 1.0 else LinearMaps(X, masks, config.model, gram)
    return Problem(X, y, float(config.beta), patterns, maps, plain)


class AdmmState:
    """The ADMM iterates (module docstring) and one iteration per :meth:`step`: CRONOS (``exact=False``:
    ``config.preconditioner``, plain updates) or ``"admm"`` (``exact=True``: Woodbury, over-relaxed)."""

    def __init__(self, problem: Problem, config: CronosConfig, exact: bool = False, start: WarmStart | None = None):
        self.problem, self.config = problem, config
        maps = problem.maps
        n = problem.X.shape[0]
        limit = config.core_limit(problem.X.device)
        core = exact_core(n, problem.X.shape[1], maps.P, limit)
        if exact and core is None:
            raise ValueError(
                f"method='admm' factors an (m, m) matrix, m = min(n, dP) <= {limit} (CronosConfig.exact_max_core, "
                f"default: the device's memory); got n={n}, dP={problem.X.shape[1] * maps.P}; use method='auto' "
                "(the augmented Lagrangian there), 'cronos', or raise CronosConfig.exact_max_core"
            )
        self.exact = exact
        self.rho = config.penalty_for("admm" if exact else "cronos")
        self.alpha = ADMM_RELAXATION if exact else 1.0
        # CRONOS records its dual residual every step (notebook 02 plots it); the exact ADMM only at its
        # certificate checks, which saves the pass over X that G^T(s - s_old) costs.
        self.track_every = config.check_interval("admm") if exact else 1
        self.system = SystemOperator(maps, self.rho)
        self.Fty = maps.FT(problem.y) / self.rho
        kind = core if exact and core is not None else config.preconditioner
        self.precond = self.system.preconditioner(kind, config.rank, config.seed)
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
        return self.u if self.config.keep == "pcg" else self.v

    @property
    def left(self) -> torch.Tensor:
        return self.left_uv[:, 0] if self.config.keep == "pcg" else self.left_uv[:, 1]

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
        tol = max(self.config.pcg_tol / self.k**2, self.floor)
        direct = self.precond if self.exact else None  # the exact method's inverse (never None there)
        if direct is not None and not (self.refine or self.k % self.track_every == 0):
            self.u, self.pcg_iters = direct(rhs), 0  # the direct solve, unchecked between checks
        else:
            # CRONOS warm-starts PCG at the previous u; the exact method starts it at the direct solve, so that
            # it only checks (and, when rounding needs it, refines) that solution.
            start = direct(rhs) if direct is not None else self.u
            solve = pcg(self.system, rhs, start, self.precond, tol=tol, max_iters=self.config.pcg_max_iters)
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
