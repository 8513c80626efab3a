"""Phase II without the ridge: separable pairs have no finite minimiser, others a reachable one."""

import pytest
import torch

from coala_lib.head.phase2 import has_recession_direction, loss_value, solve_unregularised


def _rows(n: int, m: int, seed: int) -> torch.Tensor:
    return torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_separable_rows_have_no_minimiser_and_the_loss_only_approaches_zero() -> None:
    w = torch.ones(5, dtype=torch.float64)
    Z = _rows(40, 5, 0)
    Z = Z * torch.sign(Z @ w).unsqueeze(1)  # every row on the positive side of w: separable
    assert has_recession_direction(Z)
    short, long = solve_unregularised(Z, max_iters=5), solve_unregularised(Z, max_iters=40)
    assert short.separable and long.separable
    assert 0 < long.loss < short.loss and long.theta_norm > short.theta_norm
    assert all(loss_value(t * w, Z, 2.5, 0.5) > 0 for t in (1.0, 10.0, 100.0))


def test_weak_separation_also_has_no_minimiser() -> None:
    Z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert has_recession_direction(Z)  # theta = (0, 1): Z theta = (0, 0, 1)


def test_overlapping_rows_have_a_minimiser_newton_reaches() -> None:
    Z = _rows(60, 4, 1)
    Z = torch.cat([Z, -Z[:30]])  # z and -z: no direction is non-negative on both
    result = solve_unregularised(Z)
    assert not result.separable and result.grad_norm < 1e-8 and result.iterations < 100


def test_bad_design_is_named() -> None:
    with pytest.raises(ValueError, match="Z must be"):
        has_recession_direction(torch.zeros(0, 3))
