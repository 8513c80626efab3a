"""Figures of the IMDb frontier chapter (notebook 09), drawn with seaborn from the record's frames
(:func:`coala_lib.chapters.frontier.frontier_frame`); nothing here computes a statistic."""

from __future__ import annotations

from itertools import combinations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

from coala_lib.chapters.frontier import method_order
from coala_lib.chapters.plots.style import MIN_FONT_PT, column_figure, column_size

_REQUIRED = ("method", "setting", "kl", "kl_low", "kl_high", "kl_kind")


#: How a setting's parameter reads in the legend.
_SYMBOLS = {"lambda": "λ", "beta": "β"}


def _palette(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    order = method_order()
    colours = sns.color_palette("tab10", len(order))
    return {m: colours[order.index(m) if m in order else 0] for m in methods}


def _swept_parameter(settings: pd.Series) -> str | None:
    """The one parameter a method's settings sweep (``"lambda"`` for ``lambda=1, lambda=4``), or ``None`` when
    it has one setting or its settings are not all ``name=value`` of one name."""
    names = {str(s).split("=")[0] for s in settings if str(s).count("=") == 1}
    if len(settings) < 2 or len(names) != 1 or not all(str(s).count("=") == 1 for s in settings):
        return None
    return names.pop()


def spread_labels(
    ax: Axes, labels: list[Annotation], points: list[tuple[float, float]], step: float = 1.0, rounds: int = 400
) -> None:
    """Move point labels (annotations placed in offset points) vertically until none overlaps another label
    or a marker (``points``, data coordinates, each a 10 px square): each round pushes the lower label of
    every overlapping pair down and the upper one up by ``step`` points, and a label off any marker it
    covers."""
    figure = ax.get_figure(root=True)
    if not isinstance(figure, Figure) or not labels:
        return
    markers = [Bbox.from_bounds(x - 5, y - 5, 10, 10) for x, y in ax.transData.transform(points)]
    for _ in range(rounds):
        figure.draw_without_rendering()
        # the text alone (not its leader line), with a 2 px margin: labels that touch read as one ("1 2" as "12")
        boxes = [Text.get_window_extent(label).padded(2) for label in labels]
        pushes = [0.0] * len(labels)
        for i, j in combinations(range(len(labels)), 2):
            if boxes[i].overlaps(boxes[j]):
                low, high = (i, j) if boxes[i].y0 + boxes[i].y1 <= boxes[j].y0 + boxes[j].y1 else (j, i)
                pushes[low] -= step
                pushes[high] += step
        for i, box in enumerate(boxes):
            for marker in markers:
                if box.overlaps(marker):
                    pushes[i] += step if box.y0 + box.y1 >= marker.y0 + marker.y1 else -step
        if not any(pushes):
            return
        for label, push in zip(labels, pushes, strict=True):
            x, y = label.xyann
            label.xyann = (x, y + push)


@column_figure
def frontier_plot(frame: pd.DataFrame, judge: str = "book", title: str | None = None) -> Figure:
    """Mean reward of ``judge`` against the KL to the reference, one curve per method (its settings in
    order), with the prompt-bootstrap intervals of both as error bars; best-of-n's KL is a bound
    (hollow markers, no horizontal interval). A method that sweeps one parameter names it in the legend and
    labels each point with its value, the labels moved apart where points crowd (:func:`spread_labels`)."""
    missing = [c for c in (*_REQUIRED, f"reward_{judge}") if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; build it with frontier_frame(record)")
    fig, ax = plt.subplots(figsize=column_size(4.6))
    methods = [m for m in method_order() if m in set(frame["method"])]
    palette = _palette(methods)
    y, low, high = f"reward_{judge}", f"reward_{judge}_low", f"reward_{judge}_high"
    labels: list[Annotation] = []
    for method in methods:
        rows = frame[frame["method"] == method].sort_values("kl")
        colour = palette[method]
        bound = bool((rows["kl_kind"] == "bound").all())
        swept = _swept_parameter(rows["setting"])
        name = method + (f" ({_SYMBOLS.get(swept, swept)})" if swept else f" [{rows['setting'].iloc[0]}]")
        ax.errorbar(
            rows["kl"],
            rows[y],
            yerr=[rows[y] - rows[low], rows[high] - rows[y]],
            xerr=None if bound else [rows["kl"] - rows["kl_low"], rows["kl_high"] - rows["kl"]],
            color=colour,
            marker="o",
            markersize=5,
            capsize=2.5,
            linewidth=1.3,
            markerfacecolor="white" if bound else colour,
            label=name + (", KL bound" if bound else ""),
        )
        if swept is None:
            continue
        for _, row in rows.iterrows():
            labels.append(
                ax.annotate(
                    str(row["setting"]).split("=", 1)[1],
                    (row["kl"], row[y]),
                    textcoords="offset points",
                    xytext=(5, 3),
                    fontsize=MIN_FONT_PT,
                    color=colour,
                    path_effects=[withStroke(linewidth=2.5, foreground="white")],  # legible over error bars
                    arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6, "shrinkA": 0, "shrinkB": 4},
                )
            )
    ax.set_xlabel("KL(policy || reference), nats per continuation")
    ax.set_ylabel(f"mean positivity ({judge} judge)")
    ax.set_title(title or "IMDb controlled sentiment: reward against KL to the reference")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    sns.despine(fig)
    fig.tight_layout()
    spread_labels(ax, labels, list(zip(frame["kl"], frame[y], strict=True)))
    return fig


@column_figure
def win_rate_plot(frame: pd.DataFrame) -> Figure:
    """Forest plot: each setting's win rate against the reference sample with its Wilson interval (thick)
    and its prompt-bootstrap interval (thin); the line at 0.5 is no difference."""
    rows = frame[frame["method"] != "reference"].reset_index(drop=True)
    if rows.empty:
        raise ValueError("no setting other than the reference: nothing to compare")
    fig, ax = plt.subplots(figsize=column_size(0.28 * len(rows) + 1.2))
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
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("win rate against the reference's sample (book judge; * chosen on validation)")
    sns.despine(fig)
    fig.tight_layout()
    return fig
