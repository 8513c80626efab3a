"""Tables of the head study (``results/head_selection/record.json``, ``bench/head_selection.py``) for the
frontier chapter: the regularisation path, the chosen setting of each arm with its report accuracy, the paired
comparisons, the prefix curve and the authors' protocol. The record is read through the ledger's checked
reader; nothing here computes a statistic the record does not hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from coala_lib.claims.ledger import HEAD_SELECTION_RECORD, read_head_selection_record

__all__ = [
    "ARM_NAMES",
    "arms_table",
    "authors_table",
    "comparison_table",
    "interval",
    "load_head_study",
    "path_frame",
    "prefix_frame",
    "timing_summary",
]

#: What each chosen head of the record is, in the chapter's words.
ARM_NAMES = {
    "convex": "convex Phase I head (certified path)",
    "coala": "COALA head (Phase I + Phase II)",
    "adamw": "same-width AdamW head",
    "probe": "linear probe (ridge logistic)",
    "paper": "COALA head at the paper's values",
    "deployed": "COALA head for guided decoding (best on prefixes)",
}


def load_head_study(results: str | Path) -> dict[str, Any] | None:
    """The checked record under the results folder ``results``; ``None`` when it has not been written."""
    path = Path(results) / HEAD_SELECTION_RECORD
    return read_head_selection_record(path) if path.is_file() else None


def interval(values: dict[str, Any], key: str = "accuracy", digits: int = 3) -> str:
    """``"0.62 [0.57, 0.66]"`` from a record's value with its ``low`` and ``high``."""
    return f"{values[key]:.{digits}f} [{values['low']:.{digits}f}, {values['high']:.{digits}f}]"


def _setting(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k not in ("paper", "phase2_gamma")}
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())


def path_frame(record: dict[str, Any]) -> pd.DataFrame:
    """One row per fitted point of every path: feature choice, P, beta (and over beta_max), width, active
    groups, train and validation pairwise accuracy (whole texts), certificate, steps and seconds."""
    rows = []
    for path in record["paths"]:
        for point in path["points"]:
            rows.append(
                {
                    "features": path["features"],
                    "P": path["P"],
                    "beta": point["beta"],
                    "beta / beta_max": point["beta"] / path["beta_max"],
                    "width": point["width"],
                    "active groups": point["active_groups"],
                    "train": point["train_pairwise"],
                    "validation": point["validation"]["full"],
                    "relative gap": point["relative_gap"],
                    "cone violation": point["cone_violation_rel"],
                    "certified": point["certified"],
                    "steps": point["iterations"],
                    "seconds": point["seconds"],
                }
            )
    return pd.DataFrame(rows)


def arms_table(record: dict[str, Any]) -> pd.DataFrame:
    """The chosen setting of every arm: what it is, its features and knobs, its validation accuracy on whole
    texts and on prefixes, and its report accuracy with the 95 % Wilson interval (whole texts)."""
    lengths = record["grid"]["prefix_lengths"]
    rows = []
    for name, chosen in record["chosen"].items():
        validation = chosen["validation"]
        report = chosen["report"]["full"]
        rows.append(
            {
                "head": ARM_NAMES.get(name, name),
                "features": chosen["features"],
                "setting": _setting(chosen["params"]),
                "validation (whole texts)": round(validation["full"], 3),
                "validation (mean over prefixes)": round(sum(validation[str(L)] for L in lengths) / len(lengths), 3),
                "report (whole texts), 95 % interval": interval(report),
                "report pairs": report["n_pairs"],
            }
        )
    return pd.DataFrame(rows).set_index("head")


def comparison_table(record: dict[str, Any]) -> pd.DataFrame:
    """Paired differences on the report pairs (first head minus second; null 0) and which side the interval
    lies on."""
    rows = []
    for name, d in record["comparisons"].items():
        first, second = name.split(" - ")
        side = "above 0" if d["low"] > 0 else "below 0" if d["high"] < 0 else "contains 0"
        rows.append(
            {
                "comparison": f"{ARM_NAMES.get(first, first)} minus {ARM_NAMES.get(second, second)}",
                "difference, 95 % paired bootstrap": interval(d, "difference", 3),
                "interval": side,
                "report pairs": d["n_pairs"],
            }
        )
    return pd.DataFrame(rows).set_index("comparison")


def prefix_frame(record: dict[str, Any], names: tuple[str, ...] = ("deployed", "paper", "coala")) -> pd.DataFrame:
    """Report accuracy of the chosen heads ``names`` after each number of response tokens (the whole text as
    the last point, at the mean response length), with Wilson intervals."""
    lengths = record["grid"]["prefix_lengths"]
    whole = max(lengths) * 1.5  # where the whole texts are drawn: right of the longest prefix
    rows = []
    for name in names:
        if name not in record["chosen"]:
            continue
        for slot, values in record["chosen"][name]["report"].items():
            rows.append(
                {
                    "head": ARM_NAMES.get(name, name),
                    "response tokens": whole if slot == "full" else int(slot),
                    "slot": "whole text" if slot == "full" else slot,
                    "accuracy": values["accuracy"],
                    "low": values["low"],
                    "high": values["high"],
                }
            )
    return pd.DataFrame(rows)


def authors_table(record: dict[str, Any]) -> pd.DataFrame:
    """The authors' protocol (peak report accuracy over a run: selection on the test set) beside the final
    iterate's accuracy, for CRONOS at the paper's 6 iterations and the AdamW head."""
    authors = record.get("authors_protocol")
    if not authors:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            arm: {
                "settings": authors[arm]["settings"],
                "peak over the run (selected on the report pairs)": round(authors[arm]["peak"], 3),
                "at the end of the run": round(authors[arm]["final"], 3),
            }
            for arm in ("cronos", "adamw")
        }
    ).T


def timing_summary(record: dict[str, Any]) -> dict[str, Any]:
    """The path's warm-started and cold cost (seconds, solver steps) and the speed-up of warm starts."""
    timing = record["path_timing"]
    return {
        "features": timing["features"],
        "P": timing["P"],
        "points": len(timing["warm"]["per_point"]),
        "warm seconds": round(timing["warm"]["seconds"], 1),
        "cold seconds": round(timing["cold"]["seconds"], 1),
        "warm steps": timing["warm"]["iterations"],
        "cold steps": timing["cold"]["iterations"],
        "speed-up": round(timing["speedup"], 2),
        "all certified": timing["warm"]["certified"] and timing["cold"]["certified"],
    }
