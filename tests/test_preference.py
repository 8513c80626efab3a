"""Phase II: the certified optimum against independent solvers, the designs, AdamW and margins."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from coala_lib.head.phase2 import (
    design,
    gradient,
    head_pairwise_accuracy,
    loss_value,
    margins,
    solve_newton,
    train_adamw,
)


def relu_pairs(n: int = 150, m: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Nonnegative first-layer activations with a weak, noisy preference signal (not separable)."""
    g = torch.Generator().manual_seed(seed)
    shift = torch.linspace(-0.3, 0.5, m)
    return torch.relu(torch.randn(n, m, generator=g) + shift), torch.relu(torch.randn(n, m, generator=g))


def scipy_optimum(Z: np.ndarray, beta: float, gamma: float, l2: float) -> np.ndarray:
    """The same objective written independently in NumPy (offset gamma kept explicit), solved by BFGS."""

    def f(t: np.ndarray) -> tuple[float, np.ndarray]:
        u = gamma - beta * Z @ t
        value = np.logaddexp(0.0, u).mean() + 0.5 * l2 * t @ t
        grad = -beta * Z.T @ (1.0 / (1.0 + np.exp(-u))) / len(Z) + l2 * t
        return value, grad

    res = minimize(f, np.zeros(Z.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000})
    return res.x


@pytest.mark.parametrize("objective", ["pairwise", "pointwise"])
@pytest.mark.parametrize("gamma,l2", [(0.5, 1e-3), (0.0, 1e-2), (1.5, 0.0)])
def test_newton_matches_scipy_with_the_offset(objective: str, gamma: float, l2: float) -> None:
    hc, hr = relu_pairs()
    Z = design(hc, hr, objective)
    ours = solve_newton(Z, beta=2.5, gamma=gamma, l2=l2, tol=1e-11)
    assert ours.converged and ours.grad_norm <= 1e-11
    ref = scipy_optimum(Z.numpy(), 2.5, gamma, l2)
    np.testing.assert_allclose(ours.theta.numpy(), ref, atol=1e-6)


@pytest.mark.parametrize("objective", ["pairwise", "pointwise"])
def test_newton_matches_sklearn_at_zero_offset(objective: str) -> None:
    """sklearn minimises C sum log(1+exp(-y x.w)) + |w|^2/2; with w = beta theta, x = z, C = beta^2/(l2 N) it is
    our objective times a constant. sklearn needs two classes, so half the rows are flipped: (z, +1) ~ (-z, -1)."""
    hc, hr = relu_pairs(seed=3)
    Z = design(hc, hr, objective)
    beta, l2 = 2.5, 1e-2
    ours = solve_newton(Z, beta=beta, gamma=0.0, l2=l2, tol=1e-12)
    N = Z.shape[0]
    signs = np.where(np.arange(N) % 2 == 0, 1.0, -1.0)
    clf = LogisticRegression(C=beta**2 / (l2 * N), fit_intercept=False, tol=1e-12, max_iter=10_000)
    clf.fit(Z.numpy() * signs[:, None], signs)
    np.testing.assert_allclose(ours.theta.numpy(), clf.coef_[0] / beta, atol=1e-6)


def test_gradient_matches_autograd() -> None:
    hc, hr = relu_pairs(seed=1)
    Z = design(hc, hr)
    theta = torch.randn(Z.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    value = torch.nn.functional.softplus(0.7 - 1.3 * (Z @ theta)).mean() + 0.5 * 0.1 * theta.square().sum()
    value.backward()
    torch.testing.assert_close(gradient(theta.detach(), Z, 1.3, 0.7, 0.1), theta.grad)
    assert loss_value(theta.detach(), Z, 1.3, 0.7, 0.1) == pytest.approx(float(value.detach()))


def test_designs() -> None:
    hc, hr = relu_pairs(n=20)
    torch.testing.assert_close(design(hc, hr, "pointwise"), torch.cat([hc, -hr]).double())
    torch.testing.assert_close(design(hc, hr, "pairwise"), (hc - hr).double())
    shuffled = design(hc, hr, "pairwise", pairing="random", seed=0)
    recovered_rejected = hc.double() - shuffled
    assert not torch.allclose(recovered_rejected, hr.double())
    # a permutation of the rejected rows: same rows, other order
    key = lambda t: sorted(map(tuple, t.round(decimals=6).tolist()))  # noqa: E731
    assert key(recovered_rejected) == key(hr.double())


def test_small_beta_pointwise_and_pairwise_point_the_same_way() -> None:
    """At theta = 0 both gradients are proportional to mean(h_c - h_r); with a strong ridge the optima
    are dominated by that first-order term, so their directions coincide as beta -> 0."""
    hc, hr = relu_pairs(seed=2)
    cos = []
    for beta in (1e-3, 2.5):
        a = solve_newton(design(hc, hr, "pointwise"), beta=beta, gamma=0.5, l2=1.0).theta
        b = solve_newton(design(hc, hr, "pairwise"), beta=beta, gamma=0.5, l2=1.0).theta
        cos.append(float(a @ b / (a.norm() * b.norm())))
    assert cos[0] > 1 - 1e-5
    assert cos[1] < cos[0]


def test_adamw_descends_and_logs_exact_margins() -> None:
    hc, hr = relu_pairs()
    Z = design(hc, hr)
    optimum = solve_newton(Z, beta=2.5, gamma=0.5, l2=1e-3)
    run = train_adamw(Z, hc, hr, beta=2.5, gamma=0.5, l2=1e-3, lr=1e-2, epochs=30, batch_size=32, log_every=5)
    steps_per_epoch = -(-Z.shape[0] // 32)
    assert run.iterations == 30 * steps_per_epoch
    assert run.history["step"] == list(range(0, run.iterations + 1, 5))
    assert run.history["loss"][-1] < run.history["loss"][0]
    assert optimum.loss <= run.loss + 1e-12
    d = margins(run.theta, hc, hr)
    assert run.history["margin"][-1] == pytest.approx(float(d.mean()))
    assert run.history["margin_sigmoid"][-1] == pytest.approx(float(torch.sigmoid(d).mean()))
    assert head_pairwise_accuracy(run.theta, hc, hr) == pytest.approx(
        float(((hc - hr).double() @ run.theta > 0).double().mean())
    )


def test_separable_without_ridge_has_no_certificate() -> None:
    """Separable rows, no ridge: the loss has no minimiser, so a tighter gradient tolerance just walks
    further out (the norm grows) and no gap bound is given."""
    hc = torch.rand(30, 3, generator=torch.Generator().manual_seed(0)) + 1.0
    hr = torch.rand(30, 3, generator=torch.Generator().manual_seed(1))
    loose = solve_newton(design(hc, hr), beta=2.5, gamma=0.5, l2=0.0, tol=1e-4)
    tight = solve_newton(design(hc, hr), beta=2.5, gamma=0.5, l2=0.0, tol=1e-10)
    assert tight.theta.norm() > loose.theta.norm() + 1.0 and tight.loss < loose.loss
    assert tight.gap_bound == float("inf")
    ridge = solve_newton(design(hc, hr), beta=2.5, gamma=0.5, l2=1e-2, tol=1e-10)
    assert ridge.converged and ridge.gap_bound < 1e-15


def test_bad_inputs() -> None:
    hc, hr = relu_pairs(n=10)
    with pytest.raises(ValueError, match="must both be"):
        design(hc, hr[:, :3])
    with pytest.raises(ValueError, match="must both be"):
        design(hc, hr[:5])
    with pytest.raises(ValueError, match="no pairs"):
        design(hc[:0], hr[:0])
    with pytest.raises(ValueError, match="pairing only applies"):
        design(hc, hr, "pointwise", pairing="random")
    with pytest.raises(ValueError, match="objective"):
        design(hc, hr, "listwise")
    with pytest.raises(ValueError, match="beta"):
        solve_newton(design(hc, hr), beta=0.0)
    with pytest.raises(ValueError, match="l2"):
        solve_newton(design(hc, hr), l2=-1.0)


def test_comparison_tables() -> None:
    from coala_lib.head.phase2 import compare_pairings, objective_agreement

    hc, hr = relu_pairs(seed=4)
    ec, er = relu_pairs(n=60, seed=5)
    rows = compare_pairings((hc, hr), (ec, er), random_seeds=(0, 1))
    assert [(r["objective"], r["pairing"]) for r in rows] == [
        ("pointwise", "matched"),
        ("pairwise", "matched"),
        ("pairwise", "random"),
        ("pairwise", "random"),
    ]
    matched = solve_newton(design(hc, hr), 2.5, 0.5, 1e-4).theta
    assert rows[1]["eval_pairwise"] == head_pairwise_accuracy(matched, ec, er)
    assert rows[2]["loss"] != rows[3]["loss"]  # two different random pairings
    agreement = objective_agreement((hc, hr), (ec, er), betas=(1e-3, 10.0), l2=1.0)
    assert agreement[0]["cosine"] > 1 - 1e-5 and agreement[1]["cosine"] < agreement[0]["cosine"]
