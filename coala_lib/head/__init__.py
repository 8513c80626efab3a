"""Phase II and the trained head: the convex COALA loss on the frozen first layer, the saved head, the
one training call ``train_or_load_head`` and the hand-off of notebook 03's head to notebooks 04-06.
"""

from coala_lib.head.coala_head import CoalaHead
from coala_lib.head.config import Accuracy, CronosFit, HeadConfig, HeadReport, NetworkFit, PhaseTwoFit
from coala_lib.head.handoff import Trained, hand_off, handed_off_config, load_trained
from coala_lib.head.phase2 import (
    PhaseIIResult,
    compare_pairings,
    design,
    gradient,
    head_pairwise_accuracy,
    loss_value,
    margins,
    objective_agreement,
    solve_newton,
    solve_unregularised,
    train_adamw,
)
from coala_lib.head.training import (
    Normaliser,
    accuracies,
    fit_head,
    head_features,
    load_splits,
    pooling_mismatch,
    splits_features,
    stacked,
    train_or_load_head,
)

__all__ = [
    "Accuracy",
    "CoalaHead",
    "CronosFit",
    "HeadConfig",
    "HeadReport",
    "NetworkFit",
    "Normaliser",
    "PhaseIIResult",
    "PhaseTwoFit",
    "Trained",
    "accuracies",
    "compare_pairings",
    "design",
    "fit_head",
    "gradient",
    "hand_off",
    "handed_off_config",
    "head_features",
    "head_pairwise_accuracy",
    "load_splits",
    "load_trained",
    "loss_value",
    "margins",
    "objective_agreement",
    "pooling_mismatch",
    "solve_newton",
    "solve_unregularised",
    "splits_features",
    "stacked",
    "train_adamw",
    "train_or_load_head",
]
