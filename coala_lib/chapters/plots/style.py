"""The book's one figure style: every chapter figure is drawn for the book's text column.

The HTML book's text column is about 676 px wide in a 1280 px browser window, and a notebook figure is a
PNG at :data:`DPI` dots per inch shown at its own size when it fits (``max-width: 100 %`` otherwise). A
figure at most :data:`COLUMN_INCHES` wide therefore appears unscaled, and a font of ``s`` points is
``s * DPI / 72`` px tall on screen: :data:`MIN_FONT_PT` (8 pt) is 11 px, above the 9 px the book promises.
:func:`column_figure` draws a figure function under :data:`RC` and shrinks a figure that would still be
wider than the column.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.typing import RcKeyType

#: Dots per inch of every PNG the notebooks write (the inline backend uses the figure's own dpi).
DPI = 100
#: The book's text column at 1280 px: 676 px.
COLUMN_PX = 676
#: Figure width that fits the column with room for ``bbox_inches="tight"``'s padding: 660 px.
COLUMN_INCHES = 6.6
#: The smallest font any chapter figure uses (tick labels, legends, annotations), in points.
MIN_FONT_PT = 8.0
#: Height of a one-row figure, inches.
ROW_INCHES = 3.2

#: Matplotlib settings of every chapter figure.
RC: dict[RcKeyType, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (COLUMN_INCHES, ROW_INCHES),
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 10.0,
}

P = ParamSpec("P")
R = TypeVar("R", Figure, Axes)


def column_size(height: float = ROW_INCHES, width: float = 1.0) -> tuple[float, float]:
    """A ``figsize`` ``width`` column widths wide (at most 1) and ``height`` inches tall."""
    return (COLUMN_INCHES * min(width, 1.0), height)


def fit_to_column(fig: Figure) -> Figure:
    """Shrink ``fig`` to the column's width (keeping its aspect ratio) when it is wider; return it."""
    width, height = fig.get_size_inches()
    if width > COLUMN_INCHES:
        fig.set_size_inches(COLUMN_INCHES, height * COLUMN_INCHES / width)
        if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):  # that one re-lays out when drawn
            fig.tight_layout()
    return fig


@contextmanager
def book_style() -> Iterator[None]:
    """Set :data:`RC` for the duration, then put back only those settings. (Matplotlib's ``rc_context`` puts
    back every setting, among them the interactive mode that IPython's inline backend switches on when the
    first figure is drawn, so that no later figure of the notebook would be shown.)"""
    saved = {key: matplotlib.rcParams[key] for key in RC}
    matplotlib.rcParams.update(RC)
    try:
        yield
    finally:
        matplotlib.rcParams.update(saved)


def column_figure(draw: Callable[P, R]) -> Callable[P, R]:
    """Decorator of a chapter's figure function (returning a figure or its axes): draw under
    :func:`book_style`, then :func:`fit_to_column`."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with book_style():
            drawn = draw(*args, **kwargs)
            figure = drawn if isinstance(drawn, Figure) else drawn.get_figure()
            if isinstance(figure, Figure):
                fit_to_column(figure)
        return drawn

    return wrapper
