"""Tests of coala_lib.chapters.convex_experiments: pattern enumeration, the reference solver, the CRONOS studies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from coala_lib.chapters import convex_experiments as ex
from coala_lib.convex.cronos import CronosConfig, UncertifiedWarning, fit_cronos
from coala_lib.convex.reformulation import ActivationPatterns, sample_gates
from coala_lib.convex.two_layer import train_two_layer


@pytest.fixture(scope="module")
def moons() -> tuple[torch.Tensor, torch.Tensor]:
    points, labels = ex.planar_dataset(10, seed=1)
    return ex.lift(points), torch.as_tensor(labels)


@pytest.fixture(scope="module")
def full_solution(moons):
    X, y = moons
    patterns = ex.enumerate_planar_patterns(X)
    return patterns, ex.solve_convex_relu_cvxpy(X, y, patterns, 0.05)


def test_planar_dataset_and_lift() -> None:
    points, labels = ex.planar_dataset(12, seed=3)
    again, _ = ex.planar_dataset(12, seed=3)
    assert points.shape == (12, 2) and set(np.unique(labels)) == {-1.0, 1.0}
    np.testing.assert_array_equal(points, again)
    X = ex.lift(points)
    assert X.dtype == torch.float64 and X.shape == (12, 3)
    assert torch.all(X[:, 2] == 1) and torch.allclose(X[:, :2], torch.as_tensor(points))
    with pytest.raises(ValueError, match="n must be"):
        ex.planar_dataset(2)


def test_cover_count_small_cases() -> None:
    # n lines through the origin of the plane cut it into 2n sectors; in R^1 there are 2 half-lines.
    assert ex.cover_count(5, 2) == 10
    assert ex.cover_count(7, 1) == 2
    assert ex.cover_count(30, 3) == 2 * (1 + 29 + 29 * 28 // 2)
    with pytest.raises(ValueError):
        ex.cover_count(0, 3)


def test_enumeration_is_complete_and_distinct(moons) -> None:
    X, _ = moons
    patterns = ex.enumerate_planar_patterns(X)
    masks = patterns.masks(X).T.bool()
    assert patterns.num_patterns == ex.cover_count(X.shape[0], 3) - 1  # the all-zero pattern is dropped
    assert torch.unique(masks, dim=0).shape[0] == patterns.num_patterns and bool(masks.any(dim=1).all())
    # every pattern that 20,000 random gates find is among the enumerated ones
    sampled = sample_gates(X, 20000, seed=0).masks(X).T.bool()
    enumerated = {tuple(row.tolist()) for row in masks}
    assert all(tuple(row.tolist()) in enumerated for row in sampled)
    with pytest.raises(ValueError, match="lifted 2-D"):
        ex.enumerate_planar_patterns(X[:, :2])


def test_reference_solver_is_feasible_and_recovers_exactly(moons, full_solution) -> None:
    X, y = moons
    _, model = full_solution
    assert model.constraint_violation(X).max < 1e-7
    net = model.to_two_layer()
    assert net.objective(X, y, 0.05) == pytest.approx(model.objective(X, y, 0.05), rel=1e-6)


def test_reference_solver_zero_solution_for_huge_beta(moons, full_solution) -> None:
    X, y = moons
    patterns, _ = full_solution
    model = ex.solve_convex_relu_cvxpy(X, y, patterns, 1e4)
    assert model.objective(X, y, 1e4) == pytest.approx(0.5 * float(y.square().sum()), rel=1e-5)


def test_full_optimum_is_a_global_minimum_of_the_network(moons, full_solution) -> None:
    """Adam started at the recovered net cannot go below it; Adam from random starts stays above."""
    X, y = moons
    _, model = full_solution
    optimum = model.objective(X, y, 0.05)
    _, from_opt = train_two_layer(
        X, y, init=model.to_two_layer(1e-7), beta=0.05, steps=200, lr=1e-3, allow_real_targets=True
    )
    assert min(from_opt.objective) >= optimum - 1e-6
    traces, _ = ex.adam_runs(X, y, [0, 1], width=12, beta=0.05, steps=300, lr=1e-2, eval_every=50)
    assert set(traces["seed"]) == {0, 1} and traces["objective"].min() >= optimum - 1e-6


def test_cronos_agrees_with_the_reference_solver() -> None:
    X, y = ex.synthetic_problem(60, 5, seed=2)
    patterns = sample_gates(X, 4, seed=0)
    reference = ex.solve_convex_relu_cvxpy(X, y, patterns, 1e-2)
    result = fit_cronos(X, y, CronosConfig(beta=1e-2, method="cronos", max_iters=3000, tol=1e-3), patterns=patterns)
    # the prox iterate may still violate the cones a little, so its objective can sit slightly below
    assert result.model.objective(X, y, 1e-2) == pytest.approx(reference.objective(X, y, 1e-2), rel=1e-2)
    assert result.model.constraint_violation(X).relative < 1e-2


def test_sampled_optima_are_nested_and_above_the_full_optimum(moons, full_solution) -> None:
    X, y = moons
    _, full = full_solution
    frame, models = ex.sampled_program_optima(X, y, [2, 6, 40], 0.05, seed=0)
    assert list(frame["P"]) == [2, 6, 40] and set(models) == {2, 6, 40}
    assert frame["optimum"].is_monotonic_decreasing
    assert (frame["optimum"] >= full.objective(X, y, 0.05) - 1e-6).all()
    assert (frame["patterns"] <= frame["P"]).all()
    with pytest.raises(ValueError, match="P_values"):
        ex.sampled_program_optima(X, y, [], 0.05)


def test_grid_inputs_cover_the_points() -> None:
    points = np.array([[0.0, 0.0], [1.0, 2.0]])
    xx, yy, grid = ex.grid_inputs(points, size=5, margin=0.5)
    assert xx.shape == yy.shape == (5, 5) and grid.shape == (25, 3)
    assert xx.min() == -0.5 and yy.max() == 2.5


def test_synthetic_problem_is_balanced_with_decaying_columns() -> None:
    X, y = ex.synthetic_problem(200, 6, decay=1.0, seed=0)
    assert X.shape == (200, 6) and int((y == 1).sum()) == 100 and set(y.tolist()) == {-1.0, 1.0}
    scales = X.std(0)
    assert scales[0] > 3 * scales[-1]


def test_nystrom_sweep_full_rank_makes_the_system_perfectly_conditioned() -> None:
    X, y = ex.synthetic_problem(40, 3, seed=0)
    patterns = sample_gates(X, 2, seed=0)
    N = 2 * patterns.num_patterns * 3
    sweep = ex.nystrom_rank_sweep(X, y, P=2, ranks=[2, N], seed=0)
    none = sweep[sweep["preconditioner"] == "none"]
    nys = sweep[sweep["preconditioner"] == "Nystrom"].set_index("rank")
    # the unpreconditioned condition number is that of the dense system, computed independently
    from coala_lib.convex.admm import SystemOperator
    from coala_lib.convex.config import DEFAULT_RHO
    from coala_lib.convex.reformulation import LinearMaps

    A = SystemOperator(LinearMaps(X, patterns.masks(X), "relu"), DEFAULT_RHO).dense().numpy()
    assert none["condition_number"].iloc[0] == pytest.approx(np.linalg.cond(A), rel=1e-6)
    # an exact rank-N Nystrom approximation turns M^{-1} A into a multiple of the identity
    assert nys.loc[N, "condition_number"] == pytest.approx(1.0, abs=1e-6)
    assert nys.loc[N, "pcg_iterations"] <= 2 < none["pcg_iterations"].iloc[0]
    # full-rank block Nystrom is also exact; Kronecker (rank-free) conditions better than no preconditioner
    block = sweep[sweep["preconditioner"] == "block Nystrom"].set_index("rank")
    assert block.loc[N, "condition_number"] == pytest.approx(1.0, abs=1e-6)
    kron = sweep[sweep["preconditioner"] == "Kronecker"]
    assert kron["condition_number"].nunique() == 1
    assert kron["condition_number"].iloc[0] < none["condition_number"].iloc[0]
    with pytest.raises(ValueError, match="rank"):
        ex.nystrom_rank_sweep(X, y, P=2, ranks=[N + 1])


def test_convergence_frame_and_iterate_comparison() -> None:
    X, y = ex.synthetic_problem(80, 4, seed=1)
    patterns = sample_gates(X, 3, seed=0)
    f_star = ex.solve_convex_relu_cvxpy(X, y, patterns, 1e-2).objective(X, y, 1e-2)
    converged = fit_cronos(X, y, CronosConfig(beta=1e-2, method="cronos", max_iters=3000, tol=1e-3), patterns=patterns)
    with pytest.warns(UncertifiedWarning):
        short = fit_cronos(X, y, CronosConfig(beta=1e-2, method="cronos", max_iters=2), patterns=patterns)
    frame = ex.convergence_frame(converged, f_star, run="tight")
    assert len(frame) == converged.iterations and (frame["run"] == "tight").all()
    assert frame["objective_gap"].iloc[-1] < 1e-2 < frame["objective_gap"].iloc[0]
    assert frame["seconds"].is_monotonic_increasing
    with pytest.raises(ValueError, match="optimum"):
        ex.convergence_frame(converged, 0.0)
    table = ex.iterate_comparison({"short": short, "tight": converged}, X, y).set_index(["run", "iterate"])
    prox, pcg_u = table.loc[("tight", "prox v (returned)")], table.loc[("tight", "PCG u (reference code)")]
    assert prox["recovery_gap"] < 5e-2 and prox["violation"] < 5e-2  # not exactly feasible after 3000 iterations
    assert prox["neurons"] <= pcg_u["neurons"] == 2 * patterns.num_patterns
    assert prox["recovered_objective"] == pytest.approx(f_star, rel=1e-2)
    assert table.loc[("short", "prox v (returned)"), "convex_objective"] > 1.01 * f_star


def test_standardize_with_bias() -> None:
    gen = torch.Generator().manual_seed(0)
    train, test = torch.randn(50, 4, generator=gen) * 3 + 1, torch.randn(7, 4, generator=gen)
    Xtr, Xte = ex.standardize_with_bias(train, test)
    assert Xtr.shape == (50, 5) and Xte.shape == (7, 5)
    assert torch.allclose(Xtr[:, :4].mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(Xtr[:, :4].std(0), torch.ones(4), atol=1e-5)
    assert torch.all(Xte[:, 4] == 1)
    assert torch.allclose(Xte[:, :4], (test - train.mean(0)) / train.std(0), atol=1e-5)


def test_accuracy_curves_on_a_separable_problem() -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(120, 3, generator=gen)
    y = torch.where(X[:, 0] > 0, 1.0, -1.0)
    Xtr, Xte = ex.standardize_with_bias(X[:80], X[80:])
    config = CronosConfig(P=4, beta=1e-3, max_iters=30, stop_on_certificate=False)
    with pytest.warns(UncertifiedWarning):
        cronos, result = ex.cronos_accuracy_curve(Xtr, y[:80], Xte, y[80:], config)
    assert len(cronos) == result.iterations and cronos["seconds"].is_monotonic_increasing
    assert cronos["test_accuracy"].iloc[-1] >= 0.8  # chance is 0.5
    adam = ex.adam_accuracy_curve(
        Xtr, y[:80], Xte, y[80:], step_grid=[1, 200], label="Adam", width=8, beta=1e-3, lr=1e-2
    )
    assert list(adam["step"]) == [1, 200] and (adam["method"] == "Adam").all()
    assert adam["test_accuracy"].iloc[-1] >= 0.8 and adam["width"].eq(8).all()
    assert math.isfinite(adam["seconds"].sum())


def test_activation_patterns_from_enumeration_act_like_gates(moons) -> None:
    X, _ = moons
    patterns = ex.enumerate_planar_patterns(X)
    assert isinstance(patterns, ActivationPatterns) and patterns.dim == 3
    again = ex.enumerate_planar_patterns(X)
    assert torch.equal(patterns.masks(X), again.masks(X))


def test_final_rows_are_the_most_steps_whatever_the_clock() -> None:
    curves = pd.DataFrame(
        {
            "method": ["adam", "adam", "adam", "cronos", "cronos"],
            "step": [10, 100, 1000, 5, 50],
            "seconds": [0.1, 9.7, 0.3, 2.0, 1.0],  # a busy machine: the 100-step run took longest
            "test_accuracy": [0.6, 0.74, 0.728, 0.7, 0.71],
        }
    )
    finals = ex.final_rows(curves)
    assert list(finals.index) == ["adam", "cronos"]
    assert finals.loc["adam", "step"] == 1000 and finals.loc["adam", "test_accuracy"] == 0.728
    assert finals.loc["cronos", "step"] == 50
