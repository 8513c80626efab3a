"""The quoted paper numbers are internally consistent (a typo in a transcription shows up here)."""

import pytest

from coala_lib.claims import paper


def test_reported_compute_ratio_is_the_headline_17_6_percent() -> None:
    assert round(100 * paper.COMPUTE_SHARE, 1) == 17.6


def test_human_study_shares_sum_to_100() -> None:
    for dataset, shares in paper.HUMAN_STUDY_WIN_SHARE.items():
        assert abs(sum(shares.values()) - 100.0) < 0.2
        assert sum(paper.human_study_shares(dataset).values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="dataset='ultrafeedback'"):
        paper.human_study_shares("ultrafeedback")


def test_every_table3_cell_is_a_percentage() -> None:
    cells = [v for m in paper.ALPACAEVAL_LC_WIN_RATE.values() for d in m.values() for v in d.values()]
    assert len(cells) == 3 * 4 * 3 and all(0 < v < 100 for v in cells)
    imdb = paper.table3_frame("imdb")
    assert imdb.shape == (4, 3) and imdb.loc["COALA", "Mistral-7B LC WR (paper Table 3)"] == 24.88
    with pytest.raises(ValueError, match="Table 3"):
        paper.table3_frame("helpsteer")


def test_table7_has_all_15_cells_and_adamw_wins_exactly_one() -> None:
    table = paper.table7_frame()
    assert len(table) == 15 and set(table["model"]) == set(paper.MODEL_NAMES.values())
    behind = table[table["CRONOS - AdamW"] < 0]
    assert len(behind) == 1
    assert (behind.iloc[0]["model"], behind.iloc[0]["dataset"]) == ("DistilGPT-2 (82M)", "ultrafeedback")
    assert all(0 < v < 100 for v in table[["CRONOS", "AdamW"]].to_numpy().ravel())


def test_apm_yield_is_2_46_triplets_per_conversation() -> None:
    assert round(paper.APM_TRIPLETS_PER_CONVERSATION, 2) == 2.46
