"""Guided decoding: sampler pieces, cached-vs-naive equivalence, plain sampling vs transformers, modes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bench_modules import load_bench
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from coala_lib.backbone.pooling import pool
from coala_lib.chapters.guidance_sweep import lambda_sweep, step_frame
from coala_lib.chapters.plots.guidance import bench_frame, merge_bench_records, plot_bench, plot_lambda_sweep
from coala_lib.guidance.decoding import GuidanceConfig, encode_prompts, guided_generate
from coala_lib.guidance.lm import CachedPrefix, RecomputedPrefix
from coala_lib.guidance.sampling import (
    add_to_pool,
    minmax_normalise,
    pool_of,
    repetition_penalty,
    top_k_filter,
    top_p_filter,
)
from coala_lib.head.coala_head import CoalaHead

PROMPTS = ["This movie was a quiet surprise and", "Bad", "I watched it twice, and the ending"]


@pytest.fixture(scope="module")
def tiny(tiny):
    """conftest.py's shared tiny backbone as (model, tokenizer)."""
    return tiny.model, tiny.tokenizer


def _model(tiny, dtype: torch.dtype):
    model, tokenizer = tiny
    return model.to(dtype), tokenizer


def random_head(dim: int, pooling: str = "mean", seed: int = 0, width: int = 8) -> CoalaHead:
    g = torch.Generator().manual_seed(seed)
    return CoalaHead(
        W1=torch.randn(width, dim, generator=g),
        w2=torch.randn(width, generator=g),
        feature_mean=0.1 * torch.randn(dim, generator=g),
        feature_scale=torch.rand(dim, generator=g) + 0.5,
        model_id="tiny",
        pooling=pooling,
    )


# ------------------------------------------------------------------------------------ sampler pieces


def test_repetition_penalty_ctrl_rule_ignores_padding() -> None:
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
    ids = torch.tensor([[3, 0, 1, 2]])
    mask = torch.tensor([[0, 1, 1, 0]])  # token 3 and token 2 sit on padding: not penalised
    out = repetition_penalty(logits, ids, mask, 2.0)
    assert torch.equal(out, torch.tensor([[1.0, -4.0, 1.0, 0.5]]))


def test_top_k_top_p_match_transformers_warpers() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 100, generator=g) * 3
    ids = torch.zeros(4, 1, dtype=torch.long)
    assert torch.equal(top_k_filter(logits, 7), TopKLogitsWarper(7)(ids, logits.clone()))
    masked = logits.masked_fill(logits < -2, float("-inf"))  # the whole vocabulary (or more) keeps every logit
    for k in (100, 1000):
        assert torch.equal(top_k_filter(masked, k), TopKLogitsWarper(100)(ids, masked.clone()))
    assert torch.equal(top_p_filter(logits, 0.8), TopPLogitsWarper(0.8)(ids, logits.clone()))
    kept = torch.isfinite(top_p_filter(logits, 0.8))
    probs = logits.softmax(-1)
    assert bool(((probs * kept).sum(-1) >= 0.8).all())  # the nucleus holds at least p of the mass


def test_minmax_normalise_over_valid_slots() -> None:
    scores = torch.tensor([[1.0, 3.0, 2.0, 100.0], [5.0, 5.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, True, False], [True, True, False, False]])
    out = minmax_normalise(scores, valid)
    assert torch.allclose(out, torch.tensor([[0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]))


def test_pool_of_and_add_to_pool() -> None:
    logits = torch.tensor([[0.0, float("-inf"), 2.0, 1.0], [float("-inf"), 3.0, float("-inf"), float("-inf")]])
    ids, valid = pool_of(logits)
    assert ids.tolist()[0] == [2, 3, 0] and valid.tolist() == [[True, True, True], [True, False, False]]
    shifted = add_to_pool(logits, ids, valid, torch.tensor([[1.0, 1.0, 1.0], [5.0, 7.0, 7.0]]))
    expected = torch.tensor([[1.0, float("-inf"), 3.0, 2.0], [float("-inf"), 8.0, float("-inf"), float("-inf")]])
    assert torch.equal(shifted, expected)


# ------------------------------------------------------------------ cached == naive full recompute


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-5)])
@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_candidate_features_match_full_recompute(tiny, dtype, tol, pooling) -> None:
    model, tokenizer = _model(tiny, dtype)
    ids, mask = encode_prompts(tokenizer, PROMPTS)
    assert bool((mask == 0).any()), "the batch must be left-padded for this test to mean something"
    fast, slow = CachedPrefix(model, ids, mask, pooling), RecomputedPrefix(model, ids, mask, pooling)
    head = random_head(model.config.hidden_size, pooling)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for step in range(4):
            candidates = torch.randint(0, model.config.vocab_size, (len(PROMPTS), 6), generator=g)
            f_fast, f_slow = fast.candidate_features(candidates), slow.candidate_features(candidates)
            assert f_fast.dtype == dtype
            torch.testing.assert_close(f_fast.float(), f_slow.float(), atol=tol, rtol=tol)
            torch.testing.assert_close(
                head.score(f_fast.reshape(-1, f_fast.shape[-1])),
                head.score(f_slow.reshape(-1, f_slow.shape[-1])),
                atol=10 * tol,
                rtol=tol,
            )
            # keep a scored candidate on even steps (reusing its cached keys/values), an unscored one on odd ones
            chosen = candidates[:, step] if step % 2 == 0 else candidates[:, 0] + 1
            keep = torch.tensor([True, step < 2, True])  # row 1 finishes after two tokens
            fast.append(chosen, keep)
            slow.append(chosen, keep)
            # a finished row's logits are never used (and differ: they read a masked position)
            torch.testing.assert_close(fast.logits[keep], slow.logits[keep], atol=10 * tol, rtol=tol)
            torch.testing.assert_close(fast.features().float(), slow.features().float(), atol=tol, rtol=tol)
    full = model.base_model(
        input_ids=slow.input_ids,
        attention_mask=slow.attention_mask,
        position_ids=(slow.attention_mask.cumsum(-1) - 1).clamp(min=0),
    ).last_hidden_state
    torch.testing.assert_close(
        fast.features().float(), pool(full, slow.attention_mask, pooling).float(), atol=tol, rtol=tol
    )
    model.float()


@pytest.mark.parametrize("mode", ["paper", "additive", "args"])
def test_cached_and_naive_decoding_agree(tiny, mode) -> None:
    model, tokenizer = _model(tiny, torch.float64)
    head = random_head(model.config.hidden_size, "mean")
    config = {
        "paper": GuidanceConfig.paper(),
        "additive": GuidanceConfig.additive(),
        "args": GuidanceConfig.args(greedy=False),
    }[mode].with_(max_new_tokens=7)
    out = [
        guided_generate(
            model,
            tokenizer,
            PROMPTS,
            head=head,
            config=config.with_(use_cache=cache),
            generator=torch.Generator().manual_seed(5),
        )
        for cache in (True, False)
    ]
    model.float()
    assert torch.equal(out[0].sequences, out[1].sequences)
    assert len(out[0].steps) == (7 if mode == "args" else 2)
    for fast, slow in zip(out[0].steps, out[1].steps):
        assert torch.equal(fast.candidates, slow.candidates)
        torch.testing.assert_close(fast.scores[fast.valid], slow.scores[slow.valid], atol=1e-4, rtol=1e-5)
    assert out[0].stats["processed_tokens"] * 5 < out[1].stats["processed_tokens"]


# ------------------------------------------------------------------------- plain sampling references


@pytest.mark.parametrize("mode", ["paper", "additive"])
def test_lambda_zero_reproduces_plain_sampling(tiny, mode) -> None:
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size)
    guided = GuidanceConfig.paper(0.0) if mode == "paper" else GuidanceConfig.additive(0.0)
    plain = GuidanceConfig.plain(top_k=guided.top_k)
    runs = [
        guided_generate(
            model,
            tokenizer,
            PROMPTS,
            head=head if c.needs_head else None,
            config=c.with_(max_new_tokens=11),
            generator=torch.Generator().manual_seed(11),
        )
        for c in (guided, plain)
    ]
    assert len(runs[0].steps) == 3
    assert torch.equal(runs[0].sequences, runs[1].sequences)


@pytest.mark.parametrize(
    "config",
    [GuidanceConfig.paper(0.0), GuidanceConfig.additive(0.0), GuidanceConfig.released_script(guidance_scale=0.0)],
    ids=["paper", "additive", "released"],
)
def test_lambda_zero_needs_no_head_and_draws_as_with_one(tiny, config) -> None:
    """A step mode at lambda 0 is its own no-head control (the frontier's ``released_plain``): without a head it
    samples exactly what it samples with one; a positive lambda without a head is refused."""
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size)
    runs = [
        guided_generate(
            model,
            tokenizer,
            PROMPTS,
            head=h,
            config=config.with_(max_new_tokens=13),
            generator=torch.Generator().manual_seed(5),
        )
        for h in (head, None)
    ]
    assert runs[0].steps and not runs[1].steps
    assert torch.equal(runs[0].sequences, runs[1].sequences)
    with pytest.raises(ValueError, match=r"needs a head.*guidance_scale=0"):
        guided_generate(model, tokenizer, PROMPTS, config=config.with_(guidance_scale=1.0, max_new_tokens=2))


def test_plain_sampling_matches_transformers_generate(tiny) -> None:
    """Same RNG consumption as generate: one multinomial over the batch per token (equal-length prompts:
    with left padding transformers also penalises the pad id, which we do not)."""
    model, tokenizer = tiny
    ids, mask = encode_prompts(tokenizer, ["It was a dark and stormy night", "It was a dark and stormy day"])
    assert bool(mask.all())
    ours = guided_generate(
        model,
        tokenizer,
        input_ids=ids,
        attention_mask=mask,
        config=GuidanceConfig.plain(max_new_tokens=16),
        generator=torch.Generator().manual_seed(3),
    )
    torch.manual_seed(3)
    theirs = model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=True,
        top_k=50,
        top_p=0.9,
        temperature=0.7,
        repetition_penalty=1.1,
        max_new_tokens=16,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert torch.equal(ours.sequences, theirs)


def test_args_greedy(tiny) -> None:
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size)
    ids, mask = encode_prompts(tokenizer, PROMPTS)
    zero = guided_generate(
        model,
        tokenizer,
        input_ids=ids,
        attention_mask=mask,
        head=head,
        config=GuidanceConfig.args(weight=0.0, max_new_tokens=6),
    )
    greedy = model.generate(
        input_ids=ids,
        attention_mask=mask,
        do_sample=False,
        repetition_penalty=1.1,
        max_new_tokens=6,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert torch.equal(zero.sequences, greedy)
    strong = guided_generate(
        model,
        tokenizer,
        input_ids=ids,
        attention_mask=mask,
        head=head,
        config=GuidanceConfig.args(weight=1e6, max_new_tokens=6),
    )
    for step in strong.steps:  # a huge weight picks the head's favourite among the top-k
        best = step.candidates.gather(1, step.scores.masked_fill(~step.valid, -1e30).argmax(1, keepdim=True))
        assert torch.equal(step.chosen, best.squeeze(1))


def test_guidance_scale_steers_towards_high_scores(tiny) -> None:
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size)

    def mean_chosen_normalised(scale: float) -> float:
        out = guided_generate(
            model,
            tokenizer,
            PROMPTS,
            head=head,
            generator=torch.Generator().manual_seed(0),
            config=GuidanceConfig.paper(scale, max_new_tokens=15),
        )
        values = [
            s.normalised.gather(1, (s.candidates == s.chosen[:, None]).int().argmax(1, keepdim=True)) for s in out.steps
        ]
        return float(torch.cat(values).mean())

    assert mean_chosen_normalised(50.0) > 0.95 > 0.8 > mean_chosen_normalised(0.0)


def test_best_of_n_keeps_the_highest_scoring_sample(tiny) -> None:
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size, "last")
    out = guided_generate(
        model,
        tokenizer,
        PROMPTS,
        head=head,
        generator=torch.Generator().manual_seed(2),
        config=GuidanceConfig.best_of_n(3, max_new_tokens=5),
    )
    per_prompt = out.stats["candidate_scores"]
    assert per_prompt.shape == (3, 3)
    torch.testing.assert_close(out.final_scores, per_prompt.max(1).values)
    mask = (out.sequences != tokenizer.pad_token_id).long()
    hidden = model.base_model(
        input_ids=out.sequences, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
    ).last_hidden_state
    torch.testing.assert_close(head.score(pool(hidden, mask, "last")), out.final_scores, atol=1e-4, rtol=1e-4)


def test_rows_stop_at_their_own_eos(tiny) -> None:
    model, tokenizer = tiny
    ids, mask = encode_prompts(tokenizer, PROMPTS)
    config = GuidanceConfig.plain(max_new_tokens=8)
    free = guided_generate(
        model, tokenizer, input_ids=ids, attention_mask=mask, config=config, generator=torch.Generator().manual_seed(4)
    ).new_tokens
    stop = int(free[0, 2])  # make row 0's third token an EOS
    assert stop not in free[1:].flatten().tolist()
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [saved, stop]
    try:
        out = guided_generate(
            model,
            tokenizer,
            input_ids=ids,
            attention_mask=mask,
            config=config,
            generator=torch.Generator().manual_seed(4),
        ).new_tokens
    finally:
        model.generation_config.eos_token_id = saved
    assert torch.equal(out[0, :3], free[0, :3])
    assert bool((out[0, 3:] == tokenizer.pad_token_id).all())
    assert torch.equal(out[1:], free[1:])


def test_lambda_sweep_and_step_frame(tiny) -> None:
    model, tokenizer = tiny
    head = random_head(model.config.hidden_size)
    config = GuidanceConfig.paper(max_new_tokens=6)
    sweep = lambda_sweep(
        model, tokenizer, PROMPTS, head, [0.0, 3.0], config, judge=lambda t: torch.ones(len(t)), seed=7, progress=False
    )
    assert len(sweep) == 2 * len(PROMPTS) and set(sweep.columns) >= {"lambda", "text", "head_score", "judge"}
    plain = guided_generate(
        model,
        tokenizer,
        PROMPTS,
        config=GuidanceConfig.plain(max_new_tokens=6),
        generator=torch.Generator().manual_seed(7),
    )
    assert sweep[sweep["lambda"] == 0.0]["text"].tolist() == plain.texts
    plot_lambda_sweep(sweep, "head_score")
    out = guided_generate(
        model,
        tokenizer,
        PROMPTS,
        head=head,
        config=config.with_(guidance_scale=3.0),
        generator=torch.Generator().manual_seed(7),
    )
    frame = step_frame(out, tokenizer, 3.0, row=1)
    assert frame["chosen"].sum() == 1 and abs(frame["lm_prob"].sum() - 1) < 1e-5
    shift = torch.tensor((frame["guided_prob"] / frame["lm_prob"]).map(float).tolist()).log() - 3.0 * torch.tensor(
        frame["normalised"].tolist()
    )
    assert float(shift.max() - shift.min()) < 1e-4  # p' / p = exp(lambda * s_hat) up to the normaliser


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"guidance_scale": -1.0}, "guidance_scale"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"every": 0}, "every"),
        ({"mode": "beam"}, "mode"),
        ({"pooling": "max"}, "pooling"),
    ],
)
def test_config_rejects_bad_values(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        GuidanceConfig(**kwargs)


def test_generate_rejects_bad_heads_and_inputs(tiny) -> None:
    model, tokenizer = tiny
    dim = model.config.hidden_size
    with pytest.raises(ValueError, match="dimensional features"):
        guided_generate(model, tokenizer, PROMPTS, head=random_head(dim + 1))
    with pytest.raises(ValueError, match=r"config\.pooling"):
        guided_generate(model, tokenizer, PROMPTS, head=random_head(dim, "last"), config=GuidanceConfig(pooling="mean"))
    with pytest.raises(ValueError, match="needs a head"):
        guided_generate(model, tokenizer, PROMPTS, config=GuidanceConfig.paper())
    ids, mask = encode_prompts(tokenizer, PROMPTS)
    with pytest.raises(ValueError, match="pad on the left"):
        guided_generate(
            model,
            tokenizer,
            input_ids=ids.flip(1),
            attention_mask=mask.flip(1),
            config=GuidanceConfig.plain(max_new_tokens=2),
        )
    with pytest.raises(ValueError, match="either prompts"):
        guided_generate(model, tokenizer, PROMPTS, input_ids=ids, config=GuidanceConfig.plain())


# ----------------------------------------------------------------------------------------- benchmark


def test_benchmark_code_path_runs_on_a_tiny_random_llama(tmp_path: Path) -> None:
    bench = load_bench("guidance")
    out = tmp_path / "bench.json"
    record = bench.main(
        [
            "--random-llama",
            "tiny",
            "--prompt-lengths",
            "8",
            "--batch-sizes",
            "2",
            "--new-tokens",
            "6",
            "--naive-new-tokens",
            "5",
            "--out",
            str(out),
        ]
    )
    assert out.is_file()
    rows = {(r["method"], r["new_tokens"]): r for r in record["rows"]}
    assert {m for m, _ in rows} == {"plain", "naive_guided", "cached_guided"}
    assert (
        0 < rows[("cached_guided", 5)]["decode_flops_per_token"] < rows[("naive_guided", 5)]["decode_flops_per_token"]
    )
    assert record["environment"]["torch"] == torch.__version__
    frame = bench_frame(record)
    assert len(frame) == len(record["rows"]) == 4
    cached = frame[frame["method"] == "cached_guided"]
    # one candidate forward per scored step, padded to the batch's largest pool: never fewer than the mean pool
    assert (cached["candidate_positions"] >= cached["mean_pool_size"] - 1e-9).all()
    assert frame[frame["method"] != "cached_guided"]["candidate_positions"].isna().all()
    plot_bench(record)
    merged = merge_bench_records([record, record])
    assert len(merged["rows"]) == 8 and len(merged["summary"]) == 2 * len(record["summary"])
    other = record | {"environment": record["environment"] | {"torch_threads": 99}}
    with pytest.raises(ValueError, match="threads"):
        merge_bench_records([record, other])
    with pytest.raises(ValueError, match="bench_files is empty"):
        merge_bench_records([])


def test_decoding_speed_bench_times_the_frontier_samplers_against_generate(tmp_path: Path) -> None:
    bench = load_bench("decoding_speed")
    out = tmp_path / "speed.json"
    args = ["--model", "tiny", "--batch", "2", "--new-tokens", "3", "--repeats", "2", "--data-dir", str(tmp_path)]
    record = bench.main([*args, "--out", str(out)])
    assert json.loads(out.read_text())["rows"] == record["rows"]
    rows = {r["method"]: r for r in record["rows"]}
    assert list(rows) == ["generate", "reference", "pool", "coala_paper", "coala_args"]
    assert all(len(r["all_seconds"]) == 2 and r["seconds"] > 0 for r in rows.values())
    base = rows["generate"]["seconds"]
    for name, target in bench.TARGETS.items():
        assert rows[name]["ratio"] == pytest.approx(rows[name]["seconds"] / base)
        assert rows[name]["meets_target"] == (rows[name]["ratio"] <= target)
    samplers = record["parameters"]["samplers"]
    assert samplers["coala_paper"]["top_k"] == 50 and samplers["reference"]["top_p"] == 1.0
    assert record["prompts"].startswith("fixed text")  # no IMDb files in the data folder
