"""The frozen LM during decoding: next-token logits, pooled features, and candidate features.

Two implementations of one interface (:class:`Prefix`):

* :class:`CachedPrefix` (fast path) keeps a ``DynamicCache`` of the batch of prefixes and the
  pooling's incremental state (:meth:`coala_lib.backbone.pooling.Pooling.incremental`): for mean pooling
  the sum :math:`S = \\sum_t m_t h_t` and count :math:`n = \\sum_t m_t` of last-layer hidden states over
  real tokens, for last pooling the last real hidden state. The pooled feature of the prefix extended
  by candidate :math:`c` is then :math:`(S + h_c) / (n + 1)` (mean) or :math:`h_c` (last), where
  :math:`h_c` is the candidate's own last-layer state. A pooling without an incremental form is
  refused. All k candidates of a row are scored in **one forward of k tokens on the shared
  cache**: the k tokens are fed as one sequence whose 4-D attention mask lets candidate j see the real
  prefix tokens and itself only, all at the same position :math:`n`. This is the cheaper of the two
  correct options: replicating the cache k times along the batch copies
  :math:`k \\times` layers :math:`\\times` prefix length key/value vectors every guided step, while the
  mask trick reads the cache once and adds only a :math:`k \\times k` diagonal block. The chosen
  candidate's keys/values and hidden state are then kept (the cache is cropped back and the chosen
  column re-appended), so the next token's logits come free: a guided step costs one forward of
  k tokens instead of one forward of 1 token.
* :class:`RecomputedPrefix` (naive reference, what the released script does) keeps only token ids and
  re-runs the whole prefix for every next-token forward and for every candidate, pooling with
  the pooling's batch form (:func:`coala_lib.backbone.pooling.pool`).

Both expect left-padded batches; positions are ``cumsum(mask) - 1`` as in transformers' ``generate``.
Logits are ``output_embeddings(last hidden state)``, true for Llama, Mistral, Qwen and GPT-2
(models with logit soft-capping are not supported).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from transformers import DynamicCache, PreTrainedModel

from coala_lib.backbone.pooling import Pooling, PoolState, get_pooling, pool

SUPPORTED_ATTENTION = ("eager", "sdpa")


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions of real tokens counted from 0 in each row (0 on padding), as ``generate`` sets them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def check_left_padded(attention_mask: torch.Tensor) -> None:
    if attention_mask.ndim != 2:
        raise ValueError(f"attention_mask must be (batch, tokens), got shape {tuple(attention_mask.shape)}")
    if not bool(attention_mask[:, -1].all()):
        raise ValueError("every prompt must end with a real token: pad on the left (tokenizer.padding_side='left')")


class Prefix(Protocol):
    """A batch of growing prefixes: ids and mask so far, next-token logits and pooled features."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    logits: torch.Tensor
    processed_tokens: int

    def features(self) -> torch.Tensor: ...

    def candidate_features(self, candidates: torch.Tensor) -> torch.Tensor: ...

    def append(self, tokens: torch.Tensor, keep: torch.Tensor) -> None: ...


class _Backbone:
    """Shared plumbing: the base model, the output embeddings and the pooling."""

    def __init__(
        self, model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str | Pooling
    ) -> None:
        check_left_padded(attention_mask)
        if input_ids.shape != attention_mask.shape:
            raise ValueError(
                f"input_ids {tuple(input_ids.shape)} and attention_mask "
                f"{tuple(attention_mask.shape)} must have the same shape"
            )
        self.model = model
        self.base = model.base_model
        self.lm_head = model.get_output_embeddings()
        self.pooling = get_pooling(pooling)
        self.input_ids = input_ids
        self.attention_mask = attention_mask.long()
        self.processed_tokens = 0

    def _extend(self, tokens: torch.Tensor, keep: torch.Tensor) -> None:
        self.input_ids = torch.cat([self.input_ids, tokens[:, None]], dim=1)
        self.attention_mask = torch.cat([self.attention_mask, keep.long()[:, None]], dim=1)

    def _logits(self, hidden_last: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden_last).float()


class CachedPrefix(_Backbone):
    """KV-cached prefixes with incrementally pooled features (see the module docstring)."""

    def __init__(
        self, model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str | Pooling
    ) -> None:
        super().__init__(model, input_ids, attention_mask, pooling)
        if not self.pooling.has_incremental:
            raise ValueError(
                f"pooling {self.pooling.name!r} has no incremental form, so the KV-cached decoder cannot pool "
                "growing prefixes; give its Pooling an incremental_form in coala_lib.backbone.pooling or decode "
                "without the cache (GuidanceConfig(use_cache=False))"
            )
        implementation = getattr(model.config, "_attn_implementation", "eager")
        if implementation not in SUPPORTED_ATTENTION:
            raise ValueError(
                f"attention implementation {implementation!r} cannot take the candidates' 4-D mask; "
                f"load the model with attn_implementation in {SUPPORTED_ATTENTION}"
            )
        self.cache = DynamicCache(config=model.config)
        out = self.base(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=position_ids(self.attention_mask),
            cache=self.cache,
            use_cache=True,
        )
        hidden = out.last_hidden_state
        self.processed_tokens += input_ids.numel()
        self.count = self.attention_mask.sum(dim=1)  # real tokens so far: the next token's position
        self.dtype = hidden.dtype
        self.pooled: PoolState = self.pooling.incremental(hidden, self.attention_mask)
        self.logits = self._logits(hidden[:, -1])
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def features(self) -> torch.Tensor:
        """Pooled features of the current prefixes, (B, d)."""
        return self.pooled.features()

    def candidate_features(self, candidates: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, k, d) of each prefix extended by each of its candidate tokens (B, k)."""
        batch, k = candidates.shape
        past = self.attention_mask.shape[1]
        allowed = torch.zeros(batch, 1, k, past + k, dtype=torch.bool, device=candidates.device)
        allowed[..., :past] = self.attention_mask.bool()[:, None, None, :]
        allowed[..., past:] = torch.eye(k, dtype=torch.bool, device=candidates.device)
        dtype = self.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype, device=candidates.device)
        mask = mask.masked_fill(~allowed, torch.finfo(dtype).min)
        out = self.base(
            input_ids=candidates,
            attention_mask=mask,
            position_ids=self.count[:, None].expand(batch, k),
            cache=self.cache,
            use_cache=True,
        )
        hidden = out.last_hidden_state
        self.processed_tokens += candidates.numel()
        self._pending = (candidates, hidden)
        return self.pooled.extended(hidden)

    def append(self, tokens: torch.Tensor, keep: torch.Tensor) -> None:
        """Append one token per row; rows with ``keep = False`` (finished) get a masked slot.

        When every kept token was among the candidates just scored, their keys/values and hidden
        states are reused (no forward); otherwise the candidates are dropped and the tokens run.
        """
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        new: torch.Tensor | None = None
        if self._pending is not None:
            candidates, hidden = self._pending
            self._pending = None
            match = candidates == tokens[:, None]
            reusable = not bool((keep & ~match.any(dim=1)).any())
            slot = match.int().argmax(dim=1)
            past = self.attention_mask.shape[1]
            layers: list[Any] = list(self.cache.layers)  # each holds keys/values (B, heads, T, d)
            chosen = (
                [(layer.keys[rows, :, past + slot, None], layer.values[rows, :, past + slot, None]) for layer in layers]
                if reusable
                else []
            )
            self.cache.crop(-candidates.shape[1])
            for index, (keys, values) in enumerate(chosen):
                self.cache.update(keys, values, index)
            if reusable:
                new = hidden[rows, slot]
        if new is None:
            mask = torch.cat([self.attention_mask, keep.long()[:, None]], dim=1)
            out = self.base(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=self.count[:, None],
                cache=self.cache,
                use_cache=True,
            )
            self.processed_tokens += tokens.numel()
            new = out.last_hidden_state[:, 0]
        self._extend(tokens, keep)
        self.pooled = self.pooled.append(new, keep)
        self.count = self.count + keep.long()
        self.logits = self._logits(new)


class RecomputedPrefix(_Backbone):
    """No cache: every forward and every candidate re-runs the whole prefix (the reference's cost)."""

    def __init__(
        self,
        model: PreTrainedModel,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pooling: str | Pooling,
        chunk_size: int = 16,
    ) -> None:
        super().__init__(model, input_ids, attention_mask, pooling)
        if chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size} must be >= 1")
        self.chunk_size = chunk_size
        self._refresh()

    def _hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.base(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False)
        self.processed_tokens += ids.numel()
        return out.last_hidden_state

    def _refresh(self) -> None:
        self.hidden = self._hidden(self.input_ids, self.attention_mask)
        self.logits = self._logits(self.hidden[:, -1])

    def features(self) -> torch.Tensor:
        return pool(self.hidden, self.attention_mask, self.pooling)

    def candidate_features(self, candidates: torch.Tensor) -> torch.Tensor:
        batch, k = candidates.shape
        rows = []
        for b in range(batch):
            ids = torch.cat([self.input_ids[b].expand(k, -1), candidates[b, :, None]], dim=1)
            mask = torch.cat([self.attention_mask[b].expand(k, -1), torch.ones_like(candidates[b, :, None])], dim=1)
            rows.append(
                torch.cat(
                    [
                        pool(
                            self._hidden(ids[i : i + self.chunk_size], mask[i : i + self.chunk_size]),
                            mask[i : i + self.chunk_size],
                            self.pooling,
                        )
                        for i in range(0, k, self.chunk_size)
                    ]
                )
            )
        return torch.stack(rows)

    def append(self, tokens: torch.Tensor, keep: torch.Tensor) -> None:
        self._extend(tokens, keep)
        self._refresh()
