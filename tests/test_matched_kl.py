"""Comparisons on the reward-KL frontier at the same KL: the interpolation of a rival's win rate between its
settings, its prompt bootstrap, the not-covered case, the KL-budget rule, the chapter's tables, and the
claims ledger's win-rate rule deciding at COALA's KL with the same caveats whichever verdict it returns.

Records and generations are built by hand in the layout bench/imdb_frontier.py writes, small enough to
compute every number by hand."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coala_lib.chapters.frontier import budget_table, matched_kl_table
from coala_lib.claims.ledger import FRONTIER_GENERATIONS, FRONTIER_PROMPTS, FRONTIER_RECORD, load_all_records
from coala_lib.claims.verdicts import matched_kl_comparisons, verdict_win_rates
from coala_lib.core.files import atomic_write_json
from coala_lib.data import write_jsonl_gz
from coala_lib.evaluation.frontier import (
    interpolate_at_kl,
    interpolated_win_rate,
    matched_kl_difference,
    prompt_view,
    select_within_budget,
)

P = 8  # prompts


def flat(kl: float, win: float, n: int = P) -> dict[str, list[float]]:
    """One setting's per-prompt numbers, the same on every prompt: every resample gives the same means."""
    return {"kl": [kl] * n, "win": [win] * n}


def noisy(kl: float, win: float, spread: float, seed: int, n: int = 64) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    wins = np.clip(win + rng.uniform(-spread, spread, n), 0, 1)
    wins += win - wins.mean()  # the mean is exactly win
    return {"kl": list(kl + rng.uniform(-0.5, 0.5, n) - 0.0), "win": list(wins)}


# ------------------------------------------------------------------------------------ interpolation


def test_interpolation_by_hand() -> None:
    assert interpolate_at_kl([10.0, 30.0], [0.6, 0.8], 20.0) == pytest.approx(0.7)
    assert interpolate_at_kl([30.0, 10.0], [0.8, 0.6], 20.0) == pytest.approx(0.7)  # any order of settings
    assert interpolate_at_kl([10.0, 30.0, 50.0], [0.6, 0.8, 0.7], 40.0) == pytest.approx(0.75)
    assert interpolate_at_kl([10.0, 30.0], [0.6, 0.8], 10.0) == pytest.approx(0.6)  # an end is covered
    assert interpolate_at_kl([10.0, 30.0], [0.6, 0.8], 9.99) is None  # no extrapolation, below or above
    assert interpolate_at_kl([10.0, 30.0], [0.6, 0.8], 30.01) is None
    assert interpolate_at_kl([12.0], [0.6], 20.0) is None  # one setting covers only its own KL
    with pytest.raises(ValueError, match="kls and rates"):
        interpolate_at_kl([10.0, 30.0], [0.6], 20.0)


def test_interpolated_win_rate_and_its_bootstrap() -> None:
    rival = {"beta=0.1": flat(10.0, 0.6), "beta=0.01": flat(30.0, 0.8)}
    got = interpolated_win_rate(rival, 20.0, n_boot=200)
    assert got["covered"] and got["win_rate"] == pytest.approx(0.7)
    assert got["low"] == pytest.approx(0.7) and got["high"] == pytest.approx(0.7)  # no prompt varies
    assert (got["below"], got["above"]) == ("beta=0.1", "beta=0.01")
    assert (got["kl_min"], got["kl_max"], got["covered_draws"]) == (10.0, 30.0, 1.0)
    spread = interpolated_win_rate(
        {"a": noisy(10.0, 0.6, 0.3, seed=1), "b": noisy(30.0, 0.8, 0.2, seed=2)}, 20.0, n_boot=300
    )
    assert spread["low"] < spread["win_rate"] < spread["high"]
    assert spread["win_rate"] == pytest.approx(interpolate_at_kl(list(spread["settings"].values()), [0.6, 0.8], 20.0))


def test_not_covered_is_said_never_extrapolated() -> None:
    rival = {"beta=0.1": flat(10.0, 0.6), "beta=0.01": flat(30.0, 0.8)}
    got = interpolated_win_rate(rival, 40.0, n_boot=50)
    assert not got["covered"] and got["win_rate"] is None and got["low"] is None and got["high"] is None
    assert (got["below"], got["above"]) == ("beta=0.01", None)
    diff = matched_kl_difference(flat(40.0, 0.9), rival, n_boot=50)
    assert not diff["covered"] and diff["difference"] is None and diff["low"] is None
    assert diff["coala_win_rate"] == pytest.approx(0.9) and diff["covered_draws"] == 0.0


def test_matched_difference_by_hand() -> None:
    rival = {"beta=0.1": flat(10.0, 0.6), "beta=0.01": flat(30.0, 0.8)}
    got = matched_kl_difference(flat(20.0, 0.75), rival, n_boot=100)
    assert got["covered"] and got["rival_win_rate"] == pytest.approx(0.7)
    assert got["difference"] == pytest.approx(0.05) and got["low"] == pytest.approx(0.05)
    # COALA's KL is resampled with its win rate: a draw that moves COALA's KL moves the rival's rate with it
    coala = {"kl": [15.0, 25.0] * (P // 2), "win": [0.7, 0.8] * (P // 2)}
    got = matched_kl_difference(coala, rival, n_boot=400)
    assert got["coala_kl"] == 20.0 and got["difference"] == pytest.approx(0.05)
    assert got["low"] == pytest.approx(0.05) and got["high"] == pytest.approx(0.05)  # 0.75 - 0.7 on every draw
    with pytest.raises(ValueError, match="same prompts"):
        matched_kl_difference(flat(20.0, 0.75, n=3), rival)


# ------------------------------------------------------------------------------------- generations


def generation(method: str, setting: str, prompt: int, sample: int, kl: float, reward: float) -> dict[str, Any]:
    return {
        "method": method,
        "setting": setting,
        "split": "test",
        "prompt_id": prompt,
        "sample": sample,
        "prompt": f"prompt {prompt}",
        "text": "a fine film",
        "kl_rb": kl,
        "kl_mc": kl,
        "logp_ref": -10.0,
        "tokens": 4.0,
        "reward_book": reward,
    }


def generations_for(settings: dict[tuple[str, str], tuple[float, list[float]]]) -> list[dict[str, Any]]:
    """Two prompts x two samples; the reference scores 0.5 on each; ``settings``: (method, setting) ->
    (KL of every sample, the four rewards in prompt-major order)."""
    lines = [generation("reference", "T=1", p, s, 0.0, 0.5) for p in range(2) for s in range(2)]
    for (method, setting), (kl, rewards) in settings.items():
        lines += [generation(method, setting, i // 2, i % 2, kl, r) for i, r in enumerate(rewards)]
    return lines


def test_prompt_view_means_per_prompt_against_the_reference() -> None:
    view = prompt_view(generations_for({("dpo", "beta=0.1"): (3.0, [0.9, 0.5, 0.1, 0.1])}))
    assert set(view) == {"dpo"}
    assert view["dpo"]["beta=0.1"] == {"kl": [3.0, 3.0], "win": [0.75, 0.0]}  # a tie is one half
    lines = generations_for({("dpo", "beta=0.1"): (3.0, [0.9, 0.5, 0.1, 0.1])})[:-1]
    with pytest.raises(ValueError, match=r"dpo\[beta=0.1\].*other prompts"):
        prompt_view(lines)


# ------------------------------------------------------------------------------------------ budgets


def row(method: str, setting: str, split: str, kl: float, win: float, perplexity: float = 20.0) -> dict[str, Any]:
    out = {
        "method": method,
        "setting": setting,
        "split": split,
        "kl_kind": "estimate",
        "kl_rb": kl,
        "perplexity": perplexity,
        "win_rate": win,
    }
    if method != "reference":
        out |= {"win_boot_low": win - 0.04, "win_boot_high": win + 0.04}
    return out


def test_select_within_budget() -> None:
    rows = [row("dpo", "a", "validation", 5.0, 0.6), row("dpo", "b", "validation", 15.0, 0.8)]
    rows.append(row("dpo", "c", "validation", 25.0, 0.9, perplexity=80.0))  # not fluent: 80 > 2 x 20
    pick = lambda budget: select_within_budget(rows, 20.0, budget)  # noqa: E731
    assert pick(10.0)["setting"] == "a" and pick(20.0)["setting"] == "b" and pick(15.0)["setting"] == "b"
    assert pick(40.0)["setting"] == "b"  # c is within the budget but fails the fluency guard
    assert pick(4.0) is None  # no setting meets the budget
    assert select_within_budget(rows[2:], 20.0, 40.0) is None  # the only one within it is not fluent
    with pytest.raises(ValueError, match="budget"):
        pick(-1.0)


def frontier_record(coala: float = 0.75, coala_kl: float = 20.0) -> dict[str, Any]:
    """A complete frontier record: reference, COALA paper mode (one setting), pool, DPO at KL 10 and 30 (win
    0.6, 0.8; the headline is the larger), SFT at KL 9 (0.7), with the head's report and its control."""
    settings = [row("reference", "T=1", split, 0.0, 0.5) for split in ("validation", "test")]
    table = {
        ("coala_paper", "lambda=4"): (coala_kl, coala),
        ("pool", "top-k=50"): (18.0, 0.72),
        ("dpo", "beta=0.1"): (10.0, 0.6),
        ("dpo", "beta=0.01"): (30.0, 0.8),
        ("sft", "chosen"): (9.0, 0.7),
    }
    for (method, setting), (kl, win) in table.items():
        settings += [row(method, setting, split, kl, win) for split in ("validation", "test")]
    headline = {"coala_paper": "lambda=4", "pool": "top-k=50", "dpo": "beta=0.01", "sft": "chosen"}

    def rate(method: str) -> dict[str, Any]:
        win = table[(method, headline[method])][1]
        return {"win_rate": win, "win_low": win - 0.04, "win_high": win + 0.04, "n": 2 * P, "setting": headline[method]}

    def paired(method: str, width: float = 0.02) -> dict[str, Any]:
        d = coala - table[(method, headline[method])][1]
        return {"difference": d, "low": d - width, "high": d + width, "n_prompts": P, "setting": headline[method]}

    return {
        "config": {"model": "smollm2", "n_test_prompts": P, "samples": 2, "perplexity_guard": 2.0, "n_boot": 200},
        "settings": settings,
        "selection": {m: {"setting": s} for m, s in headline.items()},
        "stages": {
            "head": {
                "report": {
                    "config": {"n_eval": 128},
                    "phase1": {"eval": {"pairwise": 0.555}},
                    "phase2": {"eval_pairwise": 0.5625},
                }
            }
        },
        "head_controls": {"coala_paper": {**paired("pool", 0.05), "control": "pool"}},
        "win_rates": {"coala": rate("coala_paper"), "pool": rate("pool"), "dpo": rate("dpo"), "sft": rate("sft")},
        "paired_differences": {"dpo": paired("dpo"), "sft": paired("sft"), "pool": paired("pool")},
        "train_pairs": 1000,
        "lambda_selection": {"split": "validation", "judge": "book", "chosen": "lambda=4"},
    }


def prompts_of(record: dict[str, Any]) -> dict[str, Any]:
    """The per-prompt view of a record whose every prompt scores its setting's mean (no prompt varies)."""
    view: dict[str, dict[str, Any]] = {}
    for r in record["settings"]:
        if r["split"] == "test" and r["method"] != "reference":
            view.setdefault(r["method"], {})[r["setting"]] = flat(r["kl_rb"], r["win_rate"])
    return {"split": "test", "judge": "book", "settings": view}


def test_budget_table() -> None:
    table = budget_table(frontier_record(), budgets=(8.0, 20.0, 40.0)).set_index(["budget", "method"])
    assert table.loc[(8.0, "dpo"), "setting"] == "" and "no setting within 8 nats" in table.loc[(8.0, "dpo"), "note"]
    assert table.loc[(20.0, "dpo"), "setting"] == "beta=0.1" and table.loc[(20.0, "dpo"), "test win rate"] == 0.6
    assert table.loc[(40.0, "dpo"), "setting"] == "beta=0.01" and table.loc[(40.0, "dpo"), "low"] == pytest.approx(0.76)
    assert table.loc[(20.0, "coala_paper"), "setting"] == "lambda=4"
    assert table.loc[(8.0, "sft"), "setting"] == "" and table.loc[(20.0, "sft"), "setting"] == "chosen"


def test_matched_kl_table_from_generations() -> None:
    record = frontier_record()
    # per sample: COALA wins 3 of 4 at KL 20; DPO wins 2 of 4 at KL 10 and all 4 at KL 30; SFT 2 of 4 at KL 9
    lines = generations_for(
        {
            ("coala_paper", "lambda=4"): (20.0, [0.9, 0.9, 0.9, 0.1]),
            ("pool", "top-k=50"): (18.0, [0.9, 0.1, 0.9, 0.1]),
            ("dpo", "beta=0.1"): (10.0, [0.9, 0.1, 0.9, 0.1]),
            ("dpo", "beta=0.01"): (30.0, [0.9, 0.9, 0.9, 0.9]),
            ("sft", "chosen"): (9.0, [0.9, 0.1, 0.1, 0.9]),
        }
    )
    table = matched_kl_table(record, lines, rivals=["dpo", "sft"]).set_index("rival")
    assert table.loc["dpo", "rival at COALA's KL"] == pytest.approx(0.75)  # halfway from 0.5 to 1
    assert (
        table.loc["dpo", "difference"] == pytest.approx(0.0) and table.loc["dpo", "between"] == "beta=0.1 .. beta=0.01"
    )
    assert table.loc["sft", "against 0"].startswith("not covered: sft's settings span 9 nats")


# ------------------------------------------------------------------------------------------- ledger

CAVEATS = (
    "held-out pairwise accuracy: Phase II 0.5625, Phase I 0.555 on 128 pairs",
    "paper mode minus pool",
    "SmolLM2-135M",
    "1000 training pairs",
    f"{P} test prompts",
    "KL matched at COALA's 20 nats for dpo",
    "KL not matched for sft",
)


@pytest.mark.parametrize(
    ("coala", "verdict"),
    [(0.75, "inconclusive"), (0.65, "does not hold at our scale"), (0.71, "inconclusive")],
)
def test_the_rule_decides_dpo_at_coalas_kl(coala: float, verdict: str) -> None:
    record = frontier_record(coala)
    ours, got, note = verdict_win_rates({"imdb_frontier": record, FRONTIER_PROMPTS: prompts_of(record)})
    # DPO interpolated at KL 20 wins 0.7; its headline (0.8 at KL 30) stays beside it in the text
    assert got == verdict, note
    assert f"COALA minus dpo {coala - 0.7:+.3g}" in ours and "dpo: 0.8" in ours and "at KL 30" in ours
    assert "whatever its KL" in ours
    for caveat in CAVEATS:
        assert caveat in note, caveat


def test_matched_kl_turns_a_loss_at_the_maximum_into_a_win() -> None:
    record = frontier_record(0.75)
    sft = [r for r in record["settings"] if r["method"] == "sft"]
    for r in sft:  # SFT below COALA at more KL: COALA dominates it
        r["kl_rb"], r["win_rate"] = 25.0, 0.7
    prompts = prompts_of(record)
    # at the headlines DPO (0.8 at KL 30) is ahead: without KL (the minimal form) that decides against COALA;
    # at COALA's KL DPO wins 0.7 < 0.75, COALA ahead
    minimal = {k: v for k, v in record.items() if k not in ("settings", "stages", "config", "head_controls")}
    assert verdict_win_rates({"imdb_frontier": minimal})[1] == "does not hold at our scale"
    assert verdict_win_rates({"imdb_frontier": record})[1] == "inconclusive"  # behind a rival at more KL: no loss
    _ours, verdict, note = verdict_win_rates({"imdb_frontier": record, FRONTIER_PROMPTS: prompts})
    assert verdict == "holds", note
    found = matched_kl_comparisons(record, prompts, ["dpo", "sft"])
    assert found["dpo"]["difference"] == pytest.approx(0.05) and not found["sft"]["covered"]
    assert "COALA ahead at no more KL" in note


def test_ahead_only_at_more_kl_is_no_win() -> None:
    record = frontier_record(0.75)
    prompts = prompts_of(record)
    _ours, verdict, note = verdict_win_rates({"imdb_frontier": record, FRONTIER_PROMPTS: prompts})
    assert verdict == "inconclusive"  # SFT: 0.7 at KL 9 against COALA's 0.75 at KL 20
    assert "COALA ahead only by spending more KL: no win" in note


@pytest.mark.parametrize(
    "coala",
    [0.9, 0.5, 0.72],  # COALA ahead of everything at matched KL and by dominance; behind; not separated
)
def test_caveats_in_every_branch(coala: float) -> None:
    record = frontier_record(coala, coala_kl=8.0 if coala == 0.9 else 20.0)
    for r in record["settings"]:
        if r["method"] == "dpo" and r["setting"] == "beta=0.1":
            r["kl_rb"] = 5.0  # DPO spans COALA's KL in every case: at KL 20 it wins 0.6 + 15/25 x 0.2 = 0.72
    prompts = prompts_of(record)
    if coala == 0.72:  # COALA's prompts vary about 0.72: not separated from DPO's 0.72
        prompts["settings"]["coala_paper"]["lambda=4"]["win"] = [0.52, 0.92] * (P // 2)
    ours, verdict, note = verdict_win_rates({"imdb_frontier": record, FRONTIER_PROMPTS: prompts})
    expected = {0.9: "holds", 0.5: "does not hold at our scale", 0.72: "inconclusive"}[coala]
    assert verdict == expected, note
    for caveat in CAVEATS[:5]:
        assert caveat in note, (verdict, caveat)
    assert "KL matched at COALA's" in note and "for dpo" in note
    assert ours.startswith("at COALA's KL") and "whatever its KL" in ours  # both comparisons, side by side
    # the minimal form (no settings, no head report): the same items, said as missing
    minimal = copy.deepcopy(record)
    for key in ("settings", "stages", "config", "head_controls"):
        del minimal[key]
    _ours, verdict, note = verdict_win_rates({"imdb_frontier": minimal})
    for caveat in ("held-out pairwise accuracy is not in the record", "paper mode minus pool", "1000 training pairs"):
        assert caveat in note, (verdict, caveat)
    assert "KL not matched" in note


def test_load_all_records_reads_the_generations(tmp_path) -> None:
    record = frontier_record(0.75)
    lines = generations_for(
        {
            ("coala_paper", "lambda=4"): (20.0, [0.9, 0.9, 0.9, 0.1]),
            ("dpo", "beta=0.1"): (10.0, [0.9, 0.1, 0.9, 0.1]),
            ("dpo", "beta=0.01"): (30.0, [0.9, 0.9, 0.9, 0.9]),
        }
    )
    atomic_write_json(tmp_path / FRONTIER_RECORD, record)
    assert FRONTIER_PROMPTS not in load_all_records(tmp_path)
    write_jsonl_gz(tmp_path / FRONTIER_GENERATIONS, lines)
    records = load_all_records(tmp_path)
    assert records[FRONTIER_PROMPTS]["settings"]["dpo"]["beta=0.01"]["win"] == [1.0, 1.0]
    found = matched_kl_comparisons(records["imdb_frontier"], records[FRONTIER_PROMPTS], ["dpo"])
    assert found["dpo"]["rival_win_rate"] == pytest.approx(0.75) and found["dpo"]["difference"] == pytest.approx(0.0)


def test_the_committed_record_at_matched_kl() -> None:
    """The committed frontier (results/imdb_frontier): DPO's three betas span COALA paper mode's 20.8 nats and
    win more there; ORPO's and SFT's single settings (11.7, 9.7 nats) do not span it."""
    records = load_all_records(Path(__file__).resolve().parents[1] / "results")
    if FRONTIER_PROMPTS not in records:
        pytest.skip("no committed frontier generations")
    found = matched_kl_comparisons(records["imdb_frontier"], records[FRONTIER_PROMPTS])
    assert set(found) == {"dpo", "orpo", "sft"}  # SimPO: no setting passes the fluency guard
    assert found["dpo"]["covered"] and found["dpo"]["high"] < 0
    assert not found["orpo"]["covered"] and not found["sft"]["covered"]
    ours, verdict, note = verdict_win_rates(records)
    assert verdict == "does not hold at our scale" and "KL matched at COALA's 20.8 nats for dpo" in note
    assert "0.5625" in note and "paper mode minus pool" in note and "whatever its KL" in ours
