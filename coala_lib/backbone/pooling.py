"""Masked pooling of last-layer hidden states into one feature vector per text: one object per pooling.

Feature extraction for training, the running features of every prefix of a text, and reward-guided
decoding's KV-cached features all come from the same :class:`Pooling`, so the head always sees
features built the same way (the reference code trains on one pooling and decodes with another).
Each pooling has three forms that agree to float tolerance (``tests/test_pooling.py`` checks every
registered one):

* **batch**, :meth:`Pooling.batch`: hidden states (B, T, d) and attention mask (B, T) to (B, d), the
  pooling of each row's real tokens (any padding side);
* **running**, :meth:`Pooling.running`: (B, T, d) to (B, T, d), row ``b`` at position ``t`` pooling that
  row's real tokens up to and including ``t``: the features of every prefix from one forward pass;
* **incremental**, :meth:`Pooling.incremental`: a :class:`PoolState` started from a prompt's hidden
  states and extended one token at a time, the form :class:`coala_lib.guidance.lm.CachedPrefix` uses
  to score one-token extensions of growing prefixes. It is optional; the KV-cached decoder refuses a
  pooling without it.

The registered poolings (:data:`POOLING_TABLE`):

* ``mean``: :math:`f = \\sum_t m_t h_t / \\sum_t m_t` over real (unpadded) tokens.
* ``last``: :math:`f = h_{t^*}` with :math:`t^*` the last real token (works for left or right padding).

Configs, saved heads and feature-cache keys name a pooling by its string (:data:`POOLINGS`);
:func:`pool` and :func:`get_pooling` accept a name or a :class:`Pooling`. A new pooling is a
:class:`Pooling` registered here with :func:`register_pooling`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


class PoolState(Protocol):
    """The incremental form's state: the pooled features of a batch of B growing prefixes.

    States are immutable: :meth:`append` returns the state of the extended prefixes.
    """

    def features(self) -> torch.Tensor:
        """Pooled features (B, d) of the current prefixes."""
        ...

    def extended(self, hidden: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, k, d) of each prefix extended by one of k tokens, whose last-layer
        hidden states are ``hidden`` (B, k, d) (each extension alone; the state is unchanged)."""
        ...

    def append(self, hidden: torch.Tensor, keep: torch.Tensor) -> PoolState:
        """The state after one more token per row, with hidden state ``hidden`` (B, d); rows where the
        bool ``keep`` (B,) is False get a padding slot (their features are unchanged)."""
        ...


BatchForm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(hidden (B, T, d), attention mask (B, T)) -> pooled (B, d); inputs already checked."""
RunningForm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(hidden (B, T, d), attention mask (B, T)) -> pooled prefixes (B, T, d); inputs already checked."""
IncrementalForm = Callable[[torch.Tensor, torch.Tensor], PoolState]
"""(prompt hidden (B, T, d), attention mask (B, T)) -> the state of the prompts; inputs already checked."""


def _check(hidden: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if hidden.ndim != 3:
        raise ValueError(f"hidden must have shape (batch, tokens, dim), got {tuple(hidden.shape)}")
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} does not match hidden's "
            f"(batch, tokens) = {tuple(hidden.shape[:2])}"
        )
    if bool((attention_mask.sum(dim=1) == 0).any()):
        raise ValueError("a row of attention_mask has no real token; every text needs at least one token")


@dataclass(frozen=True)
class Pooling:
    """One pooling in its three forms (see the module docstring); the forms get checked inputs."""

    name: str
    batch_form: BatchForm
    running_form: RunningForm
    incremental_form: IncrementalForm | None = None

    @property
    def has_incremental(self) -> bool:
        """Whether the KV-cached decoder can use this pooling."""
        return self.incremental_form is not None

    def batch(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool ``hidden`` (B, T, d) over the tokens where ``attention_mask`` (B, T) is 1 into (B, d)."""
        _check(hidden, attention_mask)
        return self.batch_form(hidden, attention_mask)

    def running(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled features of every prefix, (B, T, d), in one call.

        Position ``t`` of row ``b`` is ``batch`` of row ``b`` cut after token ``t``: the pooling of its
        real tokens up to and including ``t`` (the same for ``t`` and the next real token's position minus
        one, so with right padding the positions after the text repeat the whole text's features). Before
        a row's first real token (left padding) it is zero. For the features of a response after its
        first ``n`` tokens, index the position of its ``n``-th token: with one left-padded batch of
        prompt + response, ``running(hidden, mask)[:, T - R + n - 1]`` for responses of R tokens right
        after the prompt. Costs O(B T d) (cumulative sums for ``mean``), like one ``batch`` call.
        """
        _check(hidden, attention_mask)
        return self.running_form(hidden, attention_mask)

    def incremental(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> PoolState:
        """The incremental form's state of the prompts whose hidden states are ``hidden`` (B, T, d)."""
        if self.incremental_form is None:
            raise ValueError(
                f"pooling {self.name!r} has no incremental form; give its Pooling an incremental_form "
                "(a PoolState factory) in coala_lib.backbone.pooling"
            )
        _check(hidden, attention_mask)
        return self.incremental_form(hidden, attention_mask)


POOLING_TABLE: dict[str, Pooling] = {}
"""Every registered :class:`Pooling` by name (add one with :func:`register_pooling`)."""


def register_pooling(pooling: Pooling) -> Pooling:
    """Add ``pooling`` to :data:`POOLING_TABLE` and return it.

    Register new poolings in this module: :data:`POOLINGS`, the names that configs accept, is fixed when
    the module is imported.
    """
    if not pooling.name or not isinstance(pooling.name, str):
        raise ValueError(f"a pooling needs a non-empty name, got {pooling.name!r}")
    if pooling.name in POOLING_TABLE:
        raise ValueError(f"a pooling named {pooling.name!r} is already registered; choose another name")
    POOLING_TABLE[pooling.name] = pooling
    return pooling


def get_pooling(pooling: str | Pooling) -> Pooling:
    """The :class:`Pooling` named ``pooling`` (a :class:`Pooling` is returned as it is)."""
    if isinstance(pooling, Pooling):
        return pooling
    found = POOLING_TABLE.get(pooling) if isinstance(pooling, str) else None
    if found is None:
        raise ValueError(f"pooling={pooling!r} is not supported; choose one of {tuple(POOLING_TABLE)}")
    return found


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str | Pooling) -> torch.Tensor:
    """Pool ``hidden`` (B, T, d) over the tokens where ``attention_mask`` (B, T) is 1 into (B, d).

    ``method`` is one of :data:`POOLINGS` (it usually comes from a saved head or a JSON config, so it
    is checked here rather than typed as a literal) or a :class:`Pooling`: this is its batch form.
    """
    _check(hidden, attention_mask)
    return get_pooling(method).batch_form(hidden, attention_mask)


# ------------------------------------------------------------------------------------------ mean


def _mean_batch(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.to(hidden.dtype)
    summed = torch.einsum("btd,bt->bd", hidden.float(), mask.float())
    return (summed / mask.sum(dim=1).float().unsqueeze(1)).to(hidden.dtype)


def _mean_running(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    # float64 sums, as the incremental form keeps them: no drift over long texts
    real = attention_mask.bool()
    sums = torch.where(real[..., None], hidden, 0).cumsum(dim=1, dtype=torch.float64)
    counts = real.long().cumsum(dim=1).clamp(min=1)  # 0 / 1 = 0 before the first real token
    return (sums / counts[..., None]).to(hidden.dtype)


@dataclass(frozen=True)
class MeanState:
    """Mean pooling's incremental state: the float64 sum of real tokens' hidden states and their count."""

    total: torch.Tensor  # (B, d) float64
    count: torch.Tensor  # (B,) long
    dtype: torch.dtype  # the hidden states' dtype, that of the features

    def features(self) -> torch.Tensor:
        return (self.total / self.count[:, None]).to(self.dtype)

    def extended(self, hidden: torch.Tensor) -> torch.Tensor:
        summed = self.total[:, None, :] + hidden.double()
        return (summed / (self.count[:, None, None] + 1)).to(self.dtype)

    def append(self, hidden: torch.Tensor, keep: torch.Tensor) -> MeanState:
        total = self.total + torch.where(keep[:, None], hidden, 0).double()
        return MeanState(total, self.count + keep.long(), self.dtype)


def _mean_incremental(hidden: torch.Tensor, attention_mask: torch.Tensor) -> MeanState:
    real = attention_mask.bool()
    total = torch.where(real[..., None], hidden, 0).sum(dim=1, dtype=torch.float64)
    return MeanState(total, real.sum(dim=1), hidden.dtype)


# ------------------------------------------------------------------------------------------ last


def _last_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Per row and position, the position of the last real token so far (-1 before the first)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), positions, -1)


def _last_batch(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    last = _last_index(attention_mask).max(dim=1).values
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def _last_running(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    last = _last_index(attention_mask).cummax(dim=1).values
    picked = hidden.gather(1, last.clamp(min=0)[..., None].expand_as(hidden))
    return torch.where((last >= 0)[..., None], picked, 0)


@dataclass(frozen=True)
class LastState:
    """Last pooling's incremental state: the last real token's hidden state."""

    last: torch.Tensor  # (B, d)

    def features(self) -> torch.Tensor:
        return self.last

    def extended(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden

    def append(self, hidden: torch.Tensor, keep: torch.Tensor) -> LastState:
        return LastState(torch.where(keep[:, None], hidden, self.last))


def _last_incremental(hidden: torch.Tensor, attention_mask: torch.Tensor) -> LastState:
    return LastState(_last_batch(hidden, attention_mask))


register_pooling(Pooling("mean", _mean_batch, _mean_running, _mean_incremental))
register_pooling(Pooling("last", _last_batch, _last_running, _last_incremental))

POOLINGS: tuple[str, ...] = tuple(POOLING_TABLE)
"""The registered poolings' names, what configs, saved heads and feature caches name."""
