"""The claims ledger: what each notebook measured, written as JSON, and the table built from it.

Each experiment notebook ends with :func:`record`, which writes ``<results_dir>/claims/<name>.json``
holding its key numbers, its parameters and where it ran. ``results_dir`` is an argument or the
``COALA_RESULTS_DIR`` environment variable (the build and test scripts set it to ``results/``); with
neither, nothing is written, so a notebook run elsewhere (Colab, a GPU box) never writes into a
checkout it does not know. The ledger page reads those files back with :func:`load_records`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from coala_lib.core.files import atomic_write_json, environment_record, results_dir

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
#: Where the GPU check (``scripts/gpu_check.sh``) record is copied, relative to the results directory.
GPU_CHECK_RECORD = Path("gpu_check.json")


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


def load_records(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """All records under ``<directory>/claims``, keyed by notebook name."""
    folder = Path(directory) / "claims"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def load_all_records(directory: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """What the verdict rules read: the notebooks' records (:func:`load_records`), every
    ``<directory>/bench_*.json`` keyed by file stem, the IMDb frontier record as ``"imdb_frontier"`` and
    ``bench/gpu_check.py``'s record as ``"gpu_check"``."""
    root = Path(directory)
    records = load_records(root)
    records.update({p.stem: json.loads(p.read_text()) for p in sorted(root.glob("bench_*.json"))})
    frontier = root / FRONTIER_RECORD
    if frontier.is_file():
        records["imdb_frontier"] = json.loads(frontier.read_text())
    gpu_check = root / GPU_CHECK_RECORD
    if gpu_check.is_file():
        records["gpu_check"] = json.loads(gpu_check.read_text())
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
