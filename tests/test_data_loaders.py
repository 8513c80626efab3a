"""load_triplets on small fixtures with the Hub schemas, the local-directory path, the Hub path
(datasets.load_dataset monkeypatched), split determinism and subsampling."""

import json
from collections import Counter

import datasets
import pytest

from coala_lib.data import load_hh_conversations, load_triplets, write_jsonl_gz


def hh(turns):
    return "".join(f"\n\n{'Human' if i % 2 == 0 else 'Assistant'}: {t}" for i, t in enumerate(turns))


def hh_rows(count):
    rows = []
    for i in range(count):
        context = [f"question {i}", f"answer {i}", f"follow-up {i}"]
        rows.append({"chosen": hh(context + [f"good {i}"]), "rejected": hh(context + [f"bad {i}"])})
    return rows


def edu_rows():
    conversation = [
        {"role": "student", "content": f"s{k}"} if k % 2 == 0 else {"role": "tutor", "content": f"t{k}"}
        for k in range(8)
    ]
    return [
        {"id": 0, "system_prompt": "You are a tutor.", "conversation": conversation},  # 4 replies -> 3
        {"id": 1, "conversation": json.dumps(conversation[:5])},  # 2 replies -> 1
        {"id": 2, "conversation": conversation[:3]},  # 1 reply -> skipped
        {"id": 3, "conversation": [{"role": "student", "content": "x"}, {"role": "robot", "content": "y"}]},  # bad role
        {"id": 4},  # no conversation
    ]


def helpsteer_rows():
    return [
        {"prompt": "A", "response": "a1", "helpfulness": 1},
        {"prompt": "B", "response": "b1", "helpfulness": 2},
        {"prompt": "A", "response": "a2", "helpfulness": 4},
        {"prompt": "A", "response": "a3", "helpfulness": 4},
        {"prompt": "B", "response": "b2", "helpfulness": 2},
        {"prompt": "C", "response": "c1", "helpfulness": 3},
        {"prompt": "A", "response": "a4", "helpfulness": "high"},
        {"prompt": "D", "response": "d1", "helpfulness": 0},
        {"prompt": "D", "response": "d2", "helpfulness": 3},
    ]


def uf_plain(i, chosen=None):
    return {
        "prompt": f"p{i}",
        "chosen": chosen or f"c{i}",
        "rejected": f"r{i}",
        "metadata": {"score_chosen": 9.0, "score_rejected": 2.0},
        "source_index": 100 + i,
    }


def uf_messages(i):
    def msgs(reply):
        return [{"role": "user", "content": f"p{i}"}, {"role": "assistant", "content": reply}]

    return {
        "prompt": f"p{i}",
        "prompt_id": f"id{i}",
        "chosen": msgs(f"c{i}"),
        "rejected": msgs(f"r{i}"),
        "messages": msgs(f"c{i}"),
        "score_chosen": 8.0,
        "score_rejected": 3.0,
    }


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("COALA_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the faked load_dataset answers; no probe of the real Hub


def test_ultrafeedback_local_shipped_split_and_identical_rows(tmp_path):
    write_jsonl_gz(
        tmp_path / "ultrafeedback-binarized-sample-train.jsonl.gz", [uf_plain(0), uf_plain(1, chosen="r1"), uf_plain(2)]
    )
    write_jsonl_gz(tmp_path / "ultrafeedback-binarized-sample-eval.jsonl.gz", [uf_plain(5)])
    train = load_triplets("ultrafeedback", "train", data_dir=tmp_path)
    assert [(t.prompt, t.chosen, t.rejected) for t in train] == [("p0", "c0", "r0"), ("p2", "c2", "r2")]
    assert train[0].meta == {"score_chosen": 9.0, "score_rejected": 2.0, "source_index": 100}
    assert train.report.dropped["identical"] == 1 and train.report.issues[0].row == 2  # line 2 of the file
    assert train.params["split_rule"] == "shipped"
    assert [t.prompt for t in load_triplets("ultrafeedback", "eval", data_dir=tmp_path)] == ["p5"]


def test_ultrafeedback_hub_message_lists(monkeypatch, no_env):
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return [uf_messages(0), uf_messages(1)]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_triplets("ultrafeedback", "eval")
    assert calls == [("HuggingFaceH4/ultrafeedback_binarized", None, "test_prefs")]
    assert (ds[1].prompt, ds[1].chosen, ds[1].rejected) == ("p1", "c1", "r1")
    assert ds[1].meta == {"score_chosen": 8.0, "score_rejected": 3.0, "prompt_id": "id1"}
    assert ds.params["origin"] == "hub"


@pytest.mark.parametrize(
    "dataset, hub_id, split, rows",
    [
        ("hh-rlhf", "Anthropic/hh-rlhf", "train", hh_rows(3)),
        ("edufeedback", "miria0/EduFeedback", "train", edu_rows()),
        ("helpsteer", "nvidia/HelpSteer", "train", helpsteer_rows()),
        (
            "imdb",
            "stanfordnlp/imdb",
            "train",
            [{"text": "good film " * 10, "label": 1}, {"text": "bad film " * 10, "label": 0}],
        ),
    ],
)
def test_hub_path_uses_public_id(monkeypatch, no_env, dataset, hub_id, split, rows):
    calls = []
    monkeypatch.setattr(
        datasets, "load_dataset", lambda path, name=None, split=None: calls.append((path, split)) or rows
    )
    ds = load_triplets(dataset, "train")
    assert calls == [(hub_id, split)] and ds.params["hub_id"] == hub_id


def test_hh_rlhf_pairs_and_mismatched_transcripts(tmp_path):
    rows = hh_rows(20) + [{"chosen": hh(["q", "a", "x", "good"]), "rejected": hh(["q", "a", "DIFFERENT", "bad"])}]
    write_jsonl_gz(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz", rows)
    train = load_triplets("hh-rlhf", "train", data_dir=tmp_path, seed=1)
    evals = load_triplets("hh-rlhf", "eval", data_dir=tmp_path, seed=1)
    assert train.report.rows + evals.report.rows == 21 and evals.report.rows == 2  # round(0.1 * 21)
    everything = list(train) + list(evals)
    assert len(everything) == 20 and sum(r.dropped["schema"] for r in (train.report, evals.report)) == 1
    t = next(t for t in everything if t.row == 5)  # line 5 holds the fifth row
    assert (t.chosen, t.rejected) == ("good 4", "bad 4")
    assert t.prompt == "User: question 4\n\nAssistant: answer 4\n\nUser: follow-up 4\n\nAssistant:"
    assert {t.row for t in train}.isdisjoint({t.row for t in evals})


def test_hh_rlhf_apm(tmp_path):
    write_jsonl_gz(
        tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz",
        [{"chosen": hh(["q1", "a1", "q2", "a2", "q3", "a3"]), "rejected": hh(["q1", "x"])}] * 10,
    )
    ds = load_triplets("hh-rlhf", "train", data_dir=tmp_path, method="apm")
    assert [(t.chosen, t.rejected) for t in ds] == [("a1", "a2"), ("a2", "a3")]  # the 8 other copies are duplicates
    assert ds.report.dropped["duplicate"] == 2 * (ds.report.rows - 1)


def test_edufeedback_apm_counts_and_errors(tmp_path):
    write_jsonl_gz(tmp_path / "edufeedback-train.jsonl.gz", edu_rows())
    with pytest.raises(ValueError, match=r"eval split .*edufeedback-train\.jsonl\.gz.* has no rows"):
        load_triplets("edufeedback", "eval", data_dir=tmp_path)  # round(0.1 * 5) = 0 rows go to eval
    both = [load_triplets("edufeedback", "train", data_dir=tmp_path)]
    triplets = [t for ds in both for t in ds]
    per_row = {r: sum(t.row == r for t in triplets) for r in range(1, 6)}  # rows are 1-based line numbers
    assert per_row == {1: 3, 2: 1, 3: 0, 4: 0, 5: 0}
    issues = {(i.row, i.field) for ds in both for i in ds.report.issues}
    assert issues == {(4, "role"), (5, "conversation")}
    assert sum(ds.report.skipped["fewer than two assistant replies (no APM pair)"] for ds in both) == 1
    first = next(t for t in triplets if t.row == 1 and t.meta["chosen_turn"] == 1)
    assert first.prompt == "System: You are a tutor.\n\nUser: s0\n\nAssistant:" and first.rejected == "t3"


def test_edufeedback_configurable_field_names(tmp_path):
    row = {"dialog": [{"speaker": "human", "text": f"m{k}"} for k in range(6)], "sys": "S"}
    for k in range(1, 6, 2):
        row["dialog"][k]["speaker"] = "gpt"
    write_jsonl_gz(tmp_path / "edufeedback.jsonl.gz", [row])  # one row: round(0.1 * 1) = 0 go to eval
    opts = dict(conversation_field="dialog", system_field="sys", role_key="speaker", content_key="text")
    ds = load_triplets("edufeedback", "train", data_dir=tmp_path, **opts)
    assert [(t.chosen, t.rejected) for t in ds] == [("m1", "m3"), ("m3", "m5")]
    assert ds[1].prompt.startswith("System: S\n\nUser: m0")


def test_helpsteer_highest_vs_lowest_ties_skipped_split_by_prompt(tmp_path):
    write_jsonl_gz(tmp_path / "helpsteer-train.jsonl.gz", helpsteer_rows())
    with pytest.raises(ValueError, match=r"eval split .* has no rows"):
        load_triplets("helpsteer", "eval", data_dir=tmp_path)  # 4 prompts: round(0.1 * 4) = 0 go to eval
    for seed in range(6):
        both = [load_triplets("helpsteer", "train", data_dir=tmp_path, seed=seed)]
        got = sorted((t.prompt, t.chosen, t.rejected) for ds in both for t in ds)
        assert got == [("A", "a2", "a1"), ("D", "d2", "d1")]  # a2 and a3 tie at 4: the first is kept
        assert sum(ds.report.rows for ds in both) == 9  # all rows of a prompt on one side
        assert sum(ds.report.dropped["schema"] for ds in both) == 1
        skipped = sum((ds.report.skipped for ds in both), start=Counter())
        assert skipped == {"all responses tie on helpfulness": 1, "only one response to the prompt": 1}


def test_split_is_deterministic_and_seed_dependent(tmp_path):
    write_jsonl_gz(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz", hh_rows(50))

    def rows(split, seed):
        return [t.row for t in load_triplets("hh-rlhf", split, data_dir=tmp_path, seed=seed)]

    assert rows("eval", 0) == rows("eval", 0) and len(rows("eval", 0)) == 5
    assert sorted(rows("train", 0) + rows("eval", 0)) == list(range(1, 51))  # 1-based line numbers
    assert rows("eval", 0) != rows("eval", 1)


def test_n_subsamples_reproducibly(tmp_path):
    write_jsonl_gz(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz", hh_rows(50))
    full = [t.row for t in load_triplets("hh-rlhf", "train", data_dir=tmp_path)]
    a = [t.row for t in load_triplets("hh-rlhf", "train", data_dir=tmp_path, n=10)]
    assert a == [t.row for t in load_triplets("hh-rlhf", "train", data_dir=tmp_path, n=10)]
    assert len(a) == 10 and set(a) <= set(full) and a == sorted(a, key=full.index)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="dataset='nope'"):
        load_triplets("nope", "train", data_dir=tmp_path)
    with pytest.raises(ValueError, match="split='test' is not allowed; choose one of 'train', 'eval'"):
        load_triplets("helpsteer", "test", data_dir=tmp_path)
    with pytest.raises(TypeError, match="unknown option"):
        load_triplets("helpsteer", "train", data_dir=tmp_path, tokenizer=None)
    with pytest.raises(FileNotFoundError, match=r"helpsteer-train\.jsonl\.gz"):
        load_triplets("helpsteer", "train", data_dir=tmp_path)


def test_load_hh_conversations(tmp_path):
    write_jsonl_gz(tmp_path / "hh-rlhf-harmless-base-test.jsonl.gz", hh_rows(10) + [{"chosen": "no markers"}])
    found = load_hh_conversations("train", data_dir=tmp_path) | load_hh_conversations("eval", data_dir=tmp_path)
    assert sorted(found) == list(range(1, 11))
    assert [t.content for t in found[3].turns] == ["question 2", "answer 2", "follow-up 2", "good 2"]
