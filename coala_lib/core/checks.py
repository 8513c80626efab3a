"""Input checks: tensors for the solvers and models, and the parameters of configurations (what a
papermill user passes); every error names the argument, what was given and what is allowed."""

from __future__ import annotations

import torch


def feature_scale_limit(X: torch.Tensor) -> float:
    """The largest entry (in absolute value) :func:`validate_features` lets through for ``X`` of shape (n, d):
    :math:`\\sqrt{\\sqrt{M} / \\max(n, d)}` with :math:`M` the largest float32 number, whatever ``X``'s dtype
    (the solvers run in float32 on a GPU). They form Gram matrices (:math:`X^\\top X`, :math:`X X^\\top`),
    whose entries are sums of up to :math:`\\max(n, d)` products of two entries, and the factorisation
    multiplies two of those; under this limit both stay finite. For 10^6 texts of 4096 features it is about
    4e6, far above normalised features and raw last-layer hidden states (entries up to some 1e4)."""
    return float(torch.finfo(torch.float32).max) ** 0.25 / max(X.shape[0], X.shape[1], 1) ** 0.5


def validate_features(X: torch.Tensor, name: str = "X") -> None:
    """Raise a clear ``ValueError`` unless ``X`` is a finite, non-empty floating (n, d) tensor whose scale
    the solvers' factorisations can hold (:func:`feature_scale_limit`)."""
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(X.shape)}); pass at least one row and one feature")
    if not X.is_floating_point():
        raise TypeError(f"{name} must be float32 or float64, got {X.dtype}; convert with X.float() or X.double()")
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name} contains NaN or inf; drop or impute those rows before fitting")
    largest, limit = max(float(X.max()), -float(X.min())), feature_scale_limit(X)  # no copy of X
    if largest > limit:
        raise ValueError(
            f"{name} has entries as large as {largest:.3g}, above {limit:.3g}, where the solvers' Gram matrix of "
            f"{name} would overflow float32; normalise the features first (e.g. ({name} - {name}.mean(0)) / "
            f"{name}.std(0), as the COALA head's normaliser does)"
        )


def validate_targets(y: torch.Tensor, X: torch.Tensor, allow_real_targets: bool = False) -> None:
    """Raise unless ``y`` is a finite (n,) tensor matching ``X``; labels must be +-1 unless allowed."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of shape ({X.shape[0]},), got {type(y).__name__}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X {tuple(X.shape)}, got {tuple(y.shape)}")
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y contains NaN or inf")
    if not allow_real_targets and not bool(((y == 1) | (y == -1)).all()):
        bad = y[(y != 1) & (y != -1)][:3].tolist()
        raise ValueError(
            f"y must hold labels +1 (chosen) / -1 (rejected), found e.g. {bad}; map 0/1 labels with 2*y-1, "
            f"or pass allow_real_targets=True for real-valued regression targets"
        )


# ------------------------------------------------------------------ parameters (papermill, configs)


def _got(value: object) -> str:
    """How a wrong value is shown: text is called text, since papermill's ``-r`` passes every value as text."""
    if isinstance(value, str):
        return f"the text {value!r} (papermill -r passes text; pass numbers with -p)"
    return f"{value!r} ({type(value).__name__})"


def check_int(name: str, value: object, minimum: int | None = None, allow_none: bool = False) -> None:
    """Raise unless ``value`` is an integer (not a bool, a float or text) of at least ``minimum``."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        also = " or None" if allow_none else ""
        raise TypeError(f"{name} must be an integer{also}, got {_got(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")


def check_number(name: str, value: object, minimum: float | None = None, positive: bool = False) -> None:
    """Raise unless ``value`` is a finite real number (int or float, not text) >= ``minimum`` (or > 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise TypeError(f"{name} must be a finite number, got {_got(value)}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``, naming them."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, choices))}")
