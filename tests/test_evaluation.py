"""Win rates, intervals (coverage on simulated data), length control and reward-margin statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coala_lib.core.metrics import outcomes_from_scores, pairwise_accuracy
from coala_lib.evaluation.win_rates import (
    as_outcomes,
    length_controlled_win_rate,
    length_stats,
    margin_summary,
    standardized_margin_score,
    wald_interval,
    wilson_interval,
    win_rate,
)


def _coverage(interval, p: float, n: int, reps: int = 2000, seed: int = 0) -> float:
    draws = np.random.default_rng(seed).binomial(n, p, size=reps)
    hits = 0
    for k in draws:
        low, high = interval(int(k), n)
        hits += low <= p <= high
    return hits / reps


@pytest.mark.parametrize("p,n", [(0.3, 40), (0.1, 60), (0.5, 25)])
def test_wilson_coverage_is_nominal(p: float, n: int) -> None:
    assert 0.93 <= _coverage(wilson_interval, p, n) <= 0.97


def test_wald_undercovers_for_rare_events_where_wilson_does_not() -> None:
    wald = _coverage(lambda k, n: wald_interval(k / n, n), 0.03, 50)
    wilson = _coverage(wilson_interval, 0.03, 50)
    assert wald < 0.90 < 0.93 <= wilson


def test_wilson_zero_successes_has_closed_form_upper_bound() -> None:
    z2 = 1.959963984540054**2
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(z2 / (10 + z2), rel=1e-9)


def test_win_rate_counts_ties_both_ways() -> None:
    result = win_rate([1, 1, 0.5, 0], n_raters=4)
    assert (result.wins, result.ties, result.losses, result.n) == (2, 1, 1, 4)
    assert result.rate == pytest.approx(2.5 / 4)
    assert result.rate_excluding_ties == pytest.approx(2 / 3)
    assert result.low < result.rate < result.high
    assert result.wald_high - result.wald_low == pytest.approx(2 * 1.959964 * math.sqrt(0.625 * 0.375 / 4), rel=1e-5)


def test_all_ties_leave_the_decisive_rate_undefined() -> None:
    result = win_rate([0.5, 0.5])
    assert result.rate == 0.5 and math.isnan(result.rate_excluding_ties)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="outcomes must be"):
        as_outcomes([1, 2])
    with pytest.raises(ValueError, match="empty"):
        win_rate([])
    with pytest.raises(ValueError, match="one score per judgment"):
        outcomes_from_scores([1, 2], [1])
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0, 0)


def test_outcomes_from_scores_with_tolerance() -> None:
    np.testing.assert_array_equal(
        outcomes_from_scores([0.9, 0.5, 0.1], [0.1, 0.52, 0.9], tie_tolerance=0.05), [1, 0.5, 0]
    )


def _simulated_judgments(b0: float, b1: float, n: int = 3000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    delta = rng.normal(20.0, 30.0, size=n)  # A is longer on average
    p = 1 / (1 + np.exp(-(b0 + b1 * delta / delta.std())))
    return (rng.random(n) < p).astype(float), delta


def test_length_control_recovers_the_equal_length_win_rate() -> None:
    outcomes, delta = _simulated_judgments(b0=0.4, b1=1.0)
    lc = length_controlled_win_rate(outcomes, delta)
    truth = 1 / (1 + math.exp(-0.4))
    assert lc.low <= truth <= lc.high
    assert lc.slope == pytest.approx(1.0, abs=0.15)


def test_length_control_removes_a_pure_length_preference() -> None:
    outcomes, delta = _simulated_judgments(b0=0.0, b1=1.5)
    assert win_rate(outcomes).rate > 0.6  # the raw rate rewards the longer system
    lc = length_controlled_win_rate(outcomes, delta)
    assert lc.low <= 0.5 <= lc.high


def test_length_control_counts_a_tie_as_half_a_win_and_half_a_loss() -> None:
    delta = np.array([-1.0, 1.0, -2.0, 2.0])
    ties = length_controlled_win_rate([0.5] * 4, delta)
    assert ties.rate == pytest.approx(0.5) and ties.slope == pytest.approx(0.0, abs=1e-9)


def test_length_control_rejects_separable_data() -> None:
    with pytest.raises(ValueError, match="separable"):
        length_controlled_win_rate([0, 0, 1, 1], [-2, -1, 1, 2])


def test_length_stats_in_words() -> None:
    table = length_stats({"a": ["one two", "one two three four"], "b": ["x"]})
    assert table.loc["a", "mean_words"] == 3 and table.loc["b", "max_words"] == 1


def test_margin_statistics() -> None:
    chosen, rejected = torch.tensor([2.0, 1.0, 0.0, 3.0]), torch.tensor([1.0, 1.0, 1.0, 0.0])
    assert pairwise_accuracy(chosen, rejected) == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    score = standardized_margin_score(chosen, rejected)
    assert standardized_margin_score(100 * chosen, 100 * rejected) == pytest.approx(score)
    equal = standardized_margin_score(torch.ones(5) * 3, torch.zeros(5))
    assert equal == pytest.approx(1 / (1 + math.exp(-1)))
    assert standardized_margin_score(torch.zeros(3), torch.zeros(3)) == 0.5
    table = margin_summary({"x": (chosen, rejected)})
    assert table.loc["x", "pairs"] == 4 and table.loc["x", "mean_margin"] == pytest.approx(0.75)


class _LongerWins:
    """A judge that prefers the longer text (ties on equal length), for testing compare_systems."""

    name, accuracy = "longer wins", 1.0

    def judge(self, prompts, a, b):
        return outcomes_from_scores([len(x) for x in a], [len(x) for x in b])


def test_compare_systems_reports_both_conventions_and_flags_separable_length_control() -> None:
    from coala_lib.evaluation.systems import compare_systems

    texts = {"a": ["long answer here", "x", "same"], "b": ["short", "longer one", "same"]}
    table = compare_systems(_LongerWins(), ["p"] * 3, texts, [("a", "b")])
    row = table.loc["a vs b"]
    assert (row["wins"], row["ties"], row["losses"]) == (1, 1, 1)
    assert row["rate"] == pytest.approx(0.5) and row["judge"] == "longer wins"
    assert math.isnan(row["lc_rate"])  # the outcome is a function of length: no finite fit
