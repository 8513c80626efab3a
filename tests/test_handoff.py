"""Hand-offs between notebooks (core/handoff.py, baselines/suite.py) and the one results-folder lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coala_lib.baselines.suite import BaselineSuite, hand_off_baselines, handed_off_baselines
from coala_lib.baselines.trl_training import BaselineConfig
from coala_lib.core import files
from coala_lib.core.cache import CacheError
from coala_lib.core.files import RESULTS_DIR_ENV, results_dir
from coala_lib.core.handoff import handoff_path, read_handoff, write_handoff

SELECTION = {"model": "tiny", "dataset": "imdb", "n_pairs": 40, "n_eval": 6, "seed": 0}


def test_handoff_round_trip_is_keyed_by_the_selection(tmp_path: Path) -> None:
    assert read_handoff("03_train", SELECTION, tmp_path) is None
    write_handoff("03_train", SELECTION, {"P": 3, "path": Path("x")}, tmp_path)
    assert read_handoff("03_train", SELECTION, tmp_path) == {"P": 3, "path": "x"}
    assert read_handoff("03_train", {**SELECTION, "seed": 1}, tmp_path) is None
    assert read_handoff("05_baselines", SELECTION, tmp_path) is None


def test_a_handoff_of_another_selection_is_refused(tmp_path: Path) -> None:
    path = write_handoff("03_train", SELECTION, {"P": 3}, tmp_path)
    payload = json.loads((path / "settings.json").read_text())
    payload["settings"]["P"] = 30  # hand-edited (or a flipped byte): the hash no longer matches
    (path / "settings.json").write_text(json.dumps(payload))
    with pytest.raises(CacheError, match="re-run the notebook that writes hand-off '03_train'") as err:
        read_handoff("03_train", SELECTION, tmp_path)
    assert str(path) in str(err.value)
    write_handoff("03_train", SELECTION, {"P": 4}, tmp_path)  # re-running the notebook replaces it
    assert read_handoff("03_train", SELECTION, tmp_path) == {"P": 4}
    with pytest.raises(ValueError, match="file-name part"):
        handoff_path("a/b", SELECTION, tmp_path)


def test_baseline_suite_options_and_handoff(tmp_path: Path) -> None:
    suite = BaselineSuite.select({"n_train": None, "max_length": 128, "grids": {"dpo": {"beta": [0.1]}}}, seed=3)
    assert suite.n_train is None and suite.grids == {"dpo": {"beta": [0.1]}}
    assert suite.config == BaselineConfig(max_length=128, seed=3)
    with pytest.raises(TypeError, match="max_len"):
        BaselineSuite.select({"max_len": 128})
    default, source = handed_off_baselines(SELECTION, tmp_path)
    assert default == BaselineSuite.select(seed=0) and "no hand-off" in source
    hand_off_baselines(suite, SELECTION, tmp_path)
    assert handed_off_baselines(SELECTION, tmp_path) == (suite, "notebook 05's hand-off")


def test_results_dir_explicit_env_checkout_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path / "env"))
    assert results_dir(tmp_path / "given") == tmp_path / "given"
    assert results_dir() == tmp_path / "env"
    monkeypatch.delenv(RESULTS_DIR_ENV)
    assert results_dir(search=False) is None  # writers write only where told
    checkout = tmp_path / "checkout"
    (checkout / "coala_lib").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "book" / "executed").mkdir(parents=True)
    for where in (checkout, checkout / "book" / "executed"):  # the root and where the book's notebooks run
        monkeypatch.chdir(where)
        assert results_dir() == checkout / "results"
    # outside any checkout: this test's own checkout when coala_lib is imported from one (editable install)
    monkeypatch.chdir(tmp_path)
    root = Path(files.__file__).resolve().parents[2]
    installed_from_checkout = (root / "pyproject.toml").is_file() and (root / "coala_lib").is_dir()
    assert results_dir() == (root / "results" if installed_from_checkout else None)  # None: pip-installed


def test_results_file_names_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RESULTS_DIR_ENV, str(tmp_path))
    (tmp_path / "bench_x.json").write_text("{}")
    assert files.results_file("bench_x.json") == tmp_path / "bench_x.json"
    with pytest.raises(FileNotFoundError, match=rf"no bench_y\.json in {tmp_path}; set {RESULTS_DIR_ENV}"):
        files.results_file("bench_y.json")
