"""Figures of the IMDb frontier chapter (notebook 09), drawn with seaborn from the record's frames
(:func:`coala_lib.chapters.frontier.frontier_frame`); nothing here computes a statistic."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from coala_lib.chapters.frontier import METHOD_ORDER

_REQUIRED = ("method", "setting", "kl", "kl_low", "kl_high", "kl_kind")


def _palette(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    colours = sns.color_palette("tab10", len(METHOD_ORDER))
    return {m: colours[METHOD_ORDER.index(m) if m in METHOD_ORDER else 0] for m in methods}


def frontier_plot(frame: pd.DataFrame, judge: str = "book", title: str | None = None) -> Figure:
    """Mean reward of ``judge`` against the KL to the reference, one curve per method (its settings in
    order), with the prompt-bootstrap intervals of both as error bars; best-of-n's KL is a bound
    (hollow markers, no horizontal interval)."""
    missing = [c for c in (*_REQUIRED, f"reward_{judge}") if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; build it with frontier_frame(record)")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    methods = [m for m in METHOD_ORDER if m in set(frame["method"])]
    palette = _palette(methods)
    y, low, high = f"reward_{judge}", f"reward_{judge}_low", f"reward_{judge}_high"
    for method in methods:
        rows = frame[frame["method"] == method].sort_values("kl")
        colour = palette[method]
        bound = bool((rows["kl_kind"] == "bound").all())
        ax.errorbar(
            rows["kl"],
            rows[y],
            yerr=[rows[y] - rows[low], rows[high] - rows[y]],
            xerr=None if bound else [rows["kl"] - rows["kl_low"], rows["kl_high"] - rows["kl"]],
            color=colour,
            marker="o",
            markersize=6,
            capsize=3,
            linewidth=1.5,
            markerfacecolor="white" if bound else colour,
            label=f"{method} (KL bound)" if bound else method,
        )
        for _, row in rows.iterrows():
            ax.annotate(
                row["setting"], (row["kl"], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour
            )
    ax.set_xlabel("KL(policy || reference), nats per continuation")
    ax.set_ylabel(f"mean positivity ({judge} judge)")
    ax.set_title(title or "IMDb controlled sentiment: reward against KL to the reference")
    ax.legend(fontsize=8, loc="best")
    sns.despine(fig)
    fig.tight_layout()
    return fig


def win_rate_plot(frame: pd.DataFrame) -> Figure:
    """Forest plot: each setting's win rate against the reference sample with its Wilson interval (thick)
    and its prompt-bootstrap interval (thin); the line at 0.5 is no difference."""
    rows = frame[frame["method"] != "reference"].reset_index(drop=True)
    if rows.empty:
        raise ValueError("no setting other than the reference: nothing to compare")
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(rows) + 1.2))
    palette = _palette(list(dict.fromkeys(rows["method"])))
    labels = [
        f"{m} [{s}]" + (" *" if sel else "") for m, s, sel in zip(rows["method"], rows["setting"], rows["selected"])
    ]
    for i, row in rows.iterrows():
        colour = palette[row["method"]]
        ax.plot([row["win_boot_low"], row["win_boot_high"]], [i, i], color=colour, linewidth=1)
        ax.plot([row["win_low"], row["win_high"]], [i, i], color=colour, linewidth=4, alpha=0.6)
        ax.plot(row["win_rate"], i, "o", color=colour)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("win rate against the reference policy's sample (book judge; * chosen on validation)")
    sns.despine(fig)
    fig.tight_layout()
    return fig
