"""The frontier's third judge (AFINN, scoring the finished texts when the record is assembled, in no cache key)
and its distinct-2 guard (each row's ``distinct_guard``, read by the validation choice)."""

from __future__ import annotations

import shutil

import pytest
import torch
from test_imdb_frontier import tiny_run

from coala_lib.chapters.frontier import check_record, frontier_frame, read_generations, win_rate_table
from coala_lib.evaluation.frontier import select_setting
from coala_lib.evaluation.lexicon import AfinnJudge
from coala_lib.experiments import frontier
from coala_lib.experiments.frontier import record as assembly
from coala_lib.experiments.frontier.selection import add_distinct_guard


def test_afinn_judge() -> None:
    judge = AfinnJudge()
    texts = ["A wonderful, moving film. I loved it!", "Boring, awful and a waste of time.", "", "this is not good"]
    sums = judge.sums(texts)
    assert sums[2] == 0 and sums[0] > 0 > sums[1] and sums[3] == -2  # "not good" is one phrase of the list
    scores = judge.positivity(texts)
    assert scores.dtype == torch.float64 and scores[0] > 0.75 > 0.25 > scores[1] and scores[2] == 0.5
    assert float(scores[3]) == pytest.approx((-2 / (4 + 15) ** 0.5 + 1) / 2)
    assert judge.key.startswith("afinn-0.1-AFINN-en-165-") and judge.key.endswith("-alpha15")
    assert judge.accuracy(["great fun", "terrible", "a film"], torch.tensor([1.0, -1.0, 1.0])) == pytest.approx(2 / 3)
    with pytest.raises(TypeError, match="not one string"):
        judge.positivity("a single string")


def _row(method, setting, perplexity, win, distinct, split="validation"):
    return {
        "method": method,
        "setting": setting,
        "split": split,
        "perplexity": perplexity,
        "win_rate": win,
        "distinct_2": distinct,
        "kl_rb": 1.0,
    }


def test_the_distinct_guard_sets_aside_a_repetitive_setting() -> None:
    settings = [
        _row("reference", "T=1", 80.0, None, 0.84),
        _row("dpo", "beta=0.1", 65.0, 0.85, 0.80),
        _row("dpo", "beta=0.01", 90.0, 0.97, 0.52),  # fluent enough, wins more, but generic repeated praise
        _row("orpo", "lambda=0.1", 70.0, 0.60, 0.70),
        _row("orpo", "lambda=1", 75.0, 0.70, 0.68),  # both pass: 0.68 >= 0.8 x 0.84 = 0.672
        _row("simpo", "beta=2", 370.0, 0.94, 0.30),
        _row("simpo", "beta=2.5", 100.0, 0.90, 0.40),
        _row("dpo", "beta=0.1", 60.0, 0.85, 0.10, split="test"),  # another split: its own reference, none here
    ]
    config = frontier.FrontierConfig(perplexity_guard=2.0)
    add_distinct_guard(settings, config.distinct_guard)
    assert [r.get("distinct_guard") for r in settings] == [True, True, False, True, True, False, False, None]
    selection = frontier.choose(settings, config)
    assert selection["dpo"]["setting"] == "beta=0.1" and selection["dpo"]["validation_win_rate"] == 0.85
    assert selection["dpo"]["failed_guards"] == {"beta=0.01": "distinct-2 0.52 < 0.8 x the reference's 0.84"}
    assert selection["orpo"]["setting"] == "lambda=1" and "failed_guards" not in selection["orpo"]
    simpo = selection["simpo"]
    assert simpo["setting"] is None and "distinct-2 guard: validation distinct-2 0.40 at best" in simpo["excluded"]
    assert simpo["failed_guards"]["beta=2"].startswith("perplexity 370 > 2 x the reference's 80; distinct-2 0.30")
    assert "distinct-2 >= 0.8 x the reference's" in selection["dpo"]["rule"]
    assert frontier.headline_setting("simpo", ["beta=2"], selection) is None
    # the same rows with a looser guard: the repetitive setting wins
    loose = [dict(r) for r in settings]
    add_distinct_guard(loose, 0.5)
    assert frontier.choose(loose, config)["dpo"]["setting"] == "beta=0.01"
    # the rule itself: rows without the key (records written before the guard) are not held to it
    unmarked = [{k: v for k, v in r.items() if k != "distinct_guard"} for r in settings[1:3]]
    assert select_setting(unmarked, 80.0)["setting"] == "beta=0.01"
    assert select_setting(settings[1:3], 80.0)["setting"] == "beta=0.1"
    with pytest.raises(ValueError, match="distinct_guard"):
        add_distinct_guard(settings, -1.0)


def test_the_third_judge_scores_every_row_restored_ones_too_and_changes_no_key(tmp_path, monkeypatch) -> None:
    record = tiny_run(tmp_path)
    check_record(record)
    judged = record["stages"]["judges"]
    assert set(judged) == {"book", "vader", "afinn"} and judged["afinn"]["key"] == AfinnJudge().key
    assert 0 <= judged["afinn"]["accuracy"] <= 1 and judged["afinn"]["n_test"] == judged["vader"]["n_test"]
    assert record["versions"]["afinn"] == AfinnJudge().key
    for row in record["settings"]:
        assert {"reward_afinn", "reward_afinn_low", "reward_afinn_high", "distinct_guard"} <= set(row)
        if row["method"] != "reference":
            assert {"win_rate_afinn", "win_afinn_low", "win_afinn_high", "win_afinn_boot_low"} <= set(row)
    assert all(row["distinct_guard"] for row in record["settings"] if row["method"] == "reference")
    generations = read_generations(tmp_path / "out")
    judge = AfinnJudge()
    assert [g["reward_afinn"] for g in generations] == judge.positivity([g["text"] for g in generations]).tolist()
    frame = frontier_frame(record, "test")
    assert {"win_rate_afinn", "reward_afinn", "distinct_guard"} <= set(win_rate_table(frame).columns)

    # without the third judge: the same run keys, every chunk a cache hit, no AFINN column
    def no_decoding(self, run, *args, **kwargs):
        pytest.fail(f"decoded {run.label} again")

    monkeypatch.setattr(frontier.Context, "decode_chunk", no_decoding)
    monkeypatch.setattr(assembly, "TEXT_JUDGES", {})
    without = tiny_run(tmp_path)
    keys = [(r["method"], r["setting"], r["split"], r["key"]) for r in record["settings"]]
    assert [(r["method"], r["setting"], r["split"], r["key"]) for r in without["settings"]] == keys
    assert not any("reward_afinn" in r for r in without["settings"]) and "afinn" not in without["stages"]["judges"]
    assert "win_rate_afinn" not in win_rate_table(frontier_frame(without, "test")).columns

    # a lost cache, a record written without the third judge: restored, not decoded, and scored by AFINN again
    shutil.rmtree(tmp_path / "cache" / "imdb_frontier" / "chunk")
    monkeypatch.setattr(assembly, "TEXT_JUDGES", {"afinn": AfinnJudge})
    restored = tiny_run(tmp_path)
    assert restored["settings"] == record["settings"]
