"""The claims ledger: what each notebook measured, written as JSON, and the table built from it.

Each experiment notebook ends with :func:`record`, which writes ``<results_dir>/claims/<name>.json``
holding its key numbers, its parameters and where it ran. ``results_dir`` is an argument or the
``COALA_RESULTS_DIR`` environment variable (the build and test scripts set it to ``results/``); with
neither, nothing is written, so a notebook run elsewhere (Colab, a GPU box) never writes into a
checkout it does not know. The ledger page reads those files back with :func:`load_records`.

Every record is checked as it is read (:mod:`coala_lib.core.records`): a file that is not JSON, a record
that lacks a key, holds a value of the wrong type or a key no writer writes (a renamed key) is a
:class:`~coala_lib.core.records.RecordError` naming the file, never read as "no record"; only a missing
*file* means that the record is missing. The schemas of the records the rules read live here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from coala_lib.core.files import atomic_write_json, environment_record, results_dir
from coala_lib.core.records import (
    NUMBER,
    Each,
    Fields,
    RecordError,
    Schema,
    check_fields,
    read_jsonl_records,
    read_record,
)
from coala_lib.evaluation.frontier import prompt_view

Verdict = Literal["holds", "holds with caveats", "does not hold at our scale", "inconclusive", "not testable here"]
#: The five verdicts: the evidence agrees; agrees with a stated reservation; contradicts the claim; cannot
#: separate the claim from its negation (an interval containing the null, too few points, no certificate);
#: the record or the hardware the rule needs is missing.
VERDICTS: tuple[str, ...] = (
    "holds",
    "holds with caveats",
    "does not hold at our scale",
    "inconclusive",
    "not testable here",
)
#: Where the IMDb frontier experiment writes its record, relative to the results directory.
FRONTIER_RECORD = Path("imdb_frontier") / "record.json"
#: The head study's record (``bench/head_selection.py``), relative to the results directory.
HEAD_SELECTION_RECORD = Path("head_selection") / "record.json"
#: Where the GPU check (``scripts/gpu_check.sh``) record is copied, relative to the results directory.
GPU_CHECK_RECORD = Path("gpu_check.json")

#: A notebook's record (:func:`record`): its fields and their types.
NOTEBOOK_RECORD: Schema = {"notebook": str, "values": dict, "params": dict, "environment": dict}
#: A margin curve's summary (:func:`coala_lib.claims.head_verdicts.curve_stats`).
CURVE = Fields(optional={"first": NUMBER, "last": NUMBER, "max_drop": NUMBER, "monotone_share": NUMBER, "steps": int})
#: A win rate with its interval (notebook 06's head-to-head rows).
RATE = Fields(required={"rate": NUMBER, "low": NUMBER, "high": NUMBER})
#: The types of the values the verdict rules (:mod:`coala_lib.claims.verdicts`) compute with, by notebook,
#: checked on read where present (a value a rule needs but a record lacks is the rule's to judge).
VALUE_TYPES: dict[str, Schema] = {
    "00_datasets": {
        "dialogues": int,
        "assistant_replies": int,
        "triplets": int,
        "triplets_wrap": int,
        "apm_dataset": str,
    },
    "01_convex_reformulation": {"adam_min": NUMBER, "sampled_optimum_P10": NUMBER},
    "02_cronos_solver": {"cronos_accuracy": NUMBER, "adamw_accuracy": NUMBER, "n_test": int},
    "03_train": {
        "cronos_accuracy": NUMBER,
        "adamw_accuracy": NUMBER,
        "n_test": int,
        "cronos_converged": bool,
        "cronos_iterations": int,
        "phase1_objective": NUMBER,
        "phase1_reference_objective": NUMBER,
        "phase1_certified_gap": NUMBER,
        "phase1_cone_violation": NUMBER,
        "phase2_separable": bool,
        "phase2_unregularised_loss": NUMBER,
        "phase2_unregularised_grad_norm": NUMBER,
        "margin_curve": CURVE,
    },
    "05_baselines": {"n_train": int, "optimiser_steps": Each(int), "margin_curves": Each(CURVE)},
    "06_evaluation": {"coala_vs": Each(Each(RATE)), "survey_items": int},
}
#: A benchmark's record (``bench/*.py``): the fields the rules read, where present; and those of
#: ``bench/efficiency.py``'s records (``bench_efficiency_*``).
BENCH_RECORD: Schema = {"environment": dict, "parameters": dict}
EFFICIENCY_RECORD: Schema = {**BENCH_RECORD, "summary": dict, "stages": list}
#: The schema versions (``format``) of the IMDb frontier record that :func:`read_frontier_record` reads.
FRONTIER_FORMATS: tuple[int, ...] = (1,)
#: The keys every frontier record ``bench/imdb_frontier.py`` writes has, with their types.
FRONTIER_KEYS: Schema = {
    "name": str,
    "config": dict,
    "environment": dict,
    "versions": dict,
    "seeds": dict,
    "data": dict,
    "stages": dict,
    "settings": list,
    "selection": dict,
    "status": dict,
    "minimums": dict,
}
#: One method's row of the frontier record's ``win_rates`` (``rate``/``low``/``high``: the rules' short form).
WIN_RATE_ROW = Fields(
    optional={
        "win_rate": NUMBER,
        "win_low": NUMBER,
        "win_high": NUMBER,
        "win_boot_low": NUMBER,
        "win_boot_high": NUMBER,
        "n": int,
        "rate": NUMBER,
        "low": NUMBER,
        "high": NUMBER,
        "setting": str,
    }
)
#: What the verdict rules read from it (the frontier's ledger view,
#: :func:`coala_lib.experiments.frontier.ledger_view`, written together once COALA and a trained rival have
#: test results; the rules' minimal form of the record, :mod:`coala_lib.claims.win_rate_verdicts`).
FRONTIER_VIEW: Schema = {"win_rates": Each(WIN_RATE_ROW), "train_pairs": int, "lambda_selection": dict}
#: The frontier record's optional keys (``compute``: counted FLOPs of its own run, module docstring of
#: :mod:`coala_lib.claims.cost_verdicts`).
FRONTIER_OPTIONAL: Schema = {
    "format": int,
    "paired_differences": Each(Fields(required={"difference": NUMBER, "low": NUMBER, "high": NUMBER})),
    "epochs": NUMBER,
    "head_controls": dict,
    "scorer_control": dict,
    "compute": Fields(
        required={
            "coala": Fields(required={"extraction": NUMBER, "head": NUMBER, "guided_decoding": NUMBER}),
            "dpo": Fields(required={"lora_dpo_epoch": NUMBER, "plain_decoding": NUMBER}),
        }
    ),
    "command": str,
    "created": str,
}
#: Where the frontier experiment writes its generations, and the fields of every line.
FRONTIER_GENERATIONS = Path("imdb_frontier") / "generations.jsonl.gz"
GENERATION_KEYS: Schema = {
    "method": str,
    "setting": str,
    "split": str,
    "prompt_id": int,
    "sample": int,
    "prompt": str,
    "text": str,
    "kl_rb": NUMBER,
    "kl_mc": NUMBER,
    "logp_ref": NUMBER,
    "tokens": NUMBER,
}
#: How to get a good frontier record or generations file.
FRONTIER_FIX = "rerun bench/imdb_frontier.py to rewrite it"
#: The key of :func:`load_all_records` holding the frontier's per-prompt test numbers, made from its generations
#: file when both it and the record exist: ``{"split": "test", "judge": ..., "settings": {method: {setting:
#: {"kl": [...], "win": [...]}}}}`` (:func:`coala_lib.evaluation.frontier.prompt_view`), what the win-rate
#: rule resamples to compare methods at the same KL.
FRONTIER_PROMPTS = "imdb_frontier_prompts"


def record(
    name: str, values: dict[str, Any], params: dict[str, Any], directory: str | os.PathLike | None = None
) -> Path | None:
    """Write one notebook's measured ``values`` with its ``params`` and environment; return the path.

    ``params`` are the run's settings themselves: a config dataclass among them (e.g. ``{"head": config}``)
    is written as its fields (:func:`coala_lib.core.files.json_default`), so nothing is re-typed."""
    root = results_dir(directory, search=False)  # write only where told (coala_lib.core.files.results_dir)
    if root is None:
        return None
    payload = {"notebook": name, "values": values, "params": params, "environment": environment_record()}
    return atomic_write_json(root / "claims" / f"{name}.json", payload)


def read_notebook_record(path: str | os.PathLike) -> dict[str, Any]:
    """The notebook record ``path`` (``claims/<notebook>.json``), checked: the fields of
    :data:`NOTEBOOK_RECORD`, written by the notebook the file is named after, its values of the types in
    :data:`VALUE_TYPES`; else a :class:`~coala_lib.core.records.RecordError` naming the file."""
    path = Path(path)
    fix = f"rerun notebook {path.stem} with COALA_RESULTS_DIR set to rewrite it"
    found = read_record(path, NOTEBOOK_RECORD, known=(), fix=fix)
    if found["notebook"] != path.stem:
        raise RecordError(f"{path} is the record of notebook {found['notebook']!r}, not of {path.stem!r}; {fix}")
    check_fields(found["values"], str(path), optional=VALUE_TYPES.get(path.stem), fix=fix, at="values")
    return found


def read_frontier_record(path: str | os.PathLike) -> dict[str, Any]:
    """The IMDb frontier record ``path``, checked: one written by ``bench/imdb_frontier.py`` (it has a
    ``format``) has every key of :data:`FRONTIER_KEYS`, a schema version of :data:`FRONTIER_FORMATS` and
    either all keys of :data:`FRONTIER_VIEW` or none (no trained rival had test results yet); the rules'
    minimal form has those of :data:`FRONTIER_VIEW`. A key outside the schema (a renamed key), a missing one
    or a value of the wrong type is a :class:`~coala_lib.core.records.RecordError` naming the file."""
    path = Path(path)
    where = str(path)
    found = read_record(path, fix=FRONTIER_FIX)
    if "format" in found:
        check_fields(found, where, {"format": int}, fix=FRONTIER_FIX)
        if found["format"] not in FRONTIER_FORMATS:
            raise RecordError(
                f"{path} has format {found['format']}, a schema version this reader does not know "
                f"(it reads {list(FRONTIER_FORMATS)}); {FRONTIER_FIX}"
            )
        check_fields(
            found, where, FRONTIER_KEYS, optional={**FRONTIER_VIEW, **FRONTIER_OPTIONAL}, known=(), fix=FRONTIER_FIX
        )
        present = [k for k in FRONTIER_VIEW if k in found]
        if present and len(present) < len(FRONTIER_VIEW):
            missing = [k for k in FRONTIER_VIEW if k not in found]
            raise RecordError(f"{path} has {present} but lacks {missing}, which are written together; {FRONTIER_FIX}")
    else:
        check_fields(
            found, where, FRONTIER_VIEW, optional={**FRONTIER_OPTIONAL, **FRONTIER_KEYS}, known=(), fix=FRONTIER_FIX
        )
    return found


#: The head study's record: the keys every reader relies on (``coala_lib.evaluation.head_study.study_record``).
ACCURACY = Fields(required={"accuracy": NUMBER, "low": NUMBER, "high": NUMBER, "n_pairs": int})
DIFFERENCE = Fields(required={"difference": NUMBER, "low": NUMBER, "high": NUMBER, "n_pairs": int})
HEAD_SELECTION_KEYS: Schema = {
    "rule": str,
    "grid": dict,
    "budget_per_feature_choice": Each(Each(int)),
    "paths": list,
    "path_timing": dict,
    "candidates": list,
    "chosen": Each(
        Fields(
            required={"arm": str, "features": str, "params": dict, "validation": Each(NUMBER), "report": Each(ACCURACY)}
        )
    ),
    "comparisons": Each(DIFFERENCE),
    "command": str,
    "splits": dict,
    "environment": dict,
}
HEAD_SELECTION_VERSIONS = (1,)
HEAD_SELECTION_FIX = "rerun bench/head_selection.py to rewrite it"


def read_head_selection_record(path: str | os.PathLike) -> dict[str, Any]:
    """The head study's record ``path`` (``bench/head_selection.py``), checked: a known ``version`` and every
    key of :data:`HEAD_SELECTION_KEYS` of its kind, else a :class:`~coala_lib.core.records.RecordError` naming
    the file."""
    return read_record(
        path,
        HEAD_SELECTION_KEYS,
        version=("version", HEAD_SELECTION_VERSIONS),
        known=("version",),
        optional={
            "authors_protocol": (dict, type(None)),
            "backbone": dict,
            "features": dict,
            "seconds": dict,
            "feature_seconds": NUMBER,
            "wall_seconds": NUMBER,
            "device": str,
        },
        fix=HEAD_SELECTION_FIX,
    )


def read_frontier_generations(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every line of the frontier's generations file ``path``, each with the fields of
    :data:`GENERATION_KEYS`; a damaged file or line is a :class:`~coala_lib.core.records.RecordError`
    naming the file and the line."""
    return read_jsonl_records(path, GENERATION_KEYS, fix=FRONTIER_FIX)


def read_frontier_prompts(path: str | os.PathLike, frontier: Mapping[str, Any]) -> dict[str, Any]:
    """The frontier's per-prompt test numbers (:data:`FRONTIER_PROMPTS`) from its generations file ``path``,
    by the judge the record's ``lambda_selection`` names (``book`` when it names none); a damaged file, or
    one whose settings do not share the reference's prompts, is a
    :class:`~coala_lib.core.records.RecordError` naming it."""
    judge = str((frontier.get("lambda_selection") or {}).get("judge") or "book")
    generations = read_frontier_generations(path)
    try:
        settings = prompt_view(generations, "test", judge)
    except (KeyError, ValueError) as error:
        raise RecordError(f"{path}: {error}; {FRONTIER_FIX}") from error
    return {"split": "test", "judge": judge, "settings": settings}


def load_records(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """All records under ``<directory>/claims``, keyed by notebook name, each checked
    (:func:`read_notebook_record`)."""
    folder = Path(directory) / "claims"
    return {p.stem: read_notebook_record(p) for p in sorted(folder.glob("*.json"))}


def load_all_records(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """What the verdict rules read: the notebooks' records (:func:`load_records`), every
    ``<directory>/bench_*.json`` keyed by file stem, the IMDb frontier record as ``"imdb_frontier"``
    (:func:`read_frontier_record`), the head study's as ``"head_selection"`` (:func:`read_head_selection_record`)
    and ``bench/gpu_check.py``'s record as ``"gpu_check"``, and, with the frontier record, its generations'
    per-prompt test numbers as :data:`FRONTIER_PROMPTS` (:func:`read_frontier_prompts`), each checked as it
    is read; a missing file is a missing record, a damaged one a
    :class:`~coala_lib.core.records.RecordError` naming it."""
    root = Path(directory)
    records = load_records(root)
    for path in sorted(root.glob("bench_*.json")):
        fix = "rerun the bench/ script that writes it"
        schema = EFFICIENCY_RECORD if path.stem.startswith("bench_efficiency_") else BENCH_RECORD
        records[path.stem] = read_record(path, optional=schema, fix=fix)
    frontier = root / FRONTIER_RECORD
    if frontier.is_file():
        records["imdb_frontier"] = read_frontier_record(frontier)
        generations = root / FRONTIER_GENERATIONS
        if generations.is_file():
            records[FRONTIER_PROMPTS] = read_frontier_prompts(generations, records["imdb_frontier"])
    head = root / HEAD_SELECTION_RECORD
    if head.is_file():
        records["head_selection"] = read_head_selection_record(head)
    gpu_check = root / GPU_CHECK_RECORD
    if gpu_check.is_file():
        fix = "rerun scripts/gpu_check.sh to rewrite it"
        stages = Each(Fields(optional={"status": str, "peak_memory_bytes": NUMBER, "memory_kind": str}))
        records["gpu_check"] = read_record(gpu_check, {"stages": stages}, optional={"environment": dict}, fix=fix)
    return records


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, the number the paper gives, and the rule that decides it from our records.

    ``rule`` (a ``coala_lib.claims.verdicts.verdict_*`` function) maps the records to ``(our number as text, verdict, note)``; it must return
    ``"not testable here"`` with the reason in ``note`` when the records needed are missing.
    """

    key: str
    statement: str
    paper: str
    notebook: str
    rule: Callable[[Mapping[str, Mapping[str, Any]]], tuple[str, Verdict, str]]
    #: The key (in :func:`load_all_records`) of the record the rule took its numbers from, when that is not
    #: ``notebook``'s own record (e.g. the IMDb frontier record, ``"imdb_frontier"``); ``None``: ``notebook``.
    source: Callable[[Mapping[str, Mapping[str, Any]]], str | None] | None = None

    def record_key(self, records: Mapping[str, Mapping[str, Any]]) -> str:
        """The record this claim's numbers come from: :attr:`source`'s answer, else :attr:`notebook`."""
        return (self.source(records) if self.source is not None else None) or self.notebook


def hardware_text(environment: Mapping[str, Any] | None) -> str:
    """What a record's ``environment`` (:func:`coala_lib.core.files.environment_record`) says the run used:
    the GPU's name, or the CPU's model (``cpu_model``; older records hold only the architecture, and say
    so) with its core count and torch's thread count; ``"-"`` without an environment."""
    if not environment:
        return "-"
    cores = environment.get("cpu_count")
    threads = environment.get("torch_threads")
    cpu = environment.get("cpu_model") or f"{environment.get('device_name') or 'unknown'} CPU (model not recorded)"
    host = cpu + (f", {cores} cores" if cores else "") + (f", {threads} torch threads" if threads else "")
    if environment.get("device") == "cuda":
        return f"GPU {environment.get('device_name', '?')} (host: {host})"
    return host


def ledger_rows(claims: Sequence[Claim], records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per claim: statement, paper, ours, verdict, note, the notebook, the key of the record its
    numbers come from (:meth:`Claim.record_key`) and that record's hardware (:func:`hardware_text`)."""
    rows = []
    for claim in claims:
        ours, verdict, note = claim.rule(records)
        if verdict not in VERDICTS:
            raise ValueError(f"claim {claim.key!r}: verdict {verdict!r} is not one of {VERDICTS}")
        key = claim.record_key(records)
        source = records.get(key)
        rows.append(
            {
                "claim": claim.statement,
                "paper": claim.paper,
                "ours": ours,
                "verdict": verdict,
                "note": note,
                "notebook": claim.notebook,
                "source": key,
                "hardware": hardware_text(source.get("environment")) if source else "-",
            }
        )
    return rows
