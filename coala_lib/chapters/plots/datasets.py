"""Figures of the datasets notebook: text lengths, the Alternating Population Method, judge scores."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import ListedColormap

from coala_lib.chapters.plots.style import COLUMN_INCHES, column_figure, column_size
from coala_lib.data.apm import Conversation, apm_role_matrix

APM_COLOURS = {"": "#f2f2f2", "prompt": "#9ecae1", "chosen": "#74c476", "rejected": "#fb6a4a"}


@column_figure
def plot_lengths(lengths: pd.DataFrame) -> plt.Figure:
    """Box plots of words per text (log scale), one panel per field, one box per dataset
    (``lengths`` from :func:`coala_lib.data.summary.length_frame`)."""
    panels = lengths["field"].nunique()
    height = 2.8
    grid = sns.catplot(
        data=lengths,
        x="dataset",
        y="words",
        col="field",
        kind="box",
        log_scale=True,
        height=height,
        aspect=COLUMN_INCHES / (panels * height),
        fliersize=1.5,
        color="#9ecae1",
    )
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "words (log scale)")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=30)
    return grid.figure


@column_figure
def plot_apm(conversation: Conversation, wrap: bool = False, max_chars: int = 40) -> plt.Figure:
    """APM step by step: one row per turn (its role and opening words), one column per triplet, each cell
    coloured and labelled by the turn's role in that triplet."""
    table = apm_role_matrix(conversation, wrap)
    if table.empty:
        raise ValueError("the conversation has fewer than two assistant replies: APM builds no triplet from it")
    codes = table.replace({k: i for i, k in enumerate(APM_COLOURS)}).astype(int).T
    labels = [
        f"{c}: " + (t.content[:max_chars] + ("…" if len(t.content) > max_chars else "")).replace("\n", " ")
        for c, t in zip(table.columns, conversation.turns)
    ]
    fig, ax = plt.subplots(figsize=column_size(0.32 * len(labels) + 1.3))
    sns.heatmap(
        codes,
        cmap=ListedColormap(list(APM_COLOURS.values())),
        vmin=-0.5,
        vmax=len(APM_COLOURS) - 0.5,
        cbar=False,
        linewidths=1,
        linecolor="white",
        annot=table.values.T,
        fmt="",
        ax=ax,
    )
    ax.set_yticks([i + 0.5 for i in range(len(labels))], labels, rotation=0)
    ax.set_xticks([i + 0.5 for i in range(len(table))], [f"triplet {i}" for i in table.index])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.xaxis.tick_top()
    fig.tight_layout()
    return fig


@column_figure
def plot_judge_scores(chosen: torch.Tensor, rejected: torch.Tensor) -> plt.Figure:
    """Histogram of the judge's positivity for chosen and rejected texts of the same triplets."""
    frame = pd.DataFrame(
        {
            "positivity": torch.cat([chosen, rejected]).tolist(),
            "text": ["chosen"] * len(chosen) + ["rejected"] * len(rejected),
        }
    )
    fig, ax = plt.subplots(figsize=column_size(3.0, width=0.8))
    sns.histplot(
        data=frame, x="positivity", hue="text", bins=20, binrange=(0, 1), palette=["#74c476", "#fb6a4a"], ax=ax
    )
    ax.set_xlabel("judge: P(positive)")
    fig.tight_layout()
    return fig
