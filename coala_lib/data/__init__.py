"""Preference datasets: the triplet schema, loaders, the Alternating Population Method, splits."""

from coala_lib.data.schema import Triplet

__all__ = ["Triplet"]
