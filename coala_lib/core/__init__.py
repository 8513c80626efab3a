"""Shared ground: files and atomic publishing, the cache and data folders, runtime (device, seeds,
timers) and input checks. Every other stage may import it; it imports no other stage.
"""

from coala_lib.core.cache import (
    CacheEntry,
    CacheError,
    CorruptCacheWarning,
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
    data_dir,
    environment_record,
)
from coala_lib.core.runtime import progress_off, resolve_device, seed_everything, synchronize, timed

__all__ = [
    "CacheEntry",
    "CacheError",
    "CorruptCacheWarning",
    "atomic_write_bytes",
    "atomic_write_json",
    "cache_dir",
    "content_key",
    "data_dir",
    "discard",
    "environment_record",
    "load_cached",
    "open_entry",
    "progress_off",
    "publishing",
    "resolve_device",
    "seed_everything",
    "sweep_leftovers",
    "synchronize",
    "timed",
    "validate_features",
    "validate_targets",
]
