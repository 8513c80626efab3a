"""Judges: the pairwise MiniLM judge learns and is antisymmetric, the sentiment adapter, the AlpacaEval adapter."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from coala_lib.backbone.encoders import encode_texts
from coala_lib.data.schema import Triplet
from coala_lib.evaluation.judges import AlpacaEvalJudge, PreferenceJudge, SentimentPairJudge
from coala_lib.evaluation.sentiment import SentimentJudge

GOOD = [
    "a wonderful, moving film",
    "brilliant acting and a great story",
    "I loved every minute",
    "superb and delightful",
    "a masterpiece, beautifully shot",
    "funny, warm and clever",
]
BAD = [
    "a dull, boring mess",
    "terrible acting and a stupid plot",
    "I hated every minute",
    "awful and tedious",
    "a disaster, badly shot",
    "painful, cold and dumb",
]


def _triplets(offset: int, n: int) -> list[Triplet]:
    return [
        Triplet(f"Review {i}: the movie was", GOOD[(i + offset) % 6], BAD[(i * 5 + offset) % 6], "toy", i)
        for i in range(n)
    ]


def test_preference_judge_learns_and_is_antisymmetric(tmp_path) -> None:
    judge = PreferenceJudge.train_or_load(_triplets(0, 24), _triplets(3, 12), cache_root=tmp_path)
    assert judge.accuracy >= 0.9
    prompts, a, b = ["The film was"] * 3, ["great fun", "so boring", "lovely"], ["so boring", "great fun", "dreadful"]
    p_ab, p_ba = judge.probability(prompts, a, b), judge.probability(prompts, b, a)
    torch.testing.assert_close(p_ab + p_ba, torch.ones(3))
    np.testing.assert_array_equal(judge.judge(prompts, a, b), [1, 0, 1])
    cached = PreferenceJudge.train_or_load(_triplets(0, 24), _triplets(3, 12), cache_root=tmp_path)
    torch.testing.assert_close(cached.weight, judge.weight)
    assert cached.accuracy == judge.accuracy


def test_preference_judge_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="training"):
        PreferenceJudge.fit(_triplets(0, 1), _triplets(0, 1))
    judge = PreferenceJudge(torch.zeros(384, dtype=torch.float64), 0.5)
    with pytest.raises(ValueError, match="one length"):
        judge.judge(["x"], ["a", "b"], ["c"])


def test_sentiment_pair_judge_prefers_the_more_positive_text() -> None:
    direction = (encode_texts(["great wonderful"], progress=False) - encode_texts(["terrible awful"], progress=False))[
        0
    ]
    sentiment = SentimentJudge(direction.double() * 10, 0.0, 0.9, {"max_length": 128}, "test")
    judge = SentimentPairJudge(sentiment)
    assert judge.accuracy == 0.9
    np.testing.assert_array_equal(
        judge.judge(["x", "x"], ["a great, wonderful film", "awful"], ["terrible", "great"]), [1, 0]
    )
    tolerant = SentimentPairJudge(sentiment, tie_tolerance=1.0)
    np.testing.assert_array_equal(tolerant.judge(["x"], ["great"], ["awful"]), [0.5])


def test_alpaca_eval_adapter_formats_records_and_imports_lazily() -> None:
    records = AlpacaEvalJudge.records(["say hi"], ["hi"], "coala")
    assert records == [{"instruction": "say hi", "output": "hi", "generator": "coala"}]
    with pytest.raises(ValueError, match="aligned"):
        AlpacaEvalJudge.records(["a", "b"], ["x"], "g")
    if importlib.util.find_spec("alpaca_eval") is None:
        with pytest.raises(ImportError, match="pip install alpaca-eval"):
            AlpacaEvalJudge().evaluate(["say hi"], ["hi"], ["hello"], "coala")
