"""Benchmark guided decoding: plain sampling vs the naive (no-cache) and the KV-cached guided paths.

For each prompt length and batch size it decodes with a random head (the head's weights do not change
the cost) and records wall time (a timed run after a warm-up) and counted FLOPs (a separate run under
``FlopCounterMode``) per generated token. The naive path re-runs the whole prefix for every forward and
every candidate, so it is measured over ``--naive-new-tokens`` tokens (default 5 = one guidance period
of N = 5, which holds exactly one scored step); the cached path is measured over the same tokens too,
so the naive/cached ratios compare like with like; those ratios leave out the prompt's first forward,
which both paths do once and which would otherwise dominate a 5-token run (it is measured separately
and recorded). EOS is ignored so every run decodes its full budget.

CPU (the book's committed result)::

    COALA_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/guidance.py

GPU, random-weight Llama-3.1-8B shape in bf16::

    .venv/bin/python bench/guidance.py --device cuda --random-llama 8b --out results/bench_guidance_cuda.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from coala_lib.accounting import measure
from coala_lib.core import atomic_write_json, environment_record, resolve_device
from coala_lib.guidance import CachedPrefix, GuidanceConfig, guided_generate
from coala_lib.head import CoalaHead

ROOT = Path(__file__).resolve().parents[1]

#: Llama-3.1-8B's shape (meta-llama/Llama-3.1-8B config.json) and a tiny one for tests.
LLAMA_SHAPES: dict[str, dict[str, Any]] = {
    "8b": dict(
        vocab_size=128256,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        rope_theta=500000.0,
        max_position_embeddings=131072,
    ),
    "tiny": dict(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
    ),
}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model", default="smollm2", help="a coala_lib.backbone.registry alias or path (ignored with --random-llama)"
    )
    p.add_argument(
        "--random-llama",
        choices=sorted(LLAMA_SHAPES),
        default=None,
        help="a random-weight Llama of this shape instead of --model",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="float32 / bfloat16 (default: bf16 on CUDA, float32 on CPU)")
    p.add_argument("--mode", default="paper", choices=["paper", "additive"])
    p.add_argument("--prompt-lengths", type=int, nargs="+", default=[64, 512])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--naive-new-tokens", type=int, default=5)
    p.add_argument("--head-width", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="batch 1 and 16 new tokens: a smoke run")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_guidance_cpu.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes, args.new_tokens = [1], min(args.new_tokens, 16)
    return args


def build_model(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any, str]:
    """(model, tokenizer or None, description)."""
    if args.random_llama is None:
        from coala_lib.backbone import load_backbone

        backbone = load_backbone(args.model, device=device, dtype=dtype)
        return backbone.model, backbone.tokenizer, backbone.model_id
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**LLAMA_SHAPES[args.random_llama], bos_token_id=1, eos_token_id=2, pad_token_id=0)
    default = torch.get_default_dtype()
    torch.manual_seed(args.seed)
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model.eval().requires_grad_(False)
    return model, None, f"random Llama ({args.random_llama} shape)"


def prompt_ids(
    tokenizer: Any, vocab_size: int, length: int, batch: int, seed: int, device: torch.device
) -> torch.Tensor:
    """``batch`` prompts of exactly ``length`` tokens: IMDb test reviews when a tokenizer and the data
    are available (realistic candidate pools), else random token ids."""
    if tokenizer is not None:
        from coala_lib.data import load_imdb_reviews

        texts, _ = load_imdb_reviews("test", n=8 * batch, seed=seed)
        rows, stream = [], []
        for text in texts:
            stream += tokenizer(text, add_special_tokens=False)["input_ids"]
            while len(stream) >= length and len(rows) < batch:
                rows.append(stream[:length])
                stream = stream[length:]
        if len(rows) == batch:
            return torch.tensor(rows, device=device)
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab_size, (batch, length), generator=g).to(device)


def random_head(dim: int, width: int, seed: int, device: torch.device) -> CoalaHead:
    return CoalaHead.random(dim, width, seed, model_id="bench").to(device)


def prefill(model: Any, ids: torch.Tensor, device: torch.device) -> dict[str, float]:
    """Seconds and FLOPs of the prompt's first forward (every path does it once, before any new token)."""
    with torch.no_grad():
        with measure("prefill", device, count_flops=False) as timing:
            CachedPrefix(model, ids, torch.ones_like(ids), "mean")
        with measure("prefill", device, count_flops=True) as counting:
            CachedPrefix(model, ids, torch.ones_like(ids), "mean")
    return {"seconds": timing.seconds, "flops": counting.flops}


def run(
    model: Any,
    tokenizer: Any,
    ids: torch.Tensor,
    head: CoalaHead,
    config: GuidanceConfig,
    method: str,
    device: torch.device,
    seed: int,
    first: dict[str, float],
) -> dict[str, Any]:
    """Time one decode, then count its FLOPs in a second identical decode. ``decode_*`` leave out the
    prompt's first forward (``first``, from :func:`prefill`), which short runs would otherwise be about."""
    use_head = head if config.needs_head else None

    def decode() -> Any:
        return guided_generate(
            model,
            tokenizer,
            input_ids=ids,
            head=use_head,
            config=config,
            generator=torch.Generator(device).manual_seed(seed),
        )

    with measure(method, device, count_flops=False) as timing:
        out = decode()
    with measure(method, device, count_flops=True) as counting:
        decode()
    tokens = ids.shape[0] * config.max_new_tokens
    pools = [float(s.valid.sum(1).float().mean()) for s in out.steps]
    return {
        "method": method,
        "prompt_length": ids.shape[1],
        "batch_size": ids.shape[0],
        "new_tokens": config.max_new_tokens,
        "seconds": timing.seconds,
        "tokens_per_second": tokens / timing.seconds,
        "flops": counting.flops,
        "flops_per_token": counting.flops / tokens,
        "decode_seconds": timing.seconds - first["seconds"],
        "decode_flops_per_token": (counting.flops - first["flops"]) / tokens,
        "prefill_seconds": first["seconds"],
        "prefill_flops": first["flops"],
        "processed_tokens": out.stats["processed_tokens"],
        "scored_steps": len(out.steps),
        "mean_pool_size": sum(pools) / len(pools) if pools else None,
        "peak_memory_bytes": timing.peak_memory_bytes,
        "memory_kind": timing.memory_kind,
    }


def summarise(rows: list[dict[str, Any]], new_tokens: int, naive_tokens: int) -> list[dict[str, Any]]:
    """Per (prompt length, batch): cached/plain total time; naive/cached decode time and decode FLOPs
    (both without the shared prompt forward), against the targets."""
    index = {(r["method"], r["prompt_length"], r["batch_size"], r["new_tokens"]): r for r in rows}
    out = []
    for length, batch in sorted({(r["prompt_length"], r["batch_size"]) for r in rows}):
        plain, cached = index[("plain", length, batch, new_tokens)], index[("cached_guided", length, batch, new_tokens)]
        naive = index[("naive_guided", length, batch, naive_tokens)]
        cached_short = index[("cached_guided", length, batch, naive_tokens)]
        slow = cached["seconds"] / plain["seconds"]
        speedup = naive["decode_seconds"] / cached_short["decode_seconds"]
        flops = naive["decode_flops_per_token"] / cached_short["decode_flops_per_token"]
        out.append(
            {
                "prompt_length": length,
                "batch_size": batch,
                "cached_over_plain_time": slow,
                "naive_over_cached_time": speedup,
                "naive_over_cached_flops": flops,
                "target_cached_within_1.5x_plain": slow <= 1.5,
                "target_5x_faster_than_naive": speedup >= 5 if length >= 512 else None,
                "target_50x_fewer_flops": flops >= 50,
            }
        )
    return out


def decode_rows(
    model: Any,
    tokenizer: Any,
    ids: torch.Tensor,
    head: CoalaHead,
    guided: GuidanceConfig,
    args: argparse.Namespace,
    device: torch.device,
) -> list[dict[str, Any]]:
    """The rows of one prompt length and batch: a warm-up decode and the prompt's first forward, then for
    each budget plain sampling (at ``--new-tokens``), the cached guided path (at both budgets) and the naive
    one (at ``--naive-new-tokens``)."""
    warm_up = guided.with_(max_new_tokens=2)
    run(model, tokenizer, ids[:, :8], head, warm_up, "warm-up", device, args.seed, {"seconds": 0.0, "flops": 0})
    first = prefill(model, ids, device)
    rows = []
    for budget in sorted({args.new_tokens, args.naive_new_tokens}):
        paths = []
        if budget == args.new_tokens:
            paths.append(("plain", guided.with_(mode="plain", max_new_tokens=budget)))
        paths.append(("cached_guided", guided.with_(max_new_tokens=budget)))
        if budget == args.naive_new_tokens:
            paths.append(("naive_guided", guided.with_(max_new_tokens=budget, use_cache=False)))
        for method, config in paths:
            rows.append(run(model, tokenizer, ids, head, config, method, device, args.seed, first))
    return rows


def bench_record(
    args: argparse.Namespace, name: str, dtype: torch.dtype, guided: GuidanceConfig, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON record: the run's parameters, the guidance settings, the environment, the rows and their
    summary."""
    return {
        "benchmark": "guided decoding: plain vs naive (no cache) vs KV-cached",
        "model": name,
        "dtype": str(dtype).removeprefix("torch."),
        "parameters": {k: v for k, v in vars(args).items() if k != "out"},
        "guidance": {
            k: getattr(guided, k)
            for k in ("mode", "guidance_scale", "every", "top_k", "top_p", "temperature", "repetition_penalty")
        },
        "environment": environment_record(),
        "rows": rows,
        "summary": summarise(rows, args.new_tokens, args.naive_new_tokens),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    model, tokenizer, name = build_model(args, device, dtype)
    dim = model.get_output_embeddings().weight.shape[1]
    head = random_head(dim, args.head_width, args.seed, device)
    guided = GuidanceConfig(mode=args.mode, ignore_eos=True, **({"top_k": 15} if args.mode == "additive" else {}))
    rows = []
    for length in args.prompt_lengths:
        for batch in args.batch_sizes:
            ids = prompt_ids(tokenizer, model.config.vocab_size, length, batch, args.seed, device)
            rows += decode_rows(model, tokenizer, ids, head, guided, args, device)
            print(*rows[-3:], sep="\n", file=sys.stderr)
    record = bench_record(args, name, dtype, guided, rows)
    atomic_write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
