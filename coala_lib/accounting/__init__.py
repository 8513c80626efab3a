"""Accounting: what a stage costs, and the GPU check's record.

Entry points, by module (helpers stay in their modules, e.g. ``coala_lib.accounting.counting.flop_counter``):

* ``counting``: :func:`measure` (one stage's counted FLOPs, peak memory and synchronised time, a
  :class:`StageRecord`), :func:`count_flops`, :func:`decoder_forward_flops` (the analytic count), and the JSON
  :class:`ResultRecord` with its :func:`package_versions`;
* ``gpu_check``: the record ``bench/gpu_check.py`` writes (:data:`GPU_CHECK_FILE`, format
  :data:`GPU_CHECK_FORMAT`, stages :data:`GPU_CHECK_STAGES`), read and checked by :func:`read_gpu_check` and
  summarised by :func:`gpu_check_summary`.
"""

from coala_lib.accounting.counting import (
    ResultRecord,
    StageRecord,
    count_flops,
    decoder_forward_flops,
    measure,
    package_versions,
)
from coala_lib.accounting.gpu_check import (
    GPU_CHECK_FILE,
    GPU_CHECK_FORMAT,
    GPU_CHECK_STAGES,
    gpu_check_summary,
    read_gpu_check,
)

__all__ = [
    "GPU_CHECK_FILE",
    "GPU_CHECK_FORMAT",
    "GPU_CHECK_STAGES",
    "ResultRecord",
    "StageRecord",
    "count_flops",
    "decoder_forward_flops",
    "gpu_check_summary",
    "measure",
    "package_versions",
    "read_gpu_check",
]
