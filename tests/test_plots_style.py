"""The book's figure style (coala_lib.chapters.plots.style): every chapter figure fits the text column with
fonts readable as rendered, and the frontier's point labels do not overlap."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.text import Text

import coala_lib.chapters.plots as plots_package
from coala_lib.chapters.plots.frontier import frontier_plot
from coala_lib.chapters.plots.style import (
    COLUMN_INCHES,
    COLUMN_PX,
    DPI,
    MIN_FONT_PT,
    book_style,
    column_figure,
    fit_to_column,
)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_column_arithmetic() -> None:
    """A column-wide figure is no wider than the column in pixels, and the smallest font is >= 9 px there."""
    assert COLUMN_INCHES * DPI <= COLUMN_PX
    assert MIN_FONT_PT * DPI / 72 >= 9


def figure_functions() -> list[tuple[str, object]]:
    """Every public function of the plots package that draws (returns a Figure or Axes)."""
    found = []
    for info in pkgutil.iter_modules(plots_package.__path__):
        if info.name == "style":
            continue
        module = importlib.import_module(f"{plots_package.__name__}.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            returns = str(inspect.signature(function).return_annotation)
            if (
                function.__module__ == module.__name__
                and not name.startswith("_")
                and returns.endswith(("Figure", "Axes"))
            ):
                found.append((f"{info.name}.{name}", function))
    return found


def test_every_figure_function_is_drawn_for_the_column() -> None:
    functions = figure_functions()
    assert len(functions) >= 20, [name for name, _ in functions]
    undecorated = [name for name, function in functions if not hasattr(function, "__wrapped__")]
    assert not undecorated, f"not decorated with style.column_figure: {undecorated}"


def test_a_wide_figure_is_fitted_to_the_column() -> None:
    @column_figure
    def wide() -> plt.Figure:
        fig, ax = plt.subplots(figsize=(12, 4))
        ax.plot([0, 1])
        return fig

    fig = wide()
    width, height = fig.get_size_inches()
    assert width == pytest.approx(COLUMN_INCHES) and height == pytest.approx(4 * COLUMN_INCHES / 12)
    assert fig.dpi == DPI
    assert fit_to_column(fig) is fig


def crowded_frame() -> pd.DataFrame:
    """A frontier where three methods' settings crowd one corner (as the committed record's KL 17-27 do)."""
    rows = []
    for method, settings in {
        "coala_paper": [(1, 17.6, 0.582), (2, 18.3, 0.590), (4, 20.8, 0.614)],
        "coala_args": [(0.5, 17.9, 0.585), (1.5, 18.1, 0.592), (4, 19.0, 0.600)],
        "dpo": [(0.1, 18.0, 0.588), (0.05, 18.6, 0.595)],
        "pool": [("50", 17.3, 0.587)],
    }.items():
        name = "lambda" if method == "coala_paper" else "w" if method == "coala_args" else "beta"
        for value, kl, reward in settings:
            rows.append(
                {
                    "method": method,
                    "setting": f"{name}={value}",
                    "kl": kl,
                    "kl_low": kl - 0.3,
                    "kl_high": kl + 0.3,
                    "kl_kind": "estimate",
                    "reward_book": reward,
                    "reward_book_low": reward - 0.01,
                    "reward_book_high": reward + 0.01,
                }
            )
    return pd.DataFrame(rows)


def test_frontier_labels_do_not_overlap() -> None:
    fig = frontier_plot(crowded_frame())
    fig.draw_without_rendering()
    labels = fig.axes[0].texts
    assert len(labels) == 8  # the swept methods' points; pool's single setting is named in the legend
    boxes = [Text.get_window_extent(label) for label in labels]
    overlapping = [
        (labels[i].get_text(), labels[j].get_text())
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].overlaps(boxes[j])
    ]
    assert not overlapping, overlapping
    legend = fig.axes[0].get_legend()
    assert {"coala_paper (λ)", "dpo (β)", "pool [beta=50]"} <= {t.get_text() for t in legend.get_texts()}
    assert fig.get_size_inches()[0] <= COLUMN_INCHES
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text()]
    assert min(sizes) >= MIN_FONT_PT


def test_book_style_puts_back_only_its_own_settings() -> None:
    """IPython's inline backend turns interactive mode on when the first figure is drawn; were that put back
    on leaving the style, no later figure of the notebook would be shown."""
    before, dpi = matplotlib.is_interactive(), matplotlib.rcParams["figure.dpi"]
    try:
        with book_style():
            assert matplotlib.rcParams["figure.dpi"] == DPI
            matplotlib.interactive(not before)
        assert matplotlib.is_interactive() is (not before)
        assert matplotlib.rcParams["figure.dpi"] == dpi
    finally:
        matplotlib.interactive(before)
