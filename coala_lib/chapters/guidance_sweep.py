"""Experiments on guided decoding: a guidance-scale sweep scored by a judge, and one step laid out.

:func:`lambda_sweep` decodes the same prompts with the same seed for each guidance scale
:math:`\\lambda` (so :math:`\\lambda = 0` is plain sampling) and scores every text with a judge
(for IMDb, the sentiment judge's positivity); :func:`step_frame` lays out one scored step of one row:
each candidate's LM probability, head score, normalised score and reweighted probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from coala_lib.guidance.decoding import GenerationOutput, GuidanceConfig, guided_generate
from coala_lib.head.coala_head import CoalaHead


def lambda_sweep(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    head: CoalaHead,
    lambdas: Sequence[float],
    config: GuidanceConfig,
    judge: Callable[[list[str]], torch.Tensor] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (lambda, prompt): the prompt, the generated text, its head score and (with ``judge``)
    its judge score."""
    if not lambdas or any(lam < 0 for lam in lambdas):
        raise ValueError(f"lambdas must be a non-empty list of scales >= 0, got {list(lambdas)}")
    device = model.get_output_embeddings().weight.device
    frames = []
    for lam in lambdas:
        out = guided_generate(
            model,
            tokenizer,
            prompts,
            head=head,
            config=config.with_(guidance_scale=float(lam)),
            generator=torch.Generator(device).manual_seed(seed),
            progress=progress,
        )
        if out.final_scores is None:  # guided_generate scores the texts whenever a head is passed
            raise RuntimeError("guided_generate returned no head scores although a head was passed")
        frame = pd.DataFrame(
            {
                "lambda": float(lam),
                "prompt": list(prompts),
                "text": out.texts,
                "head_score": out.final_scores.cpu().numpy(),
            }
        )
        if judge is not None:
            frame["judge"] = judge(out.texts).cpu().numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def step_frame(
    output: GenerationOutput, tokenizer: Any, guidance_scale: float, row: int = 0, step: int = 0
) -> pd.DataFrame:
    """The pool of scored step ``step`` (index into ``output.steps``) of batch row ``row`` (``paper`` mode):
    token, head score, normalised score, LM probability within the pool and the reweighted probability
    :math:`\\propto p\\, e^{\\lambda \\hat s}`, best LM candidate first."""
    if not output.steps:
        raise ValueError("output has no scored step: decode with a guided mode and a head")
    record = output.steps[step]
    valid = record.valid[row]
    ids, logits, normalised = record.candidates[row][valid], record.logits[row][valid], record.normalised[row][valid]
    return pd.DataFrame(
        {
            "token": [tokenizer.decode([int(i)]) for i in ids],
            "lm_prob": logits.softmax(0).cpu().numpy(),
            "head_score": record.scores[row][valid].cpu().numpy(),
            "normalised": normalised.cpu().numpy(),
            "guided_prob": (logits + guidance_scale * normalised).softmax(0).cpu().numpy(),
            "chosen": (ids == record.chosen[row]).cpu().numpy(),
        }
    )
