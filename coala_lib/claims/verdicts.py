"""The paper's claims, each with the number the paper gives and a rule that reads our records.

A rule maps the records (:func:`coala_lib.claims.ledger.load_all_records`: the notebooks' records, the
``results/bench_*.json`` files keyed by file stem, and the IMDb frontier record as ``"imdb_frontier"``) to
``(ours, verdict, note)`` with one of the five verdicts of :data:`coala_lib.claims.ledger.VERDICTS`. A rule
never guesses: a missing record gives ``"not testable here"`` and says which; evidence that cannot
separate the claim from its negation (an interval containing the null, too few points, no certificate)
gives ``"inconclusive"``. Every threshold is a named constant beside its rule, and each rule's docstring
states how it decides. (The word *judge* is kept for the comparison protocols of :mod:`coala_lib.evaluation`.)

This module holds the claims (:data:`CLAIMS`, each with its rule), the ledger table notebook 08 shows
(:func:`ledger_table`) and where each record comes from (:func:`record_source`, :func:`papermill_command`);
it re-exports the rules, which live by the notebook whose claims they decide:

* :mod:`coala_lib.claims.dataset_verdicts`: APM's triplets per conversation (notebook 00);
* :mod:`coala_lib.claims.head_verdicts`: the margin curves, the head's accuracy against AdamW (and the head
  study), the optimality of both phases (notebooks 01-03, 05);
* :mod:`coala_lib.claims.win_rate_verdicts`: the win rates (notebook 06, the IMDb frontier at matched KL) and
  the human study;
* :mod:`coala_lib.claims.cost_verdicts`: one GPU's memory and the compute share (notebook 07, the GPU check);
* :mod:`coala_lib.claims.rule_basics`: what every rule shares (:func:`round_sig`, the interval level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from coala_lib.claims import paper
from coala_lib.claims.cost_verdicts import (
    COMPUTE_TOLERANCE,
    PAPER_GPU_GB,
    REAL_SHAPES,
    ComputeShare,
    compute_share_bounds,
    compute_share_source,
    verdict_compute_share,
    verdict_single_gpu,
)
from coala_lib.claims.dataset_verdicts import APM_TOLERANCE, MIN_DIALOGUES, verdict_apm
from coala_lib.claims.head_verdicts import (
    CERTIFICATE_TOL,
    MIN_CURVE_STEPS,
    MONOTONE_SHARE,
    OPTIMUM_RTOL,
    PHASE1_CONE_TOL,
    PHASE1_GAP_TOL,
    budget_text,
    curve_stats,
    difference_interval,
    head_accuracy_source,
    verdict_head_accuracy,
    verdict_margins,
    verdict_optimality,
)
from coala_lib.claims.ledger import FRONTIER_RECORD, GPU_CHECK_RECORD, HEAD_SELECTION_RECORD, Claim, ledger_rows
from coala_lib.claims.rule_basics import LEVEL, Assessment, Records, round_sig
from coala_lib.claims.win_rate_verdicts import (
    FRONTIER_METHODS,
    MIN_TRAIN_PAIRS,
    lambda_sweep_outcome,
    matched_kl_comparisons,
    verdict_human_study,
    verdict_win_rates,
    win_rates_source,
)

__all__ = [
    "APM_TOLERANCE",
    "CERTIFICATE_TOL",
    "CLAIMS",
    "COMPUTE_TOLERANCE",
    "EFFICIENCY_FLAGS",
    "FRONTIER_METHODS",
    "LEVEL",
    "MIN_CURVE_STEPS",
    "MIN_DIALOGUES",
    "MIN_TRAIN_PAIRS",
    "MONOTONE_SHARE",
    "OPTIMUM_RTOL",
    "PAPER_GPU_GB",
    "PHASE1_CONE_TOL",
    "PHASE1_GAP_TOL",
    "REAL_SHAPES",
    "Assessment",
    "ComputeShare",
    "Records",
    "budget_text",
    "compute_share_bounds",
    "compute_share_source",
    "curve_stats",
    "difference_interval",
    "head_accuracy_source",
    "lambda_sweep_outcome",
    "ledger_table",
    "matched_kl_comparisons",
    "papermill_command",
    "record_source",
    "round_sig",
    "verdict_apm",
    "verdict_compute_share",
    "verdict_head_accuracy",
    "verdict_human_study",
    "verdict_margins",
    "verdict_optimality",
    "verdict_single_gpu",
    "verdict_win_rates",
    "win_rates_source",
]


def papermill_command(notebook: str, record: Mapping[str, Any] | None = None) -> str:
    """The papermill call that runs ``notebook``, with ``-p`` for the scale-setting parameters
    (``model``, ``dataset``, ``n_pairs``) the recorded run used, when there is a record."""
    params = (record or {}).get("params", {})
    flags = "".join(f" -p {k} {params[k]}" for k in ("model", "dataset", "n_pairs") if params.get(k) is not None)
    return f"papermill notebooks/{notebook}.ipynb out.ipynb{flags}"


#: The parameters of a ``bench/efficiency.py`` record that are its command-line options (``--seq-len``, ...).
EFFICIENCY_FLAGS: tuple[str, ...] = (
    "device",
    "shape",
    "batch",
    "seq_len",
    "batches",
    "head_pairs",
    "phase1_iters",
    "decode_tokens",
    "count_shapes",
)


def _flag(name: str, value: Any) -> str:
    values = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return f" --{name.replace('_', '-')} {values}"


def record_source(key: str, record: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(command, path)`` of the record ``key`` of :func:`coala_lib.claims.ledger.load_all_records`: a
    notebook's record (``results/claims/<key>.json``, rerun by :func:`papermill_command`), the IMDb frontier
    record or a benchmark's (rerun by the command the record stores, else by its ``bench/`` script). ``path``
    says ``"none yet: run the command"`` when there is no record."""
    if key[:2].isdigit():
        command, path = papermill_command(key, record), f"results/claims/{key}.json"
    else:
        stored = (record or {}).get("command")
        if key == "imdb_frontier":
            path, script = f"results/{FRONTIER_RECORD.as_posix()}", "bench/imdb_frontier.py"
        elif key == "gpu_check":
            path, script = f"results/{GPU_CHECK_RECORD.as_posix()}", "bench/gpu_check.py"
        elif key == "head_selection":
            path, script = f"results/{HEAD_SELECTION_RECORD.as_posix()}", "bench/head_selection.py"
        else:
            path, script = f"results/{key}.json", f"bench/{key.removeprefix('bench_').split('_')[0]}.py"
            if key.startswith("bench_efficiency_") and not stored:
                params = (record or {}).get("parameters", {})
                script += "".join(_flag(name, params[name]) for name in EFFICIENCY_FLAGS if name in params)
        command = (
            f"python {stored}" if stored and str(stored).startswith("bench/") else str(stored or f"python {script}")
        )
    return command, (path if record else "none yet: run the command")


def _cronos_ahead() -> str:
    gaps = paper.table7_frame()["CRONOS - AdamW"]
    return f"{int((gaps > 0).sum())} of {len(gaps)}"


CLAIMS: list[Claim] = [
    Claim(
        "single_gpu",
        "Alignment with a frozen LM fits one GPU's memory",
        "a 24 GB RTX 4090 suffices",
        "07_efficiency",
        verdict_single_gpu,
    ),
    Claim(
        "compute_share",
        "COALA needs a fraction of DPO's compute",
        ", ".join(f"{m}: {100 * t['COALA'] / t['DPO']:.3g}%" for m, t in paper.REPORTED_TFLOPS.items()),
        "07_efficiency",
        verdict_compute_share,
        compute_share_source,
    ),
    Claim(
        "margins",
        "COALA's reward margin rises monotonically, DPO's fluctuates",
        "training-margin figure",
        "03_train",
        verdict_margins,
    ),
    Claim(
        "head_accuracy",
        "The CRONOS head is more accurate than the AdamW head",
        f"Table 7: CRONOS ahead in {_cronos_ahead()} cells",
        "03_train",
        verdict_head_accuracy,
        head_accuracy_source,
    ),
    Claim(
        "win_rates",
        "COALA wins against DPO, ORPO and SFT",
        "Table 3: AlpacaEval 2 LC win rates",
        "06_evaluation",
        verdict_win_rates,
        win_rates_source,
    ),
    Claim(
        "human_study",
        "Humans prefer COALA",
        "Table 4: " + ", ".join(f"{d}: COALA {s['COALA']:g}%" for d, s in paper.HUMAN_STUDY_WIN_SHARE.items()),
        "06_evaluation",
        verdict_human_study,
    ),
    Claim(
        "apm",
        "APM turns a conversation into several preference triplets without a reward model",
        f"{paper.APM_TRIPLETS_PER_CONVERSATION:.3g} triplets per EduFeedback conversation",
        "00_datasets",
        verdict_apm,
    ),
    Claim(
        "optimality",
        "Both phases reach a global optimum",
        "Phase I: global optimum of the convex program; Phase II: convex",
        "03_train",
        verdict_optimality,
    ),
]


def ledger_table(records: Records, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """The ledger as a table: one row per claim (claim, paper, ours, verdict, note, notebook, source, command,
    record, hardware), the data behind notebook 08's page; presentation is the notebook's. ``command`` and
    ``record`` name the record the claim's numbers come from (:func:`record_source`), and ``hardware`` is
    what that record says it ran on."""
    rows = pd.DataFrame(ledger_rows(claims, records))
    sources = [record_source(key, records.get(key)) for key in rows["source"]]
    rows["command"] = [command for command, _ in sources]
    rows["record"] = [path for _, path in sources]
    return rows[["claim", "paper", "ours", "verdict", "note", "notebook", "source", "command", "record", "hardware"]]
