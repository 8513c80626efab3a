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
