"""Pluggable judges: each compares response A with response B to the same prompt and returns outcomes.

A judge maps ``(prompts, a, b)`` to outcomes :math:`o_i \\in \\{1, \\tfrac12, 0\\}` (A wins, tie, A loses; see
:mod:`coala_lib.evaluation.win_rates`) and carries its own held-out ``accuracy``, so every win rate can be read
next to how reliable its judge is.

* :class:`SentimentPairJudge`: the offline IMDb sentiment judge (:class:`coala_lib.evaluation.sentiment.SentimentJudge`,
  MiniLM + logistic regression on labelled reviews): A wins when it is more positive,
  :math:`\\mathrm{pos}(a) - \\mathrm{pos}(b) > \\tau`, a tie within :math:`\\tau`. Its accuracy is the review
  classifier's accuracy on IMDb test reviews.
* :class:`PreferenceJudge`: an offline *pairwise* preference judge trained on held-out preference pairs.
  With :math:`e(\\cdot)` the normalised MiniLM embedding (:func:`coala_lib.backbone.encoders.encode_texts`; a different
  backbone from the policy's) of ``prompt + " " + response``,

  .. math:: P(a \\succ b \\mid x) = \\sigma\\big(w^\\top (e(x, a) - e(x, b))\\big),

  antisymmetric by construction (:math:`P(a \\succ b) = 1 - P(b \\succ a)`). :math:`w` is the L2-regularised
  logistic regression fit on the differences of the judge's training pairs in both orders (labels +1 and
  -1, so the intercept's optimum is 0 and is dropped); its accuracy is measured on a further, disjoint
  split of pairs. A tie is :math:`|P - \\tfrac12| \\le \\tau`.
* :class:`AlpacaEvalJudge`: AlpacaEval 2 (an LLM annotator via the ``alpaca-eval`` package and an API key);
  it reports leaderboard win rates rather than per-item outcomes. Documented and never run in CI: the package is imported only when :meth:`AlpacaEvalJudge.evaluate` runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from coala_lib.backbone.encoders import ENCODER_NAME, encode_texts
from coala_lib.core.cache import cached_file
from coala_lib.core.files import cache_dir, content_key
from coala_lib.core.metrics import outcomes_from_scores, pairwise_accuracy
from coala_lib.data.schema import Triplet
from coala_lib.evaluation.sentiment import SentimentJudge, fit_logistic, safetensors_metadata


class Judge(Protocol):
    """What every judge offers: a ``name``, its held-out ``accuracy`` and :meth:`judge`."""

    name: str
    accuracy: float

    def judge(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Outcomes of ``a[i]`` against ``b[i]`` as answers to ``prompts[i]``: 1, 0.5 or 0."""
        ...


def _check_aligned(prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> None:
    if not (len(prompts) == len(a) == len(b)) or len(a) == 0:
        raise ValueError(
            f"prompts, a and b must be non-empty and of one length, got {len(prompts)}, {len(a)}, {len(b)}"
        )


@dataclass
class SentimentPairJudge:
    """A wins when its positivity exceeds B's by more than ``tie_tolerance`` (IMDb's preference: positive)."""

    sentiment: SentimentJudge
    tie_tolerance: float = 0.0
    name: str = "sentiment (MiniLM + logistic, IMDb)"

    @property
    def accuracy(self) -> float:
        return self.sentiment.accuracy

    def judge(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        _check_aligned(prompts, a, b)
        pa = self.sentiment.positivity(list(a), progress=False)
        pb = self.sentiment.positivity(list(b), progress=False)
        return outcomes_from_scores(pa, pb, self.tie_tolerance)


def judge_texts(prompts: Sequence[str], responses: Sequence[str]) -> list[str]:
    """What the preference judge embeds: ``prompt + " " + response``."""
    return [f"{p} {r}" for p, r in zip(prompts, responses)]


@dataclass
class PreferenceJudge:
    """The pairwise MiniLM judge of the module docstring: ``weight`` (384,), its test ``accuracy``, ``params``."""

    weight: torch.Tensor
    accuracy: float
    params: dict[str, Any] = field(default_factory=dict)
    tie_tolerance: float = 0.0
    name: str = "pairwise preference (MiniLM + logistic)"

    def _differences(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
        embed = partial(encode_texts, progress=False, max_length=int(self.params.get("max_length", 128)))
        return embed(judge_texts(prompts, a)).double() - embed(judge_texts(prompts, b)).double()

    def probability(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
        """:math:`P(a_i \\succ b_i \\mid x_i)`, shape ``(n,)``."""
        _check_aligned(prompts, a, b)
        return torch.sigmoid(self._differences(prompts, a, b) @ self.weight.double()).float()

    def judge(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        p = self.probability(prompts, a, b).numpy()
        return outcomes_from_scores(p, np.full_like(p, 0.5), self.tie_tolerance)

    @classmethod
    def fit(
        cls, train: Sequence[Triplet], test: Sequence[Triplet], l2: float = 1e-3, max_length: int = 128
    ) -> PreferenceJudge:
        """Fit on ``train`` pairs, report the accuracy (chosen preferred, ties as halves) on ``test`` pairs."""
        if len(train) < 2 or len(test) < 1:
            raise ValueError(f"need >= 2 training and >= 1 test pairs, got {len(train)} and {len(test)}")
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0 (it keeps the fit finite on separable pairs), got {l2}")
        probe = cls(torch.zeros(384, dtype=torch.float64), float("nan"), {"max_length": max_length})
        d = probe._differences([t.prompt for t in train], [t.chosen for t in train], [t.rejected for t in train])
        labels = torch.cat([torch.ones(len(train)), -torch.ones(len(train))]).double()
        weight, _ = fit_logistic(torch.cat([d, -d]), labels, l2)
        test_d = probe._differences([t.prompt for t in test], [t.chosen for t in test], [t.rejected for t in test])
        margin = test_d @ weight
        accuracy = pairwise_accuracy(margin, torch.zeros_like(margin))  # P(chosen > rejected) > 1/2
        params = {
            "encoder": ENCODER_NAME,
            "n_train": len(train),
            "n_test": len(test),
            "l2": l2,
            "max_length": max_length,
        }
        return cls(weight, accuracy, params)

    @classmethod
    def train_or_load(
        cls,
        train: Sequence[Triplet],
        test: Sequence[Triplet],
        l2: float = 1e-3,
        max_length: int = 128,
        cache_root: str | os.PathLike | None = None,
    ) -> PreferenceJudge:
        """:meth:`fit`, cached as safetensors under ``cache_dir()/preference_judge/<key>`` (key: the pairs and settings)."""
        digest = [[t.prompt, t.chosen, t.rejected] for t in (*train, *test)]
        key = content_key("preference-judge", ENCODER_NAME, len(train), l2, max_length, digest)

        def encode(judge: PreferenceJudge) -> bytes:
            meta = {"accuracy": repr(judge.accuracy), "params": json.dumps(judge.params)}
            return save_safetensors({"weight": judge.weight.contiguous()}, metadata=meta)

        def decode(blob: bytes) -> PreferenceJudge:
            meta = safetensors_metadata(blob)
            return cls(load_safetensors(blob)["weight"], float(meta["accuracy"]), json.loads(meta["params"]))

        return cached_file(
            cache_dir(cache_root) / "preference_judge" / key,
            kind="preference-judge",
            key=key,
            fields={"encoder": ENCODER_NAME, "n_train": len(train), "l2": l2, "max_length": max_length},
            name="judge.safetensors",
            make=lambda: cls.fit(train, test, l2, max_length),
            encode=encode,
            decode=decode,
        )


@dataclass
class AlpacaEvalJudge:
    """AlpacaEval 2 through the ``alpaca-eval`` package (needs ``pip install alpaca-eval`` and, for the
    default annotator, ``OPENAI_API_KEY``). Never run in CI: nothing is imported until :meth:`evaluate`.

    ``annotators_config="weighted_alpaca_eval_gpt4_turbo"`` is AlpacaEval 2's default annotator; its
    leaderboard reports both the raw and the length-controlled win rate (see :mod:`coala_lib.evaluation.win_rates`
    for how AlpacaEval's LC differs from ours).
    """

    annotators_config: str = "weighted_alpaca_eval_gpt4_turbo"
    name: str = "AlpacaEval 2"
    accuracy: float = float("nan")

    @staticmethod
    def records(instructions: Sequence[str], outputs: Sequence[str], generator: str) -> list[dict[str, str]]:
        """Outputs in AlpacaEval's format: one ``{"instruction", "output", "generator"}`` per item."""
        if len(instructions) != len(outputs) or not outputs:
            raise ValueError(
                f"instructions and outputs must be non-empty and aligned, got {len(instructions)}, {len(outputs)}"
            )
        return [{"instruction": i, "output": o, "generator": generator} for i, o in zip(instructions, outputs)]

    def evaluate(
        self,
        instructions: Sequence[str],
        outputs: Sequence[str],
        reference_outputs: Sequence[str],
        generator: str,
        output_path: str | os.PathLike | None = None,
    ) -> Any:
        """Run AlpacaEval on ``outputs`` against ``reference_outputs``; returns its leaderboard DataFrame."""
        try:
            import alpaca_eval
        except ImportError as err:  # pragma: no cover - depends on an optional package
            raise ImportError("AlpacaEvalJudge needs the optional package: pip install alpaca-eval") from err
        leaderboard, _ = alpaca_eval.evaluate(
            model_outputs=self.records(instructions, outputs, generator),
            reference_outputs=self.records(instructions, reference_outputs, "reference"),
            annotators_config=self.annotators_config,
            output_path=output_path,
            is_return_instead_of_print=True,
        )
        return leaderboard
