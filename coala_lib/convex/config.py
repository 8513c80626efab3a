"""The settings of a Phase I fit (:class:`CronosConfig`) and the rules that depend on them alone: which
method ``"auto"`` picks (:func:`exact_core`, :func:`exact_core_limit`) and the ADMM's default penalties
(:mod:`coala_lib.convex.admm`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import torch

DEFAULT_RHO = 1e-3
#: ``method="admm"``: over-relaxation and penalty per unit of beta (:mod:`coala_lib.convex.admm`).
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
