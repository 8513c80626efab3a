"""The frontier run: every stage in the order of value, resumable, with the record rewritten as each lands."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from coala_lib.core.files import cache_dir
from coala_lib.core.runtime import progress_off, resolve_device, seed_everything
from coala_lib.experiments.frontier.cache import Cache
from coala_lib.experiments.frontier.config import SPLITS, FrontierConfig
from coala_lib.experiments.frontier.context import Context
from coala_lib.experiments.frontier.methods import frontier_method, head_guided
from coala_lib.experiments.frontier.record import Finished, assemble
from coala_lib.experiments.frontier.restore import read_saved, restore_from_record
from coala_lib.experiments.frontier.runs import decoding_runs, load_data

log = logging.getLogger(__name__)


def run_frontier(
    config: FrontierConfig,
    out_dir: Path,
    *,
    device: str = "auto",
    cache_root: str | None = None,
    data_dir: str | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) every stage in the order of value; the record is rewritten under ``out_dir`` after each one.

    The shared stages (reference, judges, and the head when a method uses it) come first; then the runs a
    saved record under ``out_dir`` holds are restored into the cache (:func:`restore_from_record`), and the
    decoding runs are done cached ones first, so that what earlier invocations left lands whatever the
    budget. Past ``max_minutes`` no new chunk (or training) starts. ``command`` is the command line the
    record names (default: ``sys.argv``). Returns the record as last written.
    """
    start = time.monotonic()
    seed_everything(config.seed)
    root = cache_dir(cache_root) / "imdb_frontier"
    ctx = Context(
        config,
        resolve_device(device),
        Cache(root),
        load_data(config, data_dir),
        data_dir=data_dir,
        cache_root=cache_root,
        progress=progress,
        deadline=start + 60 * max_minutes if max_minutes is not None else math.inf,
    )
    saved = read_saved(out_dir)  # before the first rewrite: what it holds can be restored into the cache
    finished: Finished = {}
    shared: list[Callable[[], Any]] = [ctx.reference, ctx.judges]
    if any(head_guided(m) for m in config.methods):
        shared.append(ctx.head)
    for stage in shared:  # the record is rewritten as each one lands
        stage()
        record = assemble(ctx, finished, time.monotonic() - start, out_dir, command)
    work = [(run, split) for run in decoding_runs(config) for split in SPLITS]
    for label in restore_from_record(ctx, work, saved):
        log.info("restored %s from the record under %s", label, out_dir)
    cached = {item: ctx.is_cached(*item) for item in work}
    work.sort(key=lambda item: not cached[item])  # stable: what earlier runs left lands first, whatever the budget
    for i, (run, split) in enumerate(tqdm(work, desc="frontier", unit="run", disable=progress_off(progress))):
        chunks = ctx.decode(run, split)  # None once the budget is spent before a chunk still to compute
        if chunks is None:
            log.warning(
                "time budget spent: stopping before %s %s finished (resume with the same command)", run.label, split
            )
            break
        finished[(run, split)] = (
            ctx.scored(run, split, chunks) if frontier_method(run.method).head == "scores" else chunks
        )
        if i + 1 == len(work) or not cached[work[i + 1]]:  # the record is rewritten before any new work
            record = assemble(ctx, finished, time.monotonic() - start, out_dir, command)
    return record
