"""The frontier's selection rules and what the ledger reads: each method's setting chosen on validation
prompts (:func:`choose`), its headline test row, the paired differences on the same test prompts and the
ledger's view of the record (:func:`ledger_view`).

A win rate is the mean outcome against the reference's sample of the same prompt and sample index (1 win,
1/2 tie, 0 loss); a paired difference ``W_a - W_b`` of two methods is taken on the same prompts and
reference samples, its interval by a bootstrap over prompts (:func:`coala_lib.evaluation.frontier.paired_difference`).
"""

from __future__ import annotations

from typing import Any

from coala_lib.evaluation.frontier import paired_difference, select_setting
from coala_lib.experiments.frontier.config import (
    SCORER_CONTROL,
    SCORER_CONTROL_JUDGE,
    SCORER_CONTROL_SCORER,
    FrontierConfig,
)
from coala_lib.experiments.frontier.methods import control_pairs, ledger_names

#: A primary judge's (prompts, samples) rewards by (method, setting, split).
Book = dict[tuple[str, str, str], Any]


def headline_setting(method: str, available: list[str], selection: dict[str, dict[str, Any]]) -> str | None:
    """The setting of ``method`` whose test row is its headline: the validation choice if its test row is
    among ``available``; none when validation excluded every setting (:func:`choose`); the only setting
    when no validation rule ran; else none."""
    if method in selection:
        chosen = selection[method]["setting"]
        return chosen if chosen in available else None
    return available[0] if len(available) == 1 else None


def headline_on_test(book: Book, method: str, selection: dict[str, dict[str, Any]]) -> str | None:
    """:func:`headline_setting` of ``method`` among its settings with test rows in ``book``."""
    return headline_setting(method, [s for (m, s, split) in book if m == method and split == "test"], selection)


def paired_on_test(
    book: Book,
    first: tuple[str, str],
    second: tuple[str, str],
    reference: Any,
    config: FrontierConfig,
) -> dict[str, Any]:
    """:func:`paired_difference` of two (method, setting) test rows against the same reference samples."""
    return paired_difference(book[(*first, "test")], book[(*second, "test")], reference, config.n_boot, config.seed)


def paired_against_coala(
    book: Book,
    reference: Any,
    selection: dict[str, dict[str, Any]],
    config: FrontierConfig,
) -> dict[str, dict[str, Any]]:
    """COALA's headline test win rate minus each other ledger method's (:func:`paired_difference`, the same
    reference samples and prompts), by the ledger name of the rival; empty without COALA's headline."""
    coala = headline_on_test(book, "coala_paper", selection)
    if reference is None or coala is None:
        return {}
    out = {}
    for method, name in ledger_names().items():
        setting = headline_on_test(book, method, selection)
        if method == "coala_paper" or setting is None:
            continue
        diff = paired_on_test(book, ("coala_paper", coala), (method, setting), reference, config)
        out[name] = {**diff, "coala_setting": coala, "setting": setting}
    return out


def head_controls(
    book: Book,
    reference: Any,
    selection: dict[str, dict[str, Any]],
    config: FrontierConfig,
) -> dict[str, dict[str, Any]]:
    """Each guided mode's headline test win rate minus its no-head control's (:func:`~coala_lib.experiments.frontier.methods.control_pairs`;
    :func:`paired_difference` on the same prompts and reference samples): what the head adds to the
    truncation. The null is 0; a mode or control without test rows is left out."""
    if reference is None:
        return {}
    out = {}
    for mode, control in control_pairs().items():
        setting, control_setting = headline_on_test(book, mode, selection), headline_on_test(book, control, selection)
        if setting is None or control_setting is None:
            continue
        diff = paired_on_test(book, (mode, setting), (control, control_setting), reference, config)
        out[mode] = {**diff, "setting": setting, "control": control, "control_setting": control_setting}
    return out


def scorer_control(judged: Book, reference: Any, config: FrontierConfig) -> dict[str, Any]:
    """Per n with test rows: best-of-n reranked by the book judge minus best-of-n reranked by the head, both
    judged by :data:`SCORER_CONTROL_JUDGE` against the same reference samples (:func:`paired_difference`;
    null 0). A scorer far stronger than the head that gains much says the head limits best-of-n; one that
    gains little, that the pool does."""
    if reference is None:
        return {}
    settings = sorted(
        {
            s
            for (m, s, split) in judged
            if m == SCORER_CONTROL and split == "test" and ("best_of_n", s, split) in judged
        },
        key=lambda s: float(s.split("=")[1]),
    )
    rows = {s: paired_on_test(judged, (SCORER_CONTROL, s), ("best_of_n", s), reference, config) for s in settings}
    return (
        {"judge": SCORER_CONTROL_JUDGE, "scorer": SCORER_CONTROL_SCORER, "null": 0.0, "by_setting": rows}
        if rows
        else {}
    )


def ledger_view(
    settings: list[dict[str, Any]],
    selection: dict[str, dict[str, Any]],
    train_pairs: int,
    config: FrontierConfig,
    paired: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What :mod:`coala_lib.claims.verdicts` reads: per method the test win rate at its validation-chosen
    setting (``win_rate``, ``win_low``, ``win_high`` Wilson, ``win_boot_*``, ``n``) and ``paired``, COALA's
    win rate minus each rival's on the same prompts (:func:`paired_against_coala`). Written only once COALA
    and at least one trained baseline have test results, so a partial record never compares COALA with
    nothing."""
    rates: dict[str, dict[str, Any]] = {}
    for method, name in ledger_names().items():
        candidates = [r for r in settings if r["method"] == method and r["split"] == "test"]
        setting = headline_setting(method, [r["setting"] for r in candidates], selection)
        row = next((r for r in candidates if r["setting"] == setting), None)
        if row is not None:
            keys = ("win_rate", "win_low", "win_high", "win_boot_low", "win_boot_high", "n", "setting")
            rates[name] = {k: row[k] for k in keys}
    if "coala" not in rates or not set(rates) - {"coala", "pool"}:
        return {}
    chosen = selection.get("coala_paper", {})
    return {
        "win_rates": rates,
        "paired_differences": paired or {},
        "train_pairs": train_pairs,
        "epochs": config.baseline_epochs,
        "lambda_selection": {"split": "validation", "judge": "book", "chosen": chosen.get("setting")},
    }


def add_distinct_guard(settings: list[dict[str, Any]], guard: float) -> None:
    """Set every row's ``distinct_guard``: whether its ``distinct_2`` is at least ``guard`` times the reference's
    on the same split (the reference's own row: true); a split without a reference row is left unmarked."""
    if not guard >= 0:
        raise ValueError(f"distinct_guard must be a fraction >= 0 of the reference's distinct-2, got {guard}")
    reference = {r["split"]: float(r["distinct_2"]) for r in settings if r["method"] == "reference"}
    for row in settings:
        if row["split"] in reference:
            row["distinct_guard"] = bool(float(row["distinct_2"]) >= guard * reference[row["split"]])


def _guard_failures(row: dict[str, Any], ref: dict[str, Any], config: FrontierConfig) -> list[str]:
    """The text-quality guards validation row ``row`` fails, each with its number and limit."""
    failed = []
    if row["perplexity"] > config.perplexity_guard * ref["perplexity"]:
        failed.append(
            f"perplexity {row['perplexity']:.0f} > {config.perplexity_guard:g} x the reference's {ref['perplexity']:.0f}"
        )
    if row.get("distinct_guard") is False:
        failed.append(
            f"distinct-2 {row['distinct_2']:.2f} < {config.distinct_guard:g} x the reference's {ref['distinct_2']:.2f}"
        )
    return failed


def choose(settings: list[dict[str, Any]], config: FrontierConfig) -> dict[str, dict[str, Any]]:
    """Per method with validation rows: the rule of :func:`select_setting` (never test prompts), among the
    settings that pass both text-quality guards: the fluency guard (perplexity) and, for rows that carry it,
    the distinct-2 guard (``distinct_guard``, :func:`add_distinct_guard`; rows of records written before it
    have none and are not held to it). The settings a guard set aside are named with the guards they fail
    (``failed_guards``). A method none of whose settings passes gets ``setting: None`` and the reason
    (``excluded``): it keeps its rows on the frontier but has no headline, so no win-rate comparison reads it."""
    ref = next((r for r in settings if r["method"] == "reference" and r["split"] == "validation"), None)
    if ref is None:
        return {}
    rule = (
        f"highest validation win rate among settings with perplexity <= {config.perplexity_guard:g} x the "
        "reference's; ties: smaller KL"
    )
    if "distinct_guard" in ref:
        rule = rule.replace("; ties", f" and distinct-2 >= {config.distinct_guard:g} x the reference's; ties")
    out: dict[str, dict[str, Any]] = {}
    for method in sorted({r["method"] for r in settings} - {"reference"}):
        rows = [r for r in settings if r["method"] == method and r["split"] == "validation"]
        if not rows:
            continue
        failed = {r["setting"]: "; ".join(f) for r in rows if (f := _guard_failures(r, ref, config))}
        best = select_setting(rows, ref["perplexity"], config.perplexity_guard)
        guarded = {"failed_guards": failed} if failed else {}
        if best is not None:
            out[method] = {
                "setting": best["setting"],
                "validation_win_rate": best["win_rate"],
                "rule": rule,
                **guarded,
            }
            continue
        fluent = [r for r in rows if r["perplexity"] <= config.perplexity_guard * ref["perplexity"]]
        if fluent:  # every fluent setting fails the distinct-2 guard
            excluded = (
                "no setting passes the distinct-2 guard: validation distinct-2 "
                f"{max(r['distinct_2'] for r in fluent):.2f} at best among the fluent settings, limit "
                f"{config.distinct_guard:g} x the reference's {ref['distinct_2']:.2f}"
            )
        else:
            excluded = (
                f"no setting passes the fluency guard: validation perplexity {min(r['perplexity'] for r in rows):.0f} "
                f"at best, limit {config.perplexity_guard:g} x the reference's {ref['perplexity']:.0f}"
            )
        out[method] = {"setting": None, "validation_win_rate": None, "rule": rule, "excluded": excluded, **guarded}
    return out
