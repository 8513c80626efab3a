"""The book's table formatting (coala_lib.chapters.tables): headers, index, integers, intervals, text."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from coala_lib.chapters.tables import Table, cells, header, interval, number, readable, side_by_side


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("win_rate", "win rate"),
        ("kl", "KL"),
        ("peak_gb", "peak GB"),
        ("counted_tflops", "counted TFLOPs"),
        ("extraction_over_lora_dpo", "extraction over LoRA DPO"),
        (("judge", "mean"), "judge mean"),
        (0, "0"),
        ("COALA minus", "COALA minus"),
    ],
)
def test_header(name: object, expected: str) -> None:
    assert header(name) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (512, 3, "512"),
        (np.int64(7), 3, "7"),
        (512.0, 0, "512"),
        (0.61234, 3, "0.612"),
        (0.61234, 4, "0.6123"),
        (5.06e13, 3, "5.06e+13"),
        (2e-5, 3, "0.000"),
        (-4e-9, 4, "0.0000"),
        (0.0, 3, "0.000"),
        (math.nan, 3, ""),
        (None, 3, ""),
        (True, 3, "yes"),
        ({"pairs": 4.0, "tokens": 12, "share": 0.25}, 3, "pairs 4, tokens 12, share 0.250"),
        ("a\nb", 3, "a\nb"),
    ],
)
def test_number(value: object, decimals: int, expected: str) -> None:
    assert number(value, decimals) == expected


def test_significant_digits() -> None:
    assert number(19.3142, significant=4) == "19.31" and number(1.234e-5, significant=3) == "1.23e-05"
    assert cells([3.0, 0.25], significant=4) == ["3", "0.25"]
    assert readable(pd.DataFrame({"x": [0.123456]}), significant=2).frame.iloc[0, 0] == "0.12"
    gaps = readable(pd.DataFrame({"certified_gap": [9.5e-5, math.nan]}), formats={"certified_gap": "{:.1e}"})
    assert gaps.frame["certified gap"].tolist() == ["9.5e-05", ""]


def test_a_column_of_whole_floats_is_integers() -> None:
    """Counts made floats by a missing value (512.0) print as counts; a column with fractions keeps them."""
    assert cells([512.0, math.nan, 256.0]) == ["512", "", "256"]
    assert cells([1.0, 0.5]) == ["1.000", "0.500"]


def test_interval() -> None:
    assert interval(0.6234, 0.571, 0.6649) == "0.623 [0.571, 0.665]"
    assert interval(None, 0.5, 0.6) == "[0.500, 0.600]"
    assert interval(0.5, math.nan, 0.6) == "0.500"


def test_readable() -> None:
    """Index dropped (a plain range) or kept as a column (labels), bounds merged into their value's column,
    named intervals placed where their value was, integers as integers, no snake_case left."""
    frame = pd.DataFrame(
        {
            "method": ["dpo", "coala"],
            "n": [512.0, math.nan],
            "win_rate": [0.6234, 0.5],
            "win_low": [0.57, 0.4],
            "win_high": [0.66, 0.6],
            "win_boot_low": [0.55, 0.41],
            "win_boot_high": [0.67, 0.59],
            "reward": [0.7, 0.8],
            "reward_low": [0.6, 0.7],
            "reward_high": [0.8, 0.9],
            "difference": [0.1, -0.2],
            "low": [0.0, -0.3],
            "high": [0.2, -0.1],
        }
    )
    table = readable(
        frame,
        headers={"reward": "reward, 95 %"},
        intervals={
            "win rate, Wilson 95 %": ("win_rate", "win_low", "win_high"),
            "bootstrap 95 %": (None, "win_boot_low", "win_boot_high"),
        },
    )
    assert isinstance(table, Table)
    assert list(table.frame.columns) == [
        "method",
        "n",
        "win rate, Wilson 95 %",
        "bootstrap 95 %",
        "reward, 95 %",
        "difference",
    ]
    assert table.frame.iloc[0].tolist() == [
        "dpo",
        "512",
        "0.623 [0.570, 0.660]",
        "[0.550, 0.670]",
        "0.700 [0.600, 0.800]",
        "0.100 [0.000, 0.200]",
    ]
    assert table.frame.iloc[1]["n"] == ""
    labelled = readable(pd.DataFrame({"accuracy": [0.5]}, index=pd.Index(["convex"], name="head")))
    assert list(labelled.frame.columns) == ["head", "accuracy"]
    assert readable(pd.DataFrame({"x": [1]}, index=["a"]), index="what").frame.columns[0] == "what"
    grouped = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("judge", "mean"), ("judge", "std")]))
    assert list(readable(grouped).frame.columns) == ["judge, mean", "judge, std"]
    pivot = pd.DataFrame([[0.5]], columns=pd.MultiIndex.from_tuples([("head_score", 16.0)], names=[None, "lambda"]))
    assert list(readable(pivot).frame.columns) == ["head score, lambda = 16"]
    nested = pd.DataFrame({"loss": [0.5]}, index=pd.MultiIndex.from_tuples([("dpo", 1)], names=[None, "step"]))
    assert list(readable(nested, index="method").frame.columns) == ["method", "step", "loss"]
    shuffled = pd.DataFrame({"x": [1, 2]}, index=[5, 3])  # row numbers after sorting: not a column
    assert list(readable(shuffled).frame.columns) == ["x"]


def test_html_keeps_line_breaks_and_escapes() -> None:
    """Text keeps its line breaks (<br>, not a literal \\n), markup is escaped, no index column is written."""
    html = readable(pd.DataFrame({"text": ["one\ntwo", "<b>"]}))._repr_html_()
    assert "one<br>two" in html and "&lt;b&gt;" in html and "\\n" not in html
    assert "<th></th>" not in html and html.count("<th>") == 1
    assert repr(readable(pd.DataFrame({"n": [3]}))).split() == ["n", "3"]


def test_side_by_side() -> None:
    """Examples read across: the prompts on the first row, one row per system, columns example 1, 2, ...;
    as a table, the row labels are its first column and texts keep their line breaks."""
    frame = side_by_side(["p1", "p2"], {"dpo": ["a\nb", "c"], "coala": ["d"]})
    assert list(frame.columns) == ["example 1", "example 2"] and list(frame.index) == ["prompt", "dpo", "coala"]
    assert frame.loc["prompt"].tolist() == ["p1", "p2"] and frame.loc["dpo", "example 1"] == "a\nb"
    table = readable(frame)
    assert list(table.frame.columns) == ["text", "example 1", "example 2"]
    assert table.frame.iloc[2].tolist() == ["coala", "d", ""]
    assert "a<br>b" in table._repr_html_()


def test_frontier_examples_read_across() -> None:
    """The frontier's examples: prompts on the first row, one row per method and setting, in the order asked."""
    from coala_lib.chapters.frontier import examples

    generations = [
        {"method": m, "setting": s, "split": "test", "sample": 0, "prompt_id": i, "prompt": f"p{i}", "text": f"{m}{i}"}
        for m, s in (("reference", "T=1"), ("dpo", "beta=0.1"))
        for i in (1, 0, 5)
    ]
    frame = examples(generations, [("dpo", "beta=0.1"), ("reference", "T=1")], prompts=2)
    assert list(frame.index) == ["prompt", "dpo [beta=0.1]", "reference [T=1]"]
    assert frame.loc["prompt"].tolist() == ["p0", "p1"] and frame.loc["dpo [beta=0.1]"].tolist() == ["dpo0", "dpo1"]
