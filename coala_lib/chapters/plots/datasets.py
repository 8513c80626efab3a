"""Figures of the datasets notebook: text lengths, the Alternating Population Method, judge scores."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from coala_lib.data.apm import Conversation, apm_role_matrix

APM_COLOURS = {"": "#f2f2f2", "prompt": "#9ecae1", "chosen": "#74c476", "rejected": "#fb6a4a"}


def plot_lengths(lengths: pd.DataFrame) -> plt.Figure:
    """Box plots of words per text (log scale), one panel per field, one box per dataset
    (``lengths`` from :func:`coala_lib.data.summary.length_frame`)."""
    grid = sns.catplot(
        data=lengths,
        x="dataset",
        y="words",
        col="field",
        kind="box",
        log_scale=True,
        height=3.2,
        aspect=1.1,
        fliersize=1.5,
        color="#9ecae1",
    )
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "words (log scale)")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=30)
    return grid.figure


def plot_apm(conversation: Conversation, wrap: bool = False, max_chars: int = 40) -> plt.Figure:
    """APM step by step: one row per triplet, one column per turn, coloured by the turn's role in it."""
    table = apm_role_matrix(conversation, wrap)
    if table.empty:
        raise ValueError("the conversation has fewer than two assistant replies: APM builds no triplet from it")
    codes = table.replace({k: i for i, k in enumerate(APM_COLOURS)}).astype(int)
    labels = [
        c + "\n" + textwrap.fill(t.content[:max_chars] + ("…" if len(t.content) > max_chars else ""), 18)
        for c, t in zip(table.columns, conversation.turns)
    ]
    fig, ax = plt.subplots(figsize=(1.6 * len(table.columns) + 1.5, 0.7 * len(table) + 2.4))
    sns.heatmap(
        codes,
        cmap=ListedColormap(list(APM_COLOURS.values())),
        vmin=-0.5,
        vmax=len(APM_COLOURS) - 0.5,
        cbar=False,
        linewidths=1,
        linecolor="white",
        annot=table.values,
        fmt="",
        ax=ax,
    )
    ax.set_xticklabels(labels, rotation=0, fontsize=7)
    ax.set_ylabel("triplet (step)")
    ax.set_xlabel("turn")
    ax.legend(
        handles=[Patch(color=c, label=k or "unused") for k, c in APM_COLOURS.items()],
        bbox_to_anchor=(1.01, 1),
        loc="upper left",
        frameon=False,
    )
    fig.tight_layout()
    return fig


def plot_judge_scores(chosen: torch.Tensor, rejected: torch.Tensor) -> plt.Figure:
    """Histogram of the judge's positivity for chosen and rejected texts of the same triplets."""
    frame = pd.DataFrame(
        {
            "positivity": torch.cat([chosen, rejected]).tolist(),
            "text": ["chosen"] * len(chosen) + ["rejected"] * len(rejected),
        }
    )
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.histplot(
        data=frame, x="positivity", hue="text", bins=20, binrange=(0, 1), palette=["#74c476", "#fb6a4a"], ax=ax
    )
    ax.set_xlabel("judge: P(positive)")
    fig.tight_layout()
    return fig
