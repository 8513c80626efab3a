"""The duality-gap certificate: a rigorous lower bound (never above Clarabel's optimum) that closes at the solution."""

import pytest
import torch

from coala_lib.convex.certificate import certify, dual_bound
from coala_lib.convex.cronos import CronosConfig, fit_cronos
from coala_lib.convex.reference import solve_reference
from coala_lib.convex.reformulation import LinearMaps, group_norms, sample_gates


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _problem(n=50, d=5, P=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sign(torch.relu(X @ torch.randn(d, generator=g, dtype=torch.float64)) - 0.3)
    return X, y, sample_gates(X, P, seed=seed)


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_bound_never_exceeds_the_interior_point_optimum(kind):
    X, y, pats = _problem()
    beta = 0.05
    optimum = solve_reference(X, y, pats, beta, kind).optimum
    maps = LinearMaps(X, pats.masks(X), kind)
    g = torch.Generator().manual_seed(1)
    for scale in [0.0, 0.01, 0.1, 1.0, 10.0]:
        U = scale * torch.randn(maps.groups, X.shape[1], generator=g, dtype=X.dtype)
        mu = torch.rand(X.shape[0], maps.groups, generator=g, dtype=X.dtype) if kind == "relu" else None
        cert = certify(maps, y, beta, U, mu)
        assert cert.lower_bound <= optimum * (1 + 1e-8), (scale, cert)
        # the scaled dual point is feasible: every group's dual norm is within beta
        residual = maps.F(U) - y
        Z = maps.adjoint(cert.dual_scale * residual, None if mu is None else cert.dual_scale * mu)
        assert float(group_norms(Z).max()) <= beta * (1 + 1e-10)


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_bound_closes_to_the_optimum_at_the_solution(kind):
    X, y, pats = _problem()
    beta = 0.05
    optimum = solve_reference(X, y, pats, beta, kind).optimum
    result = fit_cronos(X, y, CronosConfig(beta=beta, model=kind, tol=1e-7, cone_tol=1e-7), patterns=pats)
    cert = result.certificate
    assert cert.certified and cert.lower_bound <= optimum * (1 + 1e-8)
    assert cert.lower_bound == pytest.approx(optimum, rel=1e-6)
    assert cert.dual_scale == pytest.approx(1.0, abs=1e-3)
    # every check's bound is valid and the kept bound is the best of them
    assert max(c["lower_bound"] for c in result.history.checks) == cert.lower_bound <= optimum * (1 + 1e-8)


def test_gated_certificate_is_zero_gap_at_zero_for_large_beta():
    X, y, pats = _problem()
    maps = LinearMaps(X, pats.masks(X), "gated")
    beta_max = float(group_norms(maps.FT(-y)).max())
    cert = certify(maps, y, 1.01 * beta_max, torch.zeros(maps.groups, X.shape[1], dtype=X.dtype))
    assert cert.certified and cert.gap == pytest.approx(0.0, abs=1e-9) and cert.dual_scale == 1.0


def test_cone_violation_is_reported_and_blocks_certification():
    X, y, pats = _problem()
    maps = LinearMaps(X, pats.masks(X), "relu")
    U = torch.randn(maps.groups, X.shape[1], generator=torch.Generator().manual_seed(3), dtype=X.dtype)
    cert = certify(maps, y, 1e6, U, tol=1e9)  # huge tolerance on the gap: only the violation can fail
    GU = maps.G(U)
    assert cert.cone_violation_max == pytest.approx(float(torch.relu(-GU).max()))
    assert cert.cone_violation_rel == pytest.approx(
        float(torch.linalg.vector_norm(torch.relu(-GU)) / torch.linalg.vector_norm(GU))
    )
    assert cert.cone_violation_rel > 0.1 and not cert.certified


def test_dual_bound_uses_the_best_scale_within_feasibility():
    X, y, pats = _problem()
    maps = LinearMaps(X, pats.masks(X), "gated")
    residual = -y.clone()  # lambda_0 = -y: unconstrained best scale t* = 1
    bound, t, _ = dual_bound(maps, y, 1e9, residual, None)
    assert t == pytest.approx(1.0) and bound == pytest.approx(0.5 * float(y @ y))
    small_bound, small_t, infeasibility = dual_bound(maps, y, 1e-3, residual, None)
    assert small_t < 1e-3 and infeasibility > 1 and 0 < small_bound < bound
