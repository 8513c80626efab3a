"""Settings of reward-guided decoding: one frozen dataclass, with presets for each variant.

Modes (all use the same head, the same sampler and the same KV-cached backbone):

* ``plain``: temperature / top-k / top-p / repetition-penalty sampling, no head.
* ``paper``: COALA App. H.3. Every ``every`` (N) tokens the nucleus pool (top-k then top-p of the
  sampling distribution) is scored by the head, scores are min-max normalised within the pool and the
  pool is reweighted as :math:`p'_c \\propto p_c \\exp(\\lambda \\hat s_c)`, i.e. *logits + lambda x
  normalised score* on the tempered, filtered logits; then one token is sampled from the pool.
* ``additive``: a variant of ours: the pool is the top-k (15) of the tempered logits,
  ``logits += lambda * normalised score`` on that pool (tokens outside it dropped), *then* top-p, then
  sample. It is **not** the released script (``guidance_sampling_pool2.py``), which (COALA.md section 5)
  adds ``lambda x score`` to the 15 highest logits *before* dividing by the temperature, samples from the
  top-p nucleus of the *whole* vocabulary, divides every seen token's logit by 1.1 whatever its sign (not
  the CTRL penalty used here) and guides every 6th token (the 6th, 12th, ...), not every 5th from the first.
* ``released``: the released script, step for step (COALA.md section 5): every seen token's logit divided
  by ``repetition_penalty`` (1.1) whatever its sign; plain steps sample from the top-p nucleus of the
  whole vocabulary at temperature T (no top-k); on a guided step (the ``every``-th token: the 6th, 12th,
  ...) the ``top_k`` (15) highest logits get ``lambda x min-max score`` added *before* the division by T,
  then the top-p nucleus of the whole vocabulary. ``use_cache=False`` also reproduces its cost.
* ``args``: ARGS (Khanov et al., ICLR 2024): every token (``every`` is ignored), the top-k candidates are ranked by
  :math:`\\log p(v \\mid x) + w\\, s(x v)` with the raw head score; greedy (ARGS-greedy) or sampled
  from ``softmax(rank / temperature)`` over the k candidates (ARGS-stochastic).
* ``best_of_n``: ``num_samples`` plain samples per prompt, the one with the highest head score kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from coala_lib.backbone.pooling import POOLINGS

Mode = Literal["plain", "paper", "additive", "released", "args", "best_of_n"]
MODES: tuple[str, ...] = ("plain", "paper", "additive", "released", "args", "best_of_n")
GUIDED_MODES: tuple[str, ...] = ("paper", "additive", "released", "args", "best_of_n")


@dataclass(frozen=True)
class GuidanceConfig:
    """How to decode. ``guidance_scale`` is lambda (``paper``, ``additive``) or ARGS's weight w.

    ``pooling=None`` uses the head's pooling; a different explicit value is an error (the reference
    code decodes with mean pooling whatever the head was trained on; this library refuses to).
    ``use_cache=False`` selects the naive reference path that re-runs the whole prefix for every
    forward and every candidate, as the released script does. ``ignore_eos=True`` always decodes
    ``max_new_tokens`` tokens (for benchmarks).
    """

    mode: Mode = "paper"
    guidance_scale: float = 2.0
    every: int = 5
    top_k: int = 50
    top_p: float = 0.9
    temperature: float = 0.7
    repetition_penalty: float = 1.1
    max_new_tokens: int = 256
    pooling: str | None = None
    greedy: bool = False
    num_samples: int = 4
    use_cache: bool = True
    ignore_eos: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not supported; choose one of {MODES}")
        if not self.guidance_scale >= 0:
            raise ValueError(f"guidance_scale={self.guidance_scale} must be >= 0 (0 turns the head off)")
        checks = {
            "every": self.every >= 1,
            "top_k": self.top_k >= 1,
            "max_new_tokens": self.max_new_tokens >= 1,
            "num_samples": self.num_samples >= 1,
            "temperature": self.temperature > 0,
            "repetition_penalty": self.repetition_penalty > 0,
            "top_p": 0 < self.top_p <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                bound = {"temperature": "> 0", "repetition_penalty": "> 0", "top_p": "in (0, 1]"}.get(name, ">= 1")
                raise ValueError(f"{name}={getattr(self, name)} must be {bound}")
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} is not supported; choose one of {POOLINGS} or None")

    @property
    def needs_head(self) -> bool:
        return self.mode in GUIDED_MODES

    def with_(self, **changes: Any) -> GuidanceConfig:
        """A copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    @classmethod
    def plain(cls, **overrides: Any) -> GuidanceConfig:
        """Plain sampling with the paper's sampler settings (top-k 50, top-p 0.9, T 0.7, penalty 1.1)."""
        return cls(**{"mode": "plain", **overrides})

    @classmethod
    def paper(cls, guidance_scale: float = 2.0, **overrides: Any) -> GuidanceConfig:
        """COALA App. H.3: nucleus pool (top-k 50, top-p 0.9), min-max scores, lambda, every N = 5."""
        return cls(**{"mode": "paper", "guidance_scale": guidance_scale, **overrides})

    @classmethod
    def additive(cls, guidance_scale: float = 2.0, **overrides: Any) -> GuidanceConfig:
        """Our ``additive`` variant (module docstring): pool = top-k 15 of the tempered logits, ``+ lambda x
        normalised score`` on the pool, then top-p, every ``every`` tokens. Not the released script."""
        return cls(**{"mode": "additive", "guidance_scale": guidance_scale, "top_k": 15, **overrides})

    @classmethod
    def released_script(cls, **overrides: Any) -> GuidanceConfig:
        """The released script (``guidance_sampling_pool2.py``): lambda 2.0 on the 15 highest logits before the
        temperature 0.7, whole-vocabulary top-p 0.9, seen logits / 1.1, every 6th token guided."""
        settings = {"mode": "released", "guidance_scale": 2.0, "top_k": 15, "every": 6}
        return cls(**{**settings, "top_p": 0.9, "temperature": 0.7, "repetition_penalty": 1.1, **overrides})

    @classmethod
    def args(cls, weight: float = 1.5, top_k: int = 10, greedy: bool = True, **overrides: Any) -> GuidanceConfig:
        """ARGS (Khanov et al. 2024) defaults: k = 10, w = 1.5, greedy; the head is scored every token."""
        return cls(**{"mode": "args", "guidance_scale": weight, "top_k": top_k, "greedy": greedy, **overrides})

    @classmethod
    def best_of_n(cls, num_samples: int = 4, **overrides: Any) -> GuidanceConfig:
        """Best-of-n reranking of whole plain samples by the head score of their pooled features."""
        return cls(**{"mode": "best_of_n", "num_samples": num_samples, **overrides})
