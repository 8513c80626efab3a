"""The paper's preference claims (notebook 06 and the IMDb frontier): COALA wins against DPO, ORPO and SFT,
and humans prefer COALA. The rules, their thresholds, COALA against each rival at its own KL
(:func:`matched_kl_comparisons`) and the one-sentence outcome of a lambda sweep (:func:`lambda_sweep_outcome`).

The record the win-rate rule reads first, in the minimal form it reads:

* **IMDb frontier** (``results/imdb_frontier/record.json``): ``win_rates``: ``{method: {"win_rate",
  "win_low", "win_high", "n"}}`` (or ``rate``/``low``/``high``), each method's win rate against the reference
  policy's sample for the same prompt (ties half) with its Wilson interval, and, preferred when present,
  the prompt-bootstrap interval ``win_boot_low``/``win_boot_high`` (samples of one prompt are not
  independent); ``method`` is ``"coala"``, ``"dpo"``, ``"orpo"``, ``"simpo"``, ``"sft"``, ... at the setting
  chosen on validation prompts, and ``"pool"``, the control that samples COALA's candidate pool without the
  head (no rival: when COALA's interval is not above it, the verdict says the head may add nothing). Optional: ``lambda_selection`` (``{"split": "validation", "judge": ...,
  "chosen": lambda}``), ``train_pairs`` and ``epochs``. With the bench's full record (``settings``, ``selection``,
  ``config``, ``stages.head``, ``head_controls``) and its generations
  (:data:`coala_lib.claims.ledger.FRONTIER_PROMPTS`, per-prompt test numbers), the win-rate rule compares
  COALA with each rival at COALA's own KL (:func:`matched_kl_comparisons`) and names the head's held-out
  accuracy, the no-head control, the scale and the KL in every verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from coala_lib.backbone.registry import ALIASES
from coala_lib.baselines.methods import rival_order
from coala_lib.claims import paper
from coala_lib.claims.ledger import FRONTIER_PROMPTS
from coala_lib.claims.rule_basics import (
    LEVEL,
    Assessment,
    Records,
    compare_intervals,
    interval_side,
    missing_record,
    notebook_values,
)
from coala_lib.evaluation.frontier import matched_kl_difference

#: Win rates: baselines trained on fewer pairs or for less than an epoch are a caveat.
MIN_TRAIN_PAIRS = 1000


def matched_kl_comparisons(
    frontier: Mapping[str, Any],
    prompts: Mapping[str, Any] | None,
    rivals: Sequence[str] | None = None,
    coala: str = "coala_paper",
) -> dict[str, dict[str, Any]]:
    """COALA's headline (``coala``'s validation-chosen setting, the record's ``selection``) against each rival
    at COALA's own test KL: :func:`coala_lib.evaluation.frontier.matched_kl_difference`, the rival's test win
    rate interpolated piecewise linearly in KL between its settings, paired on the test prompts and resampled
    over them (the record's ``config.n_boot`` and ``seed``). A rival's settings are those with a KL estimate
    whose validation perplexity passes the record's fluency guard (``config.perplexity_guard`` times the
    reference's, the validation rule's) and that do not fail the distinct-2 guard (a row's ``distinct_guard``,
    where the record has it); a rival with none is left out. ``prompts`` is
    :data:`coala_lib.claims.ledger.FRONTIER_PROMPTS`'s entry; without it, the record's ``settings`` or COALA's
    headline: ``{}``. Each value: the comparison's keys, ``coala_setting`` and ``rival_settings``."""
    view = (prompts or {}).get("settings") or {}
    rows = frontier.get("settings") or []
    chosen = ((frontier.get("selection") or {}).get(coala) or {}).get("setting")
    reference = next((r for r in rows if r["method"] == "reference" and r["split"] == "validation"), None)
    if not view or reference is None or chosen not in view.get(coala, {}):
        return {}
    config = frontier.get("config") or {}
    limit = float(config.get("perplexity_guard", 2.0)) * float(reference["perplexity"])
    out: dict[str, dict[str, Any]] = {}
    for rival in rival_order() if rivals is None else rivals:
        fluent = sorted(
            r["setting"]
            for r in rows
            if r["method"] == rival
            and r["split"] == "validation"
            and r.get("kl_kind") == "estimate"
            and float(r["perplexity"]) <= limit
            and r.get("distinct_guard", True) is not False
            and r["setting"] in view.get(rival, {})
        )
        if not fluent:
            continue
        found = matched_kl_difference(
            view[coala][chosen],
            {s: view[rival][s] for s in fluent},
            n_boot=int(config.get("n_boot", 2000)),
            seed=int(config.get("seed", 0)),
            level=LEVEL,
        )
        out[rival] = {**found, "coala_setting": chosen, "rival_settings": fluent}
    return out


#: The frontier record's method behind each ledger name of its ``win_rates`` (others are their own).
FRONTIER_METHODS = {"coala": "coala_paper"}


def _headline_kls(frontier: Mapping[str, Any]) -> dict[str, float]:
    """Each ``win_rates`` method's test KL at its headline setting (``{}`` for a record without settings)."""
    kls = {}
    for name, row in (frontier.get("win_rates") or {}).items():
        method = FRONTIER_METHODS.get(name, name)
        for r in frontier.get("settings") or []:
            if (r["method"], r["setting"], r["split"]) == (method, row.get("setting"), "test") and "kl_rb" in r:
                kls[name] = float(r["kl_rb"])
    return kls


def _scale(frontier: Mapping[str, Any]) -> str:
    """The scale the frontier ran at: backbone, training pairs, test prompts and samples."""
    config = frontier.get("config") or {}
    model = config.get("model")
    parts = [
        f"{ALIASES.get(model, model).split('/')[-1]} after the frontier's SFT" if model else "backbone not recorded",
        f"{frontier.get('train_pairs', '?')} training pairs",
    ]
    if "n_test_prompts" in config:
        parts.append(f"{config['n_test_prompts']} test prompts x {config.get('samples', '?')} samples")
    return "scale: " + ", ".join(parts)


def _head_context(frontier: Mapping[str, Any], paired: Mapping[str, Any]) -> list[str]:
    """The head's held-out pairwise accuracy and the no-head control (paper mode minus ``pool``)."""
    report = (((frontier.get("stages") or {}).get("head") or {}).get("report")) or {}
    phase1 = ((report.get("phase1") or {}).get("eval") or {}).get("pairwise")
    phase2 = (report.get("phase2") or {}).get("eval_pairwise")
    if phase2 is None and phase1 is None:
        head = "the head's held-out pairwise accuracy is not in the record"
    else:
        n = (report.get("config") or {}).get("n_eval")
        accuracies = [f"Phase {p} {a:.4g}" for p, a in (("II", phase2), ("I", phase1)) if a is not None]
        head = f"the head's held-out pairwise accuracy: {', '.join(accuracies)}" + (f" on {n} pairs" if n else "")
        head += " (0.5 is chance)"
    control = (frontier.get("head_controls") or {}).get("coala_paper") or paired.get("pool")
    if control is None:
        return [head, "no no-head control (paper mode minus pool) in the record"]
    return [
        head,
        f"the no-head control: paper mode minus pool {control['difference']:+.3g} [{control['low']:+.2g}, "
        f"{control['high']:+.2g}] (paired on prompts, null 0)",
    ]


def _dominance(side: int, coala_kl: float, rival_kl: float) -> int:
    """A comparison at unmatched KL counts only as dominance: COALA ahead at no more KL than the rival, or
    behind at no less; ahead only by spending more KL (or behind a rival that spends more) decides nothing."""
    if side > 0 and coala_kl > rival_kl:
        return 0
    if side < 0 and coala_kl < rival_kl:
        return 0
    return side


def _frontier_cells(records: Records) -> tuple[str, list[int], list[str], list[str]]:
    """``(ours, sides, caveats, context)`` of the frontier record: :func:`_win_cells`'s frontier branch."""
    frontier = records["imdb_frontier"]
    rates = {m: _win_interval(row) for m, row in frontier["win_rates"].items()}
    paired = frontier.get("paired_differences") or {}
    coala = rates["coala"]
    kls = _headline_kls(frontier)
    rivals = sorted(m for m in rates if m in rival_order())
    matched = {
        m: c
        for m, c in matched_kl_comparisons(frontier, records.get(FRONTIER_PROMPTS), rivals).items()
        if c["covered"] and c["low"] is not None
    }

    def at_headline(m: str) -> int:
        if m in paired:
            return interval_side(float(paired[m]["low"]), float(paired[m]["high"]), 0.0)
        return compare_intervals(coala[1:3], rates[m][1:3])

    def side(m: str) -> int:
        if m in matched:
            return interval_side(float(matched[m]["low"]), float(matched[m]["high"]), 0.0)
        if m in kls and "coala" in kls:
            return _dominance(at_headline(m), kls["coala"], kls[m])
        return at_headline(m)

    sides = [side(m) for m in rivals]
    parts = []
    if matched:
        kl = next(iter(matched.values()))["coala_kl"]
        parts.append(
            f"at COALA's KL ({kl:.3g} nats): COALA minus "
            + ", ".join(f"{m} {c['difference']:+.3g} [{c['low']:+.2g}, {c['high']:+.2g}]" for m, c in matched.items())
        )
        parts.append(
            "; ".join(
                f"{m} there {c['rival_win_rate']:.3g} [{c['rival_low']:.2g}, {c['rival_high']:.2g}] "
                f"(interpolated in KL between {c['below']} and {c['above']})"
                for m, c in matched.items()
            )
            + " (paired on prompts, null 0)"
        )

    def rate(m: str) -> str:
        text = f"{m}: {rates[m][0]:.3g} [{rates[m][1]:.2g}, {rates[m][2]:.2g}]"
        return text + (f" at KL {kls[m]:.3g}" if m in kls else "")

    headline = "; ".join(rate(m) for m in ["coala", *rivals])
    headline += f" (win rate against the reference policy, n = {coala[3]}"
    headline += ", each method at its best validation setting whatever its KL)" if matched else ")"
    parts.append(headline)
    differences = [
        f"{m} {paired[m]['difference']:+.3g} [{paired[m]['low']:+.2g}, {paired[m]['high']:+.2g}]"
        for m in [*rivals, "pool"]
        if m in paired
    ]
    if differences:
        where = " at the headlines" if matched else ""
        parts.append(f"COALA minus {', '.join(differences)}{where} (paired on prompts, null 0)")
    caveats = []
    if (frontier.get("lambda_selection") or {}).get("split") != "validation":
        caveats.append("lambda not recorded as chosen on validation prompts")
    if int(frontier.get("train_pairs", 0)) < MIN_TRAIN_PAIRS:
        caveats.append(f"fewer than {MIN_TRAIN_PAIRS} training pairs recorded")
    if not rivals:
        caveats.append(f"no trained rival ({', '.join(rival_order())}) in the frontier record")
    if "pool" not in rates:
        caveats.append("no pool control (the candidate pool without the head) in the frontier record")
    elif at_headline("pool") <= 0:
        pool = rates["pool"]
        caveats.append(
            f"COALA is not separated from its candidate pool without the head ({pool[0]:.3g} "
            f"[{pool[1]:.2g}, {pool[2]:.2g}]): the truncation, not the head, may carry the win rate"
        )
    context = [*_head_context(frontier, paired), _scale(frontier), _kl_context(rivals, matched, kls, at_headline)]
    return "; ".join(parts), sides, caveats, context


def _kl_context(rivals: Sequence[str], matched: Mapping[str, Any], kls: Mapping[str, float], at_headline: Any) -> str:
    """What the comparison says about KL: matched for which rivals, and how the others were compared."""
    if not kls or "coala" not in kls:
        return "KL not matched: each method at its best validation setting whatever its KL (no KL in the record)"
    ours = kls["coala"]
    lines = []
    if matched:
        lines.append(f"KL matched at COALA's {ours:.3g} nats for {', '.join(matched)}")
    for m in rivals:
        if m in matched or m not in kls:
            continue
        side = at_headline(m)
        counted = _dominance(side, ours, kls[m])
        if counted == side:
            how = {1: "COALA ahead at no more KL", -1: "COALA behind at no less KL", 0: "not separated"}[side]
        else:
            how = "COALA ahead only by spending more KL: no win" if side > 0 else "behind a rival at more KL: no loss"
        lines.append(
            f"KL not matched for {m} (its settings do not span COALA's {ours:.3g} nats; headline at {kls[m]:.3g}): "
            f"compared at the headlines, {how}"
        )
    return "; ".join(lines) if lines else f"KL not matched (COALA at {ours:.3g} nats)"


def _win_cells(records: Records) -> tuple[str, str, list[int], list[str], list[str]] | None:
    """``(source, ours, sides, caveats, context)`` of COALA against each baseline, ``sides`` +1 / -1 / 0 when
    COALA is ahead / behind / not separated; ``caveats`` turn "holds" into "holds with caveats", ``context``
    is said whatever the verdict. From the frontier record: at COALA's KL where the rival's settings span it
    (:func:`matched_kl_comparisons`, needs the generations' per-prompt numbers), else the paired difference of
    COALA's and the baseline's headline win rates against the same reference samples (null 0; for a record
    without it, COALA's interval against the baseline's), counted only as dominance when the record has
    their KLs (:func:`_dominance`). Else from notebook 06 (head-to-head against 0.5)."""
    frontier = records.get("imdb_frontier")
    if frontier and "coala" in frontier.get("win_rates", {}):
        ours, sides, caveats, context = _frontier_cells(records)
        return "imdb_frontier", ours, sides, caveats, context
    wins = (notebook_values(records, "06_evaluation") or {}).get("coala_vs")
    if not wins:
        return None
    cells = [(f"{base} ({judge})", w) for judge, row in sorted(wins.items()) for base, w in sorted(row.items())]
    ours = "; ".join(f"{k}: {w['rate']:.3g} [{w['low']:.2g}, {w['high']:.2g}]" for k, w in cells)
    sides = [interval_side(w["low"], w["high"], 0.5) for _, w in cells]
    v05 = notebook_values(records, "05_baselines") or {}
    steps = v05.get("optimiser_steps") or {}
    caveats = []
    if v05.get("n_train", 0) < MIN_TRAIN_PAIRS:
        caveats.append(
            f"baselines trained on {v05.get('n_train', '?')} pairs for {max(steps.values(), default='?')} optimiser steps"
        )
    lam = (records.get("06_evaluation") or {}).get("params", {}).get("guidance_scale")
    caveats.append(f"lambda = {lam} set by hand, not chosen on held-out prompts with a judge")
    return "06_evaluation", ours, sides, caveats, ["KL not measured (head-to-head on notebook 06's prompts)"]


def _win_interval(row: Mapping[str, Any]) -> tuple[float, float, float, int]:
    """``(rate, low, high, n)`` of a frontier row: ``rate``/``low``/``high`` or the frontier's own
    ``win_rate``/``win_low``/``win_high``, the prompt-bootstrap interval (``win_boot_*``) when present."""
    rate = float(row["rate"] if "rate" in row else row["win_rate"])
    low = row.get("win_boot_low", row.get("low", row.get("win_low")))
    high = row.get("win_boot_high", row.get("high", row.get("win_high")))
    if low is None or high is None:
        raise ValueError(f"frontier win-rate row {dict(row)} has no interval: give low/high (Wilson) or win_boot_*")
    return rate, float(low), float(high), int(row.get("n", 0))


def win_rates_source(records: Records) -> str | None:
    """The record :func:`verdict_win_rates` reads: ``"imdb_frontier"`` or ``"06_evaluation"`` (``None``: neither)."""
    frontier = records.get("imdb_frontier")
    if frontier and "coala" in frontier.get("win_rates", {}):
        return "imdb_frontier"
    return "06_evaluation" if (notebook_values(records, "06_evaluation") or {}).get("coala_vs") else None


def verdict_win_rates(records: Records) -> Assessment:
    """COALA against DPO, ORPO and SFT. From the IMDb frontier record when it exists: against each trained
    rival at COALA's own KL when the rival's settings span it (the rival's win rate interpolated in KL
    between its settings, paired on prompts, null 0: :func:`matched_kl_comparisons`, from the generations'
    per-prompt numbers); else the paired difference of the headline win rates against the same reference
    samples (null 0; for a record without it, COALA's interval against each baseline's), which counts only
    as dominance when the record has their KLs (ahead at no more KL, behind at no less: :func:`_dominance`).
    The comparison at each method's best validation setting whatever its KL stays in the text beside it.
    Else from notebook 06 (COALA's head-to-head win rate per judge with its Wilson interval, ties half).

    Does not hold when COALA is behind in any comparison; inconclusive when any comparison is not separated
    (an interval containing its null, overlapping intervals, a comparison at unmatched KL that is no
    dominance); holds when COALA is ahead in every one, with caveats when lambda was not chosen on
    validation prompts, the baselines saw fewer than :data:`MIN_TRAIN_PAIRS` pairs or the head is not
    separated from its no-head control. Every branch says the same caveats and context: the head's held-out
    pairwise accuracy, the no-head control (paper mode minus pool), the scale and whether KL was matched. A
    frontier record with no trained rival (:func:`coala_lib.baselines.methods.rival_order`; best-of-n and the reference are not
    rivals) is inconclusive: COALA ahead of nothing decides nothing."""
    found = _win_cells(records)
    if found is None:
        return missing_record("IMDb frontier record or record of notebook 06 with COALA's win rates")
    source, ours, sides, caveats, context = found
    cells = [
        all(row["COALA"][d] > row[m][d] for m in ("DPO", "ORPO", "SFT"))
        for row in paper.ALPACAEVAL_LC_WIN_RATE.values()
        for d in row["COALA"]
    ]
    note = (
        f"paper Table 3: COALA above DPO, ORPO and SFT in {sum(cells)} of {len(cells)} model/dataset cells "
        f"(AlpacaEval 2, GPT-4 judge); ours from {source}"
    )
    if any(s < 0 for s in sides):
        return (
            ours,
            "does not hold at our scale",
            "; ".join([note, "COALA is behind in a comparison", *caveats, *context]),
        )
    if not sides or not all(s > 0 for s in sides):
        reason = "an interval does not separate COALA from its rival, or a comparison is not at the same KL"
        return ours, "inconclusive", "; ".join([note, reason, *caveats, *context])
    if caveats:
        return ours, "holds with caveats", "; ".join([note, *caveats, *context])
    return ours, "holds", "; ".join([note, *context])


def lambda_sweep_outcome(sweep: Mapping[str, Mapping[str, float]], score: str = "judge") -> str:
    """One sentence on a lambda sweep ``{lambda: {score: mean}}``: whether ``score`` rises, falls or neither
    as lambda rises, with the means, and which lambda it favours."""
    if len(sweep) < 2:
        raise ValueError(f"sweep: need at least 2 guidance scales, got {sorted(sweep)}")
    points = sorted((float(lam), float(row[score])) for lam, row in sweep.items())
    steps = [b - a for (_, a), (_, b) in itertools.pairwise(points)]
    trend = "rises" if all(d > 0 for d in steps) else "falls" if all(d < 0 for d in steps) else "does not move one way"
    path = " -> ".join(f"{v:.4g}" for _, v in points)
    best = max(points, key=lambda p: p[1])[0]
    lams = " -> ".join(f"{lam:g}" for lam, _ in points)
    return f"the {score}'s mean {trend} as lambda rises ({path} for lambda {lams}); it favours lambda = {best:g}"


# ------------------------------------------------------------------------------------ human study


def verdict_human_study(records: Records) -> Assessment:
    """Not testable here: no human raters. The note says whether notebook 06 wrote the survey kit."""
    kit = (notebook_values(records, "06_evaluation") or {}).get("survey_items")
    note = f"paper: {paper.HUMAN_STUDY_RATERS} raters, {paper.HUMAN_STUDY_ITEMS_PER_DATASET} items per dataset; " + (
        f"kit written by notebook 06 ({kit} items), analysis dry-run on simulated raters"
        if kit
        else "kit in notebook 06 (no record yet)"
    )
    return "-", "not testable here", note
