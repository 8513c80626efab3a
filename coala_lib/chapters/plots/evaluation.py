"""Figures of the baselines and evaluation notebooks (seaborn), each a function of results only."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from coala_lib.chapters.plots.style import column_figure, column_size


@column_figure
def plot_reward_margins(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], summary: pd.DataFrame
) -> plt.Figure:
    """Left: the paper's mixed-scale plot, each method's own logged "reward margin" per step
    (``{method: (steps, values)}``). Right: every method on one scale on held-out pairs: pairwise
    accuracy and the standardised-margin score (``summary`` from :func:`coala_lib.evaluation.win_rates.margin_summary`)."""
    fig, (left, right) = plt.subplots(2, 1, figsize=column_size(6.0))
    frame = pd.DataFrame(
        [
            {"method": m, "step": s, "logged margin": v}
            for m, (steps, values) in curves.items()
            for s, v in zip(steps, values)
        ]
    )
    sns.lineplot(data=frame, x="step", y="logged margin", hue="method", marker="o", ax=left)
    left.set_title("as the paper plots it: different quantities on one axis")
    tidy = (
        summary[["pairwise_accuracy", "standardized_margin_score"]]
        .rename(columns={"pairwise_accuracy": "pairwise accuracy", "standardized_margin_score": "standardised margin"})
        .reset_index()
        .melt(id_vars="method", var_name="statistic", value_name="value")
    )
    sns.barplot(data=tidy, x="method", y="value", hue="statistic", ax=right)
    right.tick_params(axis="x", labelrotation=20)  # method names with their settings are long
    right.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    right.set_ylim(0, 1)
    right.set_title("one scale, held-out pairs (0.5 = no preference)")
    fig.tight_layout()
    return fig


@column_figure
def plot_win_rates(table: pd.DataFrame, title: str = "win rate (ties = 1/2) with 95% Wilson intervals") -> plt.Figure:
    """Horizontal bars of ``table["rate"]`` with ``low``/``high`` error bars, one row per comparison
    (``table`` from :func:`coala_lib.evaluation.win_rates.win_rate_table`, optionally with a ``judge`` column)."""
    frame = table.reset_index()
    judges = frame["judge"].unique() if "judge" in frame else [None]
    fig, axes = plt.subplots(
        1,
        len(judges),
        figsize=column_size(0.45 * frame["comparison"].nunique() + 1.5),
        sharey=True,
        squeeze=False,
    )
    for ax, judge in zip(axes[0], judges):
        part = frame if judge is None else frame[frame["judge"] == judge]
        ax.barh(part["comparison"], part["rate"], color=sns.color_palette()[0], alpha=0.8)
        ax.errorbar(
            part["rate"],
            part["comparison"],
            xerr=[part["rate"] - part["low"], part["high"] - part["rate"]],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"])  # panels side by side: short labels
        ax.set_title(textwrap.fill(title if judge is None else str(judge), 56 // len(judges)))
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return fig


@column_figure
def plot_survey_shares(pooled: pd.DataFrame, paper: Mapping[str, float] | None = None) -> plt.Figure:
    """Pooled win shares (``pooled`` from :func:`coala_lib.evaluation.survey.analyse_responses`) with the two-way
    (rater x item) bootstrap interval and, as a dashed line, the paper's Wald interval over raters; ``paper``
    shares in % as markers."""
    fig, ax = plt.subplots(figsize=column_size(3.4, width=0.9))
    x = range(len(pooled))
    ax.bar(x, pooled["share"], color=sns.color_palette()[1], alpha=0.8, label="share (simulated responses)")
    ax.errorbar(
        x,
        pooled["share"],
        yerr=[pooled["share"] - pooled["low"], pooled["high"] - pooled["share"]],
        fmt="none",
        ecolor="black",
        capsize=4,
        label="two-way bootstrap (raters x items)",
    )
    if "wald_low" in pooled:
        ax.errorbar(
            [i + 0.15 for i in x],
            pooled["share"],
            fmt="none",
            ecolor="grey",
            capsize=4,
            linestyle="--",
            yerr=[pooled["share"] - pooled["wald_low"], pooled["wald_high"] - pooled["share"]],
            label="Wald, n = raters (paper)",
        )
    if paper:
        ax.scatter(list(x), [paper[m] / 100 for m in pooled.index], color="red", zorder=3, label="paper Table 4")
    ax.set_xticks(list(x), list(pooled.index))
    ax.set_ylabel("share of judgments won")
    ax.legend()
    fig.tight_layout()
    return fig
