"""The IMDb sentiment judge: MiniLM embeddings + logistic regression, trained offline.

The DPO paper labels IMDb continuations with a sentiment classifier; ours is small and fully
offline. With :math:`e(x) \\in \\mathbb{R}^{384}` the normalised MiniLM embedding
(:func:`coala_lib.backbone.encoders.encode_texts`) and :math:`y \\in \\{-1, +1\\}`, it fits

.. math:: \\min_{w, b} \\frac{1}{n} \\sum_i \\log\\left(1 + e^{-y_i (w^\\top e(x_i) + b)}\\right) + \\frac{\\lambda}{2} \\lVert w \\rVert^2

(convex; solved by L-BFGS in float64) on a balanced sample of IMDb *train* reviews, and reports
its accuracy on a balanced sample of *test* reviews it never saw. ``positivity(x)`` is
:math:`\\sigma(w^\\top e(x) + b)`. The trained judge is cached as safetensors (weights, with the
parameters and accuracy as metadata) under a key of its training data and settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from coala_lib.backbone.encoders import ENCODER_NAME, encode_texts
from coala_lib.core.cache import cached_file
from coala_lib.core.checks import check_int, check_number
from coala_lib.core.files import cache_dir, content_key
from coala_lib.data.imdb import load_imdb_reviews


@dataclass(frozen=True)
class SentimentJudge:
    """A trained judge: ``weight`` (384,), ``bias``, held-out ``accuracy``, its ``params`` and cache ``key``."""

    weight: torch.Tensor
    bias: float
    accuracy: float
    params: dict[str, Any]
    key: str

    def positivity(self, texts: Sequence[str], *, device: str = "cpu", progress: bool = False) -> torch.Tensor:
        """Probability that each text is positive, shape ``(len(texts),)``, float32."""
        emb = encode_texts(list(texts), device=device, progress=progress, max_length=self.params["max_length"])
        return torch.sigmoid(emb.double() @ self.weight.double() + self.bias).float()

    @classmethod
    def train_or_load(
        cls,
        n_train: int = 2000,
        seed: int = 0,
        data_dir: str | os.PathLike | None = None,
        *,
        n_test: int = 1000,
        l2: float = 1e-3,
        max_length: int = 128,
        device: str = "cpu",
        cache_root: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> SentimentJudge:
        """Train on ``n_train`` balanced IMDb train reviews, test on ``n_test`` balanced test reviews,
        or load the cached judge with the same training data and settings."""
        check_int("n_train", n_train, minimum=2)
        check_int("n_test", n_test, minimum=2)
        check_number("l2", l2)
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0 (it keeps the problem strongly convex), got {l2}")
        train_x, train_y = load_imdb_reviews("train", n=n_train, seed=seed, data_dir=data_dir)
        test_x, test_y = load_imdb_reviews("test", n=n_test, seed=seed, data_dir=data_dir)
        params = {
            "encoder": ENCODER_NAME,
            "n_train": n_train,
            "n_test": n_test,
            "seed": seed,
            "l2": l2,
            "max_length": max_length,
        }
        key = content_key("sentiment-judge", params, train_x, train_y, test_x)

        def make() -> SentimentJudge:
            encode = partial(encode_texts, device=device, progress=progress, max_length=max_length)
            weight, bias = fit_logistic(encode(train_x), train_y, l2)
            scores = encode(test_x).double() @ weight + bias
            accuracy = float((torch.sign(scores) == test_y.double()).double().mean())
            return cls(weight, bias, accuracy, params, key)

        def encode(judge: SentimentJudge) -> bytes:
            metadata = {"params": json.dumps(params), "accuracy": repr(judge.accuracy), "bias": repr(judge.bias)}
            return save_safetensors({"weight": judge.weight.contiguous()}, metadata=metadata)

        def decode(blob: bytes) -> SentimentJudge:
            meta = safetensors_metadata(blob)
            weight = load_safetensors(blob)["weight"]
            return cls(weight, float(meta["bias"]), float(meta["accuracy"]), json.loads(meta["params"]), key)

        return cached_file(
            cache_dir(cache_root) / "sentiment_judge" / key,
            kind="sentiment-judge",
            key=key,
            fields={"params": params},
            name="judge.safetensors",
            make=make,
            encode=encode,
            decode=decode,
        )


def safetensors_metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file held in memory (its header: an 8-byte little-endian
    length, then that many bytes of JSON)."""
    size = int.from_bytes(blob[:8], "little")
    return dict(json.loads(blob[8 : 8 + size].decode("utf-8")).get("__metadata__") or {})


def fit_logistic(
    features: torch.Tensor, labels: torch.Tensor, l2: float, max_iter: int = 200
) -> tuple[torch.Tensor, float]:
    """L2-regularised logistic regression (labels +1/-1) by L-BFGS in float64: ``(w, b)``."""
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise ValueError(f"features must be (n, d) and labels (n,), got {tuple(features.shape)}, {tuple(labels.shape)}")
    x, y = features.double(), labels.double()
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.softplus(-y * (x @ w + b)).mean() + 0.5 * l2 * w.dot(w)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), float(b.detach())
