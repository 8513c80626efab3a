"""Phase I: activation patterns, the convex and non-convex two-layer models, recovery of the network,
the solver-neutral entry point ``fit_phase1(X, y, Phase1Config)`` and its solvers, one file each, registered in
``coala_lib.convex.solvers`` as this package imports them (``admm``: the exact ADMM; ``cronos``: CRONOS, the
paper's ADMM with PCG, Nystrom and Kronecker-sum preconditioners; ``proximal``: FISTA; ``alm``: the augmented
Lagrangian), the duality-gap certificate and an interior-point reference (``coala_lib.convex.reference``,
needs cvxpy). ``fit_cronos``/``CronosConfig`` are the deprecated flat entry point.
"""

from coala_lib.convex.admm import AdmmSettings, SystemOperator
from coala_lib.convex.alm import AlmSettings
from coala_lib.convex.certificate import Certificate, certify
from coala_lib.convex.config import Phase1Model, SolverSettings, StoppingRule
from coala_lib.convex.cronos import CronosConfig, CronosHistory, CronosResult, CronosSettings, fit_cronos
from coala_lib.convex.nystrom import (
    BlockNystromPreconditioner,
    NystromPreconditioner,
    build_block_nystrom,
    build_nystrom,
)
from coala_lib.convex.pcg import KroneckerSumInverse, PCGResult, pcg
from coala_lib.convex.phase1 import Phase1Config, Phase1History, Phase1Result, UncertifiedWarning, fit_phase1
from coala_lib.convex.proximal import FistaSettings, group_soft_threshold, project_nonnegative
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
from coala_lib.convex.solvers import SOLVERS, SolverSpec, register_solver
from coala_lib.convex.two_layer import GatedTwoLayer, TrainHistory, TwoLayerReLU, init_two_layer, train_two_layer

__all__ = [
    "SOLVERS",
    "ActivationPatterns",
    "AdmmSettings",
    "AlmSettings",
    "BlockNystromPreconditioner",
    "Certificate",
    "ConstraintViolation",
    "ConvexGatedReLU",
    "ConvexReLU",
    "CronosConfig",
    "CronosHistory",
    "CronosResult",
    "CronosSettings",
    "FistaSettings",
    "GatedTwoLayer",
    "KroneckerSumInverse",
    "LinearMaps",
    "NystromPreconditioner",
    "PCGResult",
    "Phase1Config",
    "Phase1History",
    "Phase1Model",
    "Phase1Result",
    "RecoveryGap",
    "SolverSettings",
    "SolverSpec",
    "StoppingRule",
    "SystemOperator",
    "TrainHistory",
    "TwoLayerReLU",
    "UncertifiedWarning",
    "build_block_nystrom",
    "build_nystrom",
    "certify",
    "fit_cronos",
    "fit_phase1",
    "group_norms",
    "group_soft_threshold",
    "init_two_layer",
    "pcg",
    "project_nonnegative",
    "recovery_gap",
    "register_solver",
    "sample_gates",
    "train_two_layer",
]
