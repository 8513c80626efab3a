"""Tables as the book shows them: human headers, no index column, integers as integers, intervals as
``0.62 [0.57, 0.66]`` and text with its line breaks.

The chapters' table functions return data frames with the names code uses (``win_rate``, ``win_low``);
:func:`readable` turns one into a :class:`Table`, which a notebook displays (HTML in the book, aligned text
in a terminal). Nothing here computes a statistic: it only formats.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import pandas as pd

from coala_lib.baselines.methods import REGISTRY

#: Words of a snake_case name written the way a reader expects them.
WORDS = {
    "kl": "KL",
    "tflops": "TFLOPs",
    "gflops": "GFLOPs",
    "flops": "FLOPs",
    "gb": "GB",
    "mb": "MB",
    "gib": "GiB",
    "lm": "LM",
    "lc": "LC",
    "wr": "WR",
    "pcg": "PCG",
    "admm": "ADMM",
    "vader": "VADER",
    "sd": "SD",
    "lora": "LoRA",
}
#: Suffixes that make a column the bounds of the column they follow (``x``, ``x_low``, ``x_high``).
_BOUNDS = (("_low", "_high"), (" low", " high"))


@dataclass(frozen=True)
class Table:
    """A formatted table: every cell is already text. Jupyter shows its HTML, a terminal its plain text."""

    frame: pd.DataFrame

    def _repr_html_(self) -> str:
        escaped = self.frame.map(lambda text: html.escape(text).replace("\n", "<br>"))
        escaped.columns = [html.escape(str(c)) for c in self.frame.columns]
        return escaped.to_html(index=False, escape=False, border=0, classes="coala-table")

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


def header(name: Any) -> str:
    """A column name for readers: ``win_rate`` -> ``win rate``, ``kl`` -> ``KL``, ``peak_gb`` -> ``peak GB``;
    a tuple (a grouped column) is joined by spaces."""
    if isinstance(name, tuple):
        return " ".join(header(part) for part in name if str(part))
    words = WORDS | {m.name: m.label for m in REGISTRY.values()}  # each method as it names itself ("SimPO")
    return " ".join(words.get(word.lower(), word) for word in str(name).replace("_", " ").split())


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def number(value: Any, decimals: int = 3, significant: int | None = None) -> str:
    """One cell: integers without decimals; other reals to ``decimals`` places, as ``DataFrame.round`` shows
    them (a value below the last place is 0; from 1e7 on, 3 significant digits in scientific notation;
    ``decimals=0`` shows an integral float as an integer), or given ``significant``, to that many significant
    digits (``:g``); missing values empty, booleans ``yes``/``no``, mappings as ``key value, ...``, sequences
    joined by ``, ``, anything else as its text."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        x = float(value)
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if decimals == 0 and x.is_integer():
            return str(int(x))
        if significant is not None:
            return f"{x:.{significant}g}"
        if abs(x) >= 1e7:
            return f"{x:.3g}"
        text = f"{x:.{decimals}f}"
        return text.removeprefix("-") if float(text) == 0 else text  # no "-0.000"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_part(v, decimals, significant)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_part(v, decimals, significant) for v in value)
    return str(value)


def _part(value: Any, decimals: int, significant: int | None) -> str:
    """A value inside a mapping or sequence cell: an integral real as an integer."""
    whole = isinstance(value, Real) and not isinstance(value, bool) and float(value).is_integer()
    return number(value, 0 if whole else decimals, significant)


def cells(values: Sequence[Any], decimals: int = 3, significant: int | None = None) -> list[str]:
    """A column's cells by :func:`number`; a column whose reals are all integral (counts that a missing
    value turned into floats, ``512.0``) is shown as integers."""
    reals = [float(v) for v in values if isinstance(v, Real) and not isinstance(v, bool) and not _missing(v)]
    whole = bool(reals) and all(x.is_integer() and abs(x) < 1e15 for x in reals)
    return [number(v, 0 if whole else decimals, significant) for v in values]


def interval(value: Any, low: Any, high: Any, decimals: int = 3, significant: int | None = None) -> str:
    """``"0.620 [0.570, 0.660]"``; ``"[0.570, 0.660]"`` without a value; the value alone without bounds."""
    low_text, high_text = number(low, decimals, significant), number(high, decimals, significant)
    bounds = "" if _missing(low) or _missing(high) else f"[{low_text}, {high_text}]"
    return " ".join(part for part in (number(value, decimals, significant), bounds) if part)


def _bounds_of(columns: Sequence[Any]) -> dict[Any, tuple[Any, Any]]:
    """``{value column: (low column, high column)}`` found by name: ``x`` with ``x_low``/``x_high`` (or
    ``x low``/``x high``), and a bare ``low``, ``high`` pair right after the column it bounds."""
    found: dict[Any, tuple[Any, Any]] = {}
    names = [str(c) for c in columns]
    for column, name in zip(columns, names, strict=True):
        for low, high in _BOUNDS:
            if name + low in names and name + high in names:
                found[column] = (columns[names.index(name + low)], columns[names.index(name + high)])
    for i, name in enumerate(names[1:-1], start=1):
        if name == "low" and names[i + 1] == "high" and columns[i - 1] not in found:
            found[columns[i - 1]] = (columns[i], columns[i + 1])
    return found


def readable(
    frame: pd.DataFrame,
    headers: Mapping[Any, str] | None = None,
    intervals: Mapping[str, tuple[Any | None, Any, Any]] | None = None,
    index: str | None = None,
    decimals: int = 3,
    significant: int | None = None,
    formats: Mapping[Any, str] | None = None,
) -> Table:
    """``frame`` as readers see it.

    * the index becomes the first columns, headed by its level names (``index`` names the first unnamed
      one), unless it is unnamed row numbers (integers), which are dropped;
    * grouped columns (a column MultiIndex) are headed by their parts, a named level's as ``name = value``
      (``("text", 16.0)`` under levels ``(None, "lambda")`` reads ``text, lambda = 16``);
    * each value column with bound columns (``x_low``/``x_high``, or ``low``/``high`` right after it) becomes one
      column ``"x [low, high]"``; ``intervals`` adds others, ``{new header: (value or None, low, high)}``, which
      take the value column's place (or the low column's);
    * every cell is formatted by :func:`number` (``decimals`` places, or ``significant`` digits), or for a
      column of ``formats`` by its format string (``{"gap": "{:.1e}"}``; missing values stay empty), and
      every header by :func:`header` after ``headers`` renames it.
    """
    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = pd.Index([_group_header(frame.columns.names, key) for key in frame.columns])
    if frame.index.nlevels == 1 and frame.index.name is None and pd.api.types.is_integer_dtype(frame.index):
        frame = frame.reset_index(drop=True)
    else:  # ``index`` names the first unnamed level
        names = [name if isinstance(name, str) else "" for name in frame.index.names]
        names = [index if index and not name and i == names.index("") else name for i, name in enumerate(names)]
        frame = frame.reset_index(names=names)
    merged: dict[Any, tuple[Any | None, Any, Any]] = {
        column: (column, low, high) for column, (low, high) in _bounds_of(list(frame.columns)).items()
    }
    for name, (value, low, high) in (intervals or {}).items():
        merged[name] = (value, low, high)
    out: dict[str, pd.Series] = {}
    dropped = {bound for _, low, high in merged.values() for bound in (low, high)}
    spanned = {value for value, _, _ in merged.values() if value is not None}
    placed = {(value if value is not None else low): name for name, (value, low, high) in merged.items()}
    for column in frame.columns:
        if column in placed:
            name = placed[column]
            value, low, high = merged[name]
            values = frame[value] if value is not None else pd.Series([None] * len(frame), index=frame.index)
            spans = [
                interval(v, lo, hi, decimals, significant)
                for v, lo, hi in zip(values, frame[low], frame[high], strict=True)
            ]
            out[_title(name, headers)] = pd.Series(spans, index=frame.index)
        elif formats and column in formats:
            shown = [number(v) if _missing(v) else formats[column].format(v) for v in frame[column]]
            out[_title(column, headers)] = pd.Series(shown, index=frame.index)
        elif column not in dropped and column not in spanned:
            out[_title(column, headers)] = pd.Series(
                cells(list(frame[column]), decimals, significant), index=frame.index
            )
    return Table(pd.DataFrame(out).reset_index(drop=True))


def side_by_side(prompts: Sequence[str], texts: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Examples to read across: one column per prompt (``example 1``, ``example 2``, ...), a first row
    ``prompt`` holding the prompts, then one row per system with its text for each prompt (the index,
    named ``text``, labels the rows); a system with fewer texts than prompts has empty cells."""
    columns = [f"example {i + 1}" for i in range(len(prompts))]
    width = len(prompts)
    rows = {"prompt": list(prompts)} | {
        name: [*answers[:width], *[""] * (width - len(answers))] for name, answers in texts.items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = "text"
    return frame


def _group_header(levels: Sequence[Any], key: tuple[Any, ...]) -> str:
    """A grouped column's header: its parts joined by ``, ``, a named level's part as ``name = value``."""
    parts = []
    for level, part in zip(levels, key, strict=True):
        if str(part):
            value = number(part, 0 if isinstance(part, float) and part.is_integer() else 3)
            parts.append(f"{level} = {value}" if level else value)
    return ", ".join(parts)


def _title(name: Any, headers: Mapping[Any, str] | None) -> str:
    if headers and name in headers:
        return headers[name]
    return header(name)
