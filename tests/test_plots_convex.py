"""Tests of coala_lib.chapters.plots.convex: each figure function draws the expected axes and artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from coala_lib.chapters.plots import convex as plots

POINTS = np.array([[0.0, 0.0], [1.0, 0.5], [0.2, 1.0], [-0.5, 0.3]])
LABELS = np.array([1.0, -1.0, 1.0, -1.0])


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_activation_patterns_counts_cells() -> None:
    # two gates: the lines x1 = 0 and x2 = 0.5 cross inside the view and make four cells
    gates = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -0.5]])
    fig = plots.plot_activation_patterns(POINTS, LABELS, gates, grid_size=60)
    left, right = fig.axes[:2]
    assert len(left.lines) == 2
    assert "4 cells" in right.get_title()
    with pytest.raises(ValueError, match="gates must have shape"):
        plots.plot_activation_patterns(POINTS, LABELS, gates.T)
    with pytest.raises(ValueError, match="labels"):
        plots.plot_activation_patterns(POINTS, LABELS[:2], gates)


def test_objective_traces_draw_the_optimum_line() -> None:
    traces = pd.DataFrame({"seed": [0, 0, 1, 1], "step": [0, 10, 0, 10], "objective": [5.0, 1.2, 4.0, 1.1]})
    fig = plots.plot_objective_traces(traces, 1.0, title="t")
    trace_ax, final_ax = fig.axes[:2]
    assert any(np.allclose(line.get_ydata(), 1.0) for line in trace_ax.lines)  # the dashed optimum
    assert any(np.allclose(line.get_ydata(), 1.0) for line in final_ax.lines)
    assert trace_ax.get_ylim() == pytest.approx((0.95, 2.0))
    finals = sorted(float(y) for coll in final_ax.collections for y in coll.get_offsets()[:, 1])
    assert finals == [1.1, 1.2]
    assert plots.plot_objective_traces(traces, 1.0, zoom=None).axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="lacks columns"):
        plots.plot_objective_traces(traces.drop(columns="seed"), 1.0)
    with pytest.raises(ValueError, match="convex_optimum"):
        plots.plot_objective_traces(traces, float("nan"))


def test_decision_boundaries_one_panel_per_model() -> None:
    xx, yy = np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20))
    fig = plots.plot_decision_boundaries(POINTS, LABELS, xx, yy, {"a": xx, "b": yy - 0.1})
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="must match"):
        plots.plot_decision_boundaries(POINTS, LABELS, xx, yy, {"a": xx[:3]})
    with pytest.raises(ValueError, match="empty"):
        plots.plot_decision_boundaries(POINTS, LABELS, xx, yy, {})


def test_nystrom_sweep_two_log_panels() -> None:
    sweep = pd.DataFrame(
        {
            "rank": [1, 1, 5, 5],
            "preconditioner": ["none", "Nystrom"] * 2,
            "pcg_iterations": [100, 90, 100, 20],
            "condition_number": [1e4, 5e3, 1e4, 30.0],
        }
    )
    fig = plots.plot_nystrom_sweep(sweep)
    assert len(fig.axes) == 2 and all(ax.get_yscale() == "log" for ax in fig.axes)
    assert all(len(ax.lines) >= 2 for ax in fig.axes)
    with pytest.raises(ValueError, match="condition_number"):
        plots.plot_nystrom_sweep(sweep.drop(columns="condition_number"))


def test_admm_convergence_vs_iteration_and_seconds() -> None:
    history = pd.DataFrame(
        {
            "iteration": [1, 2, 3],
            "seconds": [0.1, 0.2, 0.3],
            "objective_gap": [1.0, 0.1, 0.0],
            "primal_residual": [1.0, 0.5, 0.2],
            "dual_residual": [2.0, 1.0, 0.3],
        }
    )
    fig = plots.plot_admm_convergence(history)
    assert [ax.get_xlabel() for ax in fig.axes[:2]] == ["ADMM iteration", "wall time (s)"]
    # three metrics per panel; the exact zero gap is left out of the log plot
    assert len(fig.axes[0].lines) >= 3
    gap_points = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 2]
    assert gap_points
    with pytest.raises(ValueError, match="seconds"):
        plots.plot_admm_convergence(history.drop(columns="seconds"))


def test_accuracy_vs_time_with_reference_lines() -> None:
    curves = pd.DataFrame(
        {"method": ["A", "A", "B", "B"], "seconds": [0.1, 1.0, 0.2, 2.0], "test_accuracy": [0.6, 0.8, 0.5, 0.7]}
    )
    fig = plots.plot_accuracy_vs_time(curves, reference={"chance": 0.5})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test accuracy"
    assert any(np.allclose(line.get_ydata(), 0.5) and line.get_linestyle() == ":" for line in ax.lines)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"A", "B", "chance"} <= set(labels)
