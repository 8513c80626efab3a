"""Activation patterns, the linear maps F and G, convex models and the recovery of the network."""

import pytest
import torch

from coala_lib.convex.reformulation import (
    ConvexGatedReLU,
    ConvexReLU,
    LinearMaps,
    recovery_gap,
    sample_gates,
)
from coala_lib.core.checks import validate_targets


def _data(n=40, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype)


def test_gates_are_seeded_and_patterns_distinct_nonzero():
    X = _data()
    a, b, c = sample_gates(X, 8, seed=1), sample_gates(X, 8, seed=1), sample_gates(X, 8, seed=2)
    assert torch.equal(a.gates, b.gates) and not torch.equal(a.gates, c.gates)
    masks = a.masks(X)
    assert masks.shape == (40, a.num_patterns)
    assert torch.unique(masks.T, dim=0).shape[0] == a.num_patterns
    assert bool((masks.sum(0) > 0).all())


def test_duplicate_and_empty_patterns_are_removed():
    # d = 1 with positive data: every gate gives all-ones (g > 0) or all-zeros (g < 0).
    X = torch.rand(30, 1, dtype=torch.float64) + 0.1
    pats = sample_gates(X, 10, seed=0)
    assert pats.num_patterns == 1
    assert bool((pats.masks(X) == 1).all())


def test_masks_of_new_data_come_from_the_same_gates():
    X, Xnew = _data(), _data(seed=5)
    pats = sample_gates(X, 5)
    expected = (Xnew @ pats.gates >= 0).to(Xnew.dtype)
    assert torch.equal(pats.masks(Xnew), expected)


@pytest.mark.parametrize("kind", ["relu", "gated"])
def test_operators_are_adjoint(kind):
    X = _data()
    maps = LinearMaps(X, sample_gates(X, 6).masks(X), kind)
    g = torch.Generator().manual_seed(3)
    U = torch.randn(3, maps.groups, 4, generator=g, dtype=X.dtype)  # a batch of three variables
    r = torch.randn(40, 3, generator=g, dtype=X.dtype)
    lhs = (maps.F(U) * r).sum(0)
    rhs = (U * maps.FT(r)).sum((-1, -2))
    torch.testing.assert_close(lhs, rhs)
    if kind == "relu":
        Z = torch.randn(40, 3, maps.groups, generator=g, dtype=X.dtype)
        torch.testing.assert_close((maps.G(U) * Z).sum((0, 2)), (U * maps.GT(Z)).sum((-1, -2)))


def test_gtg_is_kronecker_of_gram():
    X = _data(n=30, d=3)
    maps = LinearMaps(X, sample_gates(X, 4).masks(X), "relu")
    N = maps.groups * 3
    eye = torch.eye(N, dtype=X.dtype).reshape(N, maps.groups, 3)
    dense = maps.GTG(eye).reshape(N, N)
    torch.testing.assert_close(dense, torch.kron(torch.eye(maps.groups, dtype=X.dtype), X.T @ X))
    with_gram = LinearMaps(X, maps.masks, "relu", gram=X.T @ X)
    torch.testing.assert_close(with_gram.GTG(eye), maps.GTG(eye))


def _feasible_relu(X, P=5, seed=0):
    """v_i, w_i nonnegative multiples of the gate g_i satisfy (2D_i - I) X v_i >= 0 by construction."""
    pats = sample_gates(X, P, seed)
    g = torch.Generator().manual_seed(7)
    a = torch.rand(pats.num_patterns, 1, generator=g, dtype=X.dtype)
    b = torch.rand(pats.num_patterns, 1, generator=g, dtype=X.dtype)
    a[0] = 0.0  # one empty group: no neuron
    return ConvexReLU(pats, a * pats.gates.T, b * pats.gates.T)


def test_recovered_relu_net_matches_convex_model_when_feasible():
    X = _data()
    model = _feasible_relu(X)
    assert model.constraint_violation(X).max == 0.0
    gap = recovery_gap(model, X)
    assert gap.max_abs < 1e-12 and gap.neurons == 2 * model.patterns.num_patterns - 1
    net = model.to_two_layer()
    y = torch.sign(_data(seed=9)[:, 0])
    assert net.objective(X, y, 0.1) == pytest.approx(model.objective(X, y, 0.1), rel=1e-12)


def test_recovery_gap_grows_with_violation():
    X = _data()
    pats = sample_gates(X, 5)
    g = torch.Generator().manual_seed(1)
    model = ConvexReLU(
        pats,
        torch.randn(pats.num_patterns, 4, generator=g, dtype=X.dtype),
        torch.zeros(pats.num_patterns, 4, dtype=X.dtype),
    )
    viol = model.constraint_violation(X)
    assert viol.max > 0 and 0 < viol.relative < 1
    assert recovery_gap(model, X).max_abs > 1e-3


def test_gated_recovery_is_exact_on_any_data():
    X, Xnew = _data(), _data(seed=4)
    pats = sample_gates(X, 5)
    u = torch.randn(pats.num_patterns, 4, generator=torch.Generator().manual_seed(2), dtype=X.dtype)
    u[1] = 0
    model = ConvexGatedReLU(pats, u)
    net = model.to_two_layer()
    assert net.width == pats.num_patterns - 1
    torch.testing.assert_close(net.predict(Xnew), model.predict(Xnew))
    assert float(net.penalty()) == pytest.approx(float(model.penalty()), rel=1e-12)


def test_bad_inputs_raise_clear_errors():
    X = _data()
    with pytest.raises(ValueError, match="P"):
        sample_gates(X, 0)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sample_gates(bad, 3)
    with pytest.raises(ValueError, match="empty"):
        sample_gates(torch.empty(0, 4, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match=r"\+1"):
        validate_targets(torch.zeros(40, dtype=X.dtype), X)
    with pytest.raises(ValueError, match="shape"):
        validate_targets(torch.ones(39, dtype=X.dtype), X)
    validate_targets(torch.full((40,), 0.3, dtype=X.dtype), X, allow_real_targets=True)
    pats = sample_gates(X, 3)
    with pytest.raises(ValueError, match="shape"):
        ConvexReLU(pats, torch.zeros(2, 4), torch.zeros(2, 4))
