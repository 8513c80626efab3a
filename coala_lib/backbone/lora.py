"""The paper's LoRA adapters, defined once for SFT (:mod:`coala_lib.backbone.sft`), the TRL baselines
(:mod:`coala_lib.baselines.trl_training`) and the efficiency benchmark's DPO step (:mod:`coala_lib.baselines.training_step`).

An adapted weight becomes :math:`W + \\frac{\\alpha}{r} B A` with :math:`B \\in \\mathbb R^{m \\times r}` (zero at
start) and :math:`A \\in \\mathbb R^{r \\times n}`; the paper uses :math:`r = 16`, :math:`\\alpha = 32`, dropout 0.05
on the attention and MLP projections.
"""

from __future__ import annotations

from typing import Any

import torch

LORA_R, LORA_ALPHA, LORA_DROPOUT = 16, 32, 0.05
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GPT2_TARGETS = ("c_attn", "c_proj")


def lora_targets(model: torch.nn.Module) -> list[str]:
    """The projection names LoRA adapts: GPT-2's fused ``c_attn``/``c_proj``, else the Llama-style seven."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    wanted = GPT2_TARGETS if getattr(model.config, "model_type", "") == "gpt2" else LLAMA_TARGETS
    found = [t for t in wanted if t in names]
    if not found:
        raise ValueError(f"none of the LoRA targets {wanted} exist in this {type(model).__name__}")
    return found


def lora_config(model: torch.nn.Module, r: int = LORA_R, alpha: int = LORA_ALPHA, dropout: float = LORA_DROPOUT) -> Any:
    """A PEFT ``LoraConfig`` for a causal LM, adapting :func:`lora_targets` of ``model``."""
    from peft import LoraConfig

    if r < 1 or alpha <= 0 or not 0 <= dropout < 1:
        raise ValueError(
            f"LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1, got r={r}, alpha={alpha}, dropout={dropout}"
        )
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=lora_targets(model), task_type="CAUSAL_LM"
    )
