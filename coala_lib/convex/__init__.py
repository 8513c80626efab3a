"""Phase I: activation patterns, the convex and non-convex two-layer models, recovery of the network,
the solvers (CRONOS = ADMM with its linear algebra: PCG, Nystrom, Kronecker-sum preconditioners;
accelerated proximal gradient and an augmented Lagrangian), the duality-gap certificate and an
interior-point reference (``coala_lib.convex.reference``, needs cvxpy).
"""

from coala_lib.convex.admm import SystemOperator
from coala_lib.convex.certificate import Certificate, certify
from coala_lib.convex.cronos import CronosConfig, CronosHistory, CronosResult, UncertifiedWarning, fit_cronos
from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, PCGResult, pcg
from coala_lib.convex.proximal import group_soft_threshold, project_nonnegative
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
    "Certificate",
    "ConstraintViolation",
    "ConvexGatedReLU",
    "ConvexReLU",
    "CronosConfig",
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
    "UncertifiedWarning",
    "build_block_nystrom",
    "build_nystrom",
    "certify",
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
