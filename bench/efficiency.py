"""What COALA costs next to LoRA-DPO and full-parameter DPO, per 1,000 preference pairs, at real shapes.

Models are built from the real configurations with random weights (time, FLOPs and memory do not
depend on weight values). Per stage the benchmark records wall time with device synchronisation (one
warm-up, then ``--batches`` timed batches), counted FLOPs (one separate counted batch: counting adds
Python overhead per operator, so it is never timed) and peak memory (CUDA max allocated; CPU resident
set growth). Per-1,000-pair numbers are extrapolated linearly from the measured batches, and the
JSON says so. Stages:

* COALA: ``extraction`` (forward-only, pooled last layer, of chosen and rejected at ``--seq-len``),
  ``phase1`` (CRONOS on ``--head-pairs`` pairs of random standardised features of the model's width),
  ``phase2`` (the paper's AdamW on the convex loss, 500 epochs), ``guided_decoding`` (per generated token);
* baselines: ``lora_dpo`` (r=16 on all linear layers, gradient checkpointing, reference = adapters
  off), ``full_dpo`` (all weights, frozen reference copy; a CUDA out-of-memory is recorded as such),
  ``lora_orpo`` and ``lora_sft`` steps.

``--count-shapes llama8b mistral7b`` also counts, on the ``meta`` device (no weights allocated, so on
any CPU), the FLOPs of one extraction batch and one LoRA-DPO / full-DPO step at those shapes.

    python bench/efficiency.py --device cpu --shape tiny            # quick check
    python bench/efficiency.py --device cuda --shape llama8b        # a GPU (e.g. H200)
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from coala_lib.accounting import ResultRecord, StageRecord, count_flops, decoder_forward_flops, measure
from coala_lib.backbone import LORA_R, Backbone, pooled_from_ids
from coala_lib.baselines import full_policy, lora_policy, random_pair_batch, train_step
from coala_lib.convex import CronosConfig, fit_cronos
from coala_lib.core import resolve_device, seed_everything
from coala_lib.guidance import GuidanceConfig, guided_generate
from coala_lib.head import CoalaHead, HeadConfig, design, train_adamw

PAIRS_PER_REPORT = 1000
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shape:
    """A decoder configuration and where its numbers come from."""

    family: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    rope_theta: float
    tie_word_embeddings: bool
    source: str


SHAPES: dict[str, Shape] = {
    "tiny": Shape(
        "llama", 64, 2, 4, 2, 128, 50257, 10_000.0, True, "coala_lib.backbone.registry.build_tiny (GPT-2 vocabulary)"
    ),
    "tiny_mistral": Shape(
        "mistral", 64, 2, 4, 2, 128, 32000, 10_000.0, False, "Mistral-7B-v0.1's family and vocabulary at tiny width"
    ),
    "smollm2": Shape(
        "llama", 576, 30, 9, 3, 1536, 49152, 100_000.0, True, "HuggingFaceTB/SmolLM2-135M-Instruct config.json"
    ),
    "llama8b": Shape("llama", 4096, 32, 32, 8, 14336, 128256, 500_000.0, False, "meta-llama/Llama-3.1-8B config.json"),
    "mistral7b": Shape(
        "mistral", 4096, 32, 32, 8, 14336, 32000, 10_000.0, False, "mistralai/Mistral-7B-v0.1 config.json"
    ),
}

#: Reference figures on an H200 supplied with the efficiency targets, not measured by this book (Llama-3.1-8B
#: shape, bf16, 8 sequences of 512 tokens); no verdict reads them.
ANCHORS_H200 = {
    "extraction_tokens_per_second": 35_400,
    "extraction_peak_gb": 16.9,
    "lora_dpo_pairs_per_second": 5.38,
    "lora_dpo_peak_gb": 29.3,
    "full_dpo_peak_gb": 89.8,
}
TARGETS = {
    "coala_pairs_per_second_min": 30.0,
    "coala_peak_gb_max": 18.0,
    "coala_flops_over_lora_dpo_epoch_max": 0.25,
    "head_time_share_max": 0.02,
}


def build_config(shape: str, attn_implementation: str = "sdpa") -> Any:
    """The ``transformers`` config of ``shape`` (a key of :data:`SHAPES`)."""
    from transformers import LlamaConfig, MistralConfig

    if shape not in SHAPES:
        raise ValueError(f"shape={shape!r} is not one of {sorted(SHAPES)}")
    s = SHAPES[shape]
    cls = MistralConfig if s.family == "mistral" else LlamaConfig
    fields = {k: v for k, v in asdict(s).items() if k not in ("family", "source", "rope_theta")}
    config = cls(**fields, max_position_embeddings=4096, attn_implementation=attn_implementation)
    config.rope_parameters = {"rope_type": "default", "rope_theta": s.rope_theta}
    return config


def random_model(
    shape: str, device: torch.device | str, dtype: torch.dtype, seed: int = 0, attn_implementation: str = "sdpa"
) -> Any:
    """A causal LM of ``shape`` with random weights, created directly on ``device`` (``meta``: no memory)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(build_config(shape, attn_implementation), dtype=dtype)
    return model.eval().requires_grad_(False)


# --------------------------------------------------------------------------------------------- timing


def timed_and_counted(
    stage: str, device: torch.device, run: Callable[[], Any], repeats: int, warmup: int = 1, **params: Any
) -> StageRecord:
    """``warmup`` untimed runs, ``repeats`` timed runs (one record), one counted run; FLOPs scaled to ``repeats``."""
    for _ in range(warmup):
        run()
    with measure(stage, device, count_flops=False, repeats=repeats, **params) as record:
        for _ in range(repeats):
            run()
    record.flops = repeats * count_flops(run)
    return record


def extraction_stage(
    model: Any, device: torch.device, dtype: torch.dtype, batch: int, seq_len: int, repeats: int
) -> StageRecord:
    """Forward-only pooled features of ``batch`` sequences (half chosen, half rejected) per run."""
    backbone = Backbone(model=model, tokenizer=None, model_id="random", revision="-", device=device, dtype=dtype)
    ids = random_pair_batch(max(1, batch // 2), seq_len, model.config.vocab_size, device=device).input_ids[:batch]
    mask = torch.ones_like(ids)
    return timed_and_counted(
        "extraction",
        device,
        lambda: pooled_from_ids(backbone, ids, mask, "mean"),
        repeats,
        sequences=batch,
        pairs=repeats * batch / 2,
        seq_len=seq_len,
    )


def head_stages(
    dim: int, pairs: int, device: torch.device, phase1_iters: int, adamw_epochs: int, seed: int
) -> list[StageRecord]:
    """Phase I (CRONOS) and Phase II (AdamW, the paper's solver) on ``pairs`` pairs of random features."""
    config = HeadConfig()
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(2 * pairs, dim, generator=gen).to(device)
    y = torch.cat([torch.ones(pairs), -torch.ones(pairs)]).to(device)
    params = {"pairs": pairs, "dim": dim, "P": config.P, "max_iters": phase1_iters}

    def phase1() -> Any:
        phase1_config = CronosConfig(P=config.P, beta=config.beta, rho=config.rho, max_iters=phase1_iters, seed=seed)
        return fit_cronos(X, y, phase1_config)

    record1 = timed_and_counted("phase1", device, phase1, repeats=1, warmup=0, **params)
    result = phase1()
    record1.params["iterations"] = result.iterations
    net = result.model.to_two_layer()
    H = torch.relu(X.double().cpu() @ net.W1.double().cpu().T)
    hc, hr = H[:pairs], H[pairs:]
    Z = design(hc, hr, "pairwise")
    hyper = {"beta": config.phase2_beta, "gamma": config.phase2_gamma, "l2": config.phase2_l2}

    def phase2() -> Any:
        return train_adamw(
            Z,
            hc,
            hr,
            **hyper,
            lr=config.adamw_lr,
            epochs=adamw_epochs,
            batch_size=config.adamw_batch,
            seed=seed,
            log_every=10**9,
        )

    record2 = timed_and_counted(
        "phase2",
        torch.device("cpu"),
        phase2,
        repeats=1,
        warmup=0,
        pairs=pairs,
        width=net.width,
        epochs=adamw_epochs,
        solver="adamw",
    )
    return [record1, record2]


def decoding_stage(
    model: Any, device: torch.device, prompts: int, prompt_len: int, new_tokens: int, seed: int
) -> StageRecord:
    """Paper-style guided decoding (KV cache, head every 5 tokens) of ``new_tokens`` tokens per prompt."""
    d = model.config.hidden_size
    head = CoalaHead(
        torch.randn(20, d) / math.sqrt(d), torch.randn(20), torch.zeros(d), torch.ones(d), "random", "mean"
    )
    ids = torch.randint(
        0, model.config.vocab_size, (prompts, prompt_len), generator=torch.Generator().manual_seed(seed)
    )
    config = GuidanceConfig(mode="paper", max_new_tokens=new_tokens, ignore_eos=True)

    def run() -> Any:
        return guided_generate(
            model,
            None,
            head=head,
            config=config,
            input_ids=ids.to(device),
            generator=torch.Generator(device).manual_seed(seed),
        )

    return timed_and_counted(
        "guided_decoding",
        device,
        run,
        repeats=1,
        prompts=prompts,
        prompt_len=prompt_len,
        new_tokens=new_tokens,
        tokens=prompts * new_tokens,
    )


def training_stage(
    name: str, model: Any, device: torch.device, batch: int, seq_len: int, repeats: int, lr: float = 1e-5
) -> tuple[StageRecord, Any]:
    """One kind of baseline step, ``batch`` sequences (``batch // 2`` pairs) per step; returns the base model back."""
    method = name.split("_")[1]
    params = {
        "sequences": batch,
        "pairs": repeats * (batch // 2),
        "seq_len": seq_len,
        "method": method,
        "gradient_checkpointing": True,
    }
    pairs = random_pair_batch(batch // 2, seq_len, model.config.vocab_size, device=device)
    if name.startswith("full"):
        policy, reference = full_policy(model)
        params.update(reference="frozen copy", trainable=sum(p.numel() for p in policy.parameters()))
    else:
        policy, reference = lora_policy(model), None
        params.update(
            reference="adapters disabled",
            lora_r=LORA_R,
            trainable=sum(p.numel() for p in policy.parameters() if p.requires_grad),
        )
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=lr)
    step = partial(train_step, policy, optimizer, pairs, method, reference)
    record = timed_and_counted(name, device, step, repeats, **params)
    del step, optimizer, reference
    base = policy.unload() if hasattr(policy, "unload") else policy
    return record, base.eval().requires_grad_(False)


def oom_record(name: str, device: torch.device, err: BaseException, **params: Any) -> StageRecord:
    """A stage that did not fit: peak memory reached before failing, status ``oom``."""
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else 0
    message = str(err).splitlines()[0][:200]
    return StageRecord(
        name,
        peak_memory_bytes=peak,
        memory_kind="cuda_max_allocated",
        params={**params, "status": "oom", "error": message},
    )


def meta_flops(shape: str, batch: int, seq_len: int) -> dict[str, Any]:
    """Counted FLOPs at ``shape`` on the meta device: one extraction batch and one DPO step (LoRA, full).

    Eager attention is used here (the SDPA mask path reads tensor values, which meta tensors lack); its
    forward count equals SDPA's, its backward count omits the score recomputation of flash attention.
    """
    model = random_model(shape, "meta", torch.bfloat16, attn_implementation="eager")
    pairs = random_pair_batch(batch // 2, seq_len, model.config.vocab_size, device="meta")
    ids, mask = pairs.input_ids[:batch], pairs.attention_mask[:batch]
    out: dict[str, Any] = {"shape": shape, "sequences": batch, "seq_len": seq_len, "attention": "eager"}
    out["extraction"] = count_flops(lambda: model.model(input_ids=ids, attention_mask=mask, use_cache=False))
    out["extraction_analytic"] = decoder_forward_flops(model.config, batch, seq_len, lm_head=False)
    for name in ("lora_dpo", "full_dpo"):
        if name == "lora_dpo":
            policy, reference = lora_policy(model), None
        else:
            policy, reference = full_policy(model)
        optimizer = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.0)
        out[name] = count_flops(partial(train_step, policy, optimizer, pairs, "dpo", reference))
        model = policy.unload() if hasattr(policy, "unload") else policy
    return out


# -------------------------------------------------------------------------------------------- summary


def per_pair(record: StageRecord) -> tuple[float, float]:
    """(seconds, FLOPs) per pair of a stage whose params hold the number of ``pairs`` it processed."""
    pairs = float(record.params["pairs"])
    return record.seconds / pairs, record.flops / pairs


def summarise(stages: dict[str, StageRecord], head_pairs: int) -> dict[str, Any]:
    """Per-1,000-pair time, FLOPs and peak memory of COALA and of each baseline, and the targets' checks."""
    n = PAIRS_PER_REPORT
    scale = n / head_pairs
    ext_s, ext_f = per_pair(stages["extraction"])
    head_s = (stages["phase1"].seconds + stages["phase2"].seconds) * scale
    head_f = (stages["phase1"].flops + stages["phase2"].flops) * scale
    coala_s = n * ext_s + head_s
    coala_f = n * ext_f + head_f
    coala_peak = max(stages[k].peak_memory_bytes for k in ("extraction", "phase1", "phase2"))
    out: dict[str, Any] = {
        "pairs": n,
        "coala": {
            "seconds": coala_s,
            "flops": coala_f,
            "peak_memory_bytes": coala_peak,
            "pairs_per_second": n / coala_s,
            "head_seconds": head_s,
            "head_time_share": head_s / coala_s,
        },
    }
    for name in ("lora_dpo", "full_dpo", "lora_orpo", "lora_sft"):
        record = stages.get(name)
        if record is None:
            continue
        if record.params.get("status") == "oom":
            out[name] = {"status": "oom", "peak_memory_bytes": record.peak_memory_bytes}
            continue
        s, f = per_pair(record)
        out[name] = {
            "status": "ok",
            "seconds": n * s,
            "flops": n * f,
            "peak_memory_bytes": record.peak_memory_bytes,
            "pairs_per_second": 1 / s,
        }
    if "lora_dpo" in out and out["lora_dpo"].get("status") == "ok":
        out["coala_flops_over_lora_dpo_epoch"] = coala_f / out["lora_dpo"]["flops"]
        out["coala_time_over_lora_dpo_epoch"] = coala_s / out["lora_dpo"]["seconds"]
    return out


def check_targets(summary: dict[str, Any]) -> dict[str, bool | None]:
    """Each efficiency target as pass/fail (``None`` when not measured)."""
    coala = summary["coala"]
    ratio = summary.get("coala_flops_over_lora_dpo_epoch")
    return {
        "coala_pairs_per_second_min": coala["pairs_per_second"] >= TARGETS["coala_pairs_per_second_min"],
        "coala_peak_gb_max": coala["peak_memory_bytes"] / 1e9 <= TARGETS["coala_peak_gb_max"],
        "coala_flops_over_lora_dpo_epoch_max": None
        if ratio is None
        else ratio <= TARGETS["coala_flops_over_lora_dpo_epoch_max"],
        "head_time_share_max": coala["head_time_share"] <= TARGETS["head_time_share_max"],
    }


# ------------------------------------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    parser.add_argument(
        "--dtype", default=None, choices=["bfloat16", "float32"], help="default: bf16 on CUDA, fp32 on CPU"
    )
    parser.add_argument("--batch", type=int, default=8, help="sequences per batch (pairs = batch / 2)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batches", type=int, default=3, help="timed batches per stage (after one warm-up)")
    parser.add_argument("--head-pairs", type=int, default=PAIRS_PER_REPORT, help="pairs for Phase I and II")
    parser.add_argument("--phase1-iters", type=int, default=100, help="CRONOS ADMM iterations at most")
    parser.add_argument("--adamw-epochs", type=int, default=HeadConfig().adamw_epochs)
    parser.add_argument("--decode-tokens", type=int, default=32, help="guided decoding tokens per prompt (0: skip)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["full_dpo", "lora_orpo", "lora_sft", "guided_decoding"]
    )
    parser.add_argument(
        "--count-shapes",
        nargs="*",
        default=[],
        choices=sorted(SHAPES),
        help="also count FLOPs at these shapes on the meta device",
    )
    parser.add_argument("--count-batch", type=int, default=8, help="sequences per batch of the meta count")
    parser.add_argument("--count-seq-len", type=int, default=512, help="tokens per sequence of the meta count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON path (default results/bench_efficiency_<device>.json)")
    args = parser.parse_args(argv)
    if args.batch < 2 or args.batch % 2:
        parser.error("--batch must be an even number >= 2 (chosen and rejected sequences)")
    return args


def run(args: argparse.Namespace) -> ResultRecord:
    """Run every stage of ``args`` and return the record (not yet written)."""
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    seed_everything(args.seed)
    params = {k: v for k, v in vars(args).items() if k != "out"}
    params.update(device=str(device), dtype=str(dtype).removeprefix("torch."), shape_config=asdict(SHAPES[args.shape]))
    record = ResultRecord("bench_efficiency", params)
    record.notes.append(
        f"Per-{PAIRS_PER_REPORT}-pair numbers are extrapolated linearly from {args.batches} timed batches of "
        f"{args.batch} sequences x {args.seq_len} tokens per stage (one warm-up batch first); Phase I and II run "
        f"once on {args.head_pairs} pairs of random features"
        + ("" if args.head_pairs == PAIRS_PER_REPORT else f" and are scaled by {PAIRS_PER_REPORT}/{args.head_pairs}")
        + ". FLOPs are counted in a separate run."
    )
    record.notes.append("Random weights: time, FLOPs and memory do not depend on weight values.")
    model = random_model(args.shape, device, dtype, args.seed)
    stages: dict[str, StageRecord] = {}
    stages["extraction"] = extraction_stage(model, device, dtype, args.batch, args.seq_len, args.batches)
    for stage in head_stages(
        model.config.hidden_size, args.head_pairs, device, args.phase1_iters, args.adamw_epochs, args.seed
    ):
        stages[stage.stage] = stage
    if args.decode_tokens > 0 and "guided_decoding" not in args.skip:
        stages["guided_decoding"] = decoding_stage(
            model, device, args.batch // 2, args.seq_len // 2, args.decode_tokens, args.seed
        )
    for name in ("lora_dpo", "lora_orpo", "lora_sft", "full_dpo"):
        if name in args.skip:
            continue
        try:
            stages[name], model = training_stage(name, model, device, args.batch, args.seq_len, args.batches)
        except torch.cuda.OutOfMemoryError as err:
            stages[name] = oom_record(name, device, err, sequences=args.batch, seq_len=args.seq_len)
            record.notes.append(f"{name} ran out of GPU memory on {torch.cuda.get_device_name(device)}.")
            break  # the model's state after a failed full-DPO set-up is not reusable; full DPO runs last
        finally:
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    record.stages = list(stages.values())
    record.summary = summarise(stages, args.head_pairs)
    record.summary["targets"] = TARGETS
    record.summary["target_checks"] = check_targets(record.summary)
    record.summary["anchors_h200_llama8b"] = ANCHORS_H200
    if args.count_shapes:
        record.summary["meta_counted"] = [
            meta_flops(s, args.count_batch, args.count_seq_len) for s in args.count_shapes
        ]
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    record = run(args)
    record.summary["bench_seconds"] = time.perf_counter() - start
    out = (
        Path(args.out)
        if args.out
        else ROOT / "results" / f"bench_efficiency_{record.parameters['device'].split(':')[0]}.json"
    )
    record.write(out)
    coala = record.summary["coala"]
    print(
        f"wrote {out}: COALA {coala['pairs_per_second']:.4g} pairs/s, peak {coala['peak_memory_bytes'] / 1e9:.4g} GB; "
        f"targets {record.summary['target_checks']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
