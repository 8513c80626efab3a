"""Ledger records are written only where asked, read back intact, and rows carry valid verdicts."""

from pathlib import Path

import pytest

from coala_lib.claims import ledger
from coala_lib.core.files import RESULTS_DIR_ENV
from coala_lib.head.config import HeadConfig


def test_record_writes_nothing_without_a_results_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESULTS_DIR_ENV, raising=False)
    assert ledger.record("03_train", {"acc": 0.9}, {"n": 1}) is None


def test_record_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path))
    path = ledger.record("03_train", {"acc": 0.9}, {"n": 1})
    assert path == tmp_path / "claims" / "03_train.json"
    records = ledger.load_records(tmp_path)
    assert records["03_train"]["values"] == {"acc": 0.9}
    assert records["03_train"]["params"] == {"n": 1}
    assert records["03_train"]["environment"]["device"] in {"cpu", "cuda"}


def test_record_writes_a_config_as_its_fields(tmp_path: Path) -> None:
    config = HeadConfig(n_pairs=7, P=3)
    ledger.record("03_train", {"acc": 0.9}, {"head": config, "extra": 1}, tmp_path)
    params = ledger.load_records(tmp_path)["03_train"]["params"]
    assert HeadConfig.from_dict(params["head"]) == config and params["extra"] == 1


def _verdict_accuracy(records: dict) -> tuple[str, str, str]:
    if "03_train" not in records:
        return "-", "not testable here", "notebook 03 has not run"
    acc = records["03_train"]["values"]["acc"]
    return f"{acc:.2f}", "holds" if acc > 0.5 else "does not hold at our scale", ""


def test_ledger_rows_follow_the_records(tmp_path: Path) -> None:
    claim = ledger.Claim("acc", "the head beats chance", "> 50 %", "03_train", _verdict_accuracy)
    assert ledger.ledger_rows([claim], {})[0]["verdict"] == "not testable here"
    ledger.record("03_train", {"acc": 0.9}, {}, directory=tmp_path)
    row = ledger.ledger_rows([claim], ledger.load_records(tmp_path))[0]
    assert row["ours"] == "0.90" and row["verdict"] == "holds" and row["hardware"] != "-"


def test_unknown_verdicts_are_rejected() -> None:
    claim = ledger.Claim("x", "s", "p", "nb", lambda records: ("1", "probably", ""))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="verdict 'probably'"):
        ledger.ledger_rows([claim], {})


def test_hardware_names_the_cpu_model_and_cores_or_the_gpu() -> None:
    assert ledger.hardware_text(None) == "-"
    old = {"device": "cpu", "device_name": "x86_64", "cpu_count": 2, "torch_threads": 1}
    assert ledger.hardware_text(old) == "x86_64 CPU (model not recorded), 2 cores, 1 torch threads"
    new = {**old, "cpu_model": "Intel(R) Xeon(R) Processor"}
    assert ledger.hardware_text(new) == "Intel(R) Xeon(R) Processor, 2 cores, 1 torch threads"
    gpu = {**new, "device": "cuda", "device_name": "NVIDIA H200"}
    assert ledger.hardware_text(gpu).startswith("GPU NVIDIA H200 (host: Intel(R) Xeon(R) Processor, 2 cores")


def test_environment_records_the_cpu_model() -> None:
    from coala_lib.core.files import cpu_model, environment_record

    assert environment_record()["cpu_model"] == cpu_model()
    if Path("/proc/cpuinfo").is_file() and "model name" in Path("/proc/cpuinfo").read_text():
        assert cpu_model()


def _frontier_record() -> dict:
    row = lambda rate, low, high: {"win_rate": rate, "win_low": low, "win_high": high, "n": 512}  # noqa: E731
    return {
        "command": "bench/imdb_frontier.py --threads 1",
        "environment": {"device": "cpu", "device_name": "x86_64", "cpu_count": 16, "cpu_model": "AMD EPYC 9654"},
        "train_pairs": 1000,
        "lambda_selection": {"split": "validation", "judge": "sentiment", "chosen": 4.0},
        "win_rates": {
            "coala": row(0.61, 0.57, 0.65),
            "dpo": row(0.99, 0.98, 1.0),
            "sft": row(0.61, 0.57, 0.65),
            "pool": row(0.6, 0.56, 0.64),
        },
    }


def test_a_row_names_the_record_its_numbers_come_from() -> None:
    """The win-rate claim reads the IMDb frontier record when there is one: its row's command, record and
    hardware are the frontier bench's, not notebook 06's."""
    from coala_lib.claims import CLAIMS, ledger_table

    notebook_06 = {
        "notebook": "06_evaluation",
        "values": {"coala_vs": {"judge": {"dpo": {"rate": 0.6, "low": 0.55, "high": 0.65}}}},
        "params": {"model": "smollm2"},
        "environment": {"device": "cpu", "device_name": "x86_64", "cpu_count": 2},
    }
    win = next(i for i, c in enumerate(CLAIMS) if c.key == "win_rates")
    only_06 = ledger_table({"06_evaluation": notebook_06}).iloc[win]
    assert only_06["source"] == "06_evaluation" and only_06["record"] == "results/claims/06_evaluation.json"
    assert only_06["command"] == "papermill notebooks/06_evaluation.ipynb out.ipynb -p model smollm2"
    both = ledger_table({"06_evaluation": notebook_06, "imdb_frontier": _frontier_record()}).iloc[win]
    assert both["source"] == "imdb_frontier" and both["record"] == "results/imdb_frontier/record.json"
    assert both["command"] == "python bench/imdb_frontier.py --threads 1"
    assert both["hardware"] == "AMD EPYC 9654, 16 cores"
    nothing = ledger_table({}).iloc[win]
    assert nothing["record"] == "none yet: run the command" and nothing["hardware"] == "-"
