"""Every system's responses to the same prompts, and their pairwise comparison by a judge."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from transformers import PreTrainedModel

from coala_lib.backbone.registry import Backbone
from coala_lib.baselines.trl_training import load_policy
from coala_lib.evaluation.judges import Judge
from coala_lib.evaluation.win_rates import length_controlled_win_rate, win_rate, word_lengths
from coala_lib.guidance.config import GuidanceConfig
from coala_lib.guidance.decoding import guided_generate
from coala_lib.head.coala_head import CoalaHead


def generate_systems(
    backbone: Backbone,
    prompts: Sequence[str],
    adapters: Mapping[str, str | Path],
    head: CoalaHead,
    guided: GuidanceConfig,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Responses of every system to ``prompts``: ``base`` (the frozen LM, ``guided`` with ``mode="plain"``),
    ``coala`` (the frozen LM guided by ``head`` as ``guided`` says), and one per LoRA adapter in
    ``adapters`` (merged into a copy of the LM, plain sampling). Every system decodes with the same
    sampler settings and a generator seeded by ``seed``."""
    plain = guided.with_(mode="plain")

    def run(model: PreTrainedModel, config: GuidanceConfig, with_head: bool) -> list[str]:
        generator = torch.Generator().manual_seed(seed)
        out = guided_generate(
            model,
            backbone.tokenizer,
            list(prompts),
            head=head if with_head else None,
            config=config,
            generator=generator,
        )
        return list(out.texts)

    texts = {"base": run(backbone.model, plain, False), "coala": run(backbone.model, guided, True)}
    for name, directory in adapters.items():
        texts[name] = run(load_policy(backbone, directory, merge=True), plain, False)
    return texts


def compare_systems(
    judge: Judge,
    prompts: Sequence[str],
    texts: Mapping[str, Sequence[str]],
    pairs: Sequence[tuple[str, str]],
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per ``(a, b)`` in ``pairs``: the win rate of system ``a`` over ``b`` judged by ``judge`` (a
    :class:`coala_lib.evaluation.judges.Judge`), both tie conventions with Wilson intervals, and the length-controlled
    rate (NaN when the outcomes are separable by length, e.g. with very few prompts)."""
    rows = []
    for a, b in pairs:
        outcomes = judge.judge(prompts, texts[a], texts[b])
        row = {
            "comparison": f"{a} vs {b}",
            "judge": judge.name,
            "judge_accuracy": judge.accuracy,
            **win_rate(outcomes, level).to_dict(),
        }
        try:
            lc = length_controlled_win_rate(outcomes, word_lengths(texts[a]) - word_lengths(texts[b]), level)
            row.update(lc_rate=lc.rate, lc_low=lc.low, lc_high=lc.high)
        except ValueError:
            row.update(lc_rate=math.nan, lc_low=math.nan, lc_high=math.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("comparison")
