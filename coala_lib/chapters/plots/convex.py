"""Figures of the convex-reformulation and CRONOS chapters (notebooks 01 and 02), drawn with seaborn.

Every function takes plain arrays or tidy :class:`pandas.DataFrame` results (as produced by
:mod:`coala_lib.chapters.convex_experiments`) and returns the :class:`matplotlib.figure.Figure`; none of them
computes anything beyond what is needed to draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from coala_lib.chapters.plots.style import column_figure, column_size

_LABEL_PALETTE = {-1: "#d62728", 1: "#1f77b4"}


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(frame.columns)}")


def _scatter_labels(ax: plt.Axes, points: np.ndarray, labels: np.ndarray) -> None:
    sns.scatterplot(
        x=points[:, 0],
        y=points[:, 1],
        hue=np.sign(labels).astype(int),
        palette=_LABEL_PALETTE,
        edgecolor="black",
        s=36,
        ax=ax,
        legend=False,
        zorder=3,
    )


def _check_points(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points, labels = np.asarray(points, dtype=float), np.asarray(labels, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2) (the raw 2-D inputs), got {points.shape}")
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels must have shape ({points.shape[0]},), got {labels.shape}")
    return points, labels


@column_figure
def plot_activation_patterns(
    points: np.ndarray, labels: np.ndarray, gates: np.ndarray, grid_size: int = 300, margin: float = 0.3
) -> Figure:
    """Sampled gates on 2-D data: their lines, and the regions they carve.

    ``gates`` is (3, P), one gate per column. Each gate :math:`g = (g_1, g_2, g_0)` acts on the lifted point :math:`(x_1, x_2, 1)`, so
    :math:`1[g^\\top \\tilde x \\ge 0]` is a half-plane bounded by the line :math:`g_1 x_1 + g_2 x_2 + g_0 = 0`.
    Left: the lines, with a tick on the active side. Right: every cell of the arrangement (one sign
    vector over all gates) in its own colour; the points in a cell share one row of all patterns
    :math:`D_i`.
    """
    points, labels = _check_points(points, labels)
    gates = np.asarray(gates, dtype=float)
    if gates.ndim != 2 or gates.shape[0] != 3:
        raise ValueError(
            f"gates must have shape (3, P) (columns act on (x1, x2, 1), as in "
            f"ActivationPatterns.gates), got {gates.shape}"
        )
    gates = gates.T
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    fig, (ax_lines, ax_cells) = plt.subplots(1, 2, figsize=column_size(3.5), sharex=True, sharey=True)
    palette = sns.color_palette("husl", len(gates))
    t = np.linspace(-1.0, 1.0, 2)
    for gate, colour in zip(gates, palette):
        normal = gate[:2]
        norm = np.linalg.norm(normal)
        if norm == 0:
            continue
        anchor = -gate[2] * normal / norm**2  # the point of the line closest to the origin
        direction = np.array([-normal[1], normal[0]]) / norm
        span = 2.0 * float(np.linalg.norm(hi - lo)) + float(np.linalg.norm(anchor))
        ends = anchor + np.outer(t * span, direction)
        ax_lines.plot(ends[:, 0], ends[:, 1], color=colour, lw=1.5)
        centre = anchor + direction * float(np.dot((lo + hi) / 2 - anchor, direction))  # foot of the view centre
        tick = centre + 0.12 * float(np.linalg.norm(hi - lo)) * normal / norm
        ax_lines.annotate("", xy=tick, xytext=centre, arrowprops={"arrowstyle": "->", "color": colour})
    _scatter_labels(ax_lines, points, labels)
    ax_lines.set_title(f"{len(gates)} gates $g^\\top(x_1, x_2, 1) = 0$ (arrow: active)")

    xs, ys = np.linspace(lo[0], hi[0], grid_size), np.linspace(lo[1], hi[1], grid_size)
    xx, yy = np.meshgrid(xs, ys)
    lifted = np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)], axis=1)
    signs = lifted @ gates.T >= 0
    _, cell = np.unique(signs, axis=0, return_inverse=True)
    n_cells = int(cell.max()) + 1
    shuffled = np.random.default_rng(0).permutation(n_cells)  # neighbouring cells get unrelated colours
    ax_cells.pcolormesh(xx, yy, shuffled[cell.reshape(xx.shape)], cmap="tab20", shading="auto", alpha=0.55)
    _scatter_labels(ax_cells, points, labels)
    ax_cells.set_title(f"the {n_cells} cells they carve in view")
    for ax in (ax_lines, ax_cells):
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel("$x_1$")
    ax_lines.set_ylabel("$x_2$")
    fig.tight_layout()
    return fig


@column_figure
def plot_objective_traces(
    traces: pd.DataFrame, convex_optimum: float, title: str = "", zoom: float | None = 2.0
) -> Figure:
    """Non-convex training runs against the convex optimum.

    ``traces`` has columns ``seed``, ``step``, ``objective`` (one row per logged step of one run).
    Left: objective against step per seed, the convex optimum as a dashed line; with ``zoom`` the
    y-axis shows ``[0.95, zoom]`` times the optimum (the first steps lie above), else all of it on a
    log scale. Right: the final objective of each seed, with the same line.
    """
    _require_columns(traces, ["seed", "step", "objective"], "traces")
    if not np.isfinite(convex_optimum) or convex_optimum <= 0:
        raise ValueError(f"convex_optimum must be a positive finite objective value, got {convex_optimum}")
    fig, (ax_trace, ax_final) = plt.subplots(1, 2, figsize=column_size(3.4), gridspec_kw={"width_ratios": [2.2, 1]})
    frame = traces.assign(seed=traces["seed"].astype(str))
    sns.lineplot(data=frame, x="step", y="objective", hue="seed", ax=ax_trace, lw=1.2, palette="viridis")
    ax_trace.axhline(convex_optimum, color="black", ls="--", lw=1.5, label="convex optimum")
    if zoom is None:
        ax_trace.set_yscale("log")
    else:
        ax_trace.set_ylim(0.95 * convex_optimum, zoom * convex_optimum)
    ax_trace.legend(title="Adam seed", ncol=2)
    ax_trace.set_ylabel("non-convex objective")
    final = frame.sort_values("step").groupby("seed", sort=False).tail(1)
    order = [str(s) for s in sorted(traces["seed"].unique())]
    sns.stripplot(data=final, x="seed", y="objective", order=order, ax=ax_final, size=8, color="#444444")
    ax_final.axhline(convex_optimum, color="black", ls="--", lw=1.5)
    ax_final.set_ylabel("final objective")
    ax_final.set_xlabel("Adam seed")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@column_figure
def plot_decision_boundaries(
    points: np.ndarray, labels: np.ndarray, xx: np.ndarray, yy: np.ndarray, outputs: Mapping[str, np.ndarray]
) -> Figure:
    """One panel per model, two a row: the sign of its output on a grid, its zero level set, and the data.

    ``outputs`` maps a model name to its predictions on the grid ``(xx, yy)`` (same shape as ``xx``).
    """
    points, labels = _check_points(points, labels)
    if not outputs:
        raise ValueError("outputs is empty; pass at least one model's grid predictions")
    for name, out in outputs.items():
        if np.shape(out) != xx.shape or yy.shape != xx.shape:
            raise ValueError(f"outputs[{name!r}] has shape {np.shape(out)}; it must match xx and yy {xx.shape}")
    columns = min(len(outputs), 2)  # two panels a row: a title each column can hold
    rows = -(-len(outputs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=column_size(2.8 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, (name, out) in zip(axes.flat, outputs.items()):
        ax.contourf(xx, yy, np.sign(out), levels=[-2, 0, 2], colors=[_LABEL_PALETTE[-1], _LABEL_PALETTE[1]], alpha=0.2)
        ax.contour(xx, yy, out, levels=[0.0], colors="black", linewidths=1.2)
        _scatter_labels(ax, points, labels)
        ax.set_title(name)
    for ax in axes.flat[len(outputs) :]:
        ax.remove()
    for ax in axes[-1]:
        ax.set_xlabel("$x_1$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$x_2$")
    fig.tight_layout()
    return fig


@column_figure
def plot_nystrom_sweep(sweep: pd.DataFrame) -> Figure:
    """PCG iterations and condition number against the Nystrom rank, with and without the preconditioner.

    ``sweep`` has columns ``rank``, ``preconditioner`` (e.g. "none" / "Nystrom"), ``pcg_iterations``
    and ``condition_number``; the unpreconditioned rows may repeat for every rank.
    """
    _require_columns(sweep, ["rank", "preconditioner", "pcg_iterations", "condition_number"], "sweep")
    fig, (ax_it, ax_cond) = plt.subplots(1, 2, figsize=column_size(3.0))
    for ax, column, label in (
        (ax_it, "pcg_iterations", "PCG iterations to tolerance"),
        (ax_cond, "condition_number", "condition number"),
    ):
        sns.lineplot(
            data=sweep,
            x="rank",
            y=column,
            hue="preconditioner",
            style="preconditioner",
            markers=True,
            dashes=False,
            ax=ax,
        )
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_xlabel("Nystrom rank $r$")
    fig.tight_layout()
    return fig


@column_figure
def plot_admm_convergence(
    history: pd.DataFrame, metrics: Sequence[str] = ("objective_gap", "primal_residual", "dual_residual")
) -> Figure:
    """ADMM convergence: each metric (log scale) against iteration (left) and wall seconds (right).

    ``history`` has columns ``iteration``, ``seconds`` and the ``metrics``; an optional ``run``
    column separates several runs (drawn as line styles).
    """
    _require_columns(history, ["iteration", "seconds", *metrics], "history")
    id_vars = ["iteration", "seconds"] + (["run"] if "run" in history.columns else [])
    tidy = history.melt(id_vars=id_vars, value_vars=list(metrics), var_name="metric", value_name="value")
    tidy = tidy[tidy["value"] > 0]  # log axes: an exact zero (e.g. a gap at the reference) is not drawable
    fig, axes = plt.subplots(1, 2, figsize=column_size(3.0), sharey=True)
    style = "run" if "run" in history.columns else None
    for ax, x in zip(axes, ("iteration", "seconds")):
        sns.lineplot(data=tidy, x=x, y="value", hue="metric", style=style, ax=ax, estimator=None)
        ax.set_yscale("log")
        ax.set_xlabel("ADMM iteration" if x == "iteration" else "wall time (s)")
    axes[0].set_ylabel("value")
    axes[1].get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=2, frameon=False)  # below
    return fig


@column_figure
def plot_accuracy_vs_time(curves: pd.DataFrame, reference: Mapping[str, float] | None = None) -> Figure:
    """Test accuracy against wall time for several training methods.

    ``curves`` has columns ``method``, ``seconds``, ``test_accuracy`` (one row per checkpoint);
    ``reference`` optionally maps a label to an accuracy drawn as a horizontal dotted line.
    """
    _require_columns(curves, ["method", "seconds", "test_accuracy"], "curves")
    fig, ax = plt.subplots(figsize=column_size(3.4, width=0.9))
    sns.lineplot(
        data=curves,
        x="seconds",
        y="test_accuracy",
        hue="method",
        style="method",
        markers=True,
        dashes=False,
        estimator=None,
        ax=ax,
    )
    for (label, value), colour in zip((reference or {}).items(), sns.color_palette("Greys", 3)[1:]):
        ax.axhline(value, ls=":", color=colour, label=label)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    fig.tight_layout()
    return fig
