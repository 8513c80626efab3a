"""Figures and tables of the training chapter (notebook 03), drawn with seaborn from pipeline reports.

Every function takes the :class:`coala_lib.head.config.HeadReport` of
:func:`coala_lib.head.training.train_or_load_head` (or rows from :mod:`coala_lib.head.phase2`) and only
reshapes or draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from coala_lib.chapters.plots.style import column_figure, column_size
from coala_lib.head.config import HeadReport


def accuracy_table(report: HeadReport) -> pd.DataFrame:
    """Phase I heads (the convex program by its solver, e.g. ``"convex, admm (Phase I)"``, vs AdamW, same
    width) and the Phase II head: accuracies and objectives."""
    rows: list[dict[str, Any]] = []
    convex = f"convex, {report.phase1.method} (Phase I)"
    for name, part in ((convex, report.phase1), ("AdamW (Phase I)", report.adamw_head)):
        rows.append(
            {
                "head": name,
                "width": part.width,
                "objective": part.objective,
                "train pointwise": part.train.pointwise,
                "train pairwise": part.train.pairwise,
                "eval pointwise": part.eval.pointwise,
                "eval pairwise": part.eval.pairwise,
                "seconds": part.seconds,
            }
        )
    phase2 = report.phase2
    rows.append(
        {
            "head": f"Phase II ({phase2.solver})",
            "width": report.phase1.width,
            "train pairwise": phase2.train_pairwise,
            "eval pairwise": phase2.eval_pairwise,
            "seconds": phase2.seconds,
        }
    )
    return pd.DataFrame(rows).set_index("head")


@column_figure
def plot_head_accuracies(report: HeadReport) -> Figure:
    """Grouped bars: train / held-out, pointwise / pairwise accuracy of each head (the Table 7 analogue)."""
    table = accuracy_table(report).drop(columns=["width", "objective", "seconds"])
    tidy = table.reset_index().melt(id_vars="head", var_name="metric", value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=column_size(3.4))
    sns.barplot(data=tidy, x="metric", y="accuracy", hue="head", ax=ax)
    ax.axhline(0.5, color="grey", lw=1, ls=":")
    ax.set(
        ylim=(0, 1), xlabel="", ylabel="accuracy", title="Heads on the same features: convex vs AdamW, then Phase II"
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


@column_figure
def plot_margin_curves(report: HeadReport) -> Figure:
    """Phase II by AdamW, per step on the training pairs: objective gap to the certified optimum (log),
    mean score margin :math:`\\overline{s_c - s_r}` and mean :math:`\\overline{\\sigma(s_c - s_r)}` (the paper's COALA curve)."""
    phase2 = report.phase2
    history = pd.DataFrame(phase2.adamw_history)
    gap = (history["loss"] - phase2.optimum_loss).clip(lower=np.finfo(float).tiny)
    fig, axes = plt.subplots(1, 3, figsize=column_size(2.8))
    sns.lineplot(x=history["step"], y=gap, ax=axes[0])
    axes[0].set(yscale="log", xlabel="AdamW step", ylabel="$L(\\theta_t) - L^*$", title="distance to optimum")
    sns.lineplot(x=history["step"], y=history["margin"], ax=axes[1])
    axes[1].set(xlabel="AdamW step", ylabel="mean $s_c - s_r$", title="score margin")
    sns.lineplot(x=history["step"], y=history["margin_sigmoid"], ax=axes[2])
    axes[2].set(xlabel="AdamW step", ylabel="mean $\\sigma(s_c - s_r)$", title="reward margin (paper)")
    fig.tight_layout()
    return fig


@column_figure
def plot_pairing(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Held-out pairwise accuracy of the certified optima: pointwise, prompt-matched and random pairing."""
    frame = pd.DataFrame(rows)
    frame["loss"] = frame["objective"] + " / " + frame["pairing"]
    fig, ax = plt.subplots(figsize=column_size(3.2, width=0.8))
    sns.barplot(data=frame, x="loss", y="eval_pairwise", errorbar="sd", ax=ax)
    sns.stripplot(data=frame, x="loss", y="eval_pairwise", color="black", size=4, ax=ax)
    ax.axhline(0.5, color="grey", lw=1, ls=":")
    ax.set(xlabel="", ylabel="held-out pairwise accuracy", ylim=(0.4, 1))
    fig.tight_layout()
    return fig
