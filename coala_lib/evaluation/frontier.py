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
  continuations of the setting (Li et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from coala_lib.baselines.training_step import dpo_loss, orpo_loss
from coala_lib.baselines.trl_training import response_logps
from coala_lib.core.metrics import pairwise_accuracy
from coala_lib.evaluation.win_rates import outcomes_from_scores, win_rate

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
    own, the highest ``win_rate``; ties go to the smaller ``kl_rb`` (or ``kl_bound``). ``None`` if none passes."""
    if perplexity_guard <= 0:
        raise ValueError(f"perplexity_guard must be > 0, got {perplexity_guard}")
    fluent = [r for r in rows if r.get("perplexity", math.inf) <= perplexity_guard * reference_perplexity]
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
    the method's own training loss on the held-out pairs (SFT: :math:`-\\bar\\ell_\\theta(y_w)`; DPO, ORPO,
    SimPO: :mod:`coala_lib.baselines.trl_training`), and the accuracy the fraction of pairs whose implicit
    reward (:func:`coala_lib.baselines.implicit_rewards`) prefers the chosen response (a tie one half).
    """
    logps, counts = response_logps(policy, tokenizer, triplets, max_length, batch_size)
    mean = logps / counts.clamp(min=1)
    if method == "dpo":
        ref, _ = response_logps(policy, tokenizer, triplets, max_length, batch_size, reference=True)
        loss = dpo_loss(logps.reshape(-1), ref.reshape(-1), beta)
        margin = (logps - ref)[0] - (logps - ref)[1]
    elif method == "orpo":
        loss = orpo_loss(mean.reshape(-1), beta)
        margin = mean[0] - mean[1]
    elif method == "simpo":
        loss = -F.logsigmoid(beta * (mean[0] - mean[1]) - gamma).mean()
        margin = mean[0] - mean[1]
    elif method == "sft":
        loss = -mean[0].mean()
        margin = mean[0] - mean[1]
    else:
        raise ValueError(f"method={method!r} is not a trained baseline; choose sft, dpo, orpo or simpo")
    accuracy = pairwise_accuracy(margin, torch.zeros_like(margin))  # coala_lib.core.metrics: a tie one half
    return {"heldout_loss": float(loss), "heldout_accuracy": accuracy, "heldout_pairs": len(triplets)}
