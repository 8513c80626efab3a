"""The frontier's decoding next to Hugging Face ``generate``: same model, prompts, batch, threads and new tokens.

Rows, each timed ``--repeats`` times in interleaved order (generate, then each frontier run, then generate
again, ...) so that a machine whose load drifts slows every row alike; the JSON keeps every time and reports
the median:

* ``generate``: ``model.generate(do_sample=True, top_k=0, top_p=1)``, temperature 1, exactly
  ``--new-tokens`` tokens (``min_new_tokens``), the baseline;
* ``reference``, ``pool``, ``coala_paper``, ``coala_args``: :func:`coala_lib.guidance.guided_generate` with
  the frontier's own sampler of that run (:func:`coala_lib.experiments.frontier.runs.sampler`: the reference
  at temperature 1, paper mode's nucleus without and with the head, ARGS mode's top-10 with the head) and
  its sampling recorder on (the frontier records every draw for the KL), EOS ignored; the head is random
  (its weights do not change the cost) of the width ``--head-width``.

Each row's ``ratio`` is its median time over ``generate``'s; issue 29's targets are 1.2 for the plain rows
(``reference``, ``pool``) and 1.5 for the guided ones. Prompts: the first words of IMDb test reviews (as the
frontier's) when the data are there, else fixed text.

    COALA_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 .venv/bin/python bench/decoding_speed.py --threads 2 \\
        --out results/bench_decoding_cpu.json
    python bench/decoding_speed.py --model tiny --batch 2 --new-tokens 4 --repeats 1 --out runs/decoding_tiny.json  # smoke
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from coala_lib.backbone import load_backbone
from coala_lib.core import atomic_write_json, environment_record, resolve_device, synchronize
from coala_lib.data import load_imdb_reviews
from coala_lib.evaluation import SamplingRecorder
from coala_lib.experiments.frontier import FrontierConfig, Run, sampler
from coala_lib.guidance import encode_prompts, guided_generate
from coala_lib.head import CoalaHead

ROOT = Path(__file__).resolve().parents[1]
#: Issue 29's targets: median time over ``generate``'s.
TARGETS = {"reference": 1.2, "pool": 1.2, "coala_paper": 1.5, "coala_args": 1.5}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="a coala_lib.backbone.registry alias or path")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--batch", type=int, default=32, help="prompts per call (the frontier's decode_batch)")
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--head-width", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="IMDb files (default $COALA_DATA_DIR; fixed prompts without)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench_decoding_cpu.json"))
    return p.parse_args(argv)


def prompts(n: int, seed: int, data_dir: str | None, words: int) -> tuple[list[str], str]:
    """``n`` prompts of ``words`` words: IMDb test review openings, else a fixed sentence; and their source."""
    try:
        texts, _ = load_imdb_reviews("test", n=n, seed=seed, data_dir=data_dir)
        return [" ".join(t.split()[:words]) for t in texts], "imdb test reviews"
    except (FileNotFoundError, OSError, ValueError):
        return [f"Review {i}: this film was" for i in range(n)], "fixed text (no IMDb data found)"


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    synchronize(device)
    started = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - started


#: The frontier's runs timed against ``generate``, one per sampler.
RUNS = {
    "reference": Run("reference", "T=1", None, 1),
    "pool": Run("pool", "nucleus", None, 1),
    "coala_paper": Run("coala_paper", "lambda=2", 2.0, 1),
    "coala_args": Run("coala_args", "w=1.5", 1.5, 1),
}


def decoders(
    backbone: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    head: CoalaHead,
    config: FrontierConfig,
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Callable[[], Any]]:
    """``generate`` and the frontier's decode of each of :data:`RUNS` (its sampler, its recorder on), each a
    call of no arguments that decodes the same prompts from the same seed."""
    model, tok = backbone.model, backbone.tokenizer
    vocab = model.config.vocab_size
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def generate() -> Any:
        torch.manual_seed(args.seed)  # generate draws from the global generator
        return model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=1.0,
            max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens,
            pad_token_id=pad,
        )

    def frontier(run: Run) -> Callable[[], Any]:
        sampling = replace(sampler(config, run, vocab), ignore_eos=True)
        guided = run.method in ("coala_paper", "coala_args")

        def decode() -> Any:
            with SamplingRecorder().record():
                return guided_generate(
                    model,
                    tok,
                    head=head if guided else None,
                    config=sampling,
                    generator=torch.Generator(device).manual_seed(args.seed),
                    input_ids=ids,
                    attention_mask=mask,
                )

        return decode

    return {"generate": generate, **{name: frontier(run) for name, run in RUNS.items()}}


def interleaved_seconds(
    calls: dict[str, Callable[[], Any]], repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Each call's times over ``repeats`` rounds of every call in turn, after one warm-up call each."""
    for fn in calls.values():  # warm-up: first calls allocate caches and kernels
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            seconds[name].append(timed(fn, device))
    return seconds


def speed_rows(seconds: dict[str, list[float]], tokens: int) -> list[dict[str, Any]]:
    """One row per call: its median time, every time, tokens per second and, but for ``generate``, its ratio
    to ``generate``'s median against :data:`TARGETS`."""
    base = statistics.median(seconds["generate"])
    rows = []
    for name, times in seconds.items():
        median = statistics.median(times)
        row = {"method": name, "seconds": median, "all_seconds": times, "tokens_per_second": tokens / median}
        if name != "generate":
            row |= {"ratio": median / base, "target": TARGETS[name], "meets_target": median / base <= TARGETS[name]}
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    backbone = load_backbone(args.model, device, seed=args.seed)
    config = replace(FrontierConfig(), max_new_tokens=args.new_tokens)
    texts, source = prompts(args.batch, args.seed, args.data_dir, config.prompt_words)
    ids, mask = encode_prompts(backbone.tokenizer, texts, device)
    head = CoalaHead.random(backbone.hidden_size, args.head_width, args.seed, backbone.model_id).to(device)
    calls = decoders(backbone, ids, mask, head, config, args, device)
    rows = speed_rows(interleaved_seconds(calls, args.repeats, device), args.batch * args.new_tokens)
    vocab = backbone.model.config.vocab_size
    record = {
        "benchmark": "frontier decoding vs transformers generate (median of interleaved repeats)",
        "model": backbone.model_id,
        "prompts": source,
        "parameters": vars(args) | {"samplers": {n: asdict(sampler(config, r, vocab)) for n, r in RUNS.items()}},
        "environment": environment_record(),
        "rows": rows,
    }
    atomic_write_json(Path(args.out), record)
    for row in rows:
        ratio = f"  x{row['ratio']:.2f} (target {row['target']})" if "ratio" in row else ""
        print(f"{row['method']:12s} {row['seconds']:7.2f} s  {row['tokens_per_second']:6.1f} tok/s{ratio}")
    return record


if __name__ == "__main__":
    main()
