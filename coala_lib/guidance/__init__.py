"""Reward-guided decoding with the head.

Entry points, by module (the sampler's filters stay in ``coala_lib.guidance.sampling``):

* ``config``: :class:`GuidanceConfig`, one frozen dataclass per decoding variant (its presets);
* ``decoding``: :func:`guided_generate` (returns a :class:`GenerationOutput`) over the left-padded ids of
  :func:`encode_prompts`;
* ``lm``: the frozen LM during decoding, :class:`CachedPrefix` (KV-cached) and :class:`RecomputedPrefix`
  (the released script's re-run, the reference);
* ``sampling``: :func:`sampling_logits` (temperature, top-k, top-p as transformers' ``generate`` applies them).
"""

from coala_lib.guidance.config import GuidanceConfig
from coala_lib.guidance.decoding import GenerationOutput, encode_prompts, guided_generate
from coala_lib.guidance.lm import CachedPrefix, RecomputedPrefix
from coala_lib.guidance.sampling import sampling_logits

__all__ = [
    "CachedPrefix",
    "GenerationOutput",
    "GuidanceConfig",
    "RecomputedPrefix",
    "encode_prompts",
    "guided_generate",
    "sampling_logits",
]
