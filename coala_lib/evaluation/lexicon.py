"""Sentiment judges that nothing in this project trained: VADER (Hutto & Gilbert 2014) and AFINN (Nielsen 2011).

VADER is a fixed lexicon of about 7,500 words and emoticons rated by human annotators, plus rules for
negation, intensifiers, punctuation and capitals (package ``vaderSentiment``, pinned in
``requirements.txt``). Its *compound* score :math:`c \\in [-1, 1]` is the normalised sum of the
rule-adjusted word valences; :meth:`LexiconJudge.positivity` maps it to :math:`(c + 1)/2 \\in [0, 1]`, so the
book's judge (:class:`coala_lib.evaluation.sentiment.SentimentJudge`, a probability) and this one live on
the same scale. Being a lexicon, it cannot have been fitted to this project's data or models.

AFINN (:class:`AfinnJudge`, package ``afinn``, pinned in ``requirements.txt``) is a judge of a third kind:
a bare word list (AFINN-en-165, 3,382 English words and phrases rated by one annotator from -5 to +5) with no
rules at all, neither VADER's negation, intensifier, punctuation and capital rules nor a trained model. Its
score of a text is the sum :math:`s` of the ratings of the listed words and phrases it contains (the
package's whole-word, lower-cased match; "not good" and "no fun" are phrases of the list);
:meth:`AfinnJudge.positivity` maps :math:`s` to :math:`(c + 1) / 2` with :math:`c = s / \\sqrt{s^2 + 15}`,
VADER's own normalisation, so that it shares the scale (0.5 for a text with no listed word). The map is
strictly increasing in :math:`s`, so a win (or tie) between two texts is decided by :math:`s` alone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

PACKAGE = "vaderSentiment"
AFINN_PACKAGE = "afinn"
#: The AFINN word list the judge reads (in the package's ``data`` folder) and VADER's normalising constant.
AFINN_WORDS, AFINN_ALPHA = "AFINN-en-165.txt", 15.0


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


class AfinnJudge:
    """The AFINN judge (module docstring): ``positivity(texts)`` in [0, 1]; ``key`` names the package version,
    the word list, the SHA-256 of its bytes and the normalising constant, so another list is another key.
    Scores are memoised by text (texts repeat across the records a run rewrites)."""

    name = "afinn"

    def __init__(self) -> None:
        self._memo: dict[str, float] = {}

    @cached_property
    def _afinn(self) -> Any:
        try:
            from afinn import Afinn
        except ImportError as error:  # pragma: no cover - the package is a pinned requirement
            raise ImportError(
                f"the AFINN judge needs the {AFINN_PACKAGE!r} package: pip install -r requirements.txt"
            ) from error
        afinn = Afinn(language="en")
        if Path(afinn.full_filename(AFINN_WORDS)).name != AFINN_WORDS:  # pragma: no cover - a changed package
            raise RuntimeError(f"the afinn package no longer reads {AFINN_WORDS}; pin afinn as requirements.txt does")
        return afinn

    @cached_property
    def key(self) -> str:
        digest = hashlib.sha256(Path(self._afinn.full_filename(AFINN_WORDS)).read_bytes()).hexdigest()[:16]
        version = importlib.metadata.version(AFINN_PACKAGE)
        return f"{AFINN_PACKAGE}-{version}-{Path(AFINN_WORDS).stem}-{digest}-alpha{AFINN_ALPHA:g}"

    def sums(self, texts: Sequence[str]) -> torch.Tensor:
        """The summed AFINN rating :math:`s` of each text (0 for a text with no listed word), float64."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        for text in texts:
            if text not in self._memo:
                self._memo[text] = float(self._afinn.score(text))
        return torch.tensor([self._memo[text] for text in texts], dtype=torch.float64)

    def positivity(self, texts: Sequence[str]) -> torch.Tensor:
        """:math:`(c + 1) / 2` with :math:`c = s / \\sqrt{s^2 + 15}`: 0.5 neutral, towards 1 positive (float64,
        so that distinct sums stay distinct)."""
        s = self.sums(texts)
        return (s / torch.sqrt(s * s + AFINN_ALPHA) + 1) / 2

    def accuracy(self, texts: Sequence[str], labels: torch.Tensor) -> float:
        """Fraction of ``texts`` whose sum :math:`s` has the sign of ``labels`` (+1/-1); 0 counts as wrong."""
        if len(texts) != len(labels) or len(texts) == 0:
            raise ValueError(f"texts and labels must be non-empty and row-aligned, got {len(texts)}, {len(labels)}")
        return float((torch.sign(self.sums(texts)) == torch.as_tensor(labels).double()).double().mean())
