"""The frontier's record: every finished run summarised per setting, the validation choice, the status, and
the files written under the output folder (the record, the generations and the best-of-n pool).

Per setting and split, a run's chunks become (prompts, samples) grids of texts, KL terms and rewards
(:func:`run_rows`); best-of-n's setting ``n`` picks, for sample ``j`` of prompt ``i``, the candidate of
highest head score among the pool's ``n`` candidates ``j * N, ..., j * N + n - 1`` (``N`` the largest n),
and its KL to the reference is the analytic bound ``log n - (n - 1) / n``. The same picks by the book
judge's reward instead of the head's score are the strong-scorer control (:data:`SCORER_CONTROL`).

Besides the decoding runs' judges (whose keys are in every run key), the judges of :data:`TEXT_JUDGES` (AFINN)
score the finished texts here, when the record is assembled (:func:`text_judged`), restored runs included:
they are in no cache key, so adding one re-decodes nothing. Every setting row also gets ``distinct_guard``,
whether its distinct-2 is at least ``config.distinct_guard`` times the reference's on the same split
(:func:`~coala_lib.experiments.frontier.selection.add_distinct_guard`), which the validation choice reads.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coala_lib.accounting.counting import package_versions
from coala_lib.core.files import atomic_write_bytes, atomic_write_json, environment_record, portable_paths
from coala_lib.data import load_imdb_reviews
from coala_lib.evaluation.frontier import summarise_setting
from coala_lib.evaluation.kl import best_of_n_kl_bound
from coala_lib.evaluation.lexicon import AfinnJudge, LexiconJudge
from coala_lib.experiments.frontier.config import (
    GENERATIONS,
    MINIMUMS,
    POOL,
    RECORD,
    RESTORED_COLUMNS,
    SCORER_CONTROL,
    SCORER_CONTROL_JUDGE,
    SCORER_CONTROL_SCORER,
    SPLITS,
    UNRECORDED,
    VERSION,
    FrontierConfig,
)
from coala_lib.experiments.frontier.context import Context
from coala_lib.experiments.frontier.methods import head_guided
from coala_lib.experiments.frontier.runs import Run, decoding_runs
from coala_lib.experiments.frontier.selection import (
    Book,
    add_distinct_guard,
    choose,
    head_controls,
    ledger_view,
    paired_against_coala,
    scorer_control,
)

#: The finished decoding runs: per (run, split), its chunks (best-of-n's with the head's scores).
Finished = dict[tuple[Run, str], list[dict[str, Any]]]
#: The judges that score the finished texts when the record is assembled, by name (:func:`text_judged`); in
#: no cache key. ``afinn``: :class:`~coala_lib.evaluation.lexicon.AfinnJudge`, a bare word list, a judge of
#: another kind than the book's classifier and VADER's rule-based lexicon.
TEXT_JUDGES: dict[str, type] = {"afinn": AfinnJudge}
_TEXT_JUDGES: dict[str, Any] = {}  # one instance per judge, whose memoised scores every record reuses


def text_judges() -> dict[str, Any]:
    """The judges of :data:`TEXT_JUDGES` by name (one instance each, kept for the process)."""
    for name, kind in TEXT_JUDGES.items():
        if not isinstance(_TEXT_JUDGES.get(name), kind):
            _TEXT_JUDGES[name] = kind()
    return {name: _TEXT_JUDGES[name] for name in TEXT_JUDGES}


def text_judged(finished: Finished) -> Finished:
    """``finished`` with each chunk's ``rewards`` holding also every :func:`text_judges`' positivity of its
    ``texts`` (copies: the cached chunks are not changed)."""
    judges = text_judges()
    return {
        item: [
            {
                **chunk,
                "rewards": {
                    **chunk["rewards"],
                    **{name: judge.positivity(chunk["texts"]).tolist() for name, judge in judges.items()},
                },
            }
            for chunk in chunks
        ]
        for item, chunks in finished.items()
    }


def record_text_judges(ctx: Context) -> None:
    """Once the judges' stage has run: each :func:`text_judges`' key and accuracy on the labelled reviews VADER's
    accuracy is measured on (the same ``judge_n_test`` test reviews), in ``stages.judges`` under its name."""
    stage = ctx.stages.get("judges")
    missing = {n: j for n, j in text_judges().items() if stage is not None and n not in stage}
    if stage is None or not missing:
        return
    config = ctx.config
    texts, labels = load_imdb_reviews("test", n=config.judge_n_test, seed=config.seed, data_dir=ctx.data_dir)
    for name, judge in missing.items():
        stage[name] = {
            "key": judge.key,
            "accuracy": judge.accuracy(texts, labels),
            "n_test": len(texts),
            "scores": "the finished texts, when the record is assembled (in no run key)",
        }


def _matrix(
    chunks: list[dict[str, Any]], name: str, n_prompts: int, per_prompt: int, judge: bool = False
) -> list[list[Any]]:
    """The chunks' per-row values of ``name`` (a judge's rewards with ``judge=True``) as a (prompts, samples) grid."""
    grid: list[list[Any]] = [[None] * per_prompt for _ in range(n_prompts)]
    for chunk in chunks:
        values = chunk["rewards"][name] if judge else chunk[name]
        for (i, j), v in zip(chunk["rows"], values):
            grid[i][j] = v
    return grid


def run_rows(
    run: Run,
    chunks: list[dict[str, Any]],
    n_prompts: int,
    config: FrontierConfig,
    picked: bool = True,
    scorer: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Per setting (best-of-n: one per n, the head's pick of each sample's n candidates, or the pick of the
    judge named ``scorer``; with ``picked=False`` the whole pool as one setting) the (prompts, samples) arrays
    of the chunks, and the texts."""

    def grid(name: str, judge: bool = False) -> list[list[Any]]:
        return _matrix(chunks, name, n_prompts, run.per_prompt, judge)

    arrays = {name: grid(name) for name in ("texts", "mc", "rb", "logp_ref", "tokens")}
    rewards = {j: grid(j, judge=True) for j in sorted(chunks[0]["rewards"])}
    if run.method != "best_of_n" or not picked:
        return {
            run.setting: {
                "arrays": arrays,
                "rewards": rewards,
                "kl": {"rb": arrays["rb"], "mc": arrays["mc"]},
                "value": run.value,
            }
        }
    scores = grid("head_score") if scorer is None else grid(scorer, judge=True)
    big = max(config.bon_ns)
    out = {}
    for n in config.bon_ns:
        picks = [
            [j * big + max(range(n), key=lambda k: scores[i][j * big + k]) for j in range(config.samples)]
            for i in range(n_prompts)
        ]
        out[f"n={n}"] = {
            "arrays": {name: _take(values, picks) for name, values in arrays.items()},
            "rewards": {j: _take(v, picks) for j, v in rewards.items()},
            "kl": {"bound": best_of_n_kl_bound(n)},
            "value": float(n),
        }
    return out


def _take(grid: list[list[Any]], picks: list[list[int]]) -> list[list[Any]]:
    """``grid[i][picks[i][j]]`` for every prompt ``i`` and sample ``j``."""
    return [[grid[i][p] for p in row] for i, row in enumerate(picks)]


def heads_of(chunks: list[dict[str, Any]]) -> list[str]:
    """The fingerprints (:attr:`CoalaHead.fingerprint`) of the heads that guided or scored ``chunks``, sorted;
    a chunk decoded before fingerprints were recorded counts as :data:`UNRECORDED`. One entry: one head made
    the whole run; compare it with ``stages.head.fingerprint`` to know whether it is the recorded head."""
    return sorted({chunk.get("head", UNRECORDED) for chunk in chunks})


def generation_row(
    ctx: Context,
    method: str,
    setting: str,
    split: str,
    i: int,
    j: int,
    arrays: dict[str, list[list[Any]]],
    rewards: dict[str, list[list[Any]]],
) -> dict[str, Any]:
    """One line of the generations (or pool) file: sample ``j`` of prompt ``i`` of one setting."""
    return {
        "method": method,
        "setting": setting,
        "split": split,
        "prompt_id": i,
        "sample": j,
        "prompt": ctx.data.prompts[split][i],
        "text": arrays["texts"][i][j],
        **{f"reward_{k}": v[i][j] for k, v in rewards.items()},
        **{column: arrays[name][i][j] for name, column in RESTORED_COLUMNS.items()},
    }


@dataclass
class Summaries:
    """The finished runs summarised: the settings rows, the generations (each setting's samples), the
    best-of-n pool (every candidate), the primary judge's rewards of each setting (``book``) and the
    reference's rewards per split."""

    settings: list[dict[str, Any]] = field(default_factory=list)
    generations: list[dict[str, Any]] = field(default_factory=list)
    pool: list[dict[str, Any]] = field(default_factory=list)
    book: Book = field(default_factory=dict)
    reference_rewards: dict[str, Any] = field(default_factory=dict)
    #: the strong-scorer control's judge's rewards of best-of-n and of the control, per (method, setting, split)
    control_judge: Book = field(default_factory=dict)


def assemble(ctx: Context, finished: Finished, wall: float, out_dir: Path, command: str | None = None) -> dict:
    """Summaries of every finished run, the validation choice, the status; record + generations written.
    ``command`` is the command line the record names (default: ``sys.argv``)."""
    record_text_judges(ctx)
    summaries = summarise_runs(ctx, finished)
    selection = choose(summaries.settings, ctx.config)
    for row in summaries.settings:
        row["selected"] = selection.get(row["method"], {}).get("setting") == row["setting"]
    command = " ".join(sys.argv) if command is None else command
    record = build_record(ctx, summaries, selection, run_status(ctx.config, finished, wall), command)
    write_outputs(out_dir, record, summaries)
    return record


def summarise_runs(ctx: Context, finished: Finished) -> Summaries:
    """Every finished run's settings rows and generations (a run other than the reference's only once the
    reference's run on its split has finished: its win rates are against it), and best-of-n's pool; every
    run judged also by the :func:`text_judges` (:func:`text_judged`), every row's ``distinct_guard`` set."""
    finished = text_judged(finished)
    out = Summaries(reference_rewards=reference_rewards(ctx, finished))
    for (run, split), chunks in finished.items():
        n_prompts = len(ctx.data.prompts[split])
        cost = run_cost(run, chunks)
        if run.method == "best_of_n":
            out.pool.extend(pool_rows(ctx, run, split, chunks))
        for setting, data in run_rows(run, chunks, n_prompts, ctx.config).items():
            ref = None if run.method == "reference" else out.reference_rewards.get(split)
            if run.method != "reference" and ref is None:
                continue
            out.book[(run.method, setting, split)] = data["rewards"]["book"]
            out.settings.append(setting_row(ctx, run, split, setting, data, ref, chunks, cost))
            out.generations.extend(
                generation_row(ctx, run.method, setting, split, i, j, data["arrays"], data["rewards"])
                for i in range(n_prompts)
                for j in range(ctx.config.samples)
            )
            if run.method == "best_of_n":
                out.control_judge[(run.method, setting, split)] = data["rewards"][SCORER_CONTROL_JUDGE]
        if run.method == "best_of_n" and split in out.reference_rewards:
            add_scorer_control(ctx, out, run, split, chunks, cost)
    add_distinct_guard(out.settings, ctx.config.distinct_guard)
    return out


def add_scorer_control(
    ctx: Context, out: Summaries, run: Run, split: str, chunks: list[dict[str, Any]], cost: dict[str, Any]
) -> None:
    """The strong-scorer control's rows (:data:`SCORER_CONTROL`): best-of-n's pool on ``split`` reranked by the
    book judge, each row judged by :data:`SCORER_CONTROL_JUDGE` (its ``win_rate``) and marked with its scorer.
    Its samples are in the pool file, not in the generations."""
    n_prompts = len(ctx.data.prompts[split])
    ref = out.reference_rewards[split]
    for setting, data in run_rows(run, chunks, n_prompts, ctx.config, scorer=SCORER_CONTROL_SCORER).items():
        row = setting_row(ctx, run, split, setting, data, ref, chunks, cost, primary=SCORER_CONTROL_JUDGE)
        del row["heads"]  # no head picked these
        out.settings.append({**row, "method": SCORER_CONTROL, "scorer": SCORER_CONTROL_SCORER})
        out.control_judge[(SCORER_CONTROL, setting, split)] = data["rewards"][SCORER_CONTROL_JUDGE]


def reference_rewards(ctx: Context, finished: Finished) -> dict[str, Any]:
    """Per split whose reference run has finished, the judges' (prompts, samples) rewards of its samples."""
    out = {}
    for split in SPLITS:
        ref = next((chunks for (run, s), chunks in finished.items() if run.method == "reference" and s == split), None)
        if ref is not None:
            ref_run = next(run for (run, s) in finished if run.method == "reference" and s == split)
            n = len(ctx.data.prompts[split])
            out[split] = run_rows(ref_run, ref, n, ctx.config)[ref_run.setting]["rewards"]
    return out


def run_cost(run: Run, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The decoding and evaluation cost of a run, summed over its chunks (best-of-n: the head's scoring too)."""
    cost = {
        "decode_seconds": sum(c["decode_seconds"] for c in chunks),
        "decode_flops": sum(c["decode_flops"] for c in chunks),
        "evaluation_seconds": sum(c["evaluation_seconds"] for c in chunks),
        "pool_samples_per_prompt": run.per_prompt,
    }
    if run.method == "best_of_n":
        cost["score_seconds"] = sum(c["score_seconds"] for c in chunks)
    return cost


def pool_rows(ctx: Context, run: Run, split: str, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every candidate of a best-of-n pool on ``split``, in the generations' columns."""
    n_prompts = len(ctx.data.prompts[split])
    return [
        generation_row(ctx, run.method, run.setting, split, i, j, data["arrays"], data["rewards"])
        for data in run_rows(run, chunks, n_prompts, ctx.config, picked=False).values()
        for i in range(n_prompts)
        for j in range(run.per_prompt)
    ]


def setting_row(
    ctx: Context,
    run: Run,
    split: str,
    setting: str,
    data: dict[str, Any],
    ref: Any,
    chunks: list[dict[str, Any]],
    cost: dict[str, Any],
    primary: str = "book",
) -> dict[str, Any]:
    """The record's row of one setting on ``split``: its cache key, the summary of
    :func:`~coala_lib.evaluation.frontier.summarise_setting` (win rate by the ``primary`` judge against
    ``ref``, the reference's rewards; KL; perplexity; distinct-2), the heads that made it (guided methods) and
    the run's cost."""
    config = ctx.config
    summary = summarise_setting(
        data["rewards"],
        ref,
        data["kl"],
        data["arrays"]["logp_ref"],
        data["arrays"]["tokens"],
        [t for row in data["arrays"]["texts"] for t in row],
        primary=primary,
        n_boot=config.n_boot,
        seed=config.seed,
    )
    train_cost = ctx.stages.get(f"train {run.label}", {}).get("cost")
    return {
        "method": run.method,
        "setting": setting,
        "key": ctx.run_key(run, split),
        "value": data["value"],
        "split": split,
        "n_prompts": len(ctx.data.prompts[split]),
        "samples": config.samples,
        "kl_kind": "bound" if "bound" in data["kl"] else "estimate",
        **({"heads": heads_of(chunks)} if head_guided(run.method) else {}),
        **summary,
        "cost": {**cost, "train": train_cost},
    }


def run_status(config: FrontierConfig, finished: Finished, wall: float) -> dict[str, Any]:
    """The decoding runs done and pending (of every run of ``config`` on every split), and this invocation's
    wall time."""
    planned = [f"decode {run.label} {split}" for run in decoding_runs(config) for split in SPLITS]
    landed = [f"decode {run.label} {split}" for (run, split) in finished]
    return {
        "decoding_runs_done": landed,
        "decoding_runs_pending": [p for p in planned if p not in landed],
        "config_meets_minimums": all(config.meets_minimums().values()),
        "complete": not [p for p in planned if p not in landed],
        "wall_seconds_this_invocation": wall,
    }


def build_record(
    ctx: Context,
    summaries: Summaries,
    selection: dict[str, dict[str, Any]],
    status: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    """The record: the ledger's view, the head controls, the provenance (``command``, config, versions,
    seeds, data, stages), the settings rows, the validation choice and ``status``."""
    config = ctx.config
    reference_test = summaries.reference_rewards.get("test", {}).get("book")
    paired = paired_against_coala(summaries.book, reference_test, selection, config)
    return {
        **ledger_view(summaries.settings, selection, ctx.data.params["n_train_pairs"], config, paired),
        "head_controls": head_controls(summaries.book, reference_test, selection, config),
        "scorer_control": scorer_control(
            summaries.control_judge,
            summaries.reference_rewards.get("test", {}).get(SCORER_CONTROL_JUDGE),
            config,
        ),
        "name": "imdb_frontier",
        "format": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command,
        "config": asdict(config),
        "minimums": MINIMUMS,
        "environment": environment_record(),
        "versions": {
            **package_versions(),
            "vaderSentiment": LexiconJudge().key,
            **{name: judge.key for name, judge in text_judges().items()},
        },
        "seeds": {"seed": config.seed, "chunk_seed": "int(content_key(run key-first row-end row), 16) % 2**62"},
        "data": portable_paths(ctx.data.params),  # the data files relative to $COALA_DATA_DIR, no machine path
        "stages": ctx.stages,
        "settings": summaries.settings,
        "selection": selection,
        "status": status,
    }


def write_outputs(out_dir: Path, record: dict[str, Any], summaries: Summaries) -> None:
    """Write the record, the generations and (when there is one) the best-of-n pool under ``out_dir``,
    atomically; the gzip files carry no time stamp, so equal rows give equal bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in ((GENERATIONS, summaries.generations), (POOL, summaries.pool)):
        if rows or name == GENERATIONS:
            lines = "".join(json.dumps(g, sort_keys=True) + "\n" for g in rows)
            atomic_write_bytes(out_dir / name, gzip.compress(lines.encode("utf-8"), mtime=0))
    atomic_write_json(out_dir / RECORD, record)
