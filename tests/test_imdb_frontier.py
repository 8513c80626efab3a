"""The IMDb frontier experiment on tiny models and data: the KL estimator against exact enumeration, the
lexicon judge, the statistics, resumption after a kill and the record's schema (through the library,
:mod:`coala_lib.experiments.frontier`), and its command line (``bench/imdb_frontier.py``)."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from bench_modules import load_bench
from transformers import LlamaConfig, LlamaForCausalLM

from coala_lib.chapters.frontier import (
    check_record,
    cost_table,
    excluded_methods,
    frontier_frame,
    head_control_table,
    head_provenance,
    paired_table,
    protocol_seconds,
    read_generations,
)
from coala_lib.claims.ledger import read_frontier_generations
from coala_lib.core.cache import CorruptCacheWarning
from coala_lib.data import write_jsonl_gz
from coala_lib.evaluation.frontier import (
    cluster_bootstrap,
    distinct_n,
    paired_difference,
    select_setting,
    summarise_setting,
)
from coala_lib.evaluation.kl import (
    SamplingRecorder,
    best_of_n_kl_bound,
    generated_mask,
    policy_kl_terms,
    recorded_kl_terms,
    reference_kl_terms,
    step_kl,
)
from coala_lib.evaluation.lexicon import LexiconJudge
from coala_lib.experiments import frontier
from coala_lib.guidance import GuidanceConfig, guided_generate
from coala_lib.head.coala_head import CoalaHead

V, HIDDEN, T = 6, 16, 3
PROMPT = [1, 2]


def toy_lm(seed: int) -> LlamaForCausalLM:
    """A one-layer Llama over a 6-token vocabulary: every continuation of 3 tokens can be enumerated."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=V,
        hidden_size=HIDDEN,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        pad_token_id=0,
        eos_token_id=5,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)  # spread the next-token distributions
    model.generation_config.eos_token_id = 5
    return model


def toy_head(seed: int = 0) -> CoalaHead:
    gen = torch.Generator().manual_seed(seed)
    return CoalaHead(
        torch.randn(8, HIDDEN, generator=gen),
        torch.randn(8, generator=gen),
        torch.zeros(HIDDEN),
        torch.ones(HIDDEN),
        "toy",
        "mean",
    )


@torch.no_grad()
def ref_logprobs(model: LlamaForCausalLM, prefix: list[int]) -> torch.Tensor:
    return model(torch.tensor([prefix])).logits[0, -1].double().log_softmax(-1)


@torch.no_grad()
def paper_logprobs(model, head, prefix: list[int], step: int, lam: float, k: int, every: int) -> torch.Tensor:
    """The paper-mode distribution of one step written out directly: top-k pool of the temperature-1
    logits; on a scored step (``step % every == 0``) each candidate's mean-pooled features are scored,
    min-max normalised over the pool and added times lambda."""
    logits = model(torch.tensor([prefix])).logits[0, -1].double()
    pool = torch.topk(logits, k).indices
    shifted = torch.full_like(logits, -math.inf)
    shifted[pool] = logits[pool]
    if step % every == 0:
        scores = []
        for c in pool.tolist():
            hidden = model.model(torch.tensor([prefix + [c]])).last_hidden_state[0]
            scores.append(float(head.score(hidden.mean(0, keepdim=True))))
        s = torch.tensor(scores, dtype=torch.float64)
        normalised = (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else torch.zeros_like(s)
        shifted[pool] = logits[pool] + lam * normalised
    return shifted.log_softmax(-1)


def enumerate_kl(q_of, p_of) -> tuple[float, dict[tuple[int, ...], tuple[float, float]]]:
    """Exact KL(q || p) over all V^T continuations, and per continuation (log q(y), sum_t KL(q_t || p_t))."""
    total, per = 0.0, {}
    for y in itertools.product(range(V), repeat=T):
        logq = logp = rb = 0.0
        for t in range(T):
            q_t, p_t = q_of(PROMPT + list(y[:t]), t), p_of(PROMPT + list(y[:t]))
            logq += float(q_t[y[t]])
            logp += float(p_t[y[t]])
            rb += float(step_kl(q_t, p_t))
        per[y] = (logq, rb)
        if logq > -math.inf:
            total += math.exp(logq) * (logq - logp)
    return total, per


def test_step_kl_and_bounds() -> None:
    q = torch.tensor([[0.5, 0.5, 0.0]]).log()
    p = torch.tensor([[0.25, 0.25, 0.5]]).log()
    assert float(step_kl(q, p)) == pytest.approx(math.log(2))
    assert float(step_kl(p, p)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="infinite"):
        step_kl(p, q)
    assert best_of_n_kl_bound(1) == 0.0
    assert best_of_n_kl_bound(4) == pytest.approx(math.log(4) - 0.75)
    mask = generated_mask(torch.tensor([[3, 5, 5, 0], [3, 3, 3, 3]]), [5])
    assert mask.tolist() == [[True, True, False, False], [True, True, True, True]]


@pytest.mark.parametrize("lam", [3.0, 0.0], ids=["guided", "pool-only"])
def test_guided_kl_matches_exact_enumeration(lam: float) -> None:
    """Paper mode at lambda = 3, and the frontier's ``pool`` control (plain top-k sampling: paper mode at 0)."""
    model, head = toy_lm(0), toy_head()
    k, every = 3, 2
    exact, per = enumerate_kl(
        lambda prefix, t: paper_logprobs(model, head, prefix, t, lam, k, every),
        lambda prefix: ref_logprobs(model, prefix),
    )
    n = 3000
    ids = torch.tensor([PROMPT] * n)
    common = dict(top_k=k, top_p=1.0, temperature=1.0, repetition_penalty=1.0, max_new_tokens=T, ignore_eos=True)
    config = GuidanceConfig.paper(lam, every=every, **common) if lam else GuidanceConfig.plain(**common)
    recorder = SamplingRecorder()
    with recorder.record():
        out = guided_generate(
            model,
            None,
            head=head if lam else None,
            config=config,
            generator=torch.Generator().manual_seed(0),
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
        )
    terms = recorded_kl_terms(recorder.steps, model, out.sequences, torch.ones_like(ids), [], row_chunk=512)
    samples = [tuple(row) for row in out.new_tokens.tolist()]
    # per sample, the recorded sampler log-probability and the exact per-step KLs are the enumeration's
    assert np.allclose(terms.logq.numpy(), [per[y][0] for y in samples], atol=1e-4)
    assert np.allclose(terms.rb.numpy(), [per[y][1] for y in samples], atol=1e-4)
    # the chain rule: E_q[sum_t KL_t] is the sequence KL, and both estimates are unbiased
    assert sum(math.exp(lq) * rb for lq, rb in per.values() if lq > -math.inf) == pytest.approx(exact, rel=1e-6)
    for estimate in (terms.mc, terms.rb):
        se = float(estimate.std()) / math.sqrt(n)
        assert abs(float(estimate.mean()) - exact) < 4 * se + 1e-9
    assert exact > 0.05  # guidance and truncation move the distribution: the test is not vacuous


def test_policy_kl_matches_exact_enumeration() -> None:
    policy, reference = toy_lm(1), toy_lm(2)
    exact, per = enumerate_kl(
        lambda prefix, t: ref_logprobs(policy, prefix), lambda prefix: ref_logprobs(reference, prefix)
    )
    n = 3000
    ids = torch.tensor([PROMPT] * n)
    config = GuidanceConfig.plain(
        top_k=V, top_p=1.0, temperature=1.0, repetition_penalty=1.0, max_new_tokens=T, ignore_eos=True
    )
    out = guided_generate(
        policy,
        None,
        config=config,
        generator=torch.Generator().manual_seed(1),
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
    )
    terms = policy_kl_terms(policy, reference, out.sequences, torch.ones_like(ids), [], row_chunk=512)
    samples = [tuple(row) for row in out.new_tokens.tolist()]
    assert np.allclose(terms.logq.numpy(), [per[y][0] for y in samples], atol=1e-4)
    for estimate in (terms.mc, terms.rb):
        se = float(estimate.std()) / math.sqrt(n)
        assert abs(float(estimate.mean()) - exact) < 4 * se + 1e-9
    same = policy_kl_terms(reference, reference, out.sequences, torch.ones_like(ids), [])
    assert float(same.mc.abs().max()) == 0.0 and float(same.rb.abs().max()) == 0.0


def test_reference_sampling_needs_no_second_forward_and_records_are_checked() -> None:
    reference = toy_lm(3)
    ids = torch.tensor([PROMPT] * 64)
    ones = torch.ones_like(ids)
    plain = GuidanceConfig.plain(
        top_k=V, top_p=1.0, temperature=1.0, repetition_penalty=1.0, max_new_tokens=T, ignore_eos=True
    )
    recorder = SamplingRecorder(max_support=2)  # the untruncated support (6 tokens) is not kept
    with recorder.record():
        out = guided_generate(
            reference,
            None,
            config=plain,
            generator=torch.Generator().manual_seed(2),
            input_ids=ids,
            attention_mask=ones,
        )
    terms = reference_kl_terms(recorder.steps, out.sequences, ids.shape[1], [])
    forced = policy_kl_terms(reference, reference, out.sequences, ones, [])
    assert np.allclose(terms.logp_ref.numpy(), forced.logp_ref.numpy(), atol=1e-4)
    assert float(terms.mc.abs().max()) == 0.0 and float(terms.rb.abs().max()) == 0.0
    with pytest.raises(ValueError, match="untruncated"):
        recorded_kl_terms(recorder.steps, reference, out.sequences, ones, [])
    truncated = SamplingRecorder()
    with truncated.record():
        again = guided_generate(
            reference,
            None,
            config=plain.with_(top_k=2),
            generator=torch.Generator().manual_seed(2),
            input_ids=ids,
            attention_mask=ones,
        )
    with pytest.raises(ValueError, match="truncated"):
        reference_kl_terms(truncated.steps, again.sequences, ids.shape[1], [])
    from coala_lib.guidance import decoding

    assert decoding.sample.__name__ == "sample"  # the recorder put the sampler back


def test_lexicon_judge() -> None:
    judge = LexiconJudge()
    scores = judge.positivity(["A wonderful, moving film. I loved it!", "Boring, awful and a waste of time.", ""])
    assert scores.shape == (3,) and scores[0] > 0.75 > 0.25 > scores[1] and scores[2] == 0.5
    assert judge.key.startswith("vaderSentiment-")
    assert judge.accuracy(["great fun", "terrible"], torch.tensor([1.0, -1.0])) == 1.0
    with pytest.raises(TypeError, match="not one string"):
        judge.positivity("a single string")


def test_statistics() -> None:
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)
    low, high = cluster_bootstrap(np.array([[0.0, 1.0]] * 20 + [[1.0, 1.0]] * 20), n_boot=200)
    assert low < 0.75 < high
    rewards = np.array([[0.9, 0.8], [0.7, 0.6], [0.2, 0.9]])
    ref = np.array([[0.1, 0.8], [0.8, 0.1], [0.1, 0.1]])
    row = summarise_setting(
        {"book": rewards},
        {"book": ref},
        {"rb": np.ones((3, 2))},
        np.full((3, 2), -4.0),
        np.full((3, 2), 2.0),
        ["a b c"] * 6,
        primary="book",
        n_boot=100,
    )
    assert row["win_rate"] == pytest.approx((4 + 0.5) / 6) and row["n"] == 6 and row["win_counts"] == [4, 1, 1]
    assert row["win_low"] < row["win_rate"] < row["win_high"]
    assert row["perplexity"] == pytest.approx(math.exp(2.0)) and row["kl_rb"] == 1.0
    rows = [
        {"setting": "a", "win_rate": 0.7, "perplexity": 50.0, "kl_rb": 1.0},
        {"setting": "b", "win_rate": 0.6, "perplexity": 10.0, "kl_rb": 0.5},
    ]
    strict, loose = select_setting(rows, reference_perplexity=10.0), select_setting(rows, reference_perplexity=30.0)
    assert strict is not None and strict["setting"] == "b"  # a is not fluent enough
    assert loose is not None and loose["setting"] == "a"
    assert select_setting(rows, reference_perplexity=1.0) is None


def test_paired_difference_of_two_methods() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((200, 2))
    assert paired_difference(ref + 1, ref - 1, ref, n_boot=50) == pytest.approx(
        {"difference": 1.0, "low": 1.0, "high": 1.0, "n_prompts": 200, "level": 0.95}
    )
    same = paired_difference(ref + 0.1, ref + 0.1, ref, n_boot=50)
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    # two methods that win on the same hard prompts: separately their win rates' intervals overlap, on the
    # same prompts the one that also wins a few more is separated from the other
    easy = rng.random(200) < 0.6
    a = np.where(easy[:, None], ref + 0.1, ref - 0.1)
    b = a.copy()
    b[:12] = ref[:12] - 0.1  # b loses 12 prompts a wins (or ties)
    out = paired_difference(a, b, ref, n_boot=500)
    assert out["low"] > 0 and out["difference"] == pytest.approx(np.mean(easy[:12]) * 12 / 200)


# ------------------------------------------------------------------------------ the experiment and its command line

POSITIVE = "a wonderful moving film with great acting and a lovely story that I enjoyed very much indeed"
NEGATIVE = "a boring awful film with bad acting and a stupid story that I hated very much indeed"


def imdb_dir(root):
    rng = random.Random(0)

    def rows(count, offset):
        out = []
        for i in range(count):
            words = (POSITIVE if i % 2 else NEGATIVE).split()
            rng.shuffle(words)
            out.append({"id": offset + i, "label": i % 2, "text": f"Review {offset + i} says " + " ".join(words * 3)})
        return out

    write_jsonl_gz(root / "imdb-train.jsonl.gz", rows(200, 0))
    write_jsonl_gz(root / "imdb-test.jsonl.gz", rows(40, 1000))
    return root


#: The methods most tests run: the reference, COALA's paper mode and its no-head control.
THREE = ("reference", "coala_paper", "pool")


def tiny_run(tmp_path, methods=THREE, max_minutes=None, **changes) -> dict:
    """The frontier on the tiny configuration and data under ``tmp_path`` (the command line's ``--scale tiny
    --quiet`` with these ``--methods``, ``--max-minutes`` and ``--set``); the record."""
    config = frontier.FrontierConfig(
        **{**frontier.TINY, "methods": tuple(m for m in frontier.METHODS if m in methods), **changes}
    )
    return frontier.run_frontier(
        config,
        tmp_path / "out",
        cache_root=str(tmp_path / "cache"),
        data_dir=str(imdb_dir(tmp_path / "data")),
        max_minutes=max_minutes,
        progress=False,
    )


def tiny_args(tmp_path, *extra: str) -> list[str]:
    """The command line of :func:`tiny_run` (a later ``--methods`` in ``extra`` replaces the three)."""
    data = imdb_dir(tmp_path / "data")
    return [
        "--scale",
        "tiny",
        "--quiet",
        "--methods",
        "reference",
        "coala_paper",
        "pool",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "out"),
        *extra,
    ]


def test_resume_after_a_kill_and_the_record(tmp_path, monkeypatch) -> None:
    calls = {"n": 0}
    original = frontier.Context.decode_chunk

    def killed_after_two(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(frontier.Context, "decode_chunk", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        tiny_run(tmp_path)
    chunk_dir = tmp_path / "cache" / "imdb_frontier" / "chunk"
    published = sorted(p for p in chunk_dir.iterdir() if not p.name.startswith("."))  # cache entries (folders)
    assert len(published) == 2
    (chunk_dir / ".half-written.json.tmp").write_text("{")  # a crash's leftover is never read

    calls["n"] = -1000
    record = tiny_run(tmp_path)
    # 6 runs (reference, lambda=2, pool; validation, test): 2 prompts x 2 samples = 1 chunk, 4 x 2 = 2 chunks each
    assert calls["n"] == -1000 + 9 - 2
    assert record["status"]["complete"] and not record["status"]["decoding_runs_pending"]

    # a damaged entry is recomputed, and a chunk's draws depend on its identity only: same texts again
    victim = published[0] / "payload.json"
    before = json.loads(victim.read_text())
    victim.write_text(victim.read_text()[:-20])
    with pytest.warns(CorruptCacheWarning, match="recomputing"):
        again = tiny_run(tmp_path)
    assert json.loads(victim.read_text())["texts"] == before["texts"]
    assert [s["reward_book"] for s in again["settings"]] == [s["reward_book"] for s in record["settings"]]

    check_record(record)
    assert "win_rates" not in record  # no trained baseline ran: COALA is never compared with nothing
    rows = {(s["method"], s["split"]): s for s in record["settings"]}
    assert rows[("reference", "test")]["kl_rb"] == 0.0 and rows[("reference", "test")]["kl_mc"] == 0.0
    guided = rows[("coala_paper", "test")]
    assert guided["n"] == 8 and 0 <= guided["win_low"] <= guided["win_rate"] <= guided["win_high"] <= 1
    assert guided["kl_rb"] > 0 and record["selection"]["coala_paper"]["setting"] == "lambda=2"
    assert guided["heads"] == [record["stages"]["head"]["fingerprint"]]  # one head, the recorded one
    phase1 = record["stages"]["head"]["report"]["phase1"]
    tol = record["stages"]["head"]["report"]["config"]["phase1_tol"]
    assert phase1["certified"] == (phase1["certified_gap"] <= tol and phase1["cone_violation_rel"] <= tol)
    assert "heads" not in rows[("reference", "test")]
    assert head_provenance(record) == {record["stages"]["head"]["fingerprint"]: 2}  # lambda = 2 on both splits
    assert excluded_methods(record) == {}
    assert rows[("pool", "test")]["kl_rb"] > 0  # the truncated reference is not the reference
    assert record["config"]["n_test_prompts"] == 4 and not record["status"]["config_meets_minimums"]
    generations = read_generations(tmp_path / "out")
    assert len(generations) == 3 * (2 + 4) * 2
    assert set(generations[0]) >= {"method", "setting", "split", "prompt_id", "sample", "text"}
    frame = frontier_frame(record, split="test")
    assert set(frame["method"]) == {"reference", "coala_paper", "pool"}

    # a spent budget still publishes everything cached, and stops before the first run with work left
    calls["n"] = 0
    monkeypatch.setattr(
        frontier.Context, "train", lambda self, run: pytest.fail(f"trained {run.label} on a spent budget")
    )
    spent = tiny_run(tmp_path, max_minutes=0, paper_lambdas=(2.0, 1.0))
    assert tiny_run(tmp_path, (*THREE, "dpo"), max_minutes=0, paper_lambdas=(2.0, 1.0))["settings"]
    assert calls["n"] == 0 and len(spent["settings"]) == len(record["settings"])
    assert spent["status"]["decoding_runs_pending"] == [
        "decode coala_paper[lambda=1] validation",
        "decode coala_paper[lambda=1] test",
    ]


def test_a_lost_cache_resumes_from_the_record(tmp_path, monkeypatch) -> None:
    with_dpo = (*THREE, "dpo")
    record = tiny_run(tmp_path, with_dpo, dpo_betas=(0.1,))
    trained = "train dpo[beta=0.1]"
    assert trained in record["stages"]
    # a fresh clone: the record, none of the decoding runs or training stages
    for kind in ("chunk", "stage"):
        shutil.rmtree(tmp_path / "cache" / "imdb_frontier" / kind)

    def no_decoding(self, run, *args, **kwargs):
        pytest.fail(f"decoded {run.label} that the record holds")

    monkeypatch.setattr(frontier.Context, "decode_chunk", no_decoding)
    monkeypatch.setattr(frontier.Context, "train", lambda self, run: pytest.fail(f"trained {run.label} again"))
    again = tiny_run(tmp_path, with_dpo, dpo_betas=(0.1,))
    assert again["settings"] == record["settings"] and again["status"]["complete"]
    assert again["stages"][trained] == {**record["stages"][trained], "restored": True}
    monkeypatch.undo()
    record = tiny_run(tmp_path)  # the three methods the rest of the test runs

    # a row made under another key (here: another judge) is not restored but recomputed
    path = tmp_path / "out" / frontier.RECORD
    edited = json.loads(path.read_text())
    edited["settings"][-1]["key"] = "0" * 16
    path.write_text(json.dumps(edited))
    shutil.rmtree(tmp_path / "cache" / "imdb_frontier" / "chunk")
    monkeypatch.undo()
    decoded = []
    original = frontier.Context.decode_chunk

    def counting(self, run, split, *args, **kwargs):
        decoded.append((run.method, split))
        return original(self, run, split, *args, **kwargs)

    monkeypatch.setattr(frontier.Context, "decode_chunk", counting)
    third = tiny_run(tmp_path)
    last = edited["settings"][-1]
    assert set(decoded) == {(last["method"], last["split"])}
    assert third["settings"][-1]["key"] == record["settings"][-1]["key"]


def test_ledger_reads_the_test_row_of_the_validation_choice_only() -> None:
    row = dict(win_rate=0.6, win_low=0.55, win_high=0.65, win_boot_low=0.55, win_boot_high=0.65, n=512)
    settings = [
        {"method": "coala_paper", "setting": "lambda=2", "split": "test", **row},
        {"method": "dpo", "setting": "beta=0.1", "split": "test", **row},
    ]
    config = frontier.FrontierConfig()
    view = frontier.ledger_view(settings, {}, 1000, config)
    assert set(view["win_rates"]) == {"coala", "dpo"}
    # validation prefers lambda = 1, whose test run has not landed: COALA has no headline yet
    assert frontier.ledger_view(settings, {"coala_paper": {"setting": "lambda=1"}}, 1000, config) == {}
    # a rival none of whose settings passed the fluency guard has no headline either
    simpo = {"method": "simpo", "setting": "beta=2,gamma=0.5", "split": "test", **row}
    view = frontier.ledger_view([*settings, simpo], {"simpo": {"setting": None}}, 1000, config)
    assert set(view["win_rates"]) == {"coala", "dpo"}


def test_validation_excludes_a_method_that_fails_the_fluency_guard() -> None:
    def row(method, setting, perplexity, win):
        return {"method": method, "setting": setting, "split": "validation", "perplexity": perplexity, "win_rate": win}

    settings = [
        row("reference", "T=1", 80.0, None),
        row("simpo", "beta=2,gamma=0.5", 370.0, 0.94),
        row("dpo", "beta=0.1", 65.0, 0.85),
        row("dpo", "beta=0.01", 200.0, 0.97),
    ]
    selection = frontier.choose(settings, frontier.FrontierConfig(perplexity_guard=2.0))
    assert selection["dpo"]["setting"] == "beta=0.1"  # beta = 0.01 wins more but fails the guard
    assert selection["simpo"]["setting"] is None and "370 at best" in selection["simpo"]["excluded"]
    assert frontier.headline_setting("simpo", ["beta=2,gamma=0.5"], selection) is None
    assert excluded_methods({"selection": selection}) == {"simpo": selection["simpo"]["excluded"]}
    assert frontier.headline_setting("sft", ["chosen"], selection) == "chosen"  # no validation rule ran


def test_paired_differences_against_the_headline_settings() -> None:
    config = frontier.FrontierConfig(n_boot=100)
    ref = np.random.default_rng(0).random((64, 2))
    book = {
        ("coala_paper", "lambda=2", "test"): ref + 0.1,
        ("coala_paper", "lambda=1", "test"): ref - 0.1,
        ("dpo", "beta=0.1", "test"): ref - 0.1,
        ("pool", "top-k=50,top-p=0.9", "test"): ref + 0.1,
        ("dpo", "beta=0.05", "validation"): ref + 0.1,
    }
    paired = frontier.paired_against_coala(book, ref, {"coala_paper": {"setting": "lambda=2"}}, config)
    assert set(paired) == {"dpo", "pool"} and paired["dpo"]["coala_setting"] == "lambda=2"
    assert (paired["dpo"]["difference"], paired["pool"]["difference"]) == (1.0, 0.0)
    # validation chose a setting whose test row has not landed: COALA has no headline, nothing is paired
    assert frontier.paired_against_coala(book, ref, {"coala_paper": {"setting": "lambda=4"}}, config) == {}
    table = paired_table({"paired_differences": paired}).set_index("COALA minus")
    assert table.loc["dpo", "against 0"] == "COALA ahead" and table.loc["pool", "against 0"] == "not separated"
    assert paired_table({}).empty


def test_head_controls_pair_each_guided_mode_with_its_no_head_control() -> None:
    config = frontier.FrontierConfig(n_boot=100)
    ref = np.random.default_rng(1).random((64, 2))
    book = {
        ("coala_paper", "lambda=4", "test"): ref + 0.1,
        ("pool", "top-k=50,top-p=0.9", "test"): ref + 0.1,
        ("coala_args", "w=4", "test"): ref + 0.1,
        ("topk", "top-k=10", "test"): ref - 0.1,
    }
    selection = {"coala_paper": {"setting": "lambda=4"}, "coala_args": {"setting": "w=4"}}
    controls = frontier.head_controls(book, ref, selection, config)
    assert controls["coala_args"]["control"] == "topk" and controls["coala_args"]["difference"] == 1.0
    assert controls["coala_paper"]["control"] == "pool" and controls["coala_paper"]["difference"] == 0.0
    table = head_control_table({"head_controls": controls}).set_index("mode")
    assert (
        table.loc["coala_args", "against 0"] == "head adds" and table.loc["coala_paper", "against 0"] == "not separated"
    )
    del book[("topk", "top-k=10", "test")]  # a control without test rows: its mode is left out
    assert set(frontier.head_controls(book, ref, selection, config)) == {"coala_paper"}
    assert frontier.head_controls(book, None, selection, config) == {} and head_control_table({}).empty
    # the control samples ARGS mode's own top-k from the reference, with no head
    run = next(r for r in frontier.decoding_runs(frontier.FrontierConfig(methods=("topk",))) if r.method == "topk")
    sampling = frontier.sampler(config, run, vocab=1000)
    assert (sampling.top_k, sampling.top_p) == (config.args_top_k, 1.0) and not frontier.head_guided("topk")


def test_runs_go_breadth_first() -> None:
    config = frontier.FrontierConfig(
        paper_lambdas=(2.0, 1.0), dpo_betas=(0.1, 0.05), args_weights=(1.5,), released_lambdas=(2.0,)
    )
    labels = [run.label for run in frontier.decoding_runs(config)]
    assert labels[:4] == ["reference[T=1]", "coala_paper[lambda=2]", "pool[top-k=50,top-p=0.9]", "dpo[beta=0.1]"]
    assert (
        labels[-2:] == ["coala_paper[lambda=1]", "dpo[beta=0.05]"] and len(labels) == 14
    )  # 12 methods + 2 second settings
    assert frontier.sampler(config, frontier.decoding_runs(config)[2], 100).top_k == 50


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="n_test_prompts"):
        frontier.FrontierConfig(n_test_prompts=0)
    with pytest.raises(ValueError, match="'rlhf'"):
        frontier.FrontierConfig(methods=("reference", "rlhf"))


def test_a_resumed_training_cost_says_which_steps_it_measured() -> None:
    assert frontier.measured_steps({"resumed_from_step": 50, "total_steps": 125}) == {
        "first_step": 51,
        "total_steps": 125,
    }
    assert frontier.measured_steps({"resumed_from_step": 0, "total_steps": 125})["first_step"] == 1
    assert frontier.measured_steps({"method": "dpo"}) == {}  # trained before the steps were recorded
    frame = pd.DataFrame(
        {
            "method": ["dpo", "orpo"],
            "setting": ["beta=0.05", "lambda=0.1"],
            "train_seconds": [2000.0, 3000.0],
            "train_flops": [1, 2],
            "train_steps_measured": ["steps 51-125 of 125", ""],
            "decode_seconds": [100.0, 100.0],
            "decode_flops": [3, 4],
        }
    )
    what = list(cost_table(frame, {})["what"])
    assert "train: dpo beta=0.05 (steps 51-125 of 125, resumed)" in what and "train: orpo lambda=0.1" in what


def test_the_protocol_time_counts_a_shared_decoding_run_once() -> None:
    def row(method: str, key: str, split: str, seconds: float) -> dict:
        return {
            "method": method,
            "key": key,
            "split": split,
            "cost": {"decode_seconds": seconds, "evaluation_seconds": 1.0},
        }

    record = {
        "stages": {
            "sft": {"cost": {"seconds": 10.0}},
            "judges": {"book": {}},
            "train dpo": {"cost": {"seconds": 20.0}},
        },
        "settings": [
            row("reference", "a", "validation", 5.0),
            row("reference", "a", "test", 7.0),
            *(row("best_of_n", "b", "test", 100.0) for _ in range(4)),  # four settings of one pool
        ],
    }
    assert protocol_seconds(record) == {"train": 30.0, "decode": 6.0 + 8.0 + 101.0, "total": 145.0}


def test_the_head_knobs_default_to_the_records_head_and_take_the_study_choice() -> None:
    """The committed record's guided rows were made by the paper's head values: with the defaults the head's
    config (hence its cache key and every guided row's) is unchanged; --set gives the study's choice."""
    from coala_lib.head import HeadConfig

    config = frontier.FrontierConfig()
    assert (config.head_P, config.head_beta, config.head_pooling) == (10, 1e-3, "mean")
    paper = HeadConfig()
    assert (config.head_phase2_l2, config.head_phase2_beta) == (paper.phase2_l2, paper.phase2_beta)
    assert (paper.beta, paper.P, paper.pooling) == (config.head_beta, config.head_P, config.head_pooling)


def test_the_command_line(tmp_path) -> None:
    """``bench/imdb_frontier.py`` parses its arguments into the library's configuration and runs it."""
    bench = load_bench("imdb_frontier")
    record = bench.main(tiny_args(tmp_path, "--methods", "reference"))
    assert record["status"]["complete"] and record["config"]["methods"] == ("reference",)
    assert json.loads((tmp_path / "out" / frontier.RECORD).read_text())["settings"] == record["settings"]
    assert f"{bench.ROOT}/" not in record["command"]  # no machine path in the record
    assert bench.build_config(bench.parse(["--methods", "pool", "reference"])).methods == ("reference", "pool")
    with pytest.raises(SystemExit, match="not a FrontierConfig field"):
        bench.build_config(bench.parse(["--set", "n_prompts=3"]))
    # the head study's choice (bench/head_selection.py) through --set, a tuple field comma-separated
    args = bench.parse(
        ["--set", "head_P=32", "head_beta=149.0095503544234", "head_phase2_l2=0.01", "head_phase2_beta=1"]
    )
    chosen = bench.build_config(args)
    assert (chosen.head_P, chosen.head_beta, chosen.head_phase2_l2, chosen.head_phase2_beta) == (
        32,
        149.0095503544234,
        0.01,
        1.0,
    )
    assert bench.build_config(bench.parse(["--set", "paper_lambdas=2,1"])).paper_lambdas == (2.0, 1.0)


def test_best_of_n_pool_is_restored_and_rescored_by_a_new_head(tmp_path, monkeypatch) -> None:
    methods = ("reference", "best_of_n")
    record = tiny_run(tmp_path, methods)
    rows = {(s["method"], s["setting"], s["split"]): s for s in record["settings"]}
    best = rows[("best_of_n", "n=2", "test")]
    assert best["heads"] == [record["stages"]["head"]["fingerprint"]] and best["cost"]["score_seconds"] > 0
    pool = read_frontier_generations(tmp_path / "out" / frontier.POOL)
    assert len(pool) == 2 * (2 + 4) * 2  # both splits: prompts x (2 samples x n = 2) candidates
    generations = read_frontier_generations(tmp_path / "out" / frontier.GENERATIONS)
    picked = {(g["split"], g["prompt_id"], g["sample"]): g["text"] for g in generations if g["method"] == "best_of_n"}
    candidates = {(g["split"], g["prompt_id"], g["sample"]): g["text"] for g in pool}
    assert len(picked) == 2 * (2 + 4)  # each pick is one of its sample's two candidates, 2j and 2j + 1
    assert all(text in (candidates[(s, i, 2 * j)], candidates[(s, i, 2 * j + 1)]) for (s, i, j), text in picked.items())
    # the strong-scorer control: the same pool reranked by the book judge, judged by VADER
    control = rows[(frontier.SCORER_CONTROL, "n=2", "test")]
    assert control["scorer"] == "book" and "heads" not in control and control["key"] == best["key"]
    assert "win_rate_book" in control and "win_rate_vader" not in control  # VADER's is its win_rate
    assert control["reward_book"] >= best["reward_book"]  # the judge picks its own best of each pair
    best_reward = {(g["split"], g["prompt_id"], g["sample"]): g["reward_book"] for g in pool}
    top = [
        max(best_reward[("test", i, 2 * j)], best_reward[("test", i, 2 * j + 1)]) for i in range(4) for j in range(2)
    ]
    assert control["reward_book"] == pytest.approx(sum(top) / len(top))
    paired = record["scorer_control"]["by_setting"]["n=2"]
    assert paired["difference"] == pytest.approx(control["win_rate"] - best["win_rate_vader"])
    assert record["scorer_control"]["judge"] == "vader" and paired["low"] <= paired["difference"] <= paired["high"]
    # a fresh clone (no cache): the pool is restored, only the head scores it again
    for kind in ("chunk", "stage", "score"):
        shutil.rmtree(tmp_path / "cache" / "imdb_frontier" / kind)

    def no_decoding(self, run, *args, **kwargs):
        pytest.fail(f"decoded {run.label} that the record holds")

    monkeypatch.setattr(frontier.Context, "decode_chunk", no_decoding)
    again = tiny_run(tmp_path, methods)
    assert [s["reward_book"] for s in again["settings"]] == [s["reward_book"] for s in record["settings"]]
    # another head: the same pool, re-scored, no decoding; the rows name the new head
    other = tiny_run(tmp_path, methods, head_beta=0.01)
    fingerprint = other["stages"]["head"]["fingerprint"]
    assert fingerprint != record["stages"]["head"]["fingerprint"]
    assert all(s["heads"] == [fingerprint] for s in other["settings"] if s["method"] == "best_of_n")
    assert len(read_frontier_generations(tmp_path / "out" / frontier.POOL)) == len(pool)


def test_the_released_script_and_its_no_head_control_run_and_pair(tmp_path) -> None:
    """The authors' released sampler is one registry entry with its control: both decode on the tiny configuration,
    the guided runs carry the head, the control none, and the record pairs them like the other guided modes."""
    record = tiny_run(tmp_path, methods=("reference", "coala_released", "released_plain"), released_lambdas=(2.0,))
    rows = {(r["method"], r["setting"], r["split"]) for r in record["settings"]}
    assert {("coala_released", "lambda=2", "test"), ("released_plain", "lambda=0", "test")} <= rows
    guided = next(r for r in record["settings"] if r["method"] == "coala_released")
    control = next(r for r in record["settings"] if r["method"] == "released_plain")
    assert guided["heads"] and "heads" not in control and control["kl_kind"] == guided["kl_kind"]
    assert record["head_controls"]["coala_released"]["control"] == "released_plain"
    sampling = frontier.sampler(
        frontier.FrontierConfig(**frontier.TINY), frontier.Run("released_plain", "lambda=0", 0.0, 2), 99
    )
    assert (sampling.mode, sampling.temperature, sampling.top_k, sampling.every) == ("released", 0.7, 15, 6)
