"""Preference datasets: the triplet schema, loaders, the Alternating Population Method, splits.

Entry points: :func:`load_triplets` (any dataset, validated, split) and :func:`load_imdb_reviews`
(raw IMDb reviews with +1/-1 labels).
"""

from coala_lib.data.apm import Conversation, Turn, apm_role_matrix, apm_triplets, normalize_turns, parse_hh_transcript
from coala_lib.data.imdb import load_imdb_reviews
from coala_lib.data.loaders import DATASETS, TripletDataset, load_hh_conversations, load_triplets
from coala_lib.data.schema import Triplet
from coala_lib.data.sources import DataFileError, write_jsonl_gz
from coala_lib.data.validation import CHECKS, Issue, ValidationReport

__all__ = [
    "CHECKS",
    "DATASETS",
    "Conversation",
    "DataFileError",
    "Issue",
    "Triplet",
    "TripletDataset",
    "Turn",
    "ValidationReport",
    "apm_role_matrix",
    "apm_triplets",
    "load_hh_conversations",
    "load_imdb_reviews",
    "load_triplets",
    "normalize_turns",
    "parse_hh_transcript",
    "write_jsonl_gz",
]
