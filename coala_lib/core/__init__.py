"""Shared ground: every other stage may import it; it imports no other stage.

Entry points, by module (helpers stay in their modules, e.g. ``coala_lib.core.checks.check_int``):

* ``files``: atomic writes, content keys, the cache, data and results folders, a record's environment;
* ``cache``: publish a cache entry atomically (:func:`publishing`) and read it back verified (:func:`load_cached`);
* ``records``: checked readers of committed records (a damaged one is a :class:`RecordError`);
* ``handoff``: the settings one notebook hands to the notebooks that reuse its output;
* ``runtime``: device, seeds, synchronised timing, progress bars;
* ``checks``: the solvers' input checks; ``metrics``: the one pairwise accuracy and its per-pair outcomes;
* ``hub``: :class:`HubUnavailableError`, the one-sentence error of an unreachable Hugging Face Hub.
"""

from coala_lib.core.cache import CacheError, load_cached, publishing
from coala_lib.core.checks import validate_features, validate_targets
from coala_lib.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    cache_dir,
    content_key,
    data_dir,
    environment_record,
    results_dir,
    results_file,
)
from coala_lib.core.handoff import read_handoff, write_handoff
from coala_lib.core.hub import HubUnavailableError
from coala_lib.core.metrics import outcomes_from_scores, pairwise_accuracy
from coala_lib.core.records import RecordError, read_jsonl_records, read_record
from coala_lib.core.runtime import progress_off, resolve_device, seed_everything, synchronize, timed

__all__ = [
    "CacheError",
    "HubUnavailableError",
    "RecordError",
    "atomic_write_bytes",
    "atomic_write_json",
    "cache_dir",
    "content_key",
    "data_dir",
    "environment_record",
    "load_cached",
    "outcomes_from_scores",
    "pairwise_accuracy",
    "progress_off",
    "publishing",
    "read_handoff",
    "read_jsonl_records",
    "read_record",
    "resolve_device",
    "results_dir",
    "results_file",
    "seed_everything",
    "synchronize",
    "timed",
    "validate_features",
    "validate_targets",
    "write_handoff",
]
