"""Experiments assembled from every stage below: the IMDb frontier (:mod:`coala_lib.experiments.frontier`),
whose command line is ``bench/imdb_frontier.py``.
"""

from coala_lib.experiments.frontier import FrontierConfig, run_frontier

__all__ = ["FrontierConfig", "run_frontier"]
