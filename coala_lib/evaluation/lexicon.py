"""A second sentiment judge that nothing in this project trained: VADER (Hutto & Gilbert 2014).

VADER is a fixed lexicon of about 7,500 words and emoticons rated by human annotators, plus rules for
negation, intensifiers, punctuation and capitals (package ``vaderSentiment``, pinned in
``requirements.txt``). Its *compound* score :math:`c \\in [-1, 1]` is the normalised sum of the
rule-adjusted word valences; :meth:`LexiconJudge.positivity` maps it to :math:`(c + 1)/2 \\in [0, 1]`, so the
book's judge (:class:`coala_lib.evaluation.sentiment.SentimentJudge`, a probability) and this one live on
the same scale. Being a lexicon, it cannot have been fitted to this project's data or models.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import torch

PACKAGE = "vaderSentiment"


class LexiconJudge:
    """The VADER judge: ``positivity(texts)`` in [0, 1]; ``key`` names the package version."""

    name = "vader"

    @cached_property
    def _analyzer(self) -> Any:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as error:  # pragma: no cover - the package is a pinned requirement
            raise ImportError(
                f"the lexicon judge needs the {PACKAGE!r} package: pip install -r requirements.txt"
            ) from error
        return SentimentIntensityAnalyzer()

    @property
    def key(self) -> str:
        return f"{PACKAGE}-{importlib.metadata.version(PACKAGE)}"

    def compound(self, texts: Sequence[str]) -> torch.Tensor:
        """VADER's compound score of each text, in [-1, 1] (0 for an empty text), float32."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        scores = [self._analyzer.polarity_scores(text)["compound"] if text.strip() else 0.0 for text in texts]
        return torch.tensor(scores, dtype=torch.float32)

    def positivity(self, texts: Sequence[str]) -> torch.Tensor:
        """:math:`(c + 1) / 2`: 1 is as positive as VADER scores, 0 as negative, 0.5 neutral."""
        return (self.compound(texts) + 1) / 2

    def accuracy(self, texts: Sequence[str], labels: torch.Tensor) -> float:
        """Fraction of ``texts`` whose compound score has the sign of ``labels`` (+1/-1); 0 counts as wrong."""
        if len(texts) != len(labels) or len(texts) == 0:
            raise ValueError(f"texts and labels must be non-empty and row-aligned, got {len(texts)}, {len(labels)}")
        return float((torch.sign(self.compound(texts)) == torch.as_tensor(labels).float()).double().mean())
