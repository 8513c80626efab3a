"""The solver-neutral Phase I entry: fit_phase1 with a Phase1Config, the registry, and the deprecated alias."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from coala_lib.convex import (
    SOLVERS,
    AdmmSettings,
    CronosConfig,
    CronosSettings,
    Phase1Config,
    Phase1Model,
    SolverSettings,
    SolverSpec,
    StoppingRule,
    UncertifiedWarning,
    fit_cronos,
    fit_phase1,
    register_solver,
)
from coala_lib.convex.proximal import build_fista
from coala_lib.head.config import HeadConfig


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(60, 5, generator=g, dtype=torch.float64)
    return X, torch.sign(X[:, 0] + 0.3 * torch.randn(60, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("method", ["auto", "admm", "cronos", "alm"])
def test_fit_cronos_is_fit_phase1_bitwise(method: str) -> None:
    X, y = _data()
    old = CronosConfig(P=3, beta=1e-2, method=method, max_iters=60, rho=0.2 if method == "admm" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertifiedWarning)
        a, b = fit_cronos(X, y, old), fit_phase1(X, y, old.to_phase1())
    assert a.config is old and b.config == old.to_phase1() and a.method == b.method
    assert torch.equal(a.model.stacked, b.model.stacked) and a.history.objective == b.history.objective
    assert a.rho == b.rho == old.penalty_for(a.method) and a.iterations == b.iterations


def test_config_parts_and_auto_rule() -> None:
    config = Phase1Config(Phase1Model(P=10), StoppingRule(tol=1e-6), settings=(AdmmSettings(exact_max_core=1000),))
    assert config.solver_for(1000, 384) == "admm" and config.solver_for(1001, 384) == "alm"
    assert Phase1Config(Phase1Model(kind="gated")).solver_for(10, 2) == "fista"
    assert config.settings_for("cronos") == CronosSettings()  # not given: the registered defaults
    assert config.check_interval("cronos") == 1 and config.check_interval("admm") == 10
    with pytest.raises(ValueError, match="'fista' solves"):
        Phase1Config(solver="fista")
    with pytest.raises(ValueError, match="unknown Phase I solver"):
        Phase1Config(solver="newton")
    with pytest.raises(ValueError, match="twice"):
        Phase1Config(settings=(AdmmSettings(), AdmmSettings(rho=1.0)))
    with pytest.raises(ValueError, match=r"StoppingRule\.tol"):
        StoppingRule(tol=0.0)
    with pytest.raises(ValueError, match=r"CronosSettings\.preconditioner"):
        CronosSettings(preconditioner="lu")  # type: ignore[arg-type]


def test_head_config_reads_its_phase1_fields_as_one_phase1_config() -> None:
    head = HeadConfig(P=32, beta=149.0095503544234, rho=0.5, phase1_method="cronos", phase1_tol=1e-5, seed=3)
    old = CronosConfig(
        P=32, beta=149.0095503544234, rho=0.5, method="cronos", tol=1e-5, cone_tol=1e-5, max_iters=5000, seed=3
    ).to_phase1()
    phase1 = head.phase1_config()
    assert (phase1.model, phase1.stopping, phase1.solver) == (old.model, old.stopping, old.solver)
    for name in SOLVERS.keys() & {"admm", "cronos", "alm", "fista"}:
        assert phase1.settings_for(name) == old.settings_for(name)


@dataclass(frozen=True)
class SlowFistaSettings(SolverSettings):
    solver: ClassVar[str] = "toy_fista"


def test_a_solver_is_one_file_one_config_one_registration() -> None:
    spec = SolverSpec("toy_fista", SlowFistaSettings, ("gated",), lambda p, m, s, c, w: build_fista(p, m, s, None, w))
    register_solver(spec)
    try:
        X, y = _data()
        model = Phase1Model(kind="gated", P=3, beta=1e-2)
        ours = fit_phase1(X, y, Phase1Config(model, StoppingRule(max_iters=5000), solver="toy_fista"))
        ref = fit_phase1(X, y, Phase1Config(model, StoppingRule(max_iters=5000), solver="fista"))
        assert ours.method == "toy_fista" and ours.certified and math.isclose(ours.rho, ref.rho)
        assert torch.equal(ours.model.stacked, ref.model.stacked)
    finally:
        SOLVERS.pop("toy_fista")
