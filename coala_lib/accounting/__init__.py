"""Counted FLOPs, peak memory and synchronised time of a stage, as a JSON record."""

from coala_lib.accounting.counting import (
    ResultRecord,
    StageRecord,
    count_flops,
    decoder_forward_flops,
    decoder_linear_params,
    flop_counter,
    measure,
    package_versions,
)

__all__ = [
    "ResultRecord",
    "StageRecord",
    "count_flops",
    "decoder_forward_flops",
    "decoder_linear_params",
    "flop_counter",
    "measure",
    "package_versions",
]
