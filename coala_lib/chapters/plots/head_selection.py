"""Figures of the head study (notebook 09's head section), drawn with seaborn from the frames of
:mod:`coala_lib.chapters.head_selection`; nothing here computes a statistic."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from coala_lib.chapters.plots.style import column_figure, column_size


@column_figure
def path_plot(frame: pd.DataFrame, features: str, chosen_beta: float | None = None) -> Figure:
    """The regularisation path of one feature choice: train and validation pairwise accuracy (left) and the
    number of neurons (right) against beta, one line style per ``P``; the chosen beta is marked."""
    rows = frame[frame["features"] == features]
    if rows.empty:
        raise ValueError(f"no path for features {features!r}; choose one of {sorted(set(frame['features']))}")
    long = rows.melt(id_vars=["beta", "P"], value_vars=["train", "validation"], var_name="pairs", value_name="acc")
    fig, (left, right) = plt.subplots(1, 2, figsize=column_size(3.0))
    sns.lineplot(long, x="beta", y="acc", hue="pairs", style="P", markers=True, ax=left)
    sns.lineplot(rows, x="beta", y="width", style="P", markers=True, color="0.3", ax=right, legend=False)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.invert_xaxis()  # the path runs from the zero head (large beta) to the interpolating one
        ax.set_xlabel("beta (group-lasso weight)")
        if chosen_beta is not None:
            ax.axvline(chosen_beta, color="0.5", linestyle=":", linewidth=1)
    left.axhline(0.5, color="0.7", linewidth=0.8)
    left.set_ylabel("pairwise accuracy")
    left.legend(loc="lower right", ncol=2)  # in the band near chance, where the curves rarely are
    right.set_ylabel("neurons (2 per active group)")
    fig.suptitle(f"Phase I path, {features}")
    sns.despine(fig)
    fig.tight_layout()
    return fig


@column_figure
def prefix_plot(frame: pd.DataFrame) -> Figure:
    """Report pairwise accuracy after each number of response tokens (the last point: whole texts), one line
    per head, with 95 % Wilson intervals."""
    fig, ax = plt.subplots(figsize=column_size(3.2))
    colours = sns.color_palette("tab10", frame["head"].nunique())
    for colour, (head, rows) in zip(colours, frame.groupby("head", sort=False), strict=True):
        rows = rows.sort_values("response tokens")
        ax.errorbar(
            rows["response tokens"],
            rows["accuracy"],
            yerr=[rows["accuracy"] - rows["low"], rows["high"] - rows["accuracy"]],
            marker="o",
            capsize=3,
            color=colour,
            label=head,
        )
    ticks = frame.drop_duplicates("response tokens").sort_values("response tokens")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks["response tokens"], ticks["slot"])
    ax.axhline(0.5, color="0.7", linewidth=0.8)
    ax.set_xlabel("response tokens scored")
    ax.set_ylabel("report pairwise accuracy")
    ax.legend(loc="lower right")
    sns.despine(fig)
    fig.tight_layout()
    return fig
