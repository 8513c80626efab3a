"""Shared ground: files and atomic publishing, the cache and data folders, runtime (device, seeds,
timers), input checks, the pairwise-accuracy metric, the results folder, the checked readers of committed
records and the hand-offs between notebooks. Every other stage may import it; it imports no other stage.
"""

from coala_lib.core.cache import (
    CacheEntry,
    CacheError,
    CorruptCacheWarning,
    cached_file,
    discard,
    load_cached,
    open_entry,
    publishing,
    sweep_leftovers,
)
from coala_lib.core.checks import validate_features, validate_targets
from coala_lib.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    cache_dir,
    content_key,
    cpu_model,
    data_dir,
    environment_record,
    portable_paths,
    results_dir,
    results_file,
)
from coala_lib.core.handoff import read_handoff, write_handoff
from coala_lib.core.metrics import pairwise_accuracy
from coala_lib.core.records import RecordError, check_fields, read_jsonl_records, read_record
from coala_lib.core.runtime import progress_off, resolve_device, seed_everything, synchronize, timed

__all__ = [
    "CacheEntry",
    "CacheError",
    "CorruptCacheWarning",
    "RecordError",
    "atomic_write_bytes",
    "atomic_write_json",
    "cache_dir",
    "cached_file",
    "check_fields",
    "content_key",
    "cpu_model",
    "data_dir",
    "discard",
    "environment_record",
    "load_cached",
    "open_entry",
    "pairwise_accuracy",
    "portable_paths",
    "progress_off",
    "publishing",
    "read_handoff",
    "read_jsonl_records",
    "read_record",
    "resolve_device",
    "results_dir",
    "results_file",
    "seed_everything",
    "sweep_leftovers",
    "synchronize",
    "timed",
    "validate_features",
    "validate_targets",
    "write_handoff",
]
