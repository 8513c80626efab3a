"""The parts of a Phase I config that every solver shares: the convex program (:class:`Phase1Model`), the
stopping rule (:class:`StoppingRule`) and the base of each solver's own settings (:class:`SolverSettings`);
the rules that depend on sizes alone (:func:`exact_core`, :func:`exact_core_limit`: whether the exact ADMM's
u-step fits) and the ADMM's default penalties (:mod:`coala_lib.convex.admm`). The whole config,
:class:`coala_lib.convex.phase1.Phase1Config`, and the solvers' registry are in :mod:`coala_lib.convex.phase1`
and :mod:`coala_lib.convex.solvers`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from coala_lib.convex.certificate import Certificate

DEFAULT_RHO = 1e-3
#: The solver names a config may give (``"auto"``: :func:`coala_lib.convex.phase1.auto_solver`); the
#: registry :data:`coala_lib.convex.solvers.SOLVERS` holds the solvers themselves.
#: ``method="admm"``: over-relaxation and penalty per unit of beta (:mod:`coala_lib.convex.admm`).
ADMM_RELAXATION = 1.8
ADMM_RHO_PER_BETA = 0.1
#: Memory the exact u-step's (m, m) matrices may take on CPU, m = min(n, dP): at most four float64 ones at
#: once (the core, its Cholesky factor and inverse; the weights-side inverse also keeps the Gram factor),
#: 32 m^2 bytes (m = 16,384 in 8 GiB). On a GPU the budget is half its free memory (:func:`exact_core_limit`).
EXACT_CORE_CPU_BYTES = 8 * 2**30
PRECONDITIONERS = ("kronecker", "woodbury", "primal", "block_nystrom", "nystrom", "none")
Preconditioner = Literal["kronecker", "woodbury", "primal", "block_nystrom", "nystrom", "none"]
METHODS = ("auto", "admm", "cronos", "fista", "alm")
Method = Literal["auto", "admm", "cronos", "fista", "alm"]


def _bad(owner: object, name: str, rule: str) -> ValueError:
    return ValueError(f"{type(owner).__name__}.{name} {rule}, got {getattr(owner, name)!r}")


def check_positive(owner: object, *names: str) -> None:
    """Each named field of ``owner`` is finite and > 0 (else a ``ValueError`` naming ``Class.field``)."""
    for name in names:
        value = getattr(owner, name)
        if not (value > 0 and math.isfinite(value)):
            raise _bad(owner, name, "must be finite and > 0")


def check_at_least_one(owner: object, *names: str) -> None:
    """Each named field of ``owner`` is >= 1."""
    for name in names:
        if getattr(owner, name) < 1:
            raise _bad(owner, name, "must be >= 1")


@dataclass(frozen=True)
class Phase1Model:
    """The convex program Phase I solves: ``kind`` ``"relu"`` (cone-constrained) or ``"gated"``, ``P`` gates
    drawn with ``seed``, ``beta`` the group-lasso weight (Phase I's regularisation: it decides how many of the
    :math:`2P` neurons survive). Labels are +1/-1 unless ``allow_real_targets``."""

    kind: Literal["relu", "gated"] = "relu"
    P: int = 10
    beta: float = 1e-3
    seed: int = 0
    allow_real_targets: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("relu", "gated"):
            raise _bad(self, "kind", "must be 'relu' or 'gated'")
        if not isinstance(self.P, int) or self.P < 1:
            raise _bad(self, "P", "(number of sampled patterns) must be an integer >= 1")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise _bad(self, "beta", "(group-lasso weight) must be finite and >= 0")


@dataclass(frozen=True)
class StoppingRule:
    """When a Phase I fit stops: its certified relative gap ``<= tol`` and relative cone violation
    ``<= cone_tol``, checked every ``certify_every`` steps (``None``: the solver's own interval), at most
    ``max_iters`` steps; ``stop_on_certificate=False`` always runs ``max_iters`` steps (a fixed budget)."""

    tol: float = 1e-4
    cone_tol: float = 1e-4
    max_iters: int = 20_000
    certify_every: int | None = None
    stop_on_certificate: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "tol", "cone_tol")
        check_at_least_one(self, "max_iters")
        if self.certify_every is not None and self.certify_every < 1:
            raise _bad(self, "certify_every", "must be >= 1 or None")

    def interval(self, solver_default: int) -> int:
        """Steps between certificate checks: ``certify_every``, or the solver's ``solver_default``."""
        return self.certify_every if self.certify_every is not None else solver_default

    def stops(self, certificate: Certificate) -> bool:
        """The certificate holds (gap and cone violation within tolerance), unless a fixed budget is asked."""
        return self.stop_on_certificate and certificate.certified


@dataclass(frozen=True)
class SolverSettings:
    """Base of a Phase I solver's own settings (one frozen dataclass per solver, registered with it in
    :mod:`coala_lib.convex.solvers`). ``solver`` names the solver they belong to. The two hooks say what
    the shared set-up (:func:`coala_lib.convex.problem.setup_problem`) prepares for it."""

    solver: ClassVar[str] = ""

    def wants_gram(self, n: int, d: int, relu: bool) -> bool:
        """Whether the set-up precomputes :math:`X^\\top X` (``n`` texts, ``d`` features)."""
        return False

    def map_scale(self) -> float:
        """The cone map's scale :math:`c` (the constraint written :math:`cGu = s`); 1 unless an ADMM asks."""
        return 1.0

    def penalty(self, beta: float) -> float | None:
        """The ADMM penalty at group-lasso weight ``beta``; ``None`` for a solver without one."""
        return None


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
    core exceeds ``limit`` (:meth:`coala_lib.convex.admm.AdmmSettings.core_limit`)."""
    if min(n, d * P) > limit:
        return None
    return "woodbury" if n <= d * P else "primal"
