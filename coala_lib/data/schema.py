"""The one record every dataset is turned into: a preference triplet.

A triplet keeps the prompt together with both of its responses, so that every later stage
(feature extraction, the pairwise Phase II objective, baselines, evaluation) sees real,
prompt-matched comparisons. The reference code pools chosen and rejected texts separately and
loses that pairing; this schema makes losing it impossible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Triplet:
    """One preference comparison: ``chosen`` is preferred to ``rejected`` as an answer to ``prompt``.

    ``source`` names the dataset (e.g. ``"imdb"``), ``row`` identifies the source row (an index or
    id, kept for traceability), ``meta`` holds anything else worth keeping (scores, turn index).
    """

    prompt: str
    chosen: str
    rejected: str
    source: str
    row: int | str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Triplet:
        return cls(
            prompt=record["prompt"],
            chosen=record["chosen"],
            rejected=record["rejected"],
            source=record["source"],
            row=record["row"],
            meta=dict(record.get("meta") or {}),
        )
