"""One training step of the LM-updating baselines (DPO, ORPO, SFT), for measuring what a step costs.

This module exists so that the efficiency benchmark can time, count and size one optimiser step of
each baseline on random token batches at real model shapes; training the baselines for their
results is :mod:`coala_lib.baselines.trl_training`' job (TRL). The losses are the textbook ones:

* DPO (Rafailov et al. 2023), with :math:`\\ell(y \\mid x) = \\sum_{t \\in y} \\log \\pi(y_t \\mid x, y_{<t})`:

  .. math:: L = -\\log\\sigma\\big(\\beta[(\\ell_\\theta(y_w) - \\ell_{ref}(y_w)) - (\\ell_\\theta(y_l) - \\ell_{ref}(y_l))]\\big)

  The reference is a frozen copy for full-parameter DPO, or, for a LoRA policy, the same network
  with its adapters switched off (no second copy of the weights).
* ORPO (Hong et al. 2024): :math:`L = -\\bar\\ell_\\theta(y_w) - \\lambda \\log\\sigma(\\log\\mathrm{odds}(y_w) - \\log\\mathrm{odds}(y_l))`
  with :math:`\\bar\\ell` the per-token mean and :math:`\\mathrm{odds} = p/(1-p)`, :math:`p = e^{\\bar\\ell}`; no reference.
* SFT: :math:`L = -\\bar\\ell_\\theta(y_w)` on the chosen responses only.

A step's cost is therefore: policy forward + backward on chosen and rejected (DPO, ORPO) or chosen only
(SFT), plus one no-grad reference forward on both (DPO), plus the optimiser update; gradient
checkpointing adds one more forward of the decoder layers. In forward units :math:`F` (decoder body
:math:`B` plus LM head), LoRA-DPO costs about :math:`3F + B` (frozen weights need only input gradients)
and full DPO up to :math:`4F + B`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from coala_lib.backbone.lora import LORA_ALPHA, LORA_DROPOUT, LORA_R, lora_config

Method = Literal["dpo", "orpo", "sft"]
METHODS: tuple[str, ...] = ("dpo", "orpo", "sft")


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


def dpo_loss(policy_logps: torch.Tensor, reference_logps: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """Mean DPO loss; both inputs hold the chosen rows then the rejected rows, as :class:`PairBatch`."""
    if policy_logps.shape != reference_logps.shape or policy_logps.shape[0] % 2:
        raise ValueError("policy_logps and reference_logps must both be (2 * pairs,): chosen rows, then rejected rows")
    n = policy_logps.shape[0] // 2
    ratio = policy_logps - reference_logps
    return -F.logsigmoid(beta * (ratio[:n] - ratio[n:])).mean()


def orpo_loss(mean_logps: torch.Tensor, lam: float = 0.1) -> torch.Tensor:
    """Mean ORPO loss from per-token mean log-probabilities (chosen rows, then rejected rows)."""
    n = mean_logps.shape[0] // 2
    log_odds = mean_logps - torch.log1p(-torch.exp(mean_logps).clamp(max=1 - 1e-6))
    return -mean_logps[:n].mean() - lam * F.logsigmoid(log_odds[:n] - log_odds[n:]).mean()


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
    method: Method = "dpo",
    reference: Any | None = None,
    beta: float = 0.1,
    lam: float = 0.1,
) -> float:
    """One optimiser step of ``method`` on ``batch``; returns the loss.

    DPO's reference log-probabilities come from ``reference`` or, when it is ``None``, from ``policy``
    with its LoRA adapters disabled (``policy`` must then be a PEFT model).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {METHODS}")
    if method == "dpo":
        with torch.no_grad():
            if reference is not None:
                reference_logps, _ = sequence_logps(reference, *batch.rows())
            elif hasattr(policy, "disable_adapter"):
                with policy.disable_adapter():
                    reference_logps, _ = sequence_logps(policy, *batch.rows())
            else:
                raise ValueError("DPO needs a reference: pass reference=<frozen copy> or a LoRA (PEFT) policy")
        logps, _ = sequence_logps(policy, *batch.rows())
        loss = dpo_loss(logps, reference_logps, beta)
    elif method == "orpo":
        logps, counts = sequence_logps(policy, *batch.rows())
        loss = orpo_loss(logps / counts.clamp(min=1), lam)
    else:
        logps, counts = sequence_logps(policy, *batch.rows(batch.pairs))
        loss = -(logps / counts.clamp(min=1)).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()) if loss.device.type != "meta" else float("nan")


def _prepare(model: Any, gradient_checkpointing: bool) -> None:
    model.config.use_cache = False
    if gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
