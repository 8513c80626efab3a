"""Preference datasets: dataset rows to validated (prompt, chosen, rejected) triplets.

Entry points, by module (helpers stay in their modules, e.g. ``coala_lib.data.validation.build_triplets``):

* ``loaders``: :func:`load_triplets` (any dataset of :data:`DATASETS`, validated and split) returning a
  :class:`TripletDataset` of :class:`Triplet` (``schema``), and :func:`load_hh_conversations`;
* ``apm``: :func:`apm_triplets`, the Alternating Population Method on one conversation;
* ``imdb``: :func:`load_imdb_reviews` (raw reviews, +1/-1 labels) and :func:`hf_sampler` (the LM sampler of
  the generated IMDb variant);
* ``frontier_splits``: the IMDb frontier's splits (:func:`frontier_splits`) and the head study's
  (:func:`head_splits`);
* ``summary``: notebook 00's tables (:func:`counts_table`, :func:`length_frame`, :func:`show_triplet`);
* ``sources``: local ``.jsonl.gz`` copies (:func:`write_jsonl_gz`; an unreadable one is a :class:`DataFileError`).
"""

from coala_lib.data.apm import apm_triplets
from coala_lib.data.frontier_splits import FrontierData, frontier_splits, head_splits
from coala_lib.data.imdb import hf_sampler, load_imdb_reviews
from coala_lib.data.loaders import DATASETS, TripletDataset, load_hh_conversations, load_triplets
from coala_lib.data.schema import Triplet
from coala_lib.data.sources import DataFileError, write_jsonl_gz
from coala_lib.data.summary import counts_table, length_frame, show_triplet

__all__ = [
    "DATASETS",
    "DataFileError",
    "FrontierData",
    "Triplet",
    "TripletDataset",
    "apm_triplets",
    "counts_table",
    "frontier_splits",
    "head_splits",
    "hf_sampler",
    "length_frame",
    "load_hh_conversations",
    "load_imdb_reviews",
    "load_triplets",
    "show_triplet",
    "write_jsonl_gz",
]
