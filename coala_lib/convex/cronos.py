"""The CRONOS solver (Feng, Frangella & Pilanci 2024): the paper's ADMM with a PCG u-step, registered as
``"cronos"`` with its settings :class:`CronosSettings` (the iteration itself is shared with the exact ADMM,
:class:`coala_lib.convex.admm.AdmmState`); and the deprecated flat entry point of Phase I.

Deprecated, kept for the notebooks and records that use them: :func:`fit_cronos` with :class:`CronosConfig`
(21 flat fields mixing the model, the stopping rule and every solver's settings) is now
``fit_phase1(X, y, config.to_phase1())`` (:func:`coala_lib.convex.phase1.fit_phase1`), bitwise the same fit,
returned with the :class:`CronosConfig` it was given. New code builds a
:class:`coala_lib.convex.phase1.Phase1Config`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Literal

import torch

from coala_lib.convex.admm import AdmmCommon, AdmmSettings, AdmmState
from coala_lib.convex.alm import AlmSettings
from coala_lib.convex.certificate import Certificate
from coala_lib.convex.config import (
    DEFAULT_RHO,
    METHODS,
    PRECONDITIONERS,
    Method,
    Phase1Model,
    Preconditioner,
    StoppingRule,
    check_at_least_one,
)
from coala_lib.convex.phase1 import (
    Phase1Config,
    Phase1History,
    Phase1Result,
    UncertifiedWarning,
    auto_solver,
    recover_model,
    run_phase1,
)
from coala_lib.convex.problem import Problem, WarmStart
from coala_lib.convex.proximal import FistaSettings
from coala_lib.convex.reformulation import ActivationPatterns
from coala_lib.convex.solvers import SolverSpec, register_solver

__all__ = [
    "METHODS",
    "CronosConfig",
    "CronosHistory",
    "CronosResult",
    "CronosSettings",
    "Method",
    "UncertifiedWarning",
    "fit_cronos",
    "recover_model",
    "should_stop",
]

#: Deprecated names of :class:`coala_lib.convex.phase1.Phase1History` and ``Phase1Result[CronosConfig]``.
CronosHistory = Phase1History
CronosResult = Phase1Result


@dataclass(frozen=True)
class CronosSettings(AdmmCommon):
    """CRONOS's settings: :class:`coala_lib.convex.admm.AdmmCommon`'s (``rho`` defaults to ``DEFAULT_RHO``),
    the u-step's ``preconditioner`` (:mod:`coala_lib.convex.admm`: ``"kronecker"``, ``"block_nystrom"``,
    ``"nystrom"``, ``"woodbury"``, ``"primal"`` or ``"none"``) and the Nystrom sketches' ``rank``."""

    solver: ClassVar[str] = "cronos"
    rank: int = 20
    preconditioner: Preconditioner = "kronecker"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_at_least_one(self, "rank")
        if self.preconditioner not in PRECONDITIONERS:
            raise ValueError(
                f"CronosSettings.preconditioner must be one of {PRECONDITIONERS}, got {self.preconditioner!r}"
            )


def build_cronos(
    problem: Problem, model: Phase1Model, stopping: StoppingRule, settings: CronosSettings, start: WarmStart | None
) -> AdmmState:
    """CRONOS on ``problem``: plain ADMM, its u-step by PCG with ``settings.preconditioner``."""
    return AdmmState(
        problem, settings, preconditioner=settings.preconditioner, rank=settings.rank, seed=model.seed, start=start
    )


CRONOS = register_solver(
    SolverSpec(
        name="cronos",
        settings=CronosSettings,
        models=("relu", "gated"),
        build=build_cronos,
        check_every=1,
        summary="the paper's ADMM with a PCG u-step (CRONOS)",
    )
)


@dataclass(frozen=True)
class CronosConfig:
    """Deprecated: the flat Phase I settings; build a :class:`coala_lib.convex.phase1.Phase1Config` instead
    (:meth:`to_phase1` says which field goes where). Kept, with its validation and its record form
    (:meth:`as_dict`), because notebooks and records use it.

    ``model``, ``P``, ``beta``, ``seed``, ``allow_real_targets``: :class:`coala_lib.convex.config.Phase1Model`;
    ``tol``, ``cone_tol``, ``max_iters``, ``certify_every``, ``stop_on_certificate``:
    :class:`coala_lib.convex.config.StoppingRule`; ``method``: the solver (``"auto"``,
    :func:`coala_lib.convex.phase1.auto_solver`); ``rho``, ``pcg_max_iters``, ``pcg_tol``, ``cone_scale``,
    ``use_gram``, ``keep``: both ADMMs' settings, ``exact_max_core`` the exact ADMM's
    (:class:`coala_lib.convex.admm.AdmmSettings`), ``rank``, ``preconditioner`` CRONOS's
    (:class:`CronosSettings`); ``alm_rho`` the augmented Lagrangian's (:class:`coala_lib.convex.alm.AlmSettings`).
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

    def to_phase1(self) -> Phase1Config:
        """The same fit as a :class:`coala_lib.convex.phase1.Phase1Config` (every field in its place)."""
        shared: dict[str, Any] = {
            "rho": self.rho,
            "pcg_max_iters": self.pcg_max_iters,
            "pcg_tol": self.pcg_tol,
            "cone_scale": self.cone_scale,
            "use_gram": self.use_gram,
            "keep": self.keep,
        }
        return Phase1Config(
            model=Phase1Model(self.model, self.P, self.beta, self.seed, self.allow_real_targets),
            stopping=StoppingRule(
                self.tol, self.cone_tol, self.max_iters, self.certify_every, self.stop_on_certificate
            ),
            solver=self.method,
            settings=(
                AdmmSettings(**shared, exact_max_core=self.exact_max_core),
                CronosSettings(**shared, rank=self.rank, preconditioner=self.preconditioner),
                AlmSettings(rho=self.alm_rho),
                FistaSettings(),
            ),
        )

    def core_limit(self, device: torch.device | str = "cpu") -> int:
        """``exact_max_core``, or the device's limit (:meth:`coala_lib.convex.admm.AdmmSettings.core_limit`)."""
        return AdmmSettings(exact_max_core=self.exact_max_core).core_limit(device)

    def method_for(self, n: int, d: int, device: torch.device | str = "cpu") -> str:
        """The solver that fits ``n`` texts of ``d`` features on ``device`` (:func:`auto_solver`)."""
        return auto_solver(self.to_phase1(), n, d, device)

    def check_interval(self, method: str) -> int:
        """Steps between certificate checks for ``method``: ``certify_every``, else 1 (CRONOS) or 10."""
        return self.to_phase1().check_interval(method)

    def penalty_for(self, method: str) -> float:
        """The ADMM penalty :math:`\\rho` (:attr:`coala_lib.convex.phase1.Phase1Result.rho`)."""
        return self.to_phase1().reported_penalty(method)

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


def should_stop(certificate: Certificate, config: CronosConfig) -> bool:
    """Deprecated: :meth:`coala_lib.convex.config.StoppingRule.stops` of ``config``'s stopping rule."""
    return config.to_phase1().stopping.stops(certificate)


def fit_cronos(
    X: torch.Tensor,
    y: torch.Tensor,
    config: CronosConfig | None = None,
    *,
    patterns: ActivationPatterns | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    start: WarmStart | None = None,
) -> Phase1Result[CronosConfig]:
    """Deprecated alias of :func:`coala_lib.convex.phase1.fit_phase1` for a flat :class:`CronosConfig`
    (default ``CronosConfig()``): the same fit, bitwise, with ``result.config`` the given :class:`CronosConfig`.
    Arguments as :func:`coala_lib.convex.phase1.fit_phase1`."""
    config = config if config is not None else CronosConfig()
    if not isinstance(config, CronosConfig):
        raise TypeError(
            f"config must be a CronosConfig, got {type(config).__name__}; build one: CronosConfig(P=..., beta=...)"
        )
    return run_phase1(
        X, y, config.to_phase1(), config, patterns=patterns, progress=progress, callback=callback, start=start
    )
