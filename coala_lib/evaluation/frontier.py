"""Statistics of the reward-KL frontier: per method and setting, rewards, KL, win rates, fluency, diversity.

One *setting* (a method at one hyper-parameter value) produces ``S`` continuations for each of ``P``
prompts. Every per-sample quantity is an array ``(P, S)``; samples of one prompt are not independent,
so every bootstrap resamples **prompts** (all their samples together), the paired (cluster) bootstrap:
draw :math:`P` prompt indices with replacement, recompute the statistic, repeat :math:`B` times, and
report the :math:`\\alpha/2` and :math:`1-\\alpha/2` percentiles.

* reward: mean judge positivity of the continuations, with its bootstrap interval;
* KL: mean of the per-sample estimates of :mod:`coala_lib.evaluation.kl`, with its bootstrap interval;
* win rate against the reference: sample :math:`j` of prompt :math:`i` against the reference policy's
  sample :math:`j` of the same prompt, by judge positivity (a tie counts one half); the Wilson interval
  over all :math:`n = PS` judgments (:func:`coala_lib.evaluation.win_rates.win_rate`, which treats them as
  independent) and the paired bootstrap interval (which does not);
* two methods against each other: the difference of their win rates against the same reference samples,
  with its prompt bootstrap interval (:func:`paired_difference`; null 0);
* fluency: perplexity under the reference, :math:`\\exp(-\\sum \\log p_{ref}(y_t) / \\sum T)` over all
  counted tokens of the setting;
* diversity: distinct-2, the number of distinct word bigrams over the number of bigrams, pooled over all
  continuations of the setting (Li et al. 2016); the validation rule (:func:`select_setting`) sets aside a
  setting whose row says it fails the distinct-2 guard (``distinct_guard``: distinct-2 below a fraction of
  the reference's, written by the frontier's record).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from coala_lib.baselines.methods import preference_method
from coala_lib.baselines.rewards import heldout_logps, settings_from
from coala_lib.core.metrics import outcomes_from_scores, pairwise_accuracy
from coala_lib.evaluation.win_rates import win_rate

Statistic = Callable[[np.ndarray], float]


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct word n-grams over all word n-grams of ``texts`` (0 when there is none)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams: list[tuple[str, ...]] = []
    for text in texts:
        words = text.split()
        grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def _as_matrix(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty (prompts, samples) array, got shape {array.shape}")
    return array


def cluster_bootstrap(
    values: Any, statistic: Statistic = np.mean, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` of a ``(prompts, samples)`` array, resampling prompts."""
    array = _as_matrix(values, "values")
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 1, got {level}, {n_boot}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, array.shape[0], size=(n_boot, array.shape[0]))
    stats = np.array([statistic(array[rows]) for rows in draws])
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def win_outcomes(scores: Any, reference_scores: Any) -> np.ndarray:
    """Outcomes ``(P, S)`` of each sample against the reference's sample of the same prompt and index."""
    a, b = _as_matrix(scores, "scores"), _as_matrix(reference_scores, "reference_scores")
    if a.shape != b.shape:
        raise ValueError(f"scores {a.shape} and reference_scores {b.shape} must both be (prompts, samples)")
    return outcomes_from_scores(a.ravel(), b.ravel()).reshape(a.shape)


def paired_difference(
    scores: Any,
    rival_scores: Any,
    reference_scores: Any,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Win rate of ``scores`` minus that of ``rival_scores``, both against the same reference samples of the
    same prompts (all ``(P, S)``): the mean of :math:`w_{ij} - w'_{ij}` with its prompt bootstrap interval.
    The null of a comparison of two methods is a difference of 0; pairing on prompts and reference samples
    removes their shared variance, so the interval is narrower than two win rates' intervals side by side."""
    diff = win_outcomes(scores, reference_scores) - win_outcomes(rival_scores, reference_scores)
    low, high = cluster_bootstrap(diff, np.mean, n_boot, seed, level)
    return {"difference": float(diff.mean()), "low": low, "high": high, "n_prompts": int(diff.shape[0]), "level": level}


def summarise_setting(
    rewards: Mapping[str, Any],
    reference_rewards: Mapping[str, Any] | None,
    kl: Mapping[str, Any],
    logp_ref: Any,
    tokens: Any,
    texts: Sequence[str],
    primary: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Every number of one setting (module docstring) as a flat JSON-ready dict.

    ``rewards``/``reference_rewards``: ``{judge: (P, S) positivity}`` (``reference_rewards=None`` for the
    reference itself: no win rate); ``kl``: ``{estimate name: (P, S)}`` or a float bound; ``primary`` is the
    judge whose win rate fills ``win_rate``, ``win_low``, ``win_high``, ``n``.
    """
    if primary not in rewards:
        raise ValueError(f"primary judge {primary!r} is not among the rewards' judges {sorted(rewards)}")
    out: dict[str, Any] = {"level": level, "n_boot": n_boot}
    for judge, values in rewards.items():
        array = _as_matrix(values, f"rewards[{judge!r}]")
        low, high = cluster_bootstrap(array, np.mean, n_boot, seed, level)
        out[f"reward_{judge}"], out[f"reward_{judge}_low"], out[f"reward_{judge}_high"] = float(array.mean()), low, high
        if reference_rewards is None:
            continue
        outcomes = win_outcomes(array, reference_rewards[judge])
        wr = win_rate(outcomes.ravel(), level)
        boot = cluster_bootstrap(outcomes, np.mean, n_boot, seed, level)
        prefix = "win" if judge == primary else f"win_{judge}"
        rate_key = "win_rate" if judge == primary else f"win_rate_{judge}"
        out.update(
            {
                rate_key: wr.rate,
                f"{prefix}_low": wr.low,
                f"{prefix}_high": wr.high,
                f"{prefix}_boot_low": boot[0],
                f"{prefix}_boot_high": boot[1],
                f"{prefix}_counts": [wr.wins, wr.ties, wr.losses],
            }
        )
        if judge == primary:
            out["n"] = wr.n
    for name, values in kl.items():
        if isinstance(values, (int, float)):
            out[f"kl_{name}"] = float(values)
            continue
        array = _as_matrix(values, f"kl[{name!r}]")
        low, high = cluster_bootstrap(array, np.mean, n_boot, seed, level)
        out[f"kl_{name}"], out[f"kl_{name}_low"], out[f"kl_{name}_high"] = float(array.mean()), low, high
    logp, count = float(np.sum(logp_ref)), float(np.sum(tokens))
    out["perplexity"] = math.exp(-logp / count) if count > 0 else math.nan
    out["mean_new_tokens"] = count / max(1, _as_matrix(tokens, "tokens").size)
    out["distinct_2"] = distinct_n(texts, 2)
    return out


def select_setting(
    rows: Sequence[Mapping[str, Any]], reference_perplexity: float, perplexity_guard: float = 2.0
) -> Mapping[str, Any] | None:
    """The validation rule for a method's hyper-parameter: among ``rows`` (one per setting, validation
    prompts) whose perplexity under the reference is at most ``perplexity_guard`` times the reference's
    own and that pass the distinct-2 guard (a row whose ``distinct_guard`` is false is set aside: its
    distinct-2 is below the record's fraction of the reference's; a row without the key is not held to it),
    the highest ``win_rate``; ties go to the smaller ``kl_rb`` (or ``kl_bound``). ``None`` if none passes."""
    if perplexity_guard <= 0:
        raise ValueError(f"perplexity_guard must be > 0, got {perplexity_guard}")
    fluent = [
        r
        for r in rows
        if r.get("perplexity", math.inf) <= perplexity_guard * reference_perplexity
        and r.get("distinct_guard", True) is not False
    ]
    if not fluent:
        return None
    return max(fluent, key=lambda r: (r["win_rate"], -float(r.get("kl_rb", r.get("kl_bound", 0.0)))))


def heldout_preference(
    method: str,
    policy: Any,
    tokenizer: Any,
    triplets: Sequence[Any],
    beta: float,
    gamma: float = 0.5,
    max_length: int = 128,
    batch_size: int = 8,
) -> dict[str, float]:
    """Held-out loss and preference accuracy of a trained LoRA ``policy`` (a PEFT model) on ``triplets``.

    With :math:`\\ell` the summed and :math:`\\bar\\ell` the per-token response log-probability, the loss is
    the method's own training loss on the held-out pairs and the accuracy the fraction of pairs whose implicit
    reward prefers the chosen response (a tie one half); both as the method declares them
    (:mod:`coala_lib.baselines.methods`). ``beta`` and ``gamma`` are the run's settings in key form.
    """
    spec = preference_method(method)
    settings = settings_from(method, {"beta": beta, "gamma": gamma})
    held = heldout_logps(method, policy, tokenizer, triplets, max_length, batch_size)
    loss = spec.loss(held.logps, held.counts, held.reference, settings)
    reward = spec.reward(held.logps, held.counts, held.reference, settings)
    margin = reward[0] - reward[1]
    accuracy = pairwise_accuracy(margin, torch.zeros_like(margin))  # coala_lib.core.metrics: a tie one half
    return {"heldout_loss": float(loss), "heldout_accuracy": accuracy, "heldout_pairs": len(triplets)}


# ------------------------------------------------------------------------------ matched KL and budgets

#: One setting's test numbers per prompt: ``{"kl": ..., "win": ...}``, each ``(P,)`` (one value per prompt) or
#: ``(P, S)`` (every sample; read as the mean over the prompt's samples), win outcomes against the reference.
PromptArrays = Mapping[str, Any]


def setting_kl(row: Mapping[str, Any]) -> float:
    """A setting row's KL coordinate: the Rao-Blackwellised estimate ``kl_rb`` or, for best-of-n, ``kl_bound``."""
    if "kl_rb" in row:
        return float(row["kl_rb"])
    if "kl_bound" in row:
        return float(row["kl_bound"])
    raise ValueError(f"setting row {row.get('method')}[{row.get('setting')}] has neither kl_rb nor kl_bound")


def select_within_budget(
    rows: Sequence[Mapping[str, Any]], reference_perplexity: float, budget: float, perplexity_guard: float = 2.0
) -> Mapping[str, Any] | None:
    """The KL-budget rule: :func:`select_setting` (text-quality guards, highest win rate, ties to the smaller KL)
    among the ``rows`` whose KL (:func:`setting_kl`) is at most ``budget`` nats. Give it validation rows:
    the budget is checked on the KL the choice is made on. ``None`` when no setting is within the budget
    or none of those passes the guard."""
    if not budget >= 0:
        raise ValueError(f"budget must be a KL in nats >= 0, got {budget}")
    return select_setting([r for r in rows if setting_kl(r) <= budget], reference_perplexity, perplexity_guard)


def prompt_view(
    generations: Sequence[Mapping[str, Any]], split: str = "test", judge: str = "book", kl: str = "kl_rb"
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per method and setting of ``split``, per prompt (in prompt-id order) the mean over its samples of the
    KL estimate ``kl`` and of the win outcome against the reference policy's sample of the same prompt and
    index by ``judge``'s reward (``reward_<judge>``; a tie one half): ``{method: {setting: {"kl": [...],
    "win": [...]}}}``, what :func:`interpolated_win_rate` and :func:`matched_kl_difference` resample. The
    reference itself is left out; a setting whose prompts or samples differ from the reference's is a
    ``ValueError`` naming it. Best-of-n's lines carry no per-sample KL (0; its KL is the record's bound): use
    the rows whose ``kl_kind`` is ``"estimate"`` for anything in KL."""
    field = f"reward_{judge}"
    grouped: dict[tuple[str, str], dict[tuple[int, int], tuple[float, float]]] = {}
    for g in generations:
        if g["split"] != split:
            continue
        if field not in g:
            raise ValueError(f"generation {g['method']}[{g['setting']}] has no {field!r}; judge={judge!r}")
        key = (int(g["prompt_id"]), int(g["sample"]))
        grouped.setdefault((g["method"], g["setting"]), {})[key] = (float(g[kl]), float(g[field]))
    references = [k for k in grouped if k[0] == "reference"]
    if len(references) != 1:
        raise ValueError(f"split {split!r} needs exactly one reference setting, found {references}")
    cells = sorted(grouped[references[0]])
    prompts = sorted({p for p, _ in cells})
    if len(cells) % len(prompts):
        raise ValueError(f"the reference's prompts of split {split!r} do not all have the same number of samples")
    shape = (len(prompts), len(cells) // len(prompts))
    reference = np.array([grouped[references[0]][c][1] for c in cells]).reshape(shape)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (method, setting), rows in sorted(grouped.items()):
        if method == "reference":
            continue
        if sorted(rows) != cells:
            raise ValueError(f"{method}[{setting}] ({split}) has other prompts or samples than the reference")
        values = np.array([rows[c] for c in cells])
        wins = win_outcomes(values[:, 1].reshape(shape), reference)
        out.setdefault(method, {})[setting] = {
            "kl": values[:, 0].reshape(shape).mean(axis=1).tolist(),
            "win": wins.mean(axis=1).tolist(),
        }
    return out


def interpolate_at_kl(kls: Sequence[float], rates: Sequence[float], kl: float) -> float | None:
    """The win rate at ``kl`` on the piecewise linear curve through the settings' ``(kls[i], rates[i])`` sorted
    by KL; ``None`` outside ``[min(kls), max(kls)]`` (no extrapolation: the settings do not cover ``kl``)."""
    xs, ys = np.asarray(kls, dtype=float), np.asarray(rates, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.size == 0:
        raise ValueError(
            f"kls and rates must be two non-empty lists of one value per setting, got {xs.shape}, {ys.shape}"
        )
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if not xs[0] <= kl <= xs[-1]:
        return None
    return float(np.interp(kl, xs, ys))


def _prompt_means(values: PromptArrays, name: str) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for key in ("kl", "win"):
        if key not in values:
            raise ValueError(f"{name} needs per-prompt 'kl' and 'win' arrays, got keys {sorted(values)}")
        array = np.asarray(values[key], dtype=float)
        if array.ndim == 2:
            array = array.mean(axis=1)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"{name}[{key!r}] must be a (prompts,) or (prompts, samples) array, got {array.shape}")
        out.append(array)
    if out[0].shape != out[1].shape:
        raise ValueError(f"{name}: 'kl' {out[0].shape} and 'win' {out[1].shape} must cover the same prompts")
    return out[0], out[1]


class _Curve:
    """A method's settings on the same prompts, their point estimates and their means on prompt resamples."""

    def __init__(self, settings: Mapping[str, PromptArrays], name: str) -> None:
        if not settings:
            raise ValueError(f"{name} needs at least one setting")
        self.names = list(settings)
        arrays = [_prompt_means(v, f"{name}[{s!r}]") for s, v in settings.items()]
        self.kl = np.stack([a[0] for a in arrays])  # (settings, P)
        self.win = np.stack([a[1] for a in arrays])
        if len({a[0].size for a in arrays}) != 1:
            raise ValueError(f"{name}: every setting must have the same prompts")

    @property
    def n_prompts(self) -> int:
        return int(self.kl.shape[1])

    def at(self, kl: float) -> float | None:
        return interpolate_at_kl(self.kl.mean(axis=1), self.win.mean(axis=1), kl)

    def resampled(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each setting's KL and win rate on each resample: two ``(draws, settings)`` arrays."""
        return self.kl[:, draws].mean(axis=2).T, self.win[:, draws].mean(axis=2).T

    def bracket(self, kl: float) -> tuple[str | None, str | None]:
        """The settings at the ends of the segment holding ``kl`` (the same one twice at a setting's own KL)."""
        kls = self.kl.mean(axis=1)
        below = [i for i in range(len(kls)) if kls[i] <= kl]
        above = [i for i in range(len(kls)) if kls[i] >= kl]
        low = self.names[max(below, key=lambda i: kls[i])] if below else None
        high = self.names[min(above, key=lambda i: kls[i])] if above else None
        return low, high

    def describe(self, kl: float) -> dict[str, Any]:
        kls = self.kl.mean(axis=1)
        below, above = self.bracket(kl)
        return {
            "covered": bool(kls.min() <= kl <= kls.max()),
            "kl_min": float(kls.min()),
            "kl_max": float(kls.max()),
            "settings": {s: float(k) for s, k in zip(self.names, kls)},
            "below": below,
            "above": above,
        }


def _draws(n_prompts: int, n_boot: int, seed: int, level: float) -> np.ndarray:
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"level must be in (0, 1) and n_boot >= 1, got {level}, {n_boot}")
    return np.random.default_rng(seed).integers(0, n_prompts, size=(n_boot, n_prompts))


def _percentiles(values: list[float], level: float) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def interpolated_win_rate(
    settings: Mapping[str, PromptArrays], kl: float, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """A method's test win rate at ``kl`` nats, interpolated piecewise linearly in KL between its settings
    (``{setting: {"kl", "win"}}`` per prompt, :data:`PromptArrays`; :func:`interpolate_at_kl`), with the
    percentile interval of a bootstrap over prompts: draw the prompts with replacement, recompute every
    setting's KL and win rate on the draw, interpolate at ``kl``.

    Outside the settings' KL range nothing is extrapolated: ``covered`` is false and ``win_rate``, ``low`` and
    ``high`` are ``None``. A draw whose settings no longer span ``kl`` is left out of the interval;
    ``covered_draws`` is the share of draws kept. Also: ``kl_min``, ``kl_max``, ``settings`` (each setting's
    KL), ``below``/``above`` (the settings at the ends of the segment), ``n_prompts``, ``level``, ``n_boot``."""
    curve = _Curve(settings, "settings")
    draws = _draws(curve.n_prompts, n_boot, seed, level)
    kls, wins = curve.resampled(draws)
    boot = [v for k, w in zip(kls, wins) if (v := interpolate_at_kl(k, w, kl)) is not None]
    out = {"kl": float(kl), **curve.describe(kl), "win_rate": curve.at(kl)}
    low, high = _percentiles(boot, level) if out["covered"] else (None, None)
    return out | {
        "low": low,
        "high": high,
        "covered_draws": len(boot) / n_boot,
        "n_prompts": curve.n_prompts,
        "level": level,
        "n_boot": n_boot,
    }


def matched_kl_difference(
    coala: PromptArrays,
    rival: Mapping[str, PromptArrays],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """COALA's win rate minus a rival's at COALA's KL: the rival's win rate interpolated piecewise linearly in
    KL between its settings (:func:`interpolated_win_rate`) at COALA's own KL, all on the same prompts (and
    the same reference samples), with the percentile interval of a bootstrap over prompts that recomputes
    COALA's KL and win rate and every rival setting's on each draw (the null is a difference of 0).

    ``coala`` is one setting, ``rival`` ``{setting: ...}``, each :data:`PromptArrays`. When COALA's KL lies
    outside the rival's settings' range the rival is not covered there: ``covered`` is false and the
    rival's rate, the difference and their intervals are ``None`` (compare under a KL budget instead).
    Keys: ``coala_kl``, ``coala_win_rate``, ``rival_win_rate``, ``rival_low``, ``rival_high``, ``difference``,
    ``low``, ``high``, ``covered``, ``covered_draws``, ``kl_min``, ``kl_max``, ``settings``, ``below``,
    ``above``, ``n_prompts``, ``level``, ``n_boot``."""
    kl, win = _prompt_means(coala, "coala")
    curve = _Curve(rival, "rival")
    if curve.n_prompts != kl.size:
        raise ValueError(f"coala has {kl.size} prompts and the rival {curve.n_prompts}: pair them on the same prompts")
    draws = _draws(kl.size, n_boot, seed, level)
    kls, wins = curve.resampled(draws)
    coala_kl, coala_win = kl[draws].mean(axis=1), win[draws].mean(axis=1)
    rival_boot, diff_boot = [], []
    for k, w, ck, cw in zip(kls, wins, coala_kl, coala_win):
        fixed = interpolate_at_kl(k, w, float(kl.mean()))
        matched = interpolate_at_kl(k, w, float(ck))
        if fixed is not None:
            rival_boot.append(fixed)
        if matched is not None:
            diff_boot.append(float(cw) - matched)
    target = float(kl.mean())
    described = curve.describe(target)
    rate = curve.at(target)
    covered = described["covered"]
    rival_low, rival_high = _percentiles(rival_boot, level) if covered else (None, None)
    low, high = _percentiles(diff_boot, level) if covered else (None, None)
    return {
        "coala_kl": target,
        "coala_win_rate": float(win.mean()),
        "rival_win_rate": rate,
        "rival_low": rival_low,
        "rival_high": rival_high,
        "difference": None if rate is None else float(win.mean()) - rate,
        "low": low,
        "high": high,
        **described,
        "covered_draws": len(diff_boot) / n_boot,
        "n_prompts": int(kl.size),
        "level": level,
        "n_boot": n_boot,
    }
