"""The regularisation path: beta_max is exactly where the zero head stops being optimal; warm starts change
the path's cost, not its fits."""

from __future__ import annotations

import pytest
import torch

from coala_lib.convex.cronos import CronosConfig
from coala_lib.convex.path import (
    beta_max,
    path_betas,
    regularisation_path,
    zero_head_certificate,
    zero_head_duals,
)
from coala_lib.convex.reformulation import sample_gates


def planted(n: int = 120, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sign(torch.relu(X[:, 0]) - torch.relu(X[:, 1]) + 0.3 * torch.randn(n, generator=g, dtype=torch.float64))
    y[y == 0] = 1
    return X, y


@pytest.mark.parametrize("model", ["relu", "gated"])
def test_beta_max_is_where_the_zero_head_stops_being_optimal(model):
    X, y = planted()
    patterns = sample_gates(X, 4, 0)
    top = beta_max(X, y, patterns, model)
    at = zero_head_certificate(X, y, patterns, top, model, tol=1e-8)
    assert at.certified and at.primal == pytest.approx(0.5 * float(y.square().sum()))
    assert at.relative_gap <= 1e-10
    # Slightly below, a feasible head does better than zero: a step along the projected gradient of the
    # group that sets beta_max (the projection g + A^T mu is in that group's cone).
    beta = 0.98 * top
    values, mu = zero_head_duals(X, y, patterns, model)
    j = int(values.argmax())
    P = patterns.num_patterns
    i, sign = (j % P, 1.0 if j < P else -1.0) if model == "relu" else (j, 1.0)
    mask = patterns.masks(X)[:, i].to(X.dtype)
    g = sign * X.T @ (mask * y)
    A = (2 * mask - 1).unsqueeze(1) * X
    v = g + (A.T @ mu[:, j] if mu is not None else 0.0)
    assert float(torch.linalg.vector_norm(v)) == pytest.approx(float(values[j]), rel=1e-9)
    if model == "relu":
        assert float((A @ v).min()) >= -1e-9 * float(torch.linalg.vector_norm(v))  # in the cone
    direction = v / torch.linalg.vector_norm(v)
    Dx = mask * (X @ direction)
    t = (float(g @ direction) - beta) / float(Dx @ Dx)
    objective = 0.5 * float((y - sign * t * Dx).square().sum()) + beta * t
    assert t > 0 and objective < 0.5 * float(y.square().sum()) - 1e-9
    assert not zero_head_certificate(X, y, patterns, beta, model, tol=1e-8).certified


def test_relu_beta_max_is_below_the_gated_one_when_cones_bind():
    X, y = planted(seed=3)
    patterns = sample_gates(X, 4, 0)
    assert beta_max(X, y, patterns, "relu") <= beta_max(X, y, patterns, "gated") + 1e-12


@pytest.mark.parametrize(("model", "method"), [("relu", "admm"), ("relu", "alm"), ("gated", "fista")])
def test_warm_and_cold_paths_reach_the_same_certified_objectives(model, method):
    X, y = planted(n=150, d=6, seed=1)
    # the ALM needs more steps than the others near beta_max (at the default 20,000 it stops short there)
    config = CronosConfig(P=4, model=model, method=method, tol=1e-4, cone_tol=1e-4, max_iters=60_000)
    warm = regularisation_path(X, y, config, points=5, decades=1.5)
    cold = regularisation_path(X, y, config, points=5, decades=1.5, warm=False, top=warm.beta_max)
    assert warm.certified and cold.certified
    # the zero head is certified without a fit; the first fit starts from zero either way
    assert [p.warm for p in warm.points] == [False, False, True, True, True]
    assert warm.points[0].iterations == 0 and warm.points[0].method == "beta_max"
    assert not any(p.warm for p in cold.points)
    for a, b in zip(warm.points, cold.points, strict=True):
        assert a.beta == b.beta
        pa, pb = a.certificate.primal, b.certificate.primal
        slack = 2 * config.tol * max(abs(pa), abs(pb))  # both certified within tol of the optimum ...
        # ... where an iterate within the allowed relative cone violation (1e-4) may sit a little below it
        assert abs(pa - pb) <= 5 * slack
        # both lower bounds bound the same optimum (an iterate within the allowed cone violation may sit below it)
        assert abs(a.certificate.lower_bound - b.certificate.lower_bound) <= slack
    assert warm.points[0].active == 0 and warm.points[-1].active > 0
    assert {p.method for p in warm.points[1:]} == {method}
    # the warm start pays off, or at least costs nothing: no more iterations over the path than from zero
    assert sum(p.iterations for p in warm.points) <= sum(p.iterations for p in cold.points)


def test_path_betas_and_bad_grids():
    betas = path_betas(10.0, points=13, decades=3.0)
    assert betas[0] == 10.0 and betas[-1] == pytest.approx(0.01) and len(betas) == 13
    with pytest.raises(ValueError, match="top beta"):
        path_betas(0.0)
