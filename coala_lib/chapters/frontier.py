"""Reading the IMDb frontier record (``bench/imdb_frontier.py``) for notebook 09: checks, tables, examples.

The record is never recomputed here; these functions only check its schema (the record's keys and the
readers live with the claims ledger, :func:`coala_lib.claims.ledger.read_frontier_record`; a damaged file is
a :class:`~coala_lib.core.records.RecordError` naming it) and turn it into tidy frames: one row per
(method, setting, split) with the reward, KL, win-rate, fluency, diversity and cost
columns the bench script writes (:func:`coala_lib.evaluation.frontier.summarise_setting`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from coala_lib.chapters.tables import side_by_side
from coala_lib.claims.ledger import (
    FRONTIER_FIX,
    FRONTIER_GENERATIONS,
    FRONTIER_KEYS,
    FRONTIER_RECORD,
    read_frontier_generations,
    read_frontier_record,
)
from coala_lib.claims.verdicts import matched_kl_comparisons
from coala_lib.core.records import RecordError, check_fields
from coala_lib.evaluation.frontier import prompt_view, select_within_budget, setting_kl
from coala_lib.experiments.frontier.methods import FRONTIER_METHODS

RECORD, GENERATIONS = FRONTIER_RECORD.name, FRONTIER_GENERATIONS.name
#: The KL budgets (nats) of :func:`budget_table`.
KL_BUDGETS: tuple[float, ...] = (10.0, 20.0, 40.0)
#: Keys every record has (:data:`coala_lib.claims.ledger.FRONTIER_KEYS`), and keys every setting row has.
RECORD_KEYS: tuple[str, ...] = tuple(FRONTIER_KEYS)
SETTING_KEYS: tuple[str, ...] = (
    "method",
    "setting",
    "split",
    "n_prompts",
    "samples",
    "reward_book",
    "reward_book_low",
    "reward_book_high",
    "reward_vader",
    "perplexity",
    "distinct_2",
    "mean_new_tokens",
    "kl_kind",
    "cost",
    "selected",
)
#: Keys of every setting compared with the reference (all but the reference itself).
WIN_KEYS: tuple[str, ...] = ("win_rate", "win_low", "win_high", "win_boot_low", "win_boot_high", "n", "win_rate_vader")
#: The book's display order of its methods (tables, legends, colours); see :func:`method_order`.
METHOD_ORDER: tuple[str, ...] = (
    "reference",
    "best_of_n",
    "coala_paper",
    "pool",
    "coala_args",
    "topk",
    "dpo",
    "sft",
    "orpo",
    "simpo",
)


def method_order() -> tuple[str, ...]:
    """:data:`METHOD_ORDER`, then every other registered frontier method in registry order (a method registered
    with :func:`~coala_lib.experiments.frontier.methods.register_frontier_method` is shown after the book's)."""
    return METHOD_ORDER + tuple(m for m in FRONTIER_METHODS if m not in METHOD_ORDER)


def check_record(record: dict[str, Any], where: str = "the frontier record") -> dict[str, Any]:
    """Raise :class:`~coala_lib.core.records.RecordError` (a ``ValueError``) naming ``where`` and the first
    missing or mistyped field, of the record or of a setting row; return the record."""
    check_fields(record, where, FRONTIER_KEYS, fix=FRONTIER_FIX)
    for i, row in enumerate(record["settings"]):
        check_fields(row, f"{where} (settings[{i}])", fix=FRONTIER_FIX)
        keys = SETTING_KEYS + (() if row.get("method") == "reference" else WIN_KEYS)
        absent = [k for k in keys if k not in row]
        label = f"{where}: setting {row.get('method')}[{row.get('setting')}] ({row.get('split')})"
        if absent:
            raise RecordError(f"{label} lacks {absent}; {FRONTIER_FIX}")
        if row["kl_kind"] == "estimate" and not {"kl_rb", "kl_mc"} <= set(row):
            raise RecordError(f"{label} has no KL estimates; {FRONTIER_FIX}")
        if row["kl_kind"] == "bound" and "kl_bound" not in row:
            raise RecordError(f"{label} has no KL bound; {FRONTIER_FIX}")
    return record


def load_record(folder: str | Path) -> dict[str, Any] | None:
    """The checked record in ``folder``, or ``None`` if the experiment has not written one yet (no file); a
    damaged or incomplete file is a :class:`~coala_lib.core.records.RecordError` naming it."""
    path = Path(folder) / RECORD
    if not path.is_file():
        return None
    return check_record(read_frontier_record(path), str(path))


def read_generations(folder: str | Path) -> list[dict[str, Any]]:
    """Every generated continuation (method, setting, split, prompt id, sample, prompt, text, rewards, KL);
    none when the file is missing; a damaged file or line is a
    :class:`~coala_lib.core.records.RecordError` naming the file and the line."""
    path = Path(folder) / GENERATIONS
    if not path.is_file():
        return []
    return read_frontier_generations(path)


def frontier_frame(record: dict[str, Any], split: str = "test") -> pd.DataFrame:
    """One row per method and setting of ``split``: the frontier's coordinates and every summary number.

    ``kl`` is the Rao-Blackwellised estimate (``kl_low``/``kl_high`` its prompt-bootstrap interval) or, for
    best-of-n, the bound (no interval).
    """
    rows = []
    for row in record["settings"]:
        if row["split"] != split:
            continue
        flat = {k: v for k, v in row.items() if k != "cost"}
        bound = row["kl_kind"] == "bound"
        flat["kl"] = row["kl_bound"] if bound else row["kl_rb"]
        flat["kl_low"] = row["kl_bound"] if bound else row["kl_rb_low"]
        flat["kl_high"] = row["kl_bound"] if bound else row["kl_rb_high"]
        flat["decode_seconds"] = row["cost"]["decode_seconds"]
        flat["decode_flops"] = row["cost"]["decode_flops"]
        train = row["cost"].get("train") or {}
        flat["train_seconds"] = train.get("seconds", 0.0)
        flat["train_flops"] = train.get("flops", 0)
        first, total = train.get("first_step", 1), train.get("total_steps")
        flat["train_steps_measured"] = f"steps {first}-{total} of {total}" if first > 1 else ""
        rows.append(flat)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["order"] = frame["method"].map({m: i for i, m in enumerate(method_order())})
    return frame.sort_values(["order", "value"], na_position="first").drop(columns="order").reset_index(drop=True)


def win_rate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Win rate against the reference per method and setting: every judge, Wilson and bootstrap intervals; the
    third judge (AFINN) and the distinct-2 guard (distinct-2 and whether it passes) where the record has them
    (records written before them have neither)."""
    if frame.empty:
        return frame
    rows = frame[frame["method"] != "reference"]
    guard = ["distinct_2", "distinct_guard"] if "distinct_guard" in rows.columns else []
    columns = [
        "method",
        "setting",
        "selected",
        "n",
        "win_rate",
        "win_low",
        "win_high",
        "win_boot_low",
        "win_boot_high",
        "win_rate_vader",
        "win_vader_low",
        "win_vader_high",
        "win_rate_afinn",
        "win_afinn_low",
        "win_afinn_high",
        "reward_book",
        "reward_vader",
        "reward_afinn",
        "kl",
        *guard,
    ]
    return rows[[c for c in columns if c in rows.columns]].reset_index(drop=True)


def paired_table(record: dict[str, Any]) -> pd.DataFrame:
    """COALA's headline win rate minus each other method's, on the same test prompts and reference samples
    (the record's ``paired_differences``), with the prompt-bootstrap interval and what it says against the
    null of no difference; empty when the record has none."""
    rows = [
        {"COALA minus": rival, "COALA setting": d["coala_setting"], "rival setting": d["setting"]}
        | _against_zero(d, "COALA ahead", "COALA behind")
        for rival, d in (record.get("paired_differences") or {}).items()
    ]
    return pd.DataFrame(rows)


def head_control_table(record: dict[str, Any]) -> pd.DataFrame:
    """Each guided mode's headline win rate minus its no-head control's (the record's ``head_controls``:
    paper mode against ``pool``, ARGS mode against ``topk``) with the prompt-bootstrap interval and what it
    says against the null of 0 (the head adds nothing to the truncation); empty when the record has none."""
    rows = [
        {"mode": mode, "setting": d["setting"], "minus control": f"{d['control']} [{d['control_setting']}]"}
        | _against_zero(d, "head adds", "head costs")
        for mode, d in (record.get("head_controls") or {}).items()
    ]
    return pd.DataFrame(rows)


def _against_zero(d: dict[str, Any], above: str, below: str) -> dict[str, Any]:
    """A paired difference's columns: the difference, its interval, the prompts, and ``above`` / ``below`` /
    "not separated" as the interval lies above 0, below it, or across it."""
    verdict = above if d["low"] > 0 else below if d["high"] < 0 else "not separated"
    return {
        "difference": d["difference"],
        "low": d["low"],
        "high": d["high"],
        "prompts": d["n_prompts"],
        "against 0": verdict,
    }


def head_provenance(record: dict[str, Any]) -> dict[str, int]:
    """How many guided / best-of-n rows each head made: ``{fingerprints joined by ", ": rows}`` from the rows'
    ``heads`` (``unrecorded`` for rows decoded before the bench kept fingerprints)."""
    return dict(Counter(", ".join(row["heads"]) for row in record["settings"] if "heads" in row))


def excluded_methods(record: dict[str, Any]) -> dict[str, str]:
    """``{method: reason}`` for every method the validation rule left without a headline setting."""
    return {m: c["excluded"] for m, c in sorted(record["selection"].items()) if c["setting"] is None}


def cost_table(frame: pd.DataFrame, stages: dict[str, Any]) -> pd.DataFrame:
    """Counted FLOPs and wall time, training and decoding apart, per method and setting (test prompts),
    with the shared stages (SFT reference, COALA head) on rows of their own."""
    rows = [
        {"what": f"train: {name}", "seconds": stage["cost"]["seconds"], "flops": stage["cost"]["flops"]}
        for name, stage in stages.items()
        if isinstance(stage, dict) and stage.get("cost") and name in ("sft", "head")
    ]
    for _, row in frame.iterrows():
        if row["train_seconds"]:
            rows.append(
                {
                    "what": f"train: {row['method']} {row['setting']}"
                    + (f" ({row['train_steps_measured']}, resumed)" if row["train_steps_measured"] else ""),
                    "seconds": row["train_seconds"],
                    "flops": row["train_flops"],
                }
            )
        rows.append(
            {
                "what": f"decode: {row['method']} {row['setting']}",
                "seconds": row["decode_seconds"],
                "flops": row["decode_flops"],
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table["TFLOPs"] = table["flops"] / 1e12
    return table


def protocol_seconds(record: dict[str, Any]) -> dict[str, float]:
    """The record's wall time on the machine that ran it, split into ``train`` (every stage with a cost: SFT,
    head, each baseline's training) and ``decode`` (every decoding run and its evaluation, validation and
    test); rows that share a decoding run (best-of-n's settings share one pool: one ``key``) count once.
    A lower bound on a cold-cache run: a resumed training recorded only the steps after its checkpoint."""
    train = sum(stage["cost"]["seconds"] for stage in record["stages"].values() if "cost" in stage)
    runs = {(row["key"], row["split"]): row["cost"] for row in record["settings"]}
    decode = sum(cost["decode_seconds"] + cost["evaluation_seconds"] for cost in runs.values())
    return {"train": train, "decode": decode, "total": train + decode}


def examples(
    generations: Sequence[dict[str, Any]],
    methods: Sequence[tuple[str, str]],
    split: str = "test",
    prompts: int = 3,
    sample: int = 0,
) -> pd.DataFrame:
    """Side by side (:func:`coala_lib.chapters.tables.side_by_side`), for the first ``prompts`` prompt ids: a
    row with the prompts, then one row per ``(method, setting)`` (``"method [setting]"``) with its text."""
    wanted = {(m, s) for m, s in methods}
    shown: dict[int, str] = {}
    texts: dict[str, dict[int, str]] = {f"{m} [{s}]": {} for m, s in methods}
    for g in generations:
        key = (g["method"], g["setting"])
        if g["split"] == split and g["sample"] == sample and key in wanted and g["prompt_id"] < prompts:
            shown[g["prompt_id"]] = g["prompt"]
            texts[f"{key[0]} [{key[1]}]"][g["prompt_id"]] = g["text"]
    ids = sorted(shown)
    return side_by_side(
        [shown[i] for i in ids], {name: [by_id.get(i, "") for i in ids] for name, by_id in texts.items()}
    )


def matched_kl_table(
    record: dict[str, Any],
    generations: Sequence[dict[str, Any]],
    rivals: Sequence[str] | None = None,
    coala: str = "coala_paper",
) -> pd.DataFrame:
    """COALA's headline against each rival at COALA's own test KL, the comparison the claims ledger decides
    on (:func:`coala_lib.claims.verdicts.matched_kl_comparisons`): the rival's test win rate interpolated
    piecewise linearly in KL between its fluent settings, with its prompt-bootstrap interval, and COALA minus
    it, paired on prompts (null 0). A rival whose settings do not span COALA's KL is "not covered" (nothing
    is extrapolated); one with no setting past the fluency guard is "excluded". ``rivals``: every method with
    a KL estimate but the reference and ``coala`` (default), in :func:`method_order`."""
    estimated = {r["method"] for r in record["settings"] if r["kl_kind"] == "estimate"} - {"reference", coala}
    names = list(rivals) if rivals is not None else [m for m in method_order() if m in estimated]
    judge = str((record.get("lambda_selection") or {}).get("judge") or "book")
    prompts = {"settings": prompt_view(generations, "test", judge)} if generations else None
    found = matched_kl_comparisons(record, prompts, names, coala)
    guards = "the fluency guard"
    if any("distinct_guard" in r for r in record["settings"]):  # records written before it have none
        guards = "the fluency and distinct-2 guards"
    rows = []
    for rival in names:
        c = found.get(rival)
        if c is None:
            rows.append({"rival": rival, "against 0": f"excluded: no setting with a KL estimate passes {guards}"})
            continue
        span = f"{c['kl_min']:.3g}-{c['kl_max']:.3g}" if len(c["settings"]) > 1 else f"{c['kl_min']:.3g}"
        row: dict[str, Any] = {
            "rival": rival,
            "rival settings": len(c["settings"]),
            "rival KL": span,
            "COALA setting": c["coala_setting"],
            "COALA KL": c["coala_kl"],
            "COALA win rate": c["coala_win_rate"],
            "rival at COALA's KL": c["rival_win_rate"],
            "rival low": c["rival_low"],
            "rival high": c["rival_high"],
            "between": f"{c['below']} .. {c['above']}" if c["covered"] else "",
            "difference": c["difference"],
            "low": c["low"],
            "high": c["high"],
            "prompts": c["n_prompts"],
        }
        if not c["covered"]:
            row["against 0"] = f"not covered: {rival}'s settings span {span} nats, COALA is at {c['coala_kl']:.3g}"
        else:
            row["against 0"] = "COALA ahead" if c["low"] > 0 else "COALA behind" if c["high"] < 0 else "not separated"
        rows.append(row)
    return pd.DataFrame(rows)


def budget_table(
    record: dict[str, Any], budgets: Sequence[float] = KL_BUDGETS, methods: Sequence[str] | None = None
) -> pd.DataFrame:
    """The KL-budget rule per method and budget :math:`K`: the best validation setting with KL at most
    :math:`K` nats that passes the fluency guard, and the distinct-2 guard where the rows carry it
    (:func:`coala_lib.evaluation.frontier.select_within_budget`,
    the record's ``config.perplexity_guard``), with its validation KL and win rate and its test KL, win rate
    and prompt-bootstrap interval; a method with no such setting has an empty setting and says why.
    ``methods``: every method with validation rows but the reference, in :func:`method_order`."""
    settings = record["settings"]
    reference = next((r for r in settings if r["method"] == "reference" and r["split"] == "validation"), None)
    if reference is None:
        raise RecordError(
            f"the frontier record has no reference validation row: the fluency guard needs it; {FRONTIER_FIX}"
        )
    guard = float(record["config"].get("perplexity_guard", 2.0))
    present = {r["method"] for r in settings if r["split"] == "validation"} - {"reference"}
    names = list(methods) if methods is not None else [m for m in method_order() if m in present]
    test = {(r["method"], r["setting"]): r for r in settings if r["split"] == "test"}
    rows = []
    for budget in budgets:
        for method in names:
            validation = [r for r in settings if r["method"] == method and r["split"] == "validation"]
            pick = select_within_budget(validation, reference["perplexity"], budget, guard) if validation else None
            row: dict[str, Any] = {"budget": float(budget), "method": method}
            if pick is None:
                within = [r for r in validation if setting_kl(r) <= budget]
                lowest = min((setting_kl(r) for r in validation), default=float("nan"))
                row["setting"] = ""
                fluent = [r for r in within if r["perplexity"] <= guard * reference["perplexity"]]
                row["note"] = (
                    f"no setting within {budget:g} nats (lowest validation KL {lowest:.3g})"
                    if not within
                    else f"no setting within {budget:g} nats passes the fluency guard"
                    if not fluent
                    else f"no setting within {budget:g} nats passes the distinct-2 guard"
                )
                rows.append(row)
                continue
            held = test.get((method, pick["setting"]))
            row |= {
                "setting": pick["setting"],
                "validation KL": setting_kl(pick),
                "validation win rate": pick["win_rate"],
            }
            if held is None:
                row["note"] = "no test row"
            else:
                row |= {
                    "test KL": setting_kl(held),
                    "test win rate": held["win_rate"],
                    "low": held["win_boot_low"],
                    "high": held["win_boot_high"],
                    "note": "KL is the best-of-n bound" if held["kl_kind"] == "bound" else "",
                }
            rows.append(row)
    return pd.DataFrame(rows)
