"""One training step of any registered preference method, for measuring what a step costs.

This module exists so that the efficiency benchmark can time, count and size one optimiser step of each
baseline on random token batches at real model shapes; training the baselines for their results is
:mod:`coala_lib.baselines.trl_training`' job (TRL). The step's loss is the method's own
(:attr:`coala_lib.baselines.methods.PreferenceMethod.loss`: SFT, DPO, ORPO, SimPO, ...).

The reference of a method that ``uses_reference`` (DPO) is a frozen copy for full-parameter training, or,
for a LoRA policy, the same network with its adapters switched off (no second copy of the weights).
A step's cost is therefore: policy forward + backward on chosen and rejected (chosen only for a method
trained on completions: SFT), plus one no-grad reference forward on both (DPO), plus the optimiser update;
gradient checkpointing adds one more forward of the decoder layers. In forward units :math:`F` (decoder body
:math:`B` plus LM head), LoRA-DPO costs about :math:`3F + B` (frozen weights need only input gradients)
and full DPO up to :math:`4F + B`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from coala_lib.backbone.lora import LORA_ALPHA, LORA_DROPOUT, LORA_R, lora_config
from coala_lib.baselines.methods import MethodSettings, dpo_loss, orpo_loss, preference_method

__all__ = [
    "PairBatch",
    "dpo_loss",
    "full_policy",
    "lora_policy",
    "orpo_loss",
    "random_pair_batch",
    "sequence_logps",
    "train_step",
]


@dataclass
class PairBatch:
    """``pairs`` preference pairs as one batch: rows ``[:pairs]`` are prompt + chosen, ``[pairs:]`` prompt + rejected.

    ``response_mask`` is 1 on the response tokens whose log-probabilities enter the losses.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor

    def __post_init__(self) -> None:
        shape = self.input_ids.shape
        if len(shape) != 2 or shape[0] % 2 or self.attention_mask.shape != shape or self.response_mask.shape != shape:
            raise ValueError(
                f"input_ids, attention_mask and response_mask must share one (2 * pairs, T) shape; got "
                f"{tuple(shape)}, {tuple(self.attention_mask.shape)}, {tuple(self.response_mask.shape)}"
            )

    @property
    def pairs(self) -> int:
        return int(self.input_ids.shape[0]) // 2

    def rows(self, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask, response_mask)`` of the first ``stop`` rows (all by default)."""
        return self.input_ids[:stop], self.attention_mask[:stop], self.response_mask[:stop]


def random_pair_batch(
    pairs: int,
    seq_len: int,
    vocab_size: int,
    prompt_len: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> PairBatch:
    """Random tokens, ``seq_len`` per sequence (no padding), the last ``seq_len - prompt_len`` the response.

    Cost does not depend on the token values, only on the shapes. ``device="meta"`` gives shapes only.
    """
    if pairs < 1 or seq_len < 2 or vocab_size < 2:
        raise ValueError(f"need pairs >= 1, seq_len >= 2, vocab_size >= 2; got {pairs}, {seq_len}, {vocab_size}")
    prompt_len = seq_len // 2 if prompt_len is None else prompt_len
    if not 1 <= prompt_len < seq_len:
        raise ValueError(f"prompt_len must be in [1, seq_len); got {prompt_len} with seq_len={seq_len}")
    dev = torch.device(device)
    shape = (2 * pairs, seq_len)
    if dev.type == "meta":
        ids = torch.empty(shape, dtype=torch.long, device=dev)
    else:
        ids = torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(seed)).to(dev)
    mask = torch.ones(shape, dtype=torch.long, device=dev)
    response = torch.zeros(shape, dtype=torch.long)
    response[:, prompt_len:] = 1
    return PairBatch(ids, mask, response.to(dev))


def sequence_logps(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: summed log-probability of the response tokens, and the number of those tokens."""
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    logits = out.logits[:, :-1]
    labels = input_ids[:, 1:]
    weight = response_mask[:, 1:].to(torch.float32)
    token_logps = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1).float() - torch.logsumexp(logits.float(), dim=-1)
    return (token_logps * weight).sum(-1), weight.sum(-1)


def lora_policy(
    model: Any,
    r: int = LORA_R,
    alpha: int = LORA_ALPHA,
    dropout: float = LORA_DROPOUT,
    gradient_checkpointing: bool = True,
) -> Any:
    """Wrap ``model`` with the paper's LoRA adapters (:mod:`coala_lib.backbone.lora`), in training mode.

    Undo with ``policy.unload()``, which returns the base model without adapters.
    """
    from peft import get_peft_model

    _prepare(model, gradient_checkpointing)
    policy = get_peft_model(model, lora_config(model, r, alpha, dropout))
    policy.train()
    return policy


def full_policy(model: Any, gradient_checkpointing: bool = True) -> tuple[Any, Any]:
    """``(policy, reference)`` for full-parameter DPO: ``model`` made trainable and a frozen deep copy."""
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    _prepare(model, gradient_checkpointing)
    model.requires_grad_(True)
    model.train()
    return model, reference


def train_step(
    policy: Any,
    optimizer: torch.optim.Optimizer,
    batch: PairBatch,
    method: str = "dpo",
    reference: Any | None = None,
    settings: MethodSettings | None = None,
) -> float:
    """One optimiser step of ``method`` (its ``settings``, default its settings class's defaults) on ``batch``;
    returns the loss.

    The reference log-probabilities of a method that ``uses_reference`` come from ``reference`` or, when it
    is ``None``, from ``policy`` with its LoRA adapters disabled (``policy`` must then be a PEFT model).
    """
    spec = preference_method(method)
    settings = settings if settings is not None else spec.settings()
    completions = spec.dataset == "completions"
    rows = batch.rows(batch.pairs) if completions else batch.rows()
    reference_logps = _reference_logps(policy, reference, rows) if spec.uses_reference else None
    logps, counts = sequence_logps(policy, *rows)
    if completions:  # chosen rows only: pad the rejected row with the chosen one (an SFT loss never reads it)
        logps, counts = logps.repeat(2), counts.repeat(2)
    pair = (logps.view(2, -1), counts.view(2, -1), None if reference_logps is None else reference_logps.view(2, -1))
    loss = spec.loss(*pair, settings)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()) if loss.device.type != "meta" else float("nan")


@torch.no_grad()
def _reference_logps(policy: Any, reference: Any | None, rows: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if reference is not None:
        return sequence_logps(reference, *rows)[0]
    if hasattr(policy, "disable_adapter"):
        with policy.disable_adapter():
            return sequence_logps(policy, *rows)[0]
    raise ValueError("this method needs a reference: pass reference=<frozen copy> or a LoRA (PEFT) policy")


def _prepare(model: Any, gradient_checkpointing: bool) -> None:
    model.config.use_cache = False
    if gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
