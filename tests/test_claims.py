"""The claims' verdict rules: "not testable here" without records, a verdict from records shaped like the
notebooks' (built here, not read from results/), and a verdict that flips when the numbers flip."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from coala_lib.claims.ledger import VERDICTS, ledger_rows
from coala_lib.claims.verdicts import CLAIMS, curve_stats, round_sig

ENV = {"device": "cpu", "device_name": "x86_64"}


def _rec(values: dict[str, Any]) -> dict[str, Any]:
    return {"values": values, "params": {}, "environment": ENV}


def good_records() -> dict[str, dict[str, Any]]:
    """Records in the layout the notebooks' last cells and bench/efficiency.py write, numbers favourable."""
    rising = curve_stats([0.50, 0.52, 0.55, 0.57, 0.60])
    noisy = curve_stats([0.1, 0.5, -0.2, 0.4, 0.0])
    wins = {"rate": 0.8, "low": 0.6, "high": 0.9}
    return {
        "00_datasets": _rec({"dialogues": 10, "assistant_replies": 30, "triplets": 28, "triplets_wrap": 30}),
        "01_convex_reformulation": _rec({"convex_optimum": 0.5, "adam_min": 0.52, "adam_max": 0.7}),
        "02_cronos_solver": _rec(
            {
                "cronos_gap": {"rho = 0.001": 1e-5, "rho = 0.01": 2e-5},
                "cronos_accuracy": 0.85,
                "adamw_accuracy": 0.75,
                "n_test": 400,
            }
        ),
        "03_train": _rec(
            {
                "cronos_accuracy": 0.9,
                "adamw_accuracy": 0.8,
                "n_test": 200,
                "phase2_grad_norm": 1e-12,
                "margin_curve": rising,
            }
        ),
        "05_baselines": _rec({"margin_curves": {"dpo(beta=0.1)": noisy}}),
        "06_evaluation": _rec(
            {"coala_vs": {"sentiment": {"dpo": wins, "orpo": wins, "sft": wins}}, "survey_items": 16}
        ),
        "bench_efficiency_cpu": {
            "environment": ENV,
            "stages": [{"stage": "phase1", "flops": 10}],
            "summary": {"meta_counted": [{"shape": "llama8b", "sequences": 8, "extraction": 18, "lora_dpo": 100}]},
        },
        "bench_efficiency_cuda_llama8b": {
            "environment": {"device": "cuda", "device_name": "NVIDIA H100"},
            "parameters": {"shape": "llama8b"},
            "summary": {"coala": {"peak_memory_bytes": 17e9}},
        },
    }


def flipped(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same records with every number on the other side of its claim."""
    r = copy.deepcopy(records)
    r["00_datasets"]["values"].update(triplets=5, triplets_wrap=8)
    r["01_convex_reformulation"]["values"]["adam_min"] = 0.4
    r["02_cronos_solver"]["values"].update(cronos_accuracy=0.6)
    r["03_train"]["values"].update(cronos_accuracy=0.7, margin_curve=curve_stats([0.6, 0.55, 0.5]))
    r["06_evaluation"]["values"]["coala_vs"]["sentiment"] = {
        k: {"rate": 0.2, "low": 0.1, "high": 0.4} for k in ("dpo", "orpo", "sft")
    }
    r["bench_efficiency_cpu"]["summary"]["meta_counted"][0]["extraction"] = 150
    r["bench_efficiency_cuda_llama8b"]["summary"]["coala"]["peak_memory_bytes"] = 40e9
    return r


def verdicts(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {c.key: c.rule(records)[1] for c in CLAIMS}


def test_every_claim_is_not_testable_without_records() -> None:
    for claim in CLAIMS:
        _ours, verdict, note = claim.rule({})
        assert verdict == "not testable here", claim.key
        assert note, f"{claim.key}: the reason must be given"


def test_favourable_records_hold() -> None:
    got = verdicts(good_records())
    assert got.pop("human_study") == "not testable here"  # no raters, whatever the records say
    assert got == dict.fromkeys(got, "holds")


def test_contradicting_records_do_not_hold() -> None:
    got = verdicts(flipped(good_records()))
    assert got.pop("human_study") == "not testable here"
    assert got == dict.fromkeys(got, "does not hold at our scale")


@pytest.mark.parametrize("records", [good_records(), flipped(good_records()), {}])
def test_ledger_rows_are_valid(records: dict[str, dict[str, Any]]) -> None:
    rows = ledger_rows(CLAIMS, records)
    assert len(rows) == len(CLAIMS) and all(r["verdict"] in VERDICTS for r in rows)


def test_partial_evidence_gives_caveats() -> None:
    r = good_records()
    del r["01_convex_reformulation"]  # optimality: 02 and 03 pass, 01 missing
    r["03_train"]["values"]["cronos_accuracy"] = 0.7  # head accuracy: 02 ahead, 03 behind
    r["00_datasets"]["values"]["triplets"] = 20  # APM: 0.67 per reply, 1.0 only with wrap-around
    got = verdicts(r)
    assert got["optimality"] == got["head_accuracy"] == got["apm"] == "holds with caveats"


def test_gpu_memory_needs_a_real_shape_on_cuda() -> None:
    r = good_records()
    r["bench_efficiency_cuda_llama8b"]["parameters"]["shape"] = "tiny"
    assert verdicts(r)["single_gpu"] == "not testable here"


def test_curve_stats() -> None:
    s = curve_stats([1.0, 3.0, 2.0, 4.0])
    assert (s["first"], s["last"], s["max_drop"], s["steps"]) == (1.0, 4.0, 1.0, 4)
    assert s["monotone_share"] == round_sig(2 / 3)
    with pytest.raises(ValueError, match="values"):
        curve_stats([1.0])


def test_round_sig() -> None:
    assert round_sig(123456.0) == 123500.0
    assert round_sig(0.000123456) == 0.0001235


def test_optimality_needs_one_penalty_that_reaches_the_optimum() -> None:
    records = good_records()
    records["02_cronos_solver"]["values"]["cronos_gap"] = {"rho = 0.001": 5e-4, "rho = 0.01": 5e-3}
    assert verdicts(records)["optimality"] == "holds"
    records["02_cronos_solver"]["values"]["cronos_gap"] = {"rho = 0.001": 2e-3, "rho = 0.01": 5e-3}
    assert verdicts(records)["optimality"] == "does not hold at our scale"
