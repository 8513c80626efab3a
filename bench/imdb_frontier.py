"""The IMDb controlled-sentiment frontier: COALA against DPO, ORPO, SimPO, best-of-n and SFT, reward vs KL.

The command line of :mod:`coala_lib.experiments.frontier`, whose docstring states the protocol (the DPO
paper's sentiment task on the book's offline models and data). Every stage is cached by content under
``cache_dir()/imdb_frontier``, so a killed run resumes where it stopped; after every stage the record
(``record.json``), the generations (``generations.jsonl.gz``) and every best-of-n candidate
(``best_of_n_pool.jsonl.gz``) are rewritten under ``--out``, and a fresh clone restores the committed runs
from them.

CPU (the book's record; one torch thread, polite to other users of the machine)::

    COALA_DATA_DIR=../shared/data HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/imdb_frontier.py --threads 1

GPU at the same scale or larger (``--model`` any alias of :mod:`coala_lib.backbone.registry`)::

    .venv/bin/python bench/imdb_frontier.py --device cuda --model gpt2 --set decode_batch=256
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from coala_lib.experiments.frontier import FRONTIER_METHODS, RECORD, TINY, FrontierConfig, run_frontier

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "imdb_frontier"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's arguments."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="backbone alias or path (default smollm2; tiny with --scale tiny)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--scale", choices=["full", "tiny"], default="full", help="tiny: the test configuration")
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        choices=tuple(FRONTIER_METHODS),
        help="a subset, run in the order of value",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of record.json and generations.jsonl.gz")
    p.add_argument("--cache-dir", default=None, help="cache root (default $COALA_CACHE_DIR or ~/.cache/coala)")
    p.add_argument("--data-dir", default=None, help="IMDb files (default $COALA_DATA_DIR, else the Hub)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after the chunk that crosses this budget")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override any FrontierConfig field")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> FrontierConfig:
    """The configuration of ``--scale``, with ``--set`` (a tuple field takes comma-separated values),
    ``--model`` and ``--methods`` (run in the registry's order of value whatever their order here) applied."""
    config = FrontierConfig(**(TINY if args.scale == "tiny" else {}))
    changes: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(FrontierConfig)}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in types:
            raise SystemExit(f"--set {item!r}: {name!r} is not a FrontierConfig field; fields: {sorted(types)}")
        current = getattr(config, name)
        if isinstance(current, tuple):
            kind = type(current[0]) if current else float
            changes[name] = tuple(v if kind is str else kind(v) for v in value.split(",") if v)
        else:
            changes[name] = type(current)(value)
    if args.model:
        changes["model"] = args.model
    if args.methods:
        changes["methods"] = tuple(m for m in FRONTIER_METHODS if m in args.methods)
    return replace(config, **changes)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run (or resume) the frontier as the command line says; return the record."""
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    record = run_frontier(
        build_config(args),
        args.out,
        device=args.device,
        cache_root=args.cache_dir,
        data_dir=args.data_dir,
        max_minutes=args.max_minutes,
        progress=not args.quiet,
        command=" ".join(sys.argv).replace(f"{ROOT}/", ""),  # no machine path in the record
    )
    status = record["status"]
    print(
        f"{len(status['decoding_runs_done'])} decoding runs done, {len(status['decoding_runs_pending'])} pending; "
        f"record: {args.out / RECORD}"
    )
    return record


if __name__ == "__main__":
    main()
