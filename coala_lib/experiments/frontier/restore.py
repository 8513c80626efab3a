"""Restoring a lost cache from a saved record: a fresh clone resumes from the committed record and its
generations instead of decoding (and training) them again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from coala_lib.claims.ledger import read_frontier_generations, read_frontier_record
from coala_lib.experiments.frontier.config import (
    GENERATIONS,
    POOL,
    RECORD,
    RESTORED_COLUMNS,
    UNRECORDED,
)
from coala_lib.experiments.frontier.context import Context
from coala_lib.experiments.frontier.methods import head_steered, is_trained
from coala_lib.experiments.frontier.runs import Run

log = logging.getLogger(__name__)

#: Saved generations: per (method, setting, split), the rows by (prompt, sample).
SavedRows = dict[tuple[str, str, str], dict[tuple[int, int], dict[str, Any]]]
#: A saved record and its generations (:func:`read_saved`).
Saved = tuple[dict[str, Any], SavedRows]


def read_saved(out_dir: Path) -> Saved | None:
    """The record under ``out_dir`` and its generations (with the best-of-n pool's, when saved) by (method,
    setting, split) and (prompt, sample); ``None`` if the record or the generations are missing. Read before
    the run rewrites them, and checked as the ledger reads them (a damaged file is a ``RecordError`` naming
    it, and the line)."""
    record_path, generations_path, pool_path = out_dir / RECORD, out_dir / GENERATIONS, out_dir / POOL
    if not (record_path.exists() and generations_path.exists()):
        return None
    rows_by_run: SavedRows = {}
    pool = read_frontier_generations(pool_path) if pool_path.exists() else []
    for g in [*read_frontier_generations(generations_path), *pool]:
        rows_by_run.setdefault((g["method"], g["setting"], g["split"]), {})[(g["prompt_id"], g["sample"])] = g
    return read_frontier_record(record_path), rows_by_run


def restore_from_record(ctx: Context, work: list[tuple[Run, str]], saved: Saved | None) -> list[str]:
    """Rebuild the missing decoding chunks of ``work`` from a saved record and its generations
    (:func:`read_saved`).

    A fresh clone (or a machine whose cache was lost) then resumes from the committed record instead of
    re-decoding it. A run is restored only if the record's row for it was made under the same cache key
    (its ``key`` equals :meth:`Context.run_key`). Each restored chunk gets the rows of that chunk exactly as
    they were generated and its share (by rows) of the run's recorded decoding and evaluation cost; it is
    marked ``restored``. A trained baseline's stage (training summary, held-out loss, cost) is restored
    with its runs, so a baseline whose runs are all restored is not trained again. A best-of-n pool is
    restored from the pool file (every candidate; the head scores it afresh). Returns the labels of the
    restored runs.
    """
    if saved is None:
        return []
    record, rows_by_run = saved
    by_run = {(s["method"], s["setting"], s["split"]): s for s in record.get("settings", [])}
    restored = []
    for run, split in work:
        row = _saved_row(record, by_run, run, split)
        if row is None or ctx.is_cached(run, split):
            continue
        if row.get("key") != ctx.run_key(run, split):
            log.warning("the record's %s %s was made under other settings: not restored", run.label, split)
            continue
        if _restore_run(ctx, record, run, split, row, rows_by_run.get((run.method, run.setting, split), {})):
            restored.append(f"{run.label} {split}")
    return restored


def _saved_row(
    record: dict[str, Any], by_run: dict[tuple[str, str, str], dict[str, Any]], run: Run, split: str
) -> dict[str, Any] | None:
    """The record's settings row of ``run`` on ``split`` (``by_run``: the rows by method, setting and split);
    for best-of-n, whose settings (one per n) share the pool, its first row on ``split``."""
    if run.method == "best_of_n":
        return next((s for s in record.get("settings", []) if s["method"] == run.method and s["split"] == split), None)
    return by_run.get((run.method, run.setting, split))


def _restore_run(
    ctx: Context,
    record: dict[str, Any],
    run: Run,
    split: str,
    row: dict[str, Any],
    rows: dict[tuple[int, int], dict[str, Any]],
) -> bool:
    """Publish every chunk of ``run`` on ``split`` from its saved generations ``rows`` and the record's
    ``row`` (a trained baseline's stage too); ``False``, with nothing written, unless every row was saved."""
    n_rows = len(ctx.data.prompts[split]) * run.per_prompt
    if len(rows) != n_rows:
        return False
    for name, chunk_rows in ctx.chunks(run, split):
        payload = _restored_chunk(ctx, run, row, [rows[r] for r in chunk_rows], len(chunk_rows) / n_rows)
        ctx.cache.put("chunk", name, {"rows": [list(r) for r in chunk_rows], **payload})
    stage = record.get("stages", {}).get(f"train {run.label}")
    if is_trained(run.method) and stage is not None and ctx.cache.get("stage", ctx.train_key(run)) is None:
        ctx.cache.put("stage", ctx.train_key(run), {**stage, "restored": True})
    return True


def _restored_chunk(
    ctx: Context, run: Run, row: dict[str, Any], gens: list[dict[str, Any]], share: float
) -> dict[str, Any]:
    """A chunk's payload (but its ``rows``) from its saved generations ``gens``: texts, KL terms, rewards, and
    ``share`` (its fraction of the run's rows) of the run's recorded cost; the head when one head made the
    run."""
    one_head = len(row.get("heads", [])) == 1 and row["heads"][0] != UNRECORDED
    return {
        "texts": [g["text"] for g in gens],
        **{field_name: [g[column] for g in gens] for field_name, column in RESTORED_COLUMNS.items()},
        "rewards": {j: [g[f"reward_{j}"] for g in gens] for j in sorted(ctx.judges())},
        **{k: row["cost"][k] * share for k in ("decode_seconds", "decode_flops", "evaluation_seconds")},
        **({"head": row["heads"][0]} if head_steered(run.method) and one_head else {}),
        "restored": True,
    }
