"""The non-convex two-layer ReLU net: Adam training and agreement with the convex optimum."""

import pytest
import torch

from coala_lib.convex.cronos import CronosConfig, fit_cronos
from coala_lib.convex.reformulation import sample_gates
from coala_lib.convex.two_layer import TwoLayerReLU, init_two_layer, train_two_layer


def _problem(n=60, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.sign(torch.relu(X @ torch.randn(d, 3, generator=g, dtype=torch.float64)).sum(1) - 1.0)
    return X, y


@pytest.mark.parametrize("optimizer, batch_size", [("adam", None), ("adamw", 16)])
def test_adam_decreases_the_objective_and_is_seeded(optimizer, batch_size):
    X, y = _problem()
    kwargs = dict(width=8, beta=1e-2, steps=200, lr=1e-2, optimizer=optimizer, batch_size=batch_size, seed=3)
    net, hist = train_two_layer(X, y, **kwargs)
    again, _ = train_two_layer(X, y, **kwargs)
    assert hist.objective[-1] < 0.5 * hist.objective[0]
    assert hist.step[-1] == 200 and len(hist.seconds) == len(hist.objective)
    assert torch.equal(net.W1, again.W1) and torch.equal(net.w2, again.w2)


def test_convex_solution_gives_the_same_nonconvex_objective():
    X, y = _problem()
    beta = 1e-3
    # The augmented Lagrangian: the default exact ADMM (rho = 0.1 beta) does not certify this small problem
    # to 1e-6 within its 20,000 steps (a limit of its penalty rule, noted in coala_lib.convex.cronos).
    config = CronosConfig(beta=beta, method="alm", tol=1e-6, cone_tol=1e-6)
    result = fit_cronos(X, y, config, patterns=sample_gates(X, 6))
    assert result.certified
    net = result.model.to_two_layer()
    assert net.objective(X, y, beta) == pytest.approx(result.model.objective(X, y, beta), rel=1e-3)
    # Training starts exactly there (the sampled-pattern optimum need not be the global non-convex one).
    _, hist = train_two_layer(X, y, beta=beta, steps=10, lr=1e-4, init=net)
    assert hist.objective[0] == pytest.approx(net.objective(X, y, beta), rel=1e-12)


def test_penalty_is_balanced_weight_decay():
    net = init_two_layer(4, 3, seed=0, dtype=torch.float64)
    expected = 0.5 * (net.W1.square().sum() + net.w2.square().sum())
    assert float(net.penalty()) == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="w2"):
        TwoLayerReLU(torch.zeros(3, 4), torch.zeros(2))
    X, y = _problem()
    with pytest.raises(ValueError, match="batch_size"):
        train_two_layer(X, y, batch_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        train_two_layer(X, y, optimizer="sgd")
