"""Atomic writes, content keys and the data/cache directory settings."""

import json
import os
from pathlib import Path

import pytest

from coala_lib.core import files


def test_atomic_write_leaves_no_partial_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    files.atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        files.atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_content_key_is_stable_and_sensitive() -> None:
    key = files.content_key("model", {"n": 3, "pooling": "mean"})
    assert key == files.content_key("model", {"pooling": "mean", "n": 3})
    assert key != files.content_key("model", {"n": 4, "pooling": "mean"})
    assert len(key) == 16


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(files.DATA_DIR_ENV, raising=False)
    assert files.data_dir() is None
    monkeypatch.setenv(files.DATA_DIR_ENV, str(tmp_path))
    assert files.data_dir() == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="data_dir"):
        files.data_dir(tmp_path / "missing")
    monkeypatch.setenv(files.DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=files.DATA_DIR_ENV):
        files.data_dir()


def test_cache_dir_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "c"))
    assert files.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_environment_record_names_the_device() -> None:
    record = files.environment_record()
    assert record["device"] in {"cpu", "cuda"} and record["torch"] and record["cpu_count"] == os.cpu_count()


def test_portable_paths_write_the_data_directory_as_its_variable(tmp_path, monkeypatch) -> None:
    from coala_lib.core.files import DATA_DIR_ENV, portable_paths

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    params = {"train": {"read": f"{tmp_path}/imdb-train.jsonl.gz", "n": 3}, "parts": [f"{tmp_path}/a.gz", "hub"]}
    assert portable_paths(params) == {
        "train": {"read": "<COALA_DATA_DIR>/imdb-train.jsonl.gz", "n": 3},
        "parts": ["<COALA_DATA_DIR>/a.gz", "hub"],
    }
    monkeypatch.delenv(DATA_DIR_ENV)
    assert portable_paths(params) == params
