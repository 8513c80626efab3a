"""The sentiment judge: training on a small sample, held-out accuracy, the on-disk cache."""

import pytest
import torch

from coala_lib.data import write_jsonl_gz
from coala_lib.evaluation.sentiment import SentimentJudge, fit_logistic

GOOD = ["loved it", "a masterpiece", "brilliant acting", "wonderful and moving", "great fun", "superb film"]
BAD = ["hated it", "a disaster", "terrible acting", "boring and dull", "awful mess", "dreadful film"]
TOPICS = ["the plot", "the ending", "the cast", "the music", "the camera work"]


def reviews(offset):
    rows = []
    for i, topic in enumerate(TOPICS):
        for j in range(len(GOOD)):
            rows.append({"id": offset + len(rows), "label": 0, "text": f"About {topic}: {BAD[(i + j + offset) % 6]}."})
            rows.append({"id": offset + len(rows), "label": 1, "text": f"About {topic}: {GOOD[(i + j + offset) % 6]}."})
    return rows


def test_fit_logistic_separates_and_checks_shapes():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=gen)
    y = torch.sign(x[:, 0] - 0.5 * x[:, 1] + 0.3)
    w, b = fit_logistic(x, y, l2=1e-3)
    assert float((torch.sign(x.double() @ w + b) == y.double()).double().mean()) > 0.97
    assert w[0] > 0 and w[1] < 0 and b > 0
    with pytest.raises(ValueError, match="labels"):
        fit_logistic(x, y[:10], l2=1e-3)


def test_judge_trains_on_small_sample_and_is_cached(tmp_path):
    write_jsonl_gz(tmp_path / "imdb-train.jsonl.gz", reviews(0))
    write_jsonl_gz(tmp_path / "imdb-test.jsonl.gz", reviews(1))
    kwargs = dict(
        n_train=40, n_test=20, seed=0, data_dir=tmp_path, cache_root=tmp_path / "cache", progress=False, l2=1e-2
    )
    judge = SentimentJudge.train_or_load(**kwargs)
    assert judge.accuracy >= 0.9
    p = judge.positivity(["About the plot: a masterpiece.", "About the plot: a disaster."])
    assert p.shape == (2,) and p[0] > 0.5 > p[1]
    cached = list((tmp_path / "cache" / "sentiment_judge").glob("*/judge.safetensors"))
    assert len(cached) == 1
    again = SentimentJudge.train_or_load(**kwargs)
    assert torch.equal(again.weight, judge.weight) and again.accuracy == judge.accuracy and again.key == judge.key
    assert again.params == judge.params
    other = SentimentJudge.train_or_load(**{**kwargs, "l2": 1e-1})
    assert other.key != judge.key and not torch.equal(other.weight, judge.weight)
    with pytest.raises(ValueError, match="l2"):
        SentimentJudge.train_or_load(**{**kwargs, "l2": 0.0})
