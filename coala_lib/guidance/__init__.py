"""Reward-guided decoding with the head: settings, the sampler, the frozen LM's KV-cached candidate
scoring, and best-of-n.
"""

from coala_lib.guidance.config import GuidanceConfig
from coala_lib.guidance.decoding import GenerationOutput, GuidedStep, encode_prompts, guided_generate
from coala_lib.guidance.lm import CachedPrefix, Prefix, RecomputedPrefix, check_left_padded, position_ids
from coala_lib.guidance.sampling import (
    add_to_pool,
    minmax_normalise,
    pool_of,
    repetition_penalty,
    sample,
    sampling_logits,
    top_k_filter,
    top_p_filter,
)

__all__ = [
    "CachedPrefix",
    "GenerationOutput",
    "GuidanceConfig",
    "GuidedStep",
    "Prefix",
    "RecomputedPrefix",
    "add_to_pool",
    "check_left_padded",
    "encode_prompts",
    "guided_generate",
    "minmax_normalise",
    "pool_of",
    "position_ids",
    "repetition_penalty",
    "sample",
    "sampling_logits",
    "top_k_filter",
    "top_p_filter",
]
