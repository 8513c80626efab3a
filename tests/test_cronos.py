"""CRONOS: proximal steps, the u-system, Nystrom PCG, and agreement with an independent solver."""

import warnings
from dataclasses import replace

import cvxpy as cp
import numpy as np
import pytest
import torch

from coala_lib.convex.admm import SystemOperator, build_admm
from coala_lib.convex.config import ADMM_RHO_PER_BETA, DEFAULT_RHO, EXACT_CORE_CPU_BYTES, exact_core, exact_core_limit
from coala_lib.convex.cronos import CronosConfig, UncertifiedWarning, fit_cronos
from coala_lib.convex.nystrom import build_nystrom
from coala_lib.convex.pcg import PrimalInverse, WoodburyInverse, pcg
from coala_lib.convex.problem import setup_problem
from coala_lib.convex.proximal import group_soft_threshold, project_nonnegative
from coala_lib.convex.reformulation import LinearMaps, sample_gates


@pytest.fixture(autouse=True)
def one_thread():
    """Small matmuls on a shared 2-core machine run far faster (and the same) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _problem(n=60, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=dtype)
    teacher = torch.randn(d, 3, generator=g, dtype=dtype)
    y = torch.sign(torch.relu(X @ teacher) @ torch.tensor([1.0, -1.0, 0.5], dtype=dtype) + 0.1)
    return X, y


def test_group_soft_threshold_matches_direct_minimisation():
    g = torch.Generator().manual_seed(0)
    Z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    Z[2] *= 0.1  # a short row that must vanish
    t = 0.5
    out = group_soft_threshold(Z, t)
    for i in range(4):
        x = cp.Variable(3)
        cp.Problem(cp.Minimize(t * cp.norm(x, 2) + 0.5 * cp.sum_squares(x - Z[i].numpy()))).solve(solver=cp.CLARABEL)
        np.testing.assert_allclose(out[i].numpy(), x.value, atol=1e-6)
    assert float(out[2].abs().max()) == 0.0


def test_projection_onto_nonnegative_orthant_is_optimal():
    Z = torch.randn(20, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    proj = project_nonnegative(Z)
    assert bool((proj >= 0).all())
    # Optimality: Z - proj lies in the normal cone, i.e. it is <= 0 and vanishes where proj > 0.
    assert bool(((Z - proj) <= 0).all()) and float(((Z - proj) * proj).abs().max()) == 0.0


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_system_matrix_is_symmetric_positive_definite(kind):
    X, _ = _problem(n=30, d=3)
    system = SystemOperator(LinearMaps(X, sample_gates(X, 4).masks(X), kind), rho=0.1)
    A = system.dense()
    torch.testing.assert_close(A, A.T)
    assert float(torch.linalg.eigvalsh(A).min()) >= 1 - 1e-10  # I + PSD


def _ill_conditioned_system():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(200, 12, generator=g, dtype=torch.float64) * torch.logspace(0, -2, 12, dtype=torch.float64)
    maps = LinearMaps(X, sample_gates(X, 3).masks(X), "relu")
    return X, SystemOperator(maps, rho=0.05)


def test_nystrom_lowers_condition_number_and_pcg_iterations():
    X, system = _ill_conditioned_system()
    pre = build_nystrom(system.psd_part, system.shape, rank=20, mu=1.0, seed=0, dtype=X.dtype)
    A = system.dense()
    N = A.shape[0]
    Pinv = pre(torch.eye(N, dtype=X.dtype).reshape(N, *system.shape)).reshape(N, N)
    root = torch.linalg.cholesky(torch.linalg.inv(Pinv))  # P = L L^T; L^{-1} A L^{-T} is similar to P^{-1} A
    Linv = torch.linalg.inv(root)
    cond_pre = torch.linalg.cond(Linv @ A @ Linv.T)
    assert cond_pre < torch.linalg.cond(A) / 10
    b = torch.randn(system.shape, generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    plain = pcg(system, b, tol=1e-10, max_iters=2000)
    precond = pcg(system, b, precondition=pre, tol=1e-10, max_iters=2000)
    assert plain.converged and precond.converged
    assert precond.iterations < 0.75 * plain.iterations
    exact = torch.linalg.solve(A, b.reshape(-1)).reshape(system.shape)
    torch.testing.assert_close(precond.x, exact, rtol=1e-7, atol=1e-9)


def _dense_inverse_preconditioner(pre, system, dtype):
    N = system.shape[0] * system.shape[1]
    return pre(torch.eye(N, dtype=dtype).reshape(N, *system.shape)).reshape(N, N)


def _preconditioned_spectrum(Minv, A):
    root = torch.linalg.cholesky(0.5 * (Minv + Minv.T))  # M^{-1} = R R^T; R^T A R is similar to M^{-1} A
    return torch.linalg.eigvalsh(root.T @ A @ root)


def test_block_nystrom_is_spd_and_beats_plain_nystrom_at_the_same_rank():
    X, system = _ill_conditioned_system()
    A = system.dense()
    block = system.preconditioner("block_nystrom", rank=20, seed=0)
    plain = system.preconditioner("nystrom", rank=20, seed=0)
    Minv = _dense_inverse_preconditioner(block, system, X.dtype)
    torch.testing.assert_close(Minv, Minv.T, rtol=1e-9, atol=1e-12)
    assert float(torch.linalg.eigvalsh(0.5 * (Minv + Minv.T)).min()) > 0
    eig_block = _preconditioned_spectrum(Minv, A)
    eig_plain = _preconditioned_spectrum(_dense_inverse_preconditioner(plain, system, X.dtype), A)
    kappa_block, kappa_plain = float(eig_block[-1] / eig_block[0]), float(eig_plain[-1] / eig_plain[0])
    assert kappa_block < kappa_plain / 10
    # The exactly inverted part B = I (x) (I + X^T X) leaves eigenvalues >= 1; the rank-20 sketch caps the top.
    assert float(eig_block[0]) == pytest.approx(1.0, rel=1e-8)
    b = torch.randn(system.shape, generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    solved = pcg(system, b, precondition=block, tol=1e-10, max_iters=2000)
    assert (
        solved.converged
        and solved.iterations < pcg(system, b, precondition=plain, tol=1e-10, max_iters=2000).iterations
    )
    torch.testing.assert_close(
        solved.x, torch.linalg.solve(A, b.reshape(-1)).reshape(system.shape), rtol=1e-7, atol=1e-9
    )


def test_block_nystrom_with_full_rank_sketch_inverts_the_system():
    X, system = _problem(n=40, d=3)
    system = SystemOperator(LinearMaps(X, sample_gates(X, 2).masks(X), "relu", cone_scale=0.5), rho=0.2)
    N = system.shape[0] * system.shape[1]
    Minv = _dense_inverse_preconditioner(system.preconditioner("block_nystrom", rank=N), system, X.dtype)
    torch.testing.assert_close(Minv @ system.dense(), torch.eye(N, dtype=X.dtype), rtol=0, atol=1e-8)


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_kronecker_preconditioner_is_exact_when_all_rows_are_active(kind):
    X, _ = _problem(n=40, d=3)
    system = SystemOperator(LinearMaps(X, torch.ones(40, 2, dtype=X.dtype), kind, cone_scale=0.7), rho=0.05)
    N = system.shape[0] * system.shape[1]
    Minv = _dense_inverse_preconditioner(system.preconditioner("kronecker", rank=1), system, X.dtype)
    torch.testing.assert_close(Minv @ system.dense(), torch.eye(N, dtype=X.dtype), rtol=0, atol=1e-8)


def test_kronecker_preconditioner_is_spd_and_clusters_the_spectrum():
    X, system = _ill_conditioned_system()
    A = system.dense()
    Minv = _dense_inverse_preconditioner(system.preconditioner("kronecker", rank=1), system, X.dtype)
    torch.testing.assert_close(Minv, Minv.T, rtol=1e-9, atol=1e-12)
    eig = _preconditioned_spectrum(Minv, A)
    eig_plain = _preconditioned_spectrum(
        _dense_inverse_preconditioner(system.preconditioner("nystrom", rank=20), system, X.dtype), A
    )
    assert float(eig[0]) > 0 and float(eig[-1] / eig[0]) < float(eig_plain[-1] / eig_plain[0]) / 10


def _clarabel_objective(X, y, masks, beta, kind):
    Xn, yn, M = X.numpy(), y.numpy(), masks.numpy()
    P, d = M.shape[1], X.shape[1]
    if kind == "relu":
        V, W = cp.Variable((P, d)), cp.Variable((P, d))
        pred = sum(cp.multiply(M[:, i], Xn @ (V[i] - W[i])) for i in range(P))
        signs = 2 * M - 1
        cons = [cp.multiply(signs[:, i], Xn @ Z[i]) >= 0 for i in range(P) for Z in (V, W)]
        pen = cp.sum(cp.norm(V, 2, axis=1)) + cp.sum(cp.norm(W, 2, axis=1))
    else:
        U = cp.Variable((P, d))
        pred = sum(cp.multiply(M[:, i], Xn @ U[i]) for i in range(P))
        cons, pen = [], cp.sum(cp.norm(U, 2, axis=1))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(pred - yn) + beta * pen), cons)
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.SolverError:
        prob.solve(solver=cp.SCS, eps=1e-9, max_iters=200_000)
    return prob.value


@pytest.mark.parametrize("preconditioner", ["kronecker", "block_nystrom", "nystrom", "none"])
@pytest.mark.parametrize("kind, rho, iters, tol", [("relu", 0.01, 4000, 1e-3), ("gated", 1e-3, 1000, 1e-5)])
def test_cronos_reaches_a_certified_clarabel_optimum(kind, rho, iters, tol, preconditioner):
    X, y = _problem()
    beta = 1e-3
    pats = sample_gates(X, 6, seed=0)
    reference = _clarabel_objective(X, y, pats.masks(X), beta, kind)
    config = CronosConfig(
        beta=beta,
        rho=rho,
        model=kind,
        method="cronos",
        max_iters=iters,
        tol=tol,
        certify_every=10,
        cone_tol=tol,
        pcg_max_iters=50,
        preconditioner=preconditioner,
    )
    result = fit_cronos(X, y, config, patterns=pats)
    cert = result.certificate
    assert result.certified and result.iterations < iters
    assert cert.lower_bound <= reference * (1 + 1e-7)
    assert cert.lower_bound >= reference * (1 - tol)
    assert result.model.objective(X, y, beta) == pytest.approx(reference, rel=tol)
    assert result.model.constraint_violation(X).relative == pytest.approx(cert.cone_violation_rel, abs=1e-12)
    assert cert.primal == pytest.approx(result.model.objective(X, y, beta), rel=1e-10)
    assert result.history.objective[-1] == pytest.approx(cert.primal, rel=1e-10)


@pytest.mark.parametrize(
    ("kind", "method", "resolved", "d"),
    [
        ("relu", "auto", "admm", 5),  # n = 60 > dP = 30: the exact u-step on the weights' side
        ("relu", "auto", "admm", 12),  # n = 60 < dP = 72: the Woodbury core
        ("relu", "alm", "alm", 5),
        ("gated", "auto", "fista", 5),
        ("gated", "admm", "admm", 5),
    ],
)
def test_methods_reach_a_certified_clarabel_optimum(kind, method, resolved, d):
    X, y = _problem(d=d)
    beta = 1e-2
    pats = sample_gates(X, 6, seed=0)
    reference = _clarabel_objective(X, y, pats.masks(X), beta, kind)
    config = CronosConfig(beta=beta, model=kind, method=method, tol=1e-6, cone_tol=1e-6)
    result = fit_cronos(X, y, config, patterns=pats)
    assert result.method == resolved
    assert result.certified
    assert result.certificate.lower_bound <= reference * (1 + 1e-7)
    assert result.certificate.lower_bound >= reference * (1 - 3e-6)  # primal may sit below p* by its violation
    assert result.model.objective(X, y, beta) == pytest.approx(reference, rel=1e-5)
    assert result.multipliers is None if kind == "gated" else bool((result.multipliers >= 0).all())


def test_auto_picks_the_exact_admm_while_its_core_fits_and_the_alm_above():
    limit = exact_core_limit("cpu")
    assert limit == 16_384 and 32 * limit**2 <= EXACT_CORE_CPU_BYTES < 32 * (limit + 1) ** 2
    config = CronosConfig(P=10)
    assert exact_core(1000, 384, 10, limit) == "woodbury" and exact_core(10_000, 384, 10, limit) == "primal"
    assert exact_core(10_000, 384, 64, limit) == "woodbury"  # the grid's n = 1e4, P = 64 row: a 10,000 core
    assert exact_core(limit + 1, 4096, 10, limit) is None and exact_core(100_000, 384, 64, limit) is None
    assert config.method_for(limit, 4096) == "admm" and config.method_for(limit + 1, 4096) == "alm"
    assert config.method_for(100_000, 384) == "admm"  # the (3840, 3840) core on the weights' side
    small = CronosConfig(P=10, exact_max_core=1000)  # the field overrides the device's limit
    assert small.method_for(1000, 384) == "admm" and small.method_for(1001, 384) == "alm"
    assert CronosConfig(model="gated").method_for(10, 2) == "fista"
    assert config.penalty_for("admm") == pytest.approx(ADMM_RHO_PER_BETA * config.beta)
    assert config.penalty_for("cronos") == DEFAULT_RHO and CronosConfig(rho=0.5).penalty_for("admm") == 0.5
    X = torch.randn(301, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.sign(X[:, 0])
    with pytest.raises(ValueError, match="exact_max_core"):
        fit_cronos(X, y, CronosConfig(P=10, method="admm", max_iters=1, exact_max_core=300))
    with pytest.raises(ValueError, match="exact_max_core"):
        CronosConfig(exact_max_core=0)


@pytest.mark.parametrize("kind", ["relu", "gated"])
@pytest.mark.parametrize("exact", [WoodburyInverse, PrimalInverse])
def test_exact_inverses_are_the_inverse_of_the_u_matrix(kind, exact):
    X, _ = _problem(n=30, d=4, seed=2)
    maps = LinearMaps(X, sample_gates(X, 3).masks(X), kind, cone_scale=0.7)
    system = SystemOperator(maps, rho=0.05)
    A = system.dense()
    inverse = exact(maps, system.block(), 0.05)
    N = A.shape[0]
    eye = torch.eye(N, dtype=X.dtype).reshape(N, *system.shape)
    applied = torch.stack([inverse(e) for e in eye]).reshape(N, N).T
    torch.testing.assert_close(applied @ A, torch.eye(N, dtype=X.dtype), atol=1e-9, rtol=0)


@pytest.mark.parametrize("method", ["cronos", "auto"])
@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_run_is_bitwise_reproducible(kind, method):
    X, y = _problem(n=80, d=6, seed=3)
    config = CronosConfig(P=5, model=kind, method=method, rho=0.3, max_iters=300, seed=4, tol=1e-6, cone_tol=1e-6)
    a, b = fit_cronos(X, y, config), fit_cronos(X, y, config)
    assert torch.equal(a.model.stacked, b.model.stacked) and torch.equal(a.patterns.gates, b.patterns.gates)

    def timeless(checks):
        return [{k: v for k, v in c.items() if k != "seconds"} for c in checks]

    assert a.history.objective == b.history.objective and timeless(a.history.checks) == timeless(b.history.checks)


def test_cronos_residuals_decrease_and_prox_iterate_is_group_sparse():
    X, y = _problem(n=80, d=6, seed=3)
    result = fit_cronos(X, y, CronosConfig(P=8, beta=5.0, rho=3.0, method="cronos", max_iters=3000))
    assert result.certified and result.iterations < 3000
    h = result.history
    assert h.primal_residual[-1] < h.primal_residual[0] / 100
    norms = torch.linalg.vector_norm(result.model.stacked, dim=1)
    assert bool((norms == 0).any()), "a large beta must zero out some groups exactly"
    assert result.pcg_iterate is not None
    assert bool((torch.linalg.vector_norm(result.pcg_iterate, dim=1) > 0).all())


def test_uncertified_stop_is_reported_loudly():
    X, y = _problem()
    with pytest.warns(UncertifiedWarning, match="NOT certified"):
        result = fit_cronos(X, y, CronosConfig(P=4, max_iters=3))
    assert not result.certified and not result.converged and result.iterations == 3
    assert result.certificate.relative_gap > result.certificate.tol or result.certificate.cone_violation_rel > 1e-4
    assert result.summary()["certificate_certified"] is False


def test_paper_variant_runs_six_iterations_and_returns_the_dense_pcg_iterate():
    X, y = _problem()
    config = CronosConfig.paper(P=4)
    assert (config.max_iters, config.rho, config.keep, config.method) == (6, 1e-4, "pcg", "cronos")
    with pytest.warns(UncertifiedWarning):
        result = fit_cronos(X, y, config)
    assert result.iterations == 6 and len(result.history) == 6
    assert torch.equal(result.model.stacked, result.pcg_iterate)
    reference = _clarabel_objective(X, y, result.patterns.masks(X), config.beta, "relu")
    assert result.certificate.lower_bound <= reference * (1 + 1e-7)


def test_exact_u_step_is_checked_at_certificate_checks_and_refined_every_step_once_needed():
    X, y = _problem()
    config = CronosConfig(P=4, method="admm", max_iters=40, stop_on_certificate=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertifiedWarning)
        every_tenth = fit_cronos(X, y, config)
        every_step = fit_cronos(X, y, replace(config, certify_every=1))  # PCG checks the direct solve every step
    # The direct solve met PCG's tolerance at every check, so checking it only there leaves the iterates as they were.
    assert sum(every_step.history.pcg_iters) == 0
    torch.testing.assert_close(every_tenth.model.stacked, every_step.model.stacked, rtol=1e-10, atol=1e-12)
    # A tolerance below rounding (pcg_tol -> the dtype's floor): the first check refines, and so does every later step.
    strict = replace(config, pcg_tol=1e-30)
    phase1 = strict.to_phase1()
    model, settings = phase1.model, phase1.settings_for("admm")
    state = build_admm(setup_problem(X, y, model, settings), model, phase1.stopping, settings, None)
    for _ in range(9):
        state.step()
        assert not state.refine and state.pcg_iters == 0
    state.step()
    assert state.refine and state.pcg_iters > 0
    state.step()
    assert state.pcg_iters > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["cronos", "auto"])
def test_dtype_follows_the_data(dtype, method):
    X, y = _problem(dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertifiedWarning)
        result = fit_cronos(X, y, CronosConfig(P=4, max_iters=20, method=method))
    assert result.model.v.dtype == dtype and result.model.predict(X).dtype == dtype
    assert all(np.isfinite(result.history.objective))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("method", ["cronos", "auto"])
def test_cuda_matches_cpu(method):
    X, y = _problem()
    config = CronosConfig(P=6, max_iters=50, method=method, stop_on_certificate=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertifiedWarning)
        cpu = fit_cronos(X, y, config)
        gpu = fit_cronos(X.cuda(), y.cuda(), config)
    assert gpu.model.v.is_cuda
    torch.testing.assert_close(gpu.model.stacked.cpu(), cpu.model.stacked, rtol=1e-6, atol=1e-8)


def test_bad_inputs_raise_clear_errors():
    X, y = _problem()
    for field, value in [
        ("rho", 0.0),
        ("beta", -1.0),
        ("P", 0),
        ("preconditioner", "jacobi"),
        ("model", "tanh"),
        ("tol", 0.0),
        ("method", "sgd"),
        ("keep", "both"),
        ("certify_every", 0),
    ]:
        with pytest.raises(ValueError, match=f"CronosConfig.{field}"):
            CronosConfig(**{field: value})
    with pytest.raises(ValueError, match="'fista' has no cone constraints"):
        CronosConfig(model="relu", method="fista")
    with pytest.raises(ValueError, match="keep"):
        CronosConfig(keep="pcg", method="alm")
    with pytest.raises(TypeError, match="CronosConfig"):
        fit_cronos(X, y, {"P": 4})
    with pytest.raises(ValueError, match=r"\+1"):
        fit_cronos(X, (y + 1) / 2)
    with pytest.raises(ValueError, match="shape"):
        fit_cronos(X, y[:-1])
    with pytest.raises(ValueError, match="inf"):
        fit_cronos(torch.where(X > 2, float("inf"), X), y)
    with pytest.raises(ValueError, match="empty"):
        fit_cronos(X[:0], y[:0])
    pats = sample_gates(X[:, :3], 4)
    with pytest.raises(ValueError, match="d=3"):
        fit_cronos(X, y, patterns=pats)
    with pytest.warns(UncertifiedWarning):
        fit_cronos(X, 0.5 * y, CronosConfig(allow_real_targets=True, max_iters=2))
