"""The paper's claims, each with the number the paper gives and a rule that reads our records.

A rule maps the records (:func:`coala_lib.claims.ledger.load_all_records`: the notebooks' records, the
``results/bench_*.json`` files keyed by file stem, and the IMDb frontier record as ``"imdb_frontier"``) to
``(ours, verdict, note)`` with one of the five verdicts of :data:`coala_lib.claims.ledger.VERDICTS`. A rule
never guesses: a missing record gives ``"not testable here"`` and says which; evidence that cannot
separate the claim from its negation (an interval containing the null, too few points, no certificate)
gives ``"inconclusive"``. Every threshold is a named constant below, and each rule's docstring states how
it decides. (The word *judge* is kept for the comparison protocols of :mod:`coala_lib.evaluation`.)

Records other experiments write, in the minimal form these rules read:

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
* **GPU check** (``results/gpu_check.json``, ``scripts/gpu_check.sh``): ``stages`` by name with ``status``,
  ``peak_memory_bytes`` and ``memory_kind``; the single-GPU rule reads ``extraction_<shape>``, ``phase1``,
  ``phase2``.
* **Compute at the frontier's scale** (optional ``compute`` of the frontier record, counted FLOPs of its own
  run): ``{"coala": {"extraction", "head", "guided_decoding"}, "dpo": {"lora_dpo_epoch", "plain_decoding"}}``,
  the decoding terms over the same test prompts. Read first when present.
* **Compute** (a ``bench_efficiency_*`` record): stages ``extraction``, ``phase1``, ``phase2``,
  ``guided_decoding``, ``lora_dpo`` and optionally ``plain_decoding`` with counted ``flops`` and the
  ``pairs`` / ``tokens`` they processed; ``summary.meta_counted`` for extraction and LoRA-DPO at real shapes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy.stats import norm

from coala_lib.backbone.registry import ALIASES
from coala_lib.claims import paper
from coala_lib.claims.ledger import (
    FRONTIER_PROMPTS,
    FRONTIER_RECORD,
    GPU_CHECK_RECORD,
    HEAD_SELECTION_RECORD,
    Claim,
    Verdict,
    ledger_rows,
)
from coala_lib.evaluation.frontier import matched_kl_difference
from coala_lib.evaluation.win_rates import wilson_interval

Records = Mapping[str, Mapping[str, Any]]
Assessment = tuple[str, Verdict, str]

#: GPU memory the paper's single-GPU claim is about (an RTX 4090).
PAPER_GPU_GB = 24.0
#: Shapes at which a GPU memory record speaks for the paper's 7-8B backbones.
REAL_SHAPES: tuple[str, ...] = ("llama8b", "mistral7b")
#: Compute share: COALA's share may exceed the paper's 17.6% by this factor and still "hold with caveats".
COMPUTE_TOLERANCE = 0.25
#: Intervals are two-sided at this level.
LEVEL = 0.95
#: A curve needs this many logged steps before its shape can be compared with another's.
MIN_CURVE_STEPS = 10
#: A margin curve "rises monotonically" when at least this share of its steps does not decrease.
MONOTONE_SHARE = 0.9
#: Phase I: largest certified relative optimality gap and relative cone violation that count as optimal
#: (the solver's default stopping tolerance).
PHASE1_GAP_TOL = 1e-4
PHASE1_CONE_TOL = 1e-4
#: Relative tolerance under which an Adam objective counts as "below" a convex optimum.
OPTIMUM_RTOL = 1e-6
#: Phase II: gradient norm under which the unregularised loss is at its (attained) minimum.
CERTIFICATE_TOL = 1e-8
#: APM: relative distance from the paper's triplets per conversation that still agrees.
APM_TOLERANCE = 0.25
#: APM: fewer dialogues than this cannot say anything about a per-conversation mean.
MIN_DIALOGUES = 30
#: Win rates: the methods that count as COALA's rivals in the frontier record (LM-updating baselines).
TRAINED_RIVALS: tuple[str, ...] = ("dpo", "orpo", "simpo", "sft")
#: Win rates: baselines trained on fewer pairs or for less than an epoch are a caveat.
MIN_TRAIN_PAIRS = 1000


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits, as a plain float (for the JSON records)."""
    return float(f"{float(value):.{digits}g}")


def curve_stats(values: Sequence[float]) -> dict[str, float | int]:
    """Summary of a per-step curve :math:`m_1, \\dots, m_T`: first, last, the largest drop
    :math:`\\max_{s<t} (m_s - m_t)` and the share of steps with :math:`m_{t+1} \\ge m_t`."""
    xs = [float(v) for v in values]
    if len(xs) < 2:
        raise ValueError(f"values: a curve needs at least 2 steps, got {len(xs)}; log more steps")
    peak, drop = xs[0], 0.0
    for x in xs[1:]:
        peak = max(peak, x)
        drop = max(drop, peak - x)
    rising = sum(b >= a for a, b in itertools.pairwise(xs)) / (len(xs) - 1)
    return {
        "steps": len(xs),
        "first": round_sig(xs[0]),
        "last": round_sig(xs[-1]),
        "max_drop": round_sig(drop),
        "monotone_share": round_sig(rising),
    }


def _values(records: Records, name: str) -> Mapping[str, Any] | None:
    record = records.get(name)
    return None if record is None else record.get("values")


def _missing(what: str) -> Assessment:
    return "-", "not testable here", f"no {what} (run it with COALA_RESULTS_DIR set)"


def _side(low: float, high: float, null: float) -> int:
    """+1 when ``[low, high]`` lies above ``null``, -1 below, 0 when it contains it."""
    return 1 if low > null else -1 if high < null else 0


# ----------------------------------------------------------------------------------------- memory


def _gpu_peaks(records: Records) -> tuple[dict[str, float], set[str], bool]:
    """COALA's peak GPU memory (GB) per real shape, the devices, and whether any GPU record exists: from
    ``bench_efficiency_cuda_*`` records (``summary.coala.peak_memory_bytes``) and from ``gpu_check``
    (``bench/gpu_check.py``: the largest CUDA peak of ``extraction_<shape>``, ``phase1`` and ``phase2``)."""
    peaks: dict[str, float] = {}
    devices: set[str] = set()
    any_gpu = False
    for key, r in records.items():
        if not key.startswith("bench_efficiency_") or r.get("environment", {}).get("device") != "cuda":
            continue
        any_gpu = True
        shape = r.get("parameters", {}).get("shape")
        if shape in REAL_SHAPES:
            peaks[shape] = max(peaks.get(shape, 0.0), r["summary"]["coala"]["peak_memory_bytes"] / 1e9)
            devices.add(r["environment"].get("device_name", "?"))
    check = records.get("gpu_check") or {}
    stages = check.get("stages") or {}

    def ok(name: str) -> Mapping[str, Any] | None:
        stage = stages.get(name) or {}
        good = stage.get("status") == "ok" and stage.get("memory_kind") == "cuda_max_allocated"
        return stage if good else None

    for shape in REAL_SHAPES:
        extraction = ok(f"extraction_{shape}")
        if extraction is None:
            continue
        any_gpu = True
        head = [s["peak_memory_bytes"] for s in (ok("phase1"), ok("phase2")) if s is not None]
        peaks[shape] = max(peaks.get(shape, 0.0), max([extraction["peak_memory_bytes"], *head]) / 1e9)
        devices.add(check.get("environment", {}).get("device_name", "?"))
    return peaks, devices, any_gpu


def verdict_single_gpu(records: Records) -> Assessment:
    """COALA's peak GPU memory at the 7-8B shapes (:func:`_gpu_peaks`): holds when within 24 GB at both
    shapes, with caveats when only one shape was measured, does not hold when a peak exceeds 24 GB."""
    peaks, devices, any_gpu = _gpu_peaks(records)
    if not peaks:
        why = "only at toy shapes" if any_gpu else "not measured here (no GPU)"
        return (
            "-",
            "not testable here",
            f"GPU memory {why}; run scripts/gpu_check.sh or bench/efficiency.py --device cuda",
        )
    ours = ", ".join(f"{s}: {g:.4g} GB" for s, g in sorted(peaks.items()))
    note = f"COALA's peak (extraction, Phase I, Phase II) on {', '.join(sorted(devices))}"
    if max(peaks.values()) > PAPER_GPU_GB:
        return ours, "does not hold at our scale", f"{note}: above {PAPER_GPU_GB:g} GB"
    missing = sorted(set(REAL_SHAPES) - set(peaks))
    if missing:
        return ours, "holds with caveats", f"{note}; not measured at {', '.join(missing)}"
    return ours, "holds", note


# ---------------------------------------------------------------------------------------- compute


@dataclass(frozen=True)
class ComputeShare:
    """COALA's counted FLOPs over LoRA-DPO's, as an interval when a term is missing.

    COALA: extraction + head (Phase I + II) + guided decoding; LoRA-DPO: one epoch + plain decoding of the
    same prompts. With ``plain`` not counted the share is only bounded: above by dropping ``plain`` (it only
    adds to the denominator) and below, since guided decoding runs at least the forwards plain decoding
    runs (:math:`G \\ge P_l`), by the mediant inequality
    :math:`\\frac{E + H + G}{D + P_l} \\ge \\min(\\frac{E + H}{D}, \\frac{G}{P_l}) \\ge \\min(\\frac{E + H}{D}, 1)`.
    """

    low: float
    high: float
    source: str
    detail: str


def compute_share_bounds(records: Records) -> ComputeShare | None:
    """The share from the frontier record's ``compute`` when present (module docstring), else from the bench
    records, scaled to the paper's workload (:data:`paper.TRAIN_PAIRS` training
    pairs, :data:`paper.EVAL_PROMPTS` prompts of :data:`paper.NEW_TOKENS` new tokens): a record at a real shape
    with every stage counted, else the CPU record's meta-device counts at the 7-8B shapes (extraction and
    LoRA-DPO per pair only, which bound the share from below)."""
    compute = (records.get("imdb_frontier") or {}).get("compute")
    if compute:
        c, d = compute["coala"], compute["dpo"]
        share = (c["extraction"] + c["head"] + c["guided_decoding"]) / (d["lora_dpo_epoch"] + d["plain_decoding"])
        return ComputeShare(share, share, "imdb_frontier", "every term counted on the frontier's own run")
    for key, record in sorted(records.items()):
        if not key.startswith("bench_efficiency_") or record.get("parameters", {}).get("shape") not in REAL_SHAPES:
            continue
        stages = {s["stage"]: s for s in record.get("stages", [])}
        if not {"extraction", "phase1", "phase2", "guided_decoding", "lora_dpo"} <= stages.keys():
            continue
        pairs = float(paper.TRAIN_PAIRS)
        per_pair = {k: stages[k]["flops"] / float(stages[k]["params"]["pairs"]) for k in ("extraction", "lora_dpo")}
        head = (
            (stages["phase1"]["flops"] + stages["phase2"]["flops"]) * pairs / float(stages["phase1"]["params"]["pairs"])
        )
        guided = stages["guided_decoding"]["flops"] / float(stages["guided_decoding"]["params"]["tokens"])
        tokens = float(paper.EVAL_PROMPTS * paper.NEW_TOKENS)
        coala = pairs * per_pair["extraction"] + head + tokens * guided
        dpo = pairs * per_pair["lora_dpo"]
        shape = record["parameters"]["shape"]
        if "plain_decoding" in stages:
            plain = stages["plain_decoding"]["flops"] / float(stages["plain_decoding"]["params"]["tokens"])
            share = coala / (dpo + tokens * plain)
            return ComputeShare(share, share, key, f"{shape}, every term counted")
        low = min((pairs * per_pair["extraction"] + head) / dpo, 1.0)
        return ComputeShare(low, coala / dpo, key, f"{shape}, plain decoding not counted")
    counted = (records.get("bench_efficiency_cpu") or {}).get("summary", {}).get("meta_counted")
    if not counted:
        return None
    lows = {e["shape"]: e["extraction"] / e["lora_dpo"] for e in counted}
    shape = max(lows, key=lows.__getitem__)
    detail = (
        "counted on the meta device: "
        + ", ".join(f"{s} {100 * v:.3g}%" for s, v in sorted(lows.items()))
        + "; extraction over LoRA-DPO, per pair at 512 tokens; head and decoding not counted at these shapes"
    )
    return ComputeShare(min(lows.values()), math.inf, "bench_efficiency_cpu", detail)


def compute_share_source(records: Records) -> str | None:
    """The record :func:`verdict_compute_share` reads (:attr:`ComputeShare.source`; ``None``: none)."""
    share = compute_share_bounds(records)
    return None if share is None else share.source


def verdict_compute_share(records: Records) -> Assessment:
    """COALA's counted FLOPs (extraction + head + guided decoding) over one LoRA-DPO epoch plus plain
    decoding (:class:`ComputeShare`). With ``s`` the paper's 17.6% and ``t`` = :data:`COMPUTE_TOLERANCE`:
    holds when the share is at most ``s``; with caveats when at most ``s (1 + t)`` (or when only its upper
    bound is, some terms uncounted); does not hold when even its lower bound exceeds ``s (1 + t)``;
    inconclusive when the bounds straddle ``s (1 + t)``."""
    share = compute_share_bounds(records)
    if share is None:
        return _missing("counted FLOPs (results/bench_efficiency_cpu.json, summary.meta_counted)")
    target, limit = paper.COMPUTE_SHARE, paper.COMPUTE_SHARE * (1 + COMPUTE_TOLERANCE)
    ours = (
        f"{100 * share.low:.3g}%"
        if share.low == share.high
        else (f">= {100 * share.low:.3g}%" + ("" if math.isinf(share.high) else f", <= {100 * share.high:.3g}%"))
    )
    note = (
        f"paper: {100 * target:.3g}% (Llama-3.1-8B, wall time x {paper.ASSUMED_TFLOPS_PER_SECOND:g} TFLOP/s, "
        f"extraction and decoding left out); tolerance {100 * limit:.3g}%; ours from {share.source}: {share.detail}"
    )
    if share.low > limit:
        return ours, "does not hold at our scale", note
    if share.high <= target:
        return ours, "holds", note
    if share.high <= limit:
        return ours, "holds with caveats", note + ("" if share.low == share.high else "; an upper bound")
    return ours, "inconclusive", note + f"; the bounds straddle {100 * limit:.3g}%"


# ---------------------------------------------------------------------------------------- margins


def _rising_interval(curve: Mapping[str, Any]) -> tuple[float, float]:
    """Wilson interval of the share of a curve's steps that do not decrease (steps treated as independent,
    which a trained curve's steps are not: the interval is optimistic)."""
    steps = int(curve["steps"]) - 1
    return wilson_interval(float(curve["monotone_share"]) * steps, steps, LEVEL)


def verdict_margins(records: Records) -> Assessment:
    """The paper's claim is comparative: COALA's margin rises monotonically while DPO's fluctuates. COALA's
    Phase II curve (03) against the DPO curves (05), by the Wilson interval of each curve's share of
    non-decreasing steps. Does not hold when COALA's curve ends below its start or a DPO curve's interval
    lies above COALA's; inconclusive when a DPO curve has fewer than :data:`MIN_CURVE_STEPS` points or the
    intervals overlap; holds when COALA's interval lies above every DPO curve's and COALA rises on at least
    :data:`MONOTONE_SHARE` of its steps, with caveats when it is separated but rises less often."""
    coala = (_values(records, "03_train") or {}).get("margin_curve")
    if coala is None:
        return _missing("record of notebook 03 with its Phase II margin curve")
    dpo = {k: c for k, c in ((_values(records, "05_baselines") or {}).get("margin_curves", {})).items() if "dpo" in k}
    ours = f"COALA: {100 * coala['monotone_share']:.3g}% of {coala['steps'] - 1} steps rising, {coala['first']:.4g} -> {coala['last']:.4g}"
    if not dpo:
        return ours, "not testable here", "no DPO margin curve (record of notebook 05)"
    ours += "; " + "; ".join(
        f"{k}: {100 * c['monotone_share']:.3g}% of {c['steps'] - 1}" for k, c in sorted(dpo.items())
    )
    note = (
        "COALA's margin is mean sigmoid(s_c - s_r) of a convex logistic fit, DPO's is TRL's beta-scaled "
        "log-ratio margin: different quantities, compared only by their shape"
    )
    if coala["last"] <= coala["first"]:
        return ours, "does not hold at our scale", note + "; COALA's margin ends below its start"
    short = [k for k, c in dpo.items() if c["steps"] < MIN_CURVE_STEPS]
    if short:
        return ours, "inconclusive", note + f"; {', '.join(sorted(short))}: fewer than {MIN_CURVE_STEPS} points"
    c_low, c_high = _rising_interval(coala)
    sides = [_compare((c_low, c_high), _rising_interval(c)) for c in dpo.values()]
    if any(s < 0 for s in sides):
        return ours, "does not hold at our scale", note + "; a DPO curve rises more steadily"
    if not all(s > 0 for s in sides):
        return ours, "inconclusive", note + "; the rising-share intervals overlap"
    if coala["monotone_share"] >= MONOTONE_SHARE:
        return ours, "holds", note
    return ours, "holds with caveats", note + f"; COALA rises on fewer than {100 * MONOTONE_SHARE:g}% of steps"


def _compare(a: tuple[float, float], b: tuple[float, float]) -> int:
    """+1 when interval ``a`` lies above ``b``, -1 below, 0 when they overlap."""
    return 1 if a[0] > b[1] else -1 if a[1] < b[0] else 0


# ---------------------------------------------------------------------------------- head accuracy


def difference_interval(p1: float, p2: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Normal interval of :math:`p_1 - p_2`, two accuracies on ``n`` test items each, treated as independent:
    :math:`\\pm z \\sqrt{(p_1(1-p_1) + p_2(1-p_2))/n}` (on the same items the paired interval is narrower)."""
    if n < 1:
        raise ValueError(f"n (test items) must be >= 1, got {n}")
    half = float(norm.ppf(0.5 + level / 2)) * math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    return p1 - p2 - half, p1 - p2 + half


def _head_study(study: Mapping[str, Any]) -> Assessment:
    """:func:`verdict_head_accuracy` from the head study's record: the tuned arms, paired on the report pairs."""
    diff = study["comparisons"].get("convex - adamw")
    if diff is None:
        return _missing("convex - adamw comparison in the head study's record")
    chosen = study["chosen"]

    def arm(name: str) -> str:
        report = chosen[name]["report"]["full"]
        return f"{name} {report['accuracy']:.3f} [{report['low']:.3f}, {report['high']:.3f}]"

    ours = (
        f"convex - AdamW {100 * diff['difference']:+.3g} pts [{100 * diff['low']:+.3g}, {100 * diff['high']:+.3g}] "
        f"(paired, {diff['n_pairs']} report pairs; {', '.join(arm(a) for a in ('convex', 'adamw', 'probe') if a in chosen)})"
    )
    gaps = paper.table7_frame()["CRONOS - AdamW"]
    notes = [
        f"paper Table 7: CRONOS ahead in {int((gaps > 0).sum())} of {len(gaps)} cells, by {gaps.min():+.2f} to "
        f"{gaps.max():+.2f} points, from 6 ADMM iterations and the best test accuracy over a run",
        "every arm's knobs chosen on validation pairs with the same number of settings per feature choice "
        f"({budget_text(study['budget_per_feature_choice'])})",
        "one backbone (SmolLM2-135M after the frontier's SFT), IMDb only; the paper's cells span five backbones "
        "and three datasets",
    ]
    probe = study["comparisons"].get("convex - probe")
    if probe is not None:
        notes.append(
            f"convex - linear probe {100 * probe['difference']:+.3g} pts [{100 * probe['low']:+.3g}, "
            f"{100 * probe['high']:+.3g}]"
        )
    authors = study.get("authors_protocol") or {}
    if authors:
        notes.append(
            f"the authors' protocol here (peak test accuracy over the run, selection on the test set): CRONOS "
            f"{authors['cronos']['peak']:.3f}, AdamW {authors['adamw']['peak']:.3f}"
        )
    note = "; ".join(notes)
    side = _side(float(diff["low"]), float(diff["high"]), 0.0)
    if side > 0:
        return ours, "holds", note
    if side < 0:
        return ours, "does not hold at our scale", note
    return ours, "inconclusive", note + "; the interval contains 0"


def budget_text(budgets: Mapping[str, Mapping[str, int]]) -> str:
    """``"convex 12-24, adamw 12-24, probe 12 over 6 feature choices"`` from the record's budgets."""
    arms = sorted({arm for budget in budgets.values() for arm in budget})
    spans = []
    for arm in arms:
        counts = sorted({budget[arm] for budget in budgets.values() if arm in budget})
        spans.append(f"{arm} {counts[0]}" if len(counts) == 1 else f"{arm} {counts[0]}-{counts[-1]}")
    return ", ".join(spans) + f" over {len(budgets)} feature choices"


def head_accuracy_source(records: Records) -> str | None:
    """The head study's record when it exists (the Table 7 rule reads it first), else notebook 03's."""
    return "head_selection" if "head_selection" in records else None


def verdict_head_accuracy(records: Records) -> Assessment:
    """The convex (CRONOS-family) Phase I head minus the same-width AdamW head, pairwise accuracy on held-out
    pairs, 95 % interval against the null 0.

    From the head study (``results/head_selection/record.json``, ``bench/head_selection.py``) when present:
    each arm at its setting chosen on validation pairs with the same tuning budget, paired on the report
    pairs (paired bootstrap). Holds when the interval lies above 0, does not hold when below, inconclusive
    when it contains 0; every branch carries the same caveats (the paper's protocol, the budget, the scale,
    the linear probe). Without the study: notebooks 02 (IMDb, MiniLM) and 03 (the backbone), each with its
    interval (:func:`difference_interval`): holds when every interval lies above 0; with caveats when some lie
    above 0 and the rest contain it; does not hold when any lies below 0 and none above; inconclusive when
    every interval contains 0 (or they point both ways)."""
    study = records.get("head_selection")
    if study is not None:
        return _head_study(study)
    diffs: dict[str, tuple[float, float, float]] = {}
    for name in ("02_cronos_solver", "03_train"):
        v = _values(records, name)
        if v and {"cronos_accuracy", "adamw_accuracy", "n_test"} <= v.keys():
            low, high = difference_interval(v["cronos_accuracy"], v["adamw_accuracy"], int(v["n_test"]))
            diffs[name] = (v["cronos_accuracy"] - v["adamw_accuracy"], low, high)
    if not diffs:
        return _missing("record of notebook 02 or 03 with CRONOS and AdamW head accuracies")
    ours = ", ".join(
        f"{k[:2]}: {100 * d:+.3g} pts [{100 * lo:+.3g}, {100 * hi:+.3g}]" for k, (d, lo, hi) in diffs.items()
    )
    gaps = paper.table7_frame()["CRONOS - AdamW"]
    note = (
        f"paper Table 7: CRONOS ahead in {int((gaps > 0).sum())} of {len(gaps)} cells, by {gaps.min():+.2f} to "
        f"{gaps.max():+.2f} points; AdamW here is the paper's baseline arm (decoupled weight decay, minibatches)"
    )
    sides = [_side(lo, hi, 0.0) for _, lo, hi in diffs.values()]
    if all(s > 0 for s in sides):
        return ours, "holds", note
    if any(s > 0 for s in sides) and not any(s < 0 for s in sides):
        return ours, "holds with caveats", note + "; some intervals contain 0"
    if any(s < 0 for s in sides) and not any(s > 0 for s in sides):
        return ours, "does not hold at our scale", note
    return ours, "inconclusive", note + ("; every interval contains 0" if not any(sides) else "; they point both ways")


# -------------------------------------------------------------------------------------- win rates


def matched_kl_comparisons(
    frontier: Mapping[str, Any],
    prompts: Mapping[str, Any] | None,
    rivals: Sequence[str] = TRAINED_RIVALS,
    coala: str = "coala_paper",
) -> dict[str, dict[str, Any]]:
    """COALA's headline (``coala``'s validation-chosen setting, the record's ``selection``) against each rival
    at COALA's own test KL: :func:`coala_lib.evaluation.frontier.matched_kl_difference`, the rival's test win
    rate interpolated piecewise linearly in KL between its settings, paired on the test prompts and resampled
    over them (the record's ``config.n_boot`` and ``seed``). A rival's settings are those with a KL estimate
    whose validation perplexity passes the record's fluency guard (``config.perplexity_guard`` times the
    reference's, the validation rule's); a rival with none is left out. ``prompts`` is
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
    for rival in rivals:
        fluent = sorted(
            r["setting"]
            for r in rows
            if r["method"] == rival
            and r["split"] == "validation"
            and r.get("kl_kind") == "estimate"
            and float(r["perplexity"]) <= limit
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
    rivals = sorted(m for m in rates if m in TRAINED_RIVALS)
    matched = {
        m: c
        for m, c in matched_kl_comparisons(frontier, records.get(FRONTIER_PROMPTS), rivals).items()
        if c["covered"] and c["low"] is not None
    }

    def at_headline(m: str) -> int:
        if m in paired:
            return _side(float(paired[m]["low"]), float(paired[m]["high"]), 0.0)
        return _compare(coala[1:3], rates[m][1:3])

    def side(m: str) -> int:
        if m in matched:
            return _side(float(matched[m]["low"]), float(matched[m]["high"]), 0.0)
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
        caveats.append(f"no trained rival ({', '.join(TRAINED_RIVALS)}) in the frontier record")
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
    wins = (_values(records, "06_evaluation") or {}).get("coala_vs")
    if not wins:
        return None
    cells = [(f"{base} ({judge})", w) for judge, row in sorted(wins.items()) for base, w in sorted(row.items())]
    ours = "; ".join(f"{k}: {w['rate']:.3g} [{w['low']:.2g}, {w['high']:.2g}]" for k, w in cells)
    sides = [_side(w["low"], w["high"], 0.5) for _, w in cells]
    v05 = _values(records, "05_baselines") or {}
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
    return "06_evaluation" if (_values(records, "06_evaluation") or {}).get("coala_vs") else None


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
    frontier record with no trained rival (:data:`TRAINED_RIVALS`; best-of-n and the reference are not
    rivals) is inconclusive: COALA ahead of nothing decides nothing."""
    found = _win_cells(records)
    if found is None:
        return _missing("IMDb frontier record or record of notebook 06 with COALA's win rates")
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
    kit = (_values(records, "06_evaluation") or {}).get("survey_items")
    note = f"paper: {paper.HUMAN_STUDY_RATERS} raters, {paper.HUMAN_STUDY_ITEMS_PER_DATASET} items per dataset; " + (
        f"kit written by notebook 06 ({kit} items), analysis dry-run on simulated raters"
        if kit
        else "kit in notebook 06 (no record yet)"
    )
    return "-", "not testable here", note


# -------------------------------------------------------------------------------------------- APM


def verdict_apm(records: Records) -> Assessment:
    """Triplets per conversation from the Alternating Population Method without wrap-around (00) against the
    paper's 2.46 on EduFeedback. Holds within :data:`APM_TOLERANCE` on EduFeedback itself, with caveats
    within it on a stand-in dataset (HH-RLHF offline), does not hold outside it, inconclusive with fewer than
    :data:`MIN_DIALOGUES` dialogues. The wrap-around count is shown, never credited."""
    v = _values(records, "00_datasets")
    if not v or not v.get("dialogues"):
        return _missing("record of notebook 00 with its APM counts")
    dataset = str(v.get("apm_dataset", "hh-rlhf"))  # records written before the field: HH-RLHF
    per_conv = v["triplets"] / v["dialogues"]
    ours = (
        f"{per_conv:.3g} per conversation on {dataset} ({v['dialogues']} dialogues, "
        f"{v['assistant_replies'] / v['dialogues']:.3g} replies each; wrap-around, not credited: "
        f"{v['triplets_wrap'] / v['dialogues']:.3g})"
    )
    target = paper.APM_TRIPLETS_PER_CONVERSATION
    note = (
        f"paper: {paper.DATASET_PAIRS['edufeedback']:,} triplets from {paper.EDUFEEDBACK_CONVERSATIONS:,} EduFeedback "
        f"conversations of 4-8 turns; tolerance +-{100 * APM_TOLERANCE:g}%"
    )
    if dataset != "edufeedback":
        note += f"; {dataset} is the offline stand-in (its conversations are shorter)"
    if v["dialogues"] < MIN_DIALOGUES:
        return ours, "inconclusive", note + f"; fewer than {MIN_DIALOGUES} dialogues"
    if abs(per_conv / target - 1) > APM_TOLERANCE:
        return ours, "does not hold at our scale", note
    return ours, ("holds" if dataset == "edufeedback" else "holds with caveats"), note


# ------------------------------------------------------------------------------------- optimality


def _phase1(v: Mapping[str, Any]) -> tuple[str, str, str]:
    """(text, status, why) of the deployed head's Phase I: status ``pass``, ``caveat``, ``open`` or ``fail``.

    The certified gap is an upper bound on the true relative gap, so a large one leaves the question open;
    only an independent solve of the same program (``phase1_reference_objective``, e.g. an interior-point
    optimum) whose objective lies below the head's (``phase1_objective``) by more than the tolerance shows
    that the head is not at the optimum."""
    if "phase1_reference_objective" in v and "phase1_objective" in v:
        p, ref = float(v["phase1_objective"]), float(v["phase1_reference_objective"])
        excess = (p - ref) / abs(ref)
        if excess > PHASE1_GAP_TOL:
            text = f"Phase I objective {excess:.2g} above an independent optimum of the same program"
            return text, "fail", f"the deployed head is {excess:.2g} (relative) above the program's optimum"
    if "phase1_certified_gap" not in v:
        state = "converged" if v.get("cronos_converged") else "not converged"
        return (
            f"Phase I {state} after {v.get('cronos_iterations', '?')} iterations, no certificate",
            "open",
            "the deployed head has no certified optimality gap",
        )
    gap, cone = float(v["phase1_certified_gap"]), float(v.get("phase1_cone_violation", math.inf))
    text = f"Phase I certified gap {gap:.2g}, cone violation {cone:.2g}"
    if gap > PHASE1_GAP_TOL:
        return text, "open", f"the deployed head's certified gap bound exceeds {PHASE1_GAP_TOL:g}: not certified"
    if cone > PHASE1_CONE_TOL:
        return text, "caveat", f"cone violation above {PHASE1_CONE_TOL:g}: the ReLU net differs from the convex model"
    return text, "pass", ""


def _phase2(v: Mapping[str, Any]) -> tuple[str, str, str]:
    """(text, status, why) of Phase II on the paper's loss without the ridge."""
    if "phase2_separable" not in v:
        return "Phase II: no unregularised check recorded", "open", "Phase II is recorded only with the ridge"
    if v["phase2_separable"]:
        return (
            f"Phase II separable: loss {v['phase2_unregularised_loss']:.2g}, no minimiser",
            "caveat",
            "the training pairs are separable: the loss has no finite minimiser and only approaches 0",
        )
    gnorm = float(v["phase2_unregularised_grad_norm"])
    text = f"Phase II gradient norm {gnorm:.2g}"
    return (text, "pass", "") if gnorm < CERTIFICATE_TOL else (text, "fail", "Phase II did not reach its minimum")


def verdict_optimality(records: Records) -> Assessment:
    """Both phases of the *deployed* head (03): Phase I by its certified relative gap and cone violation
    (at most :data:`PHASE1_GAP_TOL`, :data:`PHASE1_CONE_TOL`; a larger gap bound leaves it open, an
    independent optimum of the same program below the head's objective fails it), Phase II on the paper's loss without the ridge
    (separable pairs: no finite minimiser, a caveat; else gradient norm below :data:`CERTIFICATE_TOL`); and
    notebook 01's toy check that Adam's best run is not below COALA's P = 10 sampled program (else that
    program's optimum is not the network's). Does not hold when a check fails; inconclusive when the
    Phase I certificate or the Phase II check is missing; with caveats when a caveat applies; else holds."""
    v = _values(records, "03_train")
    if not v:
        return _missing("record of notebook 03 (the deployed head)")
    parts = [_phase1(v), _phase2(v)]
    v01 = _values(records, "01_convex_reformulation") or {}
    if "sampled_optimum_P10" in v01:
        below = v01["adam_min"] < v01["sampled_optimum_P10"] * (1 - OPTIMUM_RTOL)
        text = f"01: Adam best / P = 10 optimum = {v01['adam_min'] / v01['sampled_optimum_P10']:.4g}"
        parts.append(
            (text, "caveat", "a non-convex net beats the P = 10 sampled program: optimal for that program only")
            if below
            else (text, "pass", "")
        )
    else:
        parts.append(("01: P = 10 program not recorded", "caveat", "no check against the P = 10 program"))
    ours = "; ".join(text for text, _, _ in parts)
    status = [s for _, s, _ in parts]
    why = "; ".join(w for _, s, w in parts if w)
    if "fail" in status:
        return ours, "does not hold at our scale", why
    if "open" in status:
        return ours, "inconclusive", why
    if "caveat" in status:
        return ours, "holds with caveats", why + "; the Phase II ridge (l2 > 0) is this book's option, not the paper's"
    return ours, "holds", "Phase I certified on the deployed head; Phase II at its unregularised minimum"


# ---------------------------------------------------------------------------------------- the ledger


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
