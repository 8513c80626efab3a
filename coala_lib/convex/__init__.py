"""Phase I: activation patterns, the convex and non-convex two-layer models, recovery of the network,
CRONOS (ADMM) and its linear algebra (PCG, Nystrom, Kronecker-sum preconditioners).
"""

from coala_lib.convex.cronos import (
    CronosHistory,
    CronosResult,
    SystemOperator,
    fit_cronos,
    group_soft_threshold,
    project_nonnegative,
)
from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, PCGResult, pcg
from coala_lib.convex.reformulation import (
    ActivationPatterns,
    ConstraintViolation,
    ConvexGatedReLU,
    ConvexReLU,
    LinearMaps,
    RecoveryGap,
    group_norms,
    recovery_gap,
    sample_gates,
)
from coala_lib.convex.two_layer import GatedTwoLayer, TrainHistory, TwoLayerReLU, init_two_layer, train_two_layer

__all__ = [
    "ActivationPatterns",
    "BlockNystromPreconditioner",
    "ConstraintViolation",
    "ConvexGatedReLU",
    "ConvexReLU",
    "CronosHistory",
    "CronosResult",
    "GatedTwoLayer",
    "KroneckerSumInverse",
    "LinearMaps",
    "NystromPreconditioner",
    "PCGResult",
    "RecoveryGap",
    "SystemOperator",
    "TrainHistory",
    "TwoLayerReLU",
    "build_block_nystrom",
    "build_nystrom",
    "fit_cronos",
    "group_norms",
    "group_soft_threshold",
    "init_two_layer",
    "pcg",
    "project_nonnegative",
    "recovery_gap",
    "sample_gates",
    "train_two_layer",
]
