"""The blind survey page, its separate answer key, and the analysis of (simulated) responses."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from coala_lib.claims.paper import HUMAN_STUDY_WIN_SHARE
from coala_lib.evaluation.survey import (
    SurveyItem,
    analyse_responses,
    build_survey,
    escape_markdown,
    simulate_responses,
    write_survey,
)

METHODS = ("COALA", "DPO", "ORPO", "SFT")


def _items(n: int = 25) -> list[SurveyItem]:
    return [SurveyItem(f"prompt {i}", {m: f"answer {i} number {j}" for j, m in enumerate(METHODS)}) for i in range(n)]


def test_page_is_blind_and_order_is_seeded_per_item() -> None:
    page, key = build_survey(_items(), seed=3)
    again, key_again = build_survey(_items(), seed=3)
    assert (page, key) == (again, key_again)
    assert not any(m in page for m in METHODS)
    orders = {tuple(options.values()) for options in key["items"].values()}
    assert len(orders) > 5  # 25 items do not share one order
    assert all(sorted(options.values()) == sorted(METHODS) for options in key["items"].values())
    assert build_survey(_items(), seed=4)[1] != key


def test_key_letter_points_at_the_right_text() -> None:
    page, key = build_survey(_items(2), seed=0)
    method = key["items"]["2"]["C"]
    text = escape_markdown(_items(2)[1].responses[method])
    assert f"**C.** {text}" in page.split("## Item 2")[1]


def test_markdown_and_math_characters_are_escaped() -> None:
    escaped = escape_markdown("costs $5 *really* [link](x) #1")
    assert "\\$5" in escaped and "\\*really\\*" in escaped and "\\[link\\]" in escaped and "\\#1" in escaped


def test_write_survey_keeps_the_key_apart(tmp_path) -> None:
    page, key_path = write_survey(tmp_path / "survey.md", tmp_path / "keys" / "survey.json", _items(3))
    assert key_path.name not in page.read_text()
    assert set(json.loads(key_path.read_text())["items"]) == {"1", "2", "3"}
    with pytest.raises(ValueError, match="differ"):
        write_survey(tmp_path / "x.md", tmp_path / "x.md", _items(1))


def test_analysis_recovers_simulated_shares_with_intervals() -> None:
    _, key = build_survey(_items(), seed=0)
    truth = {m: HUMAN_STUDY_WIN_SHARE["imdb"][m] / 100 for m in METHODS}
    truth = {m: v / sum(truth.values()) for m, v in truth.items()}
    responses = simulate_responses(key, truth, n_raters=107, seed=1)
    analysis = analyse_responses(responses, key)
    assert (analysis.n_raters, analysis.n_items) == (107, 25)
    pooled = analysis.pooled
    assert pooled["judgments"].eq(107 * 25).all() and pooled["share"].sum() == pytest.approx(1)
    for method, p in truth.items():
        row = pooled.loc[method]
        assert row["low"] <= p <= row["high"]
        assert row["wald_high"] - row["wald_low"] > row["wilson_high"] - row["wilson_low"]  # n = raters is wider
    assert len(analysis.per_item) == 25 * len(METHODS)
    assert analysis.per_item.groupby("item")["share"].sum().round(9).eq(1).all()


def test_pooled_interval_counts_the_rater_clusters() -> None:
    """Raters with fixed tastes (each always picks one method): 25 judgments per rater move together, so
    the two-way bootstrap interval is far wider than Wilson's over 107 x 25 independent judgments."""
    _, key = build_survey(_items(), seed=0)
    rows = []
    for r in range(107):
        taste = METHODS[0] if r % 5 < 2 else METHODS[1 + r % 3]
        for item, options in key["items"].items():
            letter = {m: k for k, m in options.items()}[taste]
            rows.append({"rater": f"r{r}", "item": item, "choice": letter})
    pooled = analyse_responses(pd.DataFrame(rows), key).pooled
    for method in METHODS:
        row = pooled.loc[method]
        assert row["low"] <= row["share"] <= row["high"]
        assert row["high"] - row["low"] > 3 * (row["wilson_high"] - row["wilson_low"])


def test_analysis_reads_a_csv_and_rejects_unknown_letters(tmp_path) -> None:
    _, key = build_survey(_items(2), seed=0)
    path = tmp_path / "responses.csv"
    pd.DataFrame({"rater": ["a", "b"], "item": [1, 2], "choice": ["a", "D"]}).to_csv(path, index=False)
    pooled = analyse_responses(path, key).pooled
    assert pooled.loc[key["items"]["1"]["A"], "won"] >= 1
    pd.DataFrame({"rater": ["a"], "item": [1], "choice": ["Z"]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="does not match the key"):
        analyse_responses(path, key)
