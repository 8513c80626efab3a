"""The frozen language model and the features COALA reads from it.

Entry points, by module (helpers stay in their modules, e.g. ``coala_lib.backbone.features.tokenize``):

* ``registry``: :func:`load_backbone` (an alias of :func:`known_models`, a Hub id or a path) returning a
  :class:`Backbone`; :func:`tiny_tokenizer` and :data:`TINY_CHAT_TEMPLATE` (the test backbone's);
* ``features``: :func:`pair_features` (a triplet set's content-keyed :class:`PairFeatures`),
  :func:`pooled_features` and :func:`pooled_from_ids` (texts or token ids), :func:`render` (prompt + response
  as the LM reads them), :func:`unmasked_mean_drift` (why pooling is masked);
* ``pooling``: :func:`pool` with a :class:`Pooling` of :data:`POOLINGS` (:func:`get_pooling`,
  :func:`register_pooling`);
* ``prefix_features``: :func:`prefix_pair_features`, the :class:`PrefixFeatures` of every response prefix, in
  each of :data:`RENDERINGS`;
* ``lora``: :func:`lora_config` (the paper's adapters, rank :data:`LORA_R`); ``sft``: :func:`apply_sft` with
  an :class:`SFTConfig` (optional Stage 0);
* ``sharding``: :func:`run_distributed` and :func:`merge_shards` (extraction across processes);
* ``encoders``: :func:`encode_texts`, the offline MiniLM sentence encoder.
"""

from coala_lib.backbone.encoders import encode_texts
from coala_lib.backbone.features import (
    PairFeatures,
    pair_features,
    pooled_features,
    pooled_from_ids,
    render,
    unmasked_mean_drift,
)
from coala_lib.backbone.lora import LORA_R, lora_config
from coala_lib.backbone.pooling import POOLINGS, Pooling, get_pooling, pool, register_pooling
from coala_lib.backbone.prefix_features import RENDERINGS, PrefixFeatures, prefix_pair_features
from coala_lib.backbone.registry import TINY_CHAT_TEMPLATE, Backbone, known_models, load_backbone, tiny_tokenizer
from coala_lib.backbone.sft import SFTConfig, apply_sft
from coala_lib.backbone.sharding import merge_shards, run_distributed

__all__ = [
    "LORA_R",
    "POOLINGS",
    "RENDERINGS",
    "TINY_CHAT_TEMPLATE",
    "Backbone",
    "PairFeatures",
    "Pooling",
    "PrefixFeatures",
    "SFTConfig",
    "apply_sft",
    "encode_texts",
    "get_pooling",
    "known_models",
    "load_backbone",
    "lora_config",
    "merge_shards",
    "pair_features",
    "pool",
    "pooled_features",
    "pooled_from_ids",
    "prefix_pair_features",
    "register_pooling",
    "render",
    "run_distributed",
    "tiny_tokenizer",
    "unmasked_mean_drift",
]
