"""The duality-gap certificate: a rigorous lower bound (never above Clarabel's optimum) that closes at the solution."""

import dataclasses

import pytest
import torch

from coala_lib.convex.admm import build_admm
from coala_lib.convex.certificate import DualPoint, GramCorrection, certify, dual_bound, gram_factor, lens_projection
from coala_lib.convex.cronos import CronosConfig, fit_cronos
from coala_lib.convex.problem import setup_problem
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


def _gram(maps: LinearMaps) -> torch.Tensor:
    M = (maps.masks[:, :, None] * maps.X[:, None, :]).reshape(maps.X.shape[0], -1)
    return M.T @ M


def test_lens_projection_matches_an_interior_point_projection():
    cp = pytest.importorskip("cvxpy")
    g = torch.Generator().manual_seed(5)
    k, d, r = 40, 3, 1.0
    a = torch.randn(k, d, generator=g, dtype=torch.float64)
    b = a + 1.5 * torch.nn.functional.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=1)
    x = a + 3.0 * torch.randn(k, d, generator=g, dtype=torch.float64)
    x[:5] = 0.5 * (a[:5] + b[:5])  # inside both balls
    out = lens_projection(x, a, b, r)
    branches = set()
    for i in range(k):
        z = cp.Variable(d)
        cp.Problem(
            cp.Minimize(cp.sum_squares(z - x[i].numpy())),
            [cp.norm(z - a[i].numpy()) <= r, cp.norm(z - b[i].numpy()) <= r],
        ).solve(solver=cp.CLARABEL)
        # feasible, and no farther from x than the interior-point solution (the projection is unique)
        assert max(float((out[i] - a[i]).norm()), float((out[i] - b[i]).norm())) <= r * (1 + 1e-12), i
        assert float((out[i] - x[i]).norm()) <= float((torch.from_numpy(z.value) - x[i]).norm()) + 1e-7, i
        on_a = abs(float((out[i] - a[i]).norm()) - r) < 1e-9
        on_b = abs(float((out[i] - b[i]).norm()) - r) < 1e-9
        branches.add((on_a, on_b))
    assert branches == {(False, False), (True, False), (False, True), (True, True)}  # every branch ran
    far = lens_projection(x[:1], a[:1], a[:1] + 3.0, r)  # disjoint balls: the midpoint
    assert torch.allclose(far, a[:1] + 1.5)


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_corrected_dual_points_never_exceed_the_interior_point_optimum(kind):
    X, y, pats = _problem()  # n = 50 > dP = 25: the tall case the correction is for
    beta = 0.05
    optimum = solve_reference(X, y, pats, beta, kind).optimum
    maps = LinearMaps(X, pats.masks(X), kind)
    correction = GramCorrection(maps, y, beta, gram_factor(_gram(maps)))
    g = torch.Generator().manual_seed(2)
    for scale in [0.0, 0.01, 0.1, 1.0, 10.0]:
        U = scale * torch.randn(maps.groups, X.shape[1], generator=g, dtype=X.dtype)
        mu = torch.rand(X.shape[0], maps.groups, generator=g, dtype=X.dtype) if kind == "relu" else None
        residual = maps.F(U) - y
        mus = [mu, None] if mu is not None else [None]
        together = correction(residual, mus)
        for i, m in enumerate(mus):  # corrected together or one at a time: the same points
            torch.testing.assert_close(together[i], correction(residual, [m])[0], rtol=1e-10, atol=1e-12)
        candidates = [DualPoint(f"corrected {i}", lam, m) for i, (lam, m) in enumerate(zip(together, mus))]
        cert = certify(maps, y, beta, U, mu, candidates=candidates)
        assert cert.lower_bound <= optimum * (1 + 1e-8), (scale, cert)


def test_gated_dual_certifies_a_tall_relu_fit_that_its_multipliers_cannot():
    """Tall planted data (n = 2000 > 2dP = 64) after 100 ADMM steps: the multipliers' scaled dual point
    proves little, the corrected gated-relaxation point nearly the optimum, and neither exceeds it."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2000, 8, generator=g, dtype=torch.float64)
    y = torch.sign(
        torch.relu(X @ torch.randn(8, 6, generator=g, dtype=torch.float64))
        @ torch.randn(6, generator=g, dtype=torch.float64)
        - 0.2
    )
    config = CronosConfig(P=4, beta=1e-3, method="admm", max_iters=100)
    phase1 = config.to_phase1()
    model, settings = phase1.model, phase1.settings_for("admm")
    problem = setup_problem(X, y, model, settings)
    state = build_admm(problem, model, phase1.stopping, settings, None)
    for _ in range(100):
        state.step()
    maps, mu = problem.plain_maps, state.multipliers()
    optimum = solve_reference(X, y, problem.patterns, 1e-3, "relu").optimum
    residual = state.pcg_residual()
    scaled = certify(maps, y, 1e-3, state.v, mu, candidates=[DualPoint("pcg", residual, mu)])
    best = certify(maps, y, 1e-3, state.v, mu, candidates=state.dual_points())
    assert [point.name for point in state.dual_points()] == ["pcg", "corrected", "corrected_gated"]
    assert scaled.lower_bound < 0.9 * optimum and scaled.dual_point in ("iterate", "pcg")
    assert optimum * (1 - 1e-3) <= best.lower_bound <= optimum * (1 + 1e-8)
    assert best.dual_point == "corrected_gated"


def test_a_carried_bound_keeps_the_name_of_the_point_that_proved_it():
    X, y, pats = _problem()
    maps = LinearMaps(X, pats.masks(X), "gated")
    U = torch.zeros(maps.groups, X.shape[1], dtype=X.dtype)
    fresh = certify(maps, y, 0.05, U)
    assert fresh.dual_point == "iterate"
    proven = dataclasses.replace(fresh, lower_bound=fresh.lower_bound + 1.0, dual_point="pcg")
    carried = certify(maps, y, 0.05, U, earlier=proven)
    assert carried.lower_bound == fresh.lower_bound + 1.0 and carried.dual_point == "pcg"
