"""The fault battery: every damaged input file and every damaged cache entry is written here, and
nothing wrong is ever returned. Input errors name the file (and the line); a cache entry that fails
verification is reported with a warning naming its path and recomputed, equal to a fresh computation.

Damage kinds for the caches: a flipped byte, a truncated file, a deleted file, an unreadable manifest,
another valid entry copied into the key's folder (swapped entries), a self-consistent manifest of
other rows (hashes right, shape wrong), and a writer killed halfway (its leftover is swept).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from coala_lib.backbone import sft
from coala_lib.backbone.features import load_features, pair_features
from coala_lib.backbone.sft import SFTConfig, apply_sft
from coala_lib.baselines.trl_training import BaselineConfig
from coala_lib.core.cache import (
    MANIFEST,
    CacheError,
    CorruptCacheWarning,
    cached_file,
    load_cached,
    open_entry,
    publishing,
    sweep_leftovers,
)
from coala_lib.data import load_imdb_reviews, load_triplets, write_jsonl_gz
from coala_lib.data.schema import Triplet
from coala_lib.data.sources import DataFileError
from coala_lib.evaluation.sentiment import SentimentJudge
from coala_lib.head.config import HeadConfig

TRAIN = "ultrafeedback-binarized-sample-train.jsonl.gz"
EVAL = "ultrafeedback-binarized-sample-eval.jsonl.gz"


def uf_row(i: int) -> dict:
    return {"prompt": f"prompt {i}", "chosen": f"good answer {i}", "rejected": f"bad answer {i}"}


def uf_lines(count: int) -> list[bytes]:
    return [json.dumps(uf_row(i)).encode("utf-8") + b"\n" for i in range(count)]


def write_gz(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    return path


@pytest.fixture
def uf_dir(tmp_path: Path) -> Path:
    """A valid UltraFeedback pair of files: 6 train rows and 3 eval rows."""
    write_gz(tmp_path / TRAIN, uf_lines(6))
    write_gz(tmp_path / EVAL, uf_lines(3))
    return tmp_path


def named(caught, path: Path) -> bool:
    """Some :class:`CorruptCacheWarning` among the ``caught`` warnings names ``path``."""
    return any(issubclass(w.category, CorruptCacheWarning) and str(path) in str(w.message) for w in caught)


def load_train(root: Path, **kwargs):
    return load_triplets("ultrafeedback", "train", data_dir=root, **kwargs)


# --------------------------------------------------------------------------------------- input files


def test_invalid_utf8_keeps_the_good_rows_and_names_the_line(uf_dir: Path) -> None:
    lines = uf_lines(6)
    lines[2] = lines[2].replace(b"prompt 2", b"prompt \xff\xfe 2")  # line 3 as an editor counts
    write_gz(uf_dir / TRAIN, lines)
    ds = load_train(uf_dir)
    assert [t.prompt for t in ds] == [f"prompt {i}" for i in (0, 1, 3, 4, 5)]
    (issue,) = ds.report.issues
    assert (issue.row, issue.field) == (3, "<line>") and "line 3 is not valid UTF-8" in issue.detail
    assert ds.report.source == str(uf_dir / TRAIN)


def test_a_line_that_is_not_json_is_reported_as_such(uf_dir: Path) -> None:
    lines = uf_lines(6)
    lines[1] = b'{"prompt": "cut off\n'
    write_gz(uf_dir / TRAIN, lines)
    ds = load_train(uf_dir)
    (issue,) = ds.report.issues
    assert issue.row == 2 and "line 2 is not JSON" in issue.detail and len(ds) == 5


def test_a_byte_order_mark_keeps_the_first_row(uf_dir: Path) -> None:
    lines = uf_lines(6)
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    write_gz(uf_dir / TRAIN, lines)
    ds = load_train(uf_dir)
    assert len(ds) == 6 and ds[0].prompt == "prompt 0" and not ds.report.issues


def test_a_truncated_gzip_names_the_file(uf_dir: Path) -> None:
    blob = gzip.compress(b"".join(uf_lines(400)), mtime=0)
    (uf_dir / TRAIN).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match="truncated") as err:
        load_train(uf_dir)
    assert str(uf_dir / TRAIN) in str(err.value)


def test_a_plain_file_named_gz_names_the_file(uf_dir: Path) -> None:
    (uf_dir / TRAIN).write_bytes(b"".join(uf_lines(3)))
    with pytest.raises(DataFileError, match="not a gzip file") as err:
        load_train(uf_dir)
    assert str(uf_dir / TRAIN) in str(err.value)


@pytest.mark.parametrize("content", [[], [b"\n", b"  \n"]], ids=["no line", "blank lines"])
def test_an_empty_file_names_the_file(uf_dir: Path, content: list[bytes]) -> None:
    write_gz(uf_dir / TRAIN, content)
    with pytest.raises(DataFileError, match="is empty") as err:
        load_train(uf_dir)
    assert str(uf_dir / TRAIN) in str(err.value)


def test_a_file_of_invalid_rows_names_the_file_and_the_lines(uf_dir: Path) -> None:
    write_gz(uf_dir / TRAIN, [b'{"prompt": "p"}\n', b"[1, 2]\n", b"not json\n"])
    with pytest.raises(ValueError, match="none of the 3 rows") as err:
        load_train(uf_dir)
    message = str(err.value)
    assert str(uf_dir / TRAIN) in message and "row 1, field 'chosen'" in message and "row 3" in message


def test_one_missing_split_file_is_named(uf_dir: Path) -> None:
    (uf_dir / EVAL).unlink()
    with pytest.raises(FileNotFoundError, match="not its eval file") as err:
        load_train(uf_dir)
    assert EVAL in str(err.value) and TRAIN in str(err.value)


def test_absurd_lengths_and_control_characters_follow_the_stated_policy(uf_dir: Path) -> None:
    rows = [uf_row(i) for i in range(6)]
    rows[1]["chosen"] = "x" * 200_000
    rows[4]["prompt"] = "prompt\x00 4"
    write_jsonl_gz(uf_dir / TRAIN, rows)
    ds = load_train(uf_dir)
    assert [t.row for t in ds] == [1, 3, 4, 5, 6] and ds[3].prompt == "prompt 4"
    assert ds.report.dropped["length"] == 1 and ds.report.cleaned == {"control characters removed": 1}
    assert "length     : 5 survive (1 dropped)" in ds.report.summary()


def test_n_larger_than_the_split_is_an_error(uf_dir: Path) -> None:
    assert len(load_train(uf_dir, n=6)) == 6
    with pytest.raises(ValueError, match=r"n=7 but .* holds 6 valid triplets; pass n <= 6") as err:
        load_train(uf_dir, n=7)
    assert str(uf_dir / TRAIN) in str(err.value)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n": "300"}, TypeError, "n must be an integer or None, got the text '300'"),
        ({"n": 3.0}, TypeError, "n must be an integer or None, got 3.0"),
        ({"seed": "0"}, TypeError, "seed must be an integer, got the text '0'"),
        ({"n": -1}, ValueError, "n must be an integer >= 0"),
    ],
)
def test_parameters_of_the_wrong_type_are_named(uf_dir: Path, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        load_train(uf_dir, **kwargs)


def test_an_unknown_dataset_names_the_allowed_ones(uf_dir: Path) -> None:
    with pytest.raises(ValueError, match="dataset='imbd' is not allowed; choose one of 'imdb', 'ultrafeedback'"):
        load_triplets("imbd", "train", data_dir=uf_dir)


# -------------------------------------------------------------------------------- the cache helper


def publish_toy(root: Path, name: str, payload: bytes, rows: int, key: str | None = None) -> Path:
    final = root / name
    with publishing(final, kind="toy", key=key or name, fields={"rows": rows}, shape={"n": rows}) as stage:
        (stage.path / "data.bin").write_bytes(payload)
        (stage.path / "sub").mkdir()
        (stage.path / "sub" / "meta.json").write_text(json.dumps({"rows": rows}))
    return final


def read_toy(entry) -> bytes:
    return entry.read_bytes("data.bin")


def test_publish_then_read_back_verified(tmp_path: Path) -> None:
    final = publish_toy(tmp_path, "a", b"payload", 3)
    entry = open_entry(final, kind="toy", key="a", fields={"rows": 3}, shape={"n": 3})
    assert entry.files == ["data.bin", "sub/meta.json"] and read_toy(entry) == b"payload"
    entry.verify_files()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no staging folder left


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("flip", "SHA-256"),
        ("truncate", "bytes"),
        ("delete", "missing"),
        ("manifest garbage", "unreadable"),
        ("no manifest", f"no {MANIFEST}"),
        ("other key", "not the requested"),
        ("other fields", r"other \['rows'\]"),
        ("other shape", "the request needs"),
        ("escaping path", "invalid file"),
    ],
)
def test_every_damage_is_a_cache_error_naming_the_entry(tmp_path: Path, damage: str, expected: str) -> None:
    final = publish_toy(tmp_path, "a", b"payload-bytes", 3)
    manifest = json.loads((final / MANIFEST).read_text())
    data = final / "data.bin"
    if damage == "flip":
        blob = bytearray(data.read_bytes())
        blob[3] ^= 0x01
        data.write_bytes(bytes(blob))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:-2])
    elif damage == "delete":
        data.unlink()
    elif damage == "manifest garbage":
        (final / MANIFEST).write_text('{"cache_format": 1, "key": ')
    elif damage == "no manifest":
        (final / MANIFEST).unlink()
    elif damage == "other key":
        shutil.rmtree(final)
        publish_toy(tmp_path, "b", b"payload-bytes", 3).rename(final)  # a valid entry in the wrong folder
    elif damage == "other fields":
        manifest["fields"]["rows"] = 4
        (final / MANIFEST).write_text(json.dumps(manifest))
    elif damage == "other shape":
        manifest["shape"]["n"] = 2  # self-consistent: every hash still right
        (final / MANIFEST).write_text(json.dumps(manifest))
    else:
        manifest["files"]["../outside"] = manifest["files"]["data.bin"]
        (final / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match=expected) as err:
        read_toy(open_entry(final, kind="toy", key="a", fields={"rows": 3}, shape={"n": 3}))
    assert str(final) in str(err.value)
    with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
        assert load_cached(final, read_toy, kind="toy", key="a", fields={"rows": 3}, shape={"n": 3}) is None
    assert named(caught, final)
    assert not final.exists() and list(tmp_path.iterdir()) == []  # moved aside and deleted


def test_an_existing_entry_is_kept_unless_replaced(tmp_path: Path) -> None:
    final = publish_toy(tmp_path, "a", b"first", 1)
    publish_toy(tmp_path, "a", b"second", 1)  # another process published the same key first: theirs stays
    assert read_toy(open_entry(final, kind="toy", key="a")) == b"first"
    with publishing(final, kind="toy", key="a", fields={"rows": 1}, replace=True) as stage:
        (stage.path / "data.bin").write_bytes(b"forced")
    assert read_toy(open_entry(final, kind="toy", key="a")) == b"forced"
    (final / MANIFEST).unlink()  # debris without a manifest is replaced even without replace=True
    publish_toy(tmp_path, "a", b"third", 1)
    assert read_toy(open_entry(final, kind="toy", key="a")) == b"third"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_a_failed_publish_leaves_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="simulated"),
        publishing(tmp_path / "a", kind="toy", key="a", fields={}) as stage,
    ):
        (stage.path / "data.bin").write_bytes(b"half")
        raise RuntimeError("simulated failure")
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from coala_lib.core.cache import publishing
    with publishing(Path(sys.argv[1]), kind="toy", key="a", fields={}) as stage:
        (stage.path / "data.bin").write_bytes(b"half written")
        os._exit(9)  # killed: no cleanup, no manifest, no rename
    """
)


def test_a_killed_writer_publishes_nothing_and_its_leftover_is_swept(tmp_path: Path) -> None:
    final = tmp_path / "a"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(final)], check=False)
    assert done.returncode == 9 and not final.exists()
    (leftover,) = tmp_path.iterdir()
    assert ".a.partial-" in leftover.name and (leftover / "data.bin").is_file()
    assert load_cached(final, read_toy, kind="toy", key="a") is None  # a reader sees no entry
    live = tmp_path / f".b.partial-{leftover.name.split('.partial-')[1].split('-')[0]}-{os.getpid()}-{'0' * 32}"
    live.mkdir()  # a staging folder of this (running) process is left alone
    half_deleted = tmp_path / f".c.corrupt-{'1' * 32}"
    half_deleted.mkdir()
    assert sorted(sweep_leftovers(tmp_path)) == sorted([leftover, half_deleted])
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]
    publish_toy(tmp_path, "a", b"whole", 1)
    assert read_toy(open_entry(final, kind="toy", key="a")) == b"whole"


# ---------------------------------------------------------------------------------------- features


def triplets(n: int) -> list[Triplet]:
    return [Triplet(f"Review {i}: the film", f" was great {i}", f" was dull {i}", "t", i + 1) for i in range(n)]


FEATURE_DAMAGE = [
    "flip",
    "truncate",
    "delete shard",
    "manifest garbage",
    "swapped entry",
    "fewer rows",
    "killed writer",
]


@pytest.mark.parametrize("damage", FEATURE_DAMAGE)
def test_damaged_feature_entries_are_recomputed_never_returned(tiny, tmp_path: Path, damage: str) -> None:
    args = {"max_length": 32, "cache_root": tmp_path, "shard_rows": 2, "progress": False}
    fresh = pair_features(tiny, triplets(6), cache=False, **args)
    good = pair_features(tiny, triplets(6), **args)
    entry = tmp_path / "features" / good.key
    shard = entry / "shard-00001.safetensors"
    manifest = json.loads((entry / MANIFEST).read_text())
    if damage == "flip":
        blob = bytearray(shard.read_bytes())
        blob[-5] ^= 0x10  # inside the tensor data: still a loadable file, other numbers
        shard.write_bytes(bytes(blob))
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:40])
    elif damage == "delete shard":
        shard.unlink()
    elif damage == "manifest garbage":
        (entry / MANIFEST).write_bytes(b"\x00\x01")
    elif damage == "swapped entry":  # another valid entry (4 of the 6 triplets) copied into this key's folder
        other = pair_features(tiny, triplets(4), **args)
        shutil.rmtree(entry)
        shutil.copytree(tmp_path / "features" / other.key, entry)
    elif damage == "fewer rows":  # self-consistent: 4 rows listed, every listed hash right
        manifest["shape"]["n"] = 4
        manifest["meta"]["shards"] = manifest["meta"]["shards"][:2]
        del manifest["files"]["shard-00002.safetensors"]
        (entry / "shard-00002.safetensors").unlink()
        (entry / MANIFEST).write_text(json.dumps(manifest))
    else:  # a writer killed before its rename: the entry does not exist, its staging folder does
        shutil.rmtree(entry)
        subprocess.run([sys.executable, "-c", KILLED_WRITER, str(entry)], check=False)
    if damage == "killed writer":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = pair_features(tiny, triplets(6), **args)
    else:
        with pytest.raises(CacheError) as err:
            load_features(entry, shape={"n": 6, "dim": tiny.hidden_size})
        assert str(entry) in str(err.value)
        with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
            again = pair_features(tiny, triplets(6), **args)
        assert named(caught, entry)
    assert torch.equal(again.chosen, fresh.chosen) and torch.equal(again.rejected, fresh.rejected)
    assert len(load_features(entry, shape={"n": 6, "dim": tiny.hidden_size})) == 6  # the rewritten entry verifies
    leftovers = [p.name for p in (tmp_path / "features").iterdir() if p.name.startswith(".")]
    assert leftovers == []


# --------------------------------------------------------------------------------------------- SFT

SFT = SFTConfig(batch_size=4, lr=1e-2, max_length=32)


@pytest.mark.parametrize("damage", ["flip adapter", "summary of another key"])
def test_a_damaged_sft_adapter_is_retrained(fresh_tiny, tmp_path: Path, monkeypatch, damage: str) -> None:
    data = triplets(4)
    first = fresh_tiny()
    summary = apply_sft(first, data, SFT, cache_root=tmp_path, progress=False)
    entry = tmp_path / "sft" / str(summary["key"])
    if damage == "flip adapter":
        adapter = entry / sft.ADAPTER
        blob = bytearray(adapter.read_bytes())
        blob[-3] ^= 0x40
        adapter.write_bytes(bytes(blob))
    else:  # the summary rewritten with its hash updated: self-consistent, wrong key inside
        manifest = json.loads((entry / MANIFEST).read_text())
        meta = json.loads((entry / sft.META).read_text())
        meta["key"] = "0" * 16
        (entry / sft.META).write_text(json.dumps(meta))
        blob = (entry / sft.META).read_bytes()
        manifest["files"][sft.META] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
        (entry / MANIFEST).write_text(json.dumps(manifest))
    calls = []
    real = sft._train
    monkeypatch.setattr(sft, "_train", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = fresh_tiny()
    with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
        again = apply_sft(second, data, SFT, cache_root=tmp_path, progress=False)
    assert named(caught, entry) and calls == [1] and not again["cached"]
    for name, value in second.model.state_dict().items():
        torch.testing.assert_close(value, first.model.state_dict()[name])


# ------------------------------------------------------------------------- notebook parameters

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize(
    "path", sorted(NOTEBOOKS.glob("*.py")) + sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name
)
def test_help_notebook_lists_every_parameter(path: Path, tmp_path: Path) -> None:
    """``papermill --help-notebook`` skips a line with two '=' (e.g. a comment "2P = 20"): every name the
    parameters cell assigns must be listed."""
    import ast

    import jupytext
    import nbformat
    import papermill

    notebook = jupytext.read(path)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assigned = [
        target.id
        for node in ast.parse(cells[0].source).body
        for target in (node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)])
        if isinstance(target, ast.Name)
    ]
    copy = tmp_path / f"{path.stem}.ipynb"
    nbformat.write(notebook, copy)
    listed = papermill.inspect_notebook(str(copy))
    assert assigned and [name for name in assigned if name not in listed] == [], (
        f"{path.name}: papermill --help-notebook misses these parameters (a line with more than one '=')"
    )


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SFTConfig(batch_size="8"), "batch_size must be an integer, got the text '8'"),
        (lambda: SFTConfig(lr=0), "lr must be > 0"),
        (lambda: SFTConfig(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (lambda: BaselineConfig(max_steps="10"), "max_steps must be an integer, got the text '10'"),
        (lambda: BaselineConfig(beta=-0.1), "beta must be > 0"),
        (lambda: HeadConfig(n_pairs="300"), "n_pairs must be an integer, got the text '300'"),
        (lambda: HeadConfig(P=2.5), r"P must be an integer, got 2\.5 \(float\)"),
        (lambda: HeadConfig(beta="1e-3"), "beta must be a finite number, got the text '1e-3'"),
        (lambda: HeadConfig(dataset="imbd"), "dataset='imbd' is not allowed; choose one of 'imdb', 'ultrafeedback'"),
        (
            lambda: HeadConfig(phase2="listwise"),
            "phase2='listwise' is not allowed; choose one of 'pairwise', 'pointwise'",
        ),
        (
            lambda: HeadConfig(pairing="shuffled"),
            "pairing='shuffled' is not allowed; choose one of 'matched', 'random'",
        ),
        (lambda: HeadConfig(pooling="max"), "pooling='max' is not allowed; choose one of 'mean', 'last'"),
        (lambda: HeadConfig(phase2="pointwise", pairing="random"), "pairing applies only to phase2='pairwise'"),
        (lambda: HeadConfig(n_eval=0), "n_eval must be an integer >= 1, got 0"),
        (lambda: load_imdb_reviews("train", n="10"), "n must be an integer or None, got the text '10'"),
        (lambda: SentimentJudge.train_or_load(n_train="1000"), "n_train must be an integer, got the text '1000'"),
    ],
)
def test_settings_are_checked_when_built(build, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        build()


# ----------------------------------------------------------------------------- baselines, sharding


def test_a_damaged_baseline_run_is_retrained_and_named(tiny, tmp_path: Path, monkeypatch) -> None:
    from coala_lib.baselines import trl_training as baselines

    config = BaselineConfig(max_steps=1, batch_size=2, max_length=32)
    first = baselines.train_or_load_baseline("sft", tiny, triplets(4), config, cache_root=tmp_path)
    entry = first.adapter_dir.parent
    weights = next(first.adapter_dir.glob("*.safetensors"))
    blob = bytearray(weights.read_bytes())
    blob[-2] ^= 0x08
    weights.write_bytes(bytes(blob))
    with pytest.raises(CacheError, match=r"force=True") as err:
        baselines.load_result(entry)  # read directly, nothing can retrain: the error names the flag
    assert str(entry) in str(err.value)
    calls = []
    real = baselines.train_baseline
    monkeypatch.setattr(baselines, "train_baseline", lambda *a, **k: calls.append(1) or real(*a, **k))
    with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
        again = baselines.train_or_load_baseline("sft", tiny, triplets(4), config, cache_root=tmp_path)
    assert named(caught, entry) and calls == [1] and again.adapter_dir == first.adapter_dir
    baselines.load_result(entry)  # the retrained entry verifies


def test_a_damaged_rank_entry_stops_the_merge_naming_the_rank(tiny, tmp_path: Path) -> None:
    from coala_lib.backbone.sharding import extract_shard, merge_shards

    data = triplets(5)
    records = [extract_shard(tiny, data, rank, 2, max_length=24, cache_root=tmp_path) for rank in range(2)]
    entry = tmp_path / "features" / json.loads(records[1].read_text())["entry"]
    shard = next(entry.glob("shard-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(CacheError, match="rerun extract_shard for rank 1") as err:
        merge_shards(tiny, data, max_length=24, cache_root=tmp_path)
    assert str(entry) in str(err.value)
    with pytest.warns(CorruptCacheWarning) as caught:  # rerunning the rank recomputes its damaged entry
        extract_shard(tiny, data, 1, 2, max_length=24, cache_root=tmp_path)
    assert named(caught, entry)
    merged = merge_shards(tiny, data, max_length=24, cache_root=tmp_path)
    direct = pair_features(tiny, data, 24, cache=False, progress=False)
    torch.testing.assert_close(merged.chosen, direct.chosen, atol=1e-5, rtol=1e-5)


def test_a_damaged_generated_imdb_entry_is_regenerated(tmp_path: Path, toy_generator, toy_judge) -> None:
    from coala_lib.data.imdb import generated_triplets

    rows = [(i + 1, {"text": f"review {i} of a film that I watched", "label": i % 2}) for i in range(4)]
    args = {"generator": toy_generator, "generator_key": {"model": "toy"}, "judge": toy_judge, "cache_root": tmp_path}
    made = generated_triplets(rows, **args)
    (entry,) = (tmp_path / "imdb_generated").iterdir()
    (entry / "triplets.json").write_text("[]")  # a valid JSON file, not the one published
    with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
        again = generated_triplets(rows, **args)
    assert named(caught, entry) and toy_generator.calls == [4, 4] and again == made


def test_one_file_artefacts_are_verified_and_remade(tmp_path: Path) -> None:
    made = []

    def cached(value: int) -> int:
        return cached_file(
            tmp_path / "one",
            kind="toy-file",
            key="one",
            fields={"v": 1},
            name="value.txt",
            make=lambda: made.append(value) or value,
            encode=lambda v: str(v).encode(),
            decode=lambda blob: int(blob.decode()),
        )

    assert cached(7) == 7 and cached(8) == 7 and made == [7]  # the second call reads the entry
    (tmp_path / "one" / "value.txt").write_bytes(b"9")  # same size, other content
    with pytest.warns(CorruptCacheWarning) as caught:
        assert cached(7) == 7
    assert named(caught, tmp_path / "one") and made == [7, 7]
    manifest = json.loads((tmp_path / "one" / MANIFEST).read_text())
    (tmp_path / "one" / "value.txt").write_bytes(b"x")  # hash updated too: verified bytes that do not decode
    manifest["files"]["value.txt"] = {"sha256": hashlib.sha256(b"x").hexdigest(), "bytes": 1}
    (tmp_path / "one" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(CorruptCacheWarning, match="does not decode"):
        assert cached(7) == 7


def test_cached_embeddings_are_verified(tmp_path: Path) -> None:
    from coala_lib.backbone.encoders import encode_texts

    texts = ["a fine film", "a dull film"]
    first = encode_texts(texts, progress=False, cache=True, cache_root=tmp_path)
    (entry,) = (tmp_path / "embeddings").iterdir()
    file = entry / "embeddings.safetensors"
    blob = bytearray(file.read_bytes())
    blob[-1] ^= 0x01
    file.write_bytes(bytes(blob))
    with pytest.warns(CorruptCacheWarning) as caught:
        again = encode_texts(texts, progress=False, cache=True, cache_root=tmp_path)
    assert named(caught, entry) and torch.equal(again, first)


# -------------------------------------------------------------------------------------------- heads

HEAD_SMALL = dict(n_pairs=20, n_eval=4, P=2, phase1_max_iters=20, baseline_steps=10, adamw_epochs=2, max_length=32)


@pytest.fixture(scope="module")
def imdb_dir(tmp_path_factory) -> Path:
    """120 short reviews in the IMDb file format (60 positive, 60 negative)."""
    rows = [
        {
            "id": i,
            "label": i % 2,
            "text": f"review {i}: " + ("a superb moving film " if i % 2 else "a dull boring film ") * 4,
        }
        for i in range(120)
    ]
    root = tmp_path_factory.mktemp("imdb")
    write_jsonl_gz(root / "imdb-train.jsonl.gz", rows)
    return root


HEAD_DAMAGE = ["flip head", "truncate report", "swapped entry", "report of another key", "killed writer"]


@pytest.mark.parametrize("damage", HEAD_DAMAGE)
def test_damaged_head_entries_are_retrained_never_returned(
    tiny, imdb_dir: Path, tmp_path: Path, monkeypatch, damage
) -> None:
    from coala_lib.head import training

    config = HeadConfig(model="tiny", **HEAD_SMALL)
    args = {"device": "cpu", "data_dir": imdb_dir, "cache_root": tmp_path, "backbone": tiny, "progress": False}
    head, report = training.train_or_load_head(config, **args)
    entry = tmp_path / "heads" / report.key
    if damage == "flip head":
        file = entry / "head.safetensors"
        blob = bytearray(file.read_bytes())
        blob[-4] ^= 0x01  # inside W1, w2 or the normaliser: a loadable head with other numbers
        file.write_bytes(bytes(blob))
    elif damage == "truncate report":
        file = entry / training.REPORT
        file.write_bytes(file.read_bytes()[:-10])
    elif damage == "swapped entry":  # another valid head (other seed) copied into this key's folder
        _, other = training.train_or_load_head(HeadConfig(model="tiny", seed=1, **HEAD_SMALL), **args)
        shutil.rmtree(entry)
        shutil.copytree(tmp_path / "heads" / other.key, entry)
    elif damage == "report of another key":  # report.json rewritten and its hash updated: self-consistent
        stored = json.loads((entry / training.REPORT).read_text())
        stored["key"] = "f" * 16
        blob = json.dumps(stored).encode()
        (entry / training.REPORT).write_bytes(blob)
        manifest = json.loads((entry / MANIFEST).read_text())
        manifest["files"][training.REPORT] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
        (entry / MANIFEST).write_text(json.dumps(manifest))
    else:  # a writer killed before its rename
        shutil.rmtree(entry)
        subprocess.run([sys.executable, "-c", KILLED_WRITER, str(entry)], check=False)
    calls = []
    real = training.fit_head
    monkeypatch.setattr(training, "fit_head", lambda *a, **k: calls.append(1) or real(*a, **k))
    if damage == "killed writer":
        with warnings.catch_warnings():
            warnings.simplefilter("error", CorruptCacheWarning)
            again, again_report = training.train_or_load_head(config, **args)
    else:
        with pytest.warns(CorruptCacheWarning, match="recomputing") as caught:
            again, again_report = training.train_or_load_head(config, **args)
        assert named(caught, entry)
    assert calls == [1] and again_report.key == report.key
    for name in ("W1", "w2", "feature_mean", "feature_scale"):
        torch.testing.assert_close(getattr(again, name), getattr(head, name))
    loaded, _ = training.train_or_load_head(config, **args)  # the rewritten entry is a clean hit
    assert calls == [1] and torch.equal(loaded.W1, again.W1)
    assert [p.name for p in (tmp_path / "heads").iterdir() if p.name.startswith(".")] == []
