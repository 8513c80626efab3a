"""The one pairwise accuracy (coala_lib.core.metrics): ties count one half, inputs of any array type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coala_lib.core.metrics import outcomes_from_scores, pairwise_accuracy
from coala_lib.head.phase2 import head_pairwise_accuracy


def test_ties_count_one_half() -> None:
    assert pairwise_accuracy([2.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 0.0]) == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert pairwise_accuracy(torch.zeros(7), torch.zeros(7)) == 0.5  # a scorer that cannot tell: chance


def test_tensors_arrays_and_lists_agree() -> None:
    rng = np.random.default_rng(0)
    c, r = rng.normal(size=50), rng.normal(size=50)
    expected = float(np.mean(c > r))  # continuous scores: no ties
    assert pairwise_accuracy(c, r) == expected
    assert pairwise_accuracy(torch.tensor(c, requires_grad=True), torch.tensor(r)) == expected
    assert pairwise_accuracy(list(c), list(r)) == expected


def test_head_accuracy_is_the_metric_of_the_scores() -> None:
    g = torch.Generator().manual_seed(0)
    theta, hc, hr = torch.randn(4, generator=g), torch.randn(30, 4, generator=g), torch.randn(30, 4, generator=g)
    assert head_pairwise_accuracy(theta, hc, hr) == pairwise_accuracy(hc @ theta, hr @ theta)
    assert head_pairwise_accuracy(torch.zeros(4), hc, hr) == 0.5


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((0,), (0,))])
def test_misaligned_or_empty_scores_are_named(shapes) -> None:
    with pytest.raises(ValueError, match="chosen and rejected"):
        pairwise_accuracy(torch.zeros(shapes[0]), torch.zeros(shapes[1]))


def test_outcomes_are_the_terms_of_pairwise_accuracy() -> None:
    chosen = torch.tensor([0.3, 0.1, 0.2, 0.5], requires_grad=True)
    rejected = torch.tensor([0.1, 0.1, 0.4, -1.0])
    outcomes = outcomes_from_scores(chosen, rejected)  # a tensor that needs grad is read, not refused
    assert outcomes.tolist() == [1.0, 0.5, 0.0, 1.0]
    assert pairwise_accuracy(chosen, rejected) == outcomes.mean()
