"""Counted FLOPs, peak memory and synchronised time of a stage, as a JSON record; the GPU check's record."""

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
from coala_lib.accounting.gpu_check import (
    GPU_CHECK_FILE,
    GPU_CHECK_STAGES,
    SINGLE_GPU_BYTES,
    check_gpu_check,
    find_gpu_check,
    gpu_check_summary,
    read_gpu_check,
)

__all__ = [
    "GPU_CHECK_FILE",
    "GPU_CHECK_STAGES",
    "SINGLE_GPU_BYTES",
    "ResultRecord",
    "StageRecord",
    "check_gpu_check",
    "count_flops",
    "decoder_forward_flops",
    "decoder_linear_params",
    "find_gpu_check",
    "flop_counter",
    "gpu_check_summary",
    "measure",
    "package_versions",
    "read_gpu_check",
]
