"""The quoted paper numbers are internally consistent (a typo in a transcription shows up here)."""

from coala_lib.claims import paper


def test_reported_compute_ratio_is_the_headline_17_6_percent() -> None:
    llama = paper.REPORTED_TFLOPS["llama"]
    assert round(100 * llama["COALA"] / llama["DPO"], 1) == 17.6


def test_human_study_shares_sum_to_100() -> None:
    for shares in paper.HUMAN_STUDY_WIN_SHARE.values():
        assert abs(sum(shares.values()) - 100.0) < 0.2


def test_every_table3_cell_is_a_percentage() -> None:
    cells = [v for m in paper.ALPACAEVAL_LC_WIN_RATE.values() for d in m.values() for v in d.values()]
    assert len(cells) == 3 * 4 * 3 and all(0 < v < 100 for v in cells)
