"""Readers of committed records fail in one sentence naming the file (and the line), never raw or silently.

Every damaged copy is written into ``tmp_path`` from the committed ``results/`` files, which are only read:
the claims records (``results/claims/*.json``), the IMDb frontier record and its generations. Also here:
hand-offs whose settings contradict the selection they are filed under, the HH-RLHF conversations' report
of dropped rows, ``n=0`` and features too large for the solvers' factorisation.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from coala_lib.chapters.frontier import load_record, read_generations
from coala_lib.claims.ledger import (
    FRONTIER_GENERATIONS,
    FRONTIER_KEYS,
    FRONTIER_RECORD,
    FRONTIER_VIEW,
    load_all_records,
    load_records,
    read_frontier_generations,
)
from coala_lib.claims.verdicts import CLAIMS, ledger_table, verdict_win_rates
from coala_lib.convex.cronos import CronosConfig, fit_cronos
from coala_lib.core.cache import CacheError, publishing
from coala_lib.core.checks import feature_scale_limit, validate_features
from coala_lib.core.files import atomic_write_json
from coala_lib.core.handoff import KIND, SETTINGS, handoff_path, read_handoff, write_handoff
from coala_lib.core.records import RecordError, read_jsonl_records, read_record
from coala_lib.data import load_hh_conversations, load_triplets, write_jsonl_gz
from coala_lib.head.config import HeadConfig
from coala_lib.head.handoff import HANDOFF, handed_off_config

RESULTS = Path(__file__).resolve().parents[1] / "results"
CLAIM = "03_train"


def committed(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def committed_generations(count: int = 12) -> list[bytes]:
    with gzip.open(RESULTS / FRONTIER_GENERATIONS, "rb") as handle:
        return [handle.readline() for _ in range(count)]


def claims_copy(tmp_path: Path, text: str | bytes) -> Path:
    """``tmp_path/claims/03_train.json`` holding ``text``."""
    path = tmp_path / "claims" / f"{CLAIM}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def frontier_copy(tmp_path: Path, record: Any) -> Path:
    """``tmp_path/imdb_frontier/record.json`` holding ``record`` (text as is, else as JSON)."""
    path = tmp_path / FRONTIER_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record), encoding="utf-8")
    return path


def fails_naming(path: Path, reader: Any, *args: Any, match: str = "", **kwargs: Any) -> str:
    """Run ``reader(*args, **kwargs)``: a :class:`RecordError` (a ``ValueError``) whose one sentence names
    ``path``."""
    with pytest.raises(RecordError, match=match) as err:
        reader(*args, **kwargs)
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    return message


# ------------------------------------------------------------------------------------ committed files


def test_the_committed_records_still_read() -> None:
    records = load_all_records(RESULTS)
    assert {"03_train", "imdb_frontier", "bench_efficiency_cpu"} <= set(records)
    assert set(records["imdb_frontier"]) >= set(FRONTIER_KEYS) | set(FRONTIER_VIEW)
    assert len(ledger_table(records)) == len(CLAIMS)
    record = load_record(RESULTS / "imdb_frontier")
    assert record is not None and record["settings"]
    generations = read_generations(RESULTS / "imdb_frontier")
    assert len(generations) > 1000 and {"method", "text", "prompt_id"} <= set(generations[0])


def test_a_missing_file_is_still_no_record(tmp_path: Path) -> None:
    assert load_all_records(tmp_path) == {}
    assert load_record(tmp_path) is None and read_generations(tmp_path) == []


# ------------------------------------------------------------------------------------- claims records


def _claims_damage(kind: str) -> str:
    text = (RESULTS / "claims" / f"{CLAIM}.json").read_text(encoding="utf-8")
    record = json.loads(text)
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "empty":
        return ""
    if kind == "a list":
        return json.dumps([record])
    if kind == "values a string":
        return json.dumps({**record, "values": json.dumps(record["values"])})
    if kind == "a number a string":
        return json.dumps({**record, "values": {**record["values"], "n_test": "200"}})
    if kind == "a bool for a number":
        return json.dumps({**record, "values": {**record["values"], "cronos_accuracy": True}})
    if kind == "a curve's number a string":
        curve = {**record["values"]["margin_curve"], "last": "0.9"}
        return json.dumps({**record, "values": {**record["values"], "margin_curve": curve}})
    if kind == "values renamed":
        return json.dumps({**{k: v for k, v in record.items() if k != "values"}, "value": record["values"]})
    if kind == "another notebook":
        return json.dumps({**record, "notebook": "02_cronos_solver"})
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("truncated", "is not valid JSON"),
        ("empty", "is empty"),
        ("a list", "holds a list, not a JSON object"),
        ("values a string", "'values' must be an object, got"),
        ("a number a string", r"03_train.json: 'values.n_test' must be an integer, got \"200\" \(a string\)"),
        ("a bool for a number", r"'values.cronos_accuracy' must be an integer or a number, got true"),
        ("a curve's number a string", r"'values.margin_curve.last' must be an integer or a number, got \"0.9\""),
        ("values renamed", r"lacks the key \['values'\] \(it has \['value'\] instead"),
        ("another notebook", "is the record of notebook '02_cronos_solver'"),
    ],
)
def test_a_damaged_claims_record_names_the_file(tmp_path: Path, kind: str, match: str) -> None:
    path = claims_copy(tmp_path, _claims_damage(kind))
    message = fails_naming(path, load_all_records, tmp_path, match=match)
    assert f"rerun notebook {CLAIM}" in message
    fails_naming(path, load_records, tmp_path, match=match)


def test_nested_values_of_other_records_are_checked(tmp_path: Path) -> None:
    """Notebook 06's head-to-head rows and the GPU check's stages, whose numbers the rules compute with."""
    record = committed("claims/06_evaluation.json")
    judge = next(iter(record["values"]["coala_vs"]))
    base = next(iter(record["values"]["coala_vs"][judge]))
    record["values"]["coala_vs"][judge][base]["low"] = "0.4"
    path = tmp_path / "claims" / "06_evaluation.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    fails_naming(path, load_all_records, tmp_path, match=re.escape(f"'values.coala_vs.{judge}.{base}.low' must be"))
    path.unlink()
    gpu = tmp_path / "gpu_check.json"
    gpu.write_text(json.dumps({"stages": {"phase1": {"status": "ok", "peak_memory_bytes": "9e9"}}}))
    fails_naming(gpu, load_all_records, tmp_path, match="'stages.phase1.peak_memory_bytes' must be")


def test_bad_utf8_in_a_claims_record_names_the_file(tmp_path: Path) -> None:
    path = claims_copy(tmp_path, b'{"notebook": "03_train", "values": {"x": "\xff"}}')
    fails_naming(path, load_all_records, tmp_path, match="is not UTF-8")


# ----------------------------------------------------------------------------------- frontier record


def test_a_truncated_frontier_record_names_the_file(tmp_path: Path) -> None:
    text = (RESULTS / FRONTIER_RECORD).read_text(encoding="utf-8")
    path = frontier_copy(tmp_path, text[:-200])
    fails_naming(path, load_all_records, tmp_path, match="is not valid JSON")
    fails_naming(path, load_record, path.parent, match="is not valid JSON")
    path = frontier_copy(tmp_path, json.dumps([json.loads(text)]))
    fails_naming(path, load_all_records, tmp_path, match="holds a list")


@pytest.mark.parametrize("key", sorted(committed(str(FRONTIER_RECORD))))
def test_a_renamed_frontier_key_is_an_error_not_no_record(tmp_path: Path, key: str) -> None:
    """The ledger and notebook 09 read the record; no renamed key is read as a missing record (before, a
    renamed ``win_rates`` silently moved the win-rate verdict to notebook 06's record)."""
    record = committed(str(FRONTIER_RECORD))
    record[f"{key}_renamed"] = record.pop(key)
    path = frontier_copy(tmp_path, record)
    fails_naming(path, load_all_records, tmp_path, match=f"{key}_renamed|{key}")
    fails_naming(path, load_record, path.parent, match=key)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r["win_rates"]["coala"].update(win_rate="0.7"), r"'win_rates.coala.win_rate' must be a"),
        (lambda r: r["win_rates"].update(dpo=0.6), r"\(win_rates.dpo\) holds a number, not a JSON object"),
        (lambda r: r.update(compute={"coala": {}}), r"\(compute\) lacks the key \['dpo'\]"),
        (lambda r: r.update(win_rates=[1]), "'win_rates' must be an object"),
        (lambda r: r.update(train_pairs="1000"), "'train_pairs' must be an integer"),
        (lambda r: r.update(format=2), "format 2, a schema version this reader does not know"),
        (lambda r: r.pop("lambda_selection"), r"has \['win_rates', 'train_pairs'\] but lacks \['lambda_selection'\]"),
        (lambda r: r["paired_differences"]["dpo"].pop("low"), r"paired_differences.dpo\) lacks the key \['low'\]"),
        (lambda r: r.update(settings={}), "'settings' must be a list"),
    ],
)
def test_a_mistyped_frontier_record_names_the_file_and_the_key(tmp_path: Path, change: Any, match: str) -> None:
    record = committed(str(FRONTIER_RECORD))
    change(record)
    path = frontier_copy(tmp_path, record)
    fails_naming(path, load_all_records, tmp_path, match=match)
    fails_naming(path, load_record, path.parent, match=match)


def test_a_frontier_setting_row_that_is_not_an_object_names_the_file(tmp_path: Path) -> None:
    record = committed(str(FRONTIER_RECORD))
    record["settings"][3] = "reference"
    path = frontier_copy(tmp_path, record)
    fails_naming(path, load_record, path.parent, match=r"settings\[3\]\) holds a string")
    del record["settings"][3]
    record["settings"][0].pop("kl_kind")
    path = frontier_copy(tmp_path, record)
    fails_naming(path, load_record, path.parent, match=r"lacks \['kl_kind'\]")


def test_a_bench_record_without_win_rates_yet_still_reads(tmp_path: Path) -> None:
    """The bench writes the ledger's keys only once COALA and a trained rival have test results."""
    record = {k: v for k, v in committed(str(FRONTIER_RECORD)).items() if k not in (*FRONTIER_VIEW, "epochs")}
    record.pop("paired_differences")
    frontier_copy(tmp_path, record)
    records = load_all_records(tmp_path)
    assert "win_rates" not in records["imdb_frontier"]
    assert verdict_win_rates(records)[1] == "not testable here"
    assert load_record(tmp_path / "imdb_frontier") is not None


# -------------------------------------------------------------------------------------- generations


def write_generations(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / FRONTIER_GENERATIONS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return path


def generation_readers(path: Path) -> list[Any]:
    return [(read_generations, path.parent), (read_frontier_generations, path)]


def test_a_cut_generations_line_names_the_file_and_the_line(tmp_path: Path) -> None:
    lines = committed_generations()
    path = write_generations(tmp_path, [*lines[:-1], lines[-1][:40]])  # the last line cut mid-record
    for reader, arg in generation_readers(path):
        message = fails_naming(path, reader, arg, match=f"line {len(lines)} is not valid JSON")
        assert "cut short" in message


def test_a_bad_utf8_byte_names_the_file_and_the_line(tmp_path: Path) -> None:
    lines = committed_generations()
    lines[4] = lines[4].replace(b'"text": "', b'"text": "\xff', 1)
    path = write_generations(tmp_path, lines)
    for reader, arg in generation_readers(path):
        fails_naming(path, reader, arg, match="line 5 is not UTF-8")


def test_a_generations_line_without_a_field_names_the_line(tmp_path: Path) -> None:
    lines = committed_generations()
    row = json.loads(lines[6])
    del row["text"]
    lines[6] = json.dumps(row).encode("utf-8") + b"\n"
    path = write_generations(tmp_path, lines)
    for reader, arg in generation_readers(path):
        fails_naming(path, reader, arg, match=r"line 7 lacks the key \['text'\]")


def test_a_truncated_or_foreign_generations_file_names_the_file(tmp_path: Path) -> None:
    path = write_generations(tmp_path, committed_generations(200))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    for reader, arg in generation_readers(path):
        fails_naming(path, reader, arg, match="is damaged or cut short after line")
    path.write_bytes(b"".join(committed_generations(3)))  # not compressed
    for reader, arg in generation_readers(path):
        fails_naming(path, reader, arg, match="is not a gzip file")


def test_the_frontier_resumes_only_from_checked_files(tmp_path: Path) -> None:
    from coala_lib.experiments.frontier import read_saved

    out = tmp_path / "imdb_frontier"
    out.mkdir()
    shutil.copy(RESULTS / FRONTIER_RECORD, out / "record.json")
    lines = committed_generations()
    write_generations(tmp_path, lines)
    record, rows = read_saved(out)
    assert record["name"] == "imdb_frontier" and sum(len(r) for r in rows.values()) == len(lines)
    path = write_generations(tmp_path, [*lines[:-1], lines[-1][:40]])
    fails_naming(path, read_saved, out, match=f"line {len(lines)}")


def test_the_generic_readers(tmp_path: Path) -> None:
    plain = tmp_path / "rows.jsonl"
    plain.write_text('{"a": 1}\n\n[1]\n')
    fails_naming(plain, read_jsonl_records, plain, match="line 3 holds a list")
    record = tmp_path / "r.json"
    record.write_text('{"format": 3, "a": true}')
    fails_naming(record, read_record, record, {"a": int}, match="'a' must be an integer, got true")
    fails_naming(record, read_record, record, {}, match="format 3", version=("format", (1, 2)))
    assert read_record(record, {"a": bool}, known=("format",)) == {"format": 3, "a": True}
    fails_naming(record, read_record, record, {"a": bool}, match=r"unknown key \['format'\]", known=())
    with pytest.raises(FileNotFoundError):
        read_record(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------------ hand-offs


def test_a_handoff_naming_another_model_is_refused(tmp_path: Path) -> None:
    config = HeadConfig(model="tiny", n_pairs=40, n_eval=6)
    settings = {**config.__dict__, "model": "smollm2"}
    with pytest.raises(ValueError, match="filed under model='tiny' but its settings say model='smollm2'"):
        write_handoff(HANDOFF, config.selection(), settings, tmp_path)
    # an entry published by another writer (or an older one), hashes right, settings of another model
    path = handoff_path(HANDOFF, config.selection(), tmp_path)
    fields = {"name": HANDOFF, "selection": config.selection()}
    with publishing(path, kind=KIND, key=path.name, fields=fields) as stage:
        payload = {"name": HANDOFF, "selection": config.selection(), "settings": settings}
        atomic_write_json(stage.path / SETTINGS, payload)
    with pytest.raises(CacheError, match="filed under model='tiny' but its settings say model='smollm2'") as err:
        read_handoff(HANDOFF, config.selection(), tmp_path)
    assert str(path) in str(err.value) and "re-run the notebook" in str(err.value)
    with pytest.raises(CacheError, match="model='smollm2'"):  # what load_trained reads first
        handed_off_config("tiny", "imdb", 40, 6, 0, cache_root=tmp_path)


# ------------------------------------------------------------------------------------------ data


def hh_row(i: int) -> dict:
    return {
        "chosen": f"\n\nHuman: question {i}\n\nAssistant: answer {i}",
        "rejected": f"\n\nHuman: question {i}\n\nAssistant: worse {i}",
    }


def test_hh_conversations_report_their_dropped_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "hh-rlhf-train.jsonl.gz"
    write_jsonl_gz(path, [hh_row(i) for i in range(4)] + [{"chosen": "no markers"}, {"rejected": "x"}])
    write_jsonl_gz(tmp_path / "hh-rlhf-test.jsonl.gz", [hh_row(9)])
    with gzip.open(path, "ab") as handle:
        handle.write(b"not json\n")
    with caplog.at_level(logging.WARNING, logger="coala_lib.data.validation"):
        found = load_hh_conversations("train", data_dir=tmp_path)
    assert sorted(found) == [1, 2, 3, 4]
    (message,) = [r.getMessage() for r in caplog.records if "conversations" in r.getMessage()]
    assert message.startswith("hh-rlhf train conversations: schema dropped 3 (row 5, field 'chosen'")
    assert "row 6, field 'chosen': missing field 'chosen'" in message and "row 7" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coala_lib.data.validation"):
        load_hh_conversations("eval", data_dir=tmp_path)
    assert not caplog.records  # nothing dropped, nothing said


def test_n_zero_is_refused(tmp_path: Path) -> None:
    write_jsonl_gz(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz", [hh_row(i) for i in range(20)])
    with pytest.raises(ValueError, match=r"n=0 asks for no triplets; pass n >= 1 .* or n=None"):
        load_triplets("hh-rlhf", "train", n=0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="n must be an integer >= 0, got -1"):
        load_triplets("hh-rlhf", "train", n=-1, data_dir=tmp_path)
    assert len(load_triplets("hh-rlhf", "train", n=1, data_dir=tmp_path)) == 1


# -------------------------------------------------------------------------------------- features


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_too_large_for_the_factorisation_are_refused(dtype: torch.dtype) -> None:
    X = torch.randn(60, 8, generator=torch.Generator().manual_seed(0), dtype=dtype)
    y = torch.where(torch.arange(60) % 2 == 0, 1.0, -1.0).to(dtype)
    with pytest.raises(ValueError, match=r"^X has entries as large as .* normalise the features") as err:
        fit_cronos(X * 1e25, y, CronosConfig(P=4, max_iters=5), progress=False)
    assert "overflow float32" in str(err.value) and "X.std(0)" in str(err.value)
    with pytest.raises(ValueError, match=r"^feats has entries"):
        validate_features(X * 1e25, name="feats")


def test_the_books_feature_scales_pass() -> None:
    """Normalised features and raw last-layer hidden states (entries up to some 1e4) pass at any size the book
    or the paper uses (up to 10^6 texts of 4096 features, in float32)."""
    for n, d in ((200, 384), (50_000, 576), (1_000_000, 4096)):
        assert feature_scale_limit(torch.empty(n, d, device="meta")) > 1e4 * 100
    g = torch.Generator().manual_seed(0)
    validate_features(torch.randn(500, 64, generator=g))  # normalised
    validate_features(torch.randn(500, 64, generator=g) * 1e4)  # raw hidden states' scale
    validate_features(torch.randn(500, 64, generator=g, dtype=torch.float64) * 1e4)
