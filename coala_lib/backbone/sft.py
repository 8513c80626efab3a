"""Optional Stage 0: supervised fine-tuning of the backbone with LoRA, merged into its weights.

The paper's configuration: LoRA rank :math:`r = 16`, :math:`\\alpha = 32`, dropout 0.05 on the attention and MLP
projections (``q, k, v, o, gate, up, down``; GPT-2: ``c_attn, c_proj``), one epoch over the chosen
responses. Each weight becomes :math:`W + \\frac{\\alpha}{r} B A` after merging, so the tuned backbone has the
original architecture and COALA's later stages see an ordinary model.

The loss is the causal LM loss on the response tokens of :func:`coala_lib.backbone.features.render`
(prompt tokens and padding are masked), so SFT trains on exactly the texts the features are taken
from. The trained adapter (a few MB of safetensors) is cached under ``cache_dir()/sft/<key>`` with the
key hashing the base backbone's identity, the exact triplets and every hyper-parameter, published and
read back verified by :mod:`coala_lib.core.cache`; a cache hit re-applies and merges it without training,
a damaged entry is reported with its path and trained again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from tqdm.auto import tqdm

from coala_lib.backbone.features import prompt_text, render, tokenize, triplets_digest
from coala_lib.backbone.lora import LORA_ALPHA, LORA_DROPOUT, LORA_R, lora_config
from coala_lib.backbone.registry import Backbone
from coala_lib.core.cache import CacheEntry, CacheError, load_cached, publishing
from coala_lib.core.checks import check_int, check_number
from coala_lib.core.files import atomic_write_bytes, atomic_write_json, cache_dir, content_key
from coala_lib.core.runtime import progress_off
from coala_lib.data.schema import Triplet

SFT_VERSION = 2
ADAPTER, META = "adapter.safetensors", "sft.json"
KIND = "sft"
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class SFTConfig:
    """LoRA SFT hyper-parameters (paper: r=16, alpha=32, dropout 0.05, one epoch)."""

    r: int = LORA_R
    alpha: int = LORA_ALPHA
    dropout: float = LORA_DROPOUT
    epochs: int = 1
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "epochs", "batch_size", "max_length"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("seed", self.seed)
        check_number("lr", self.lr, positive=True)
        check_number("dropout", self.dropout, minimum=0.0)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def sft_examples(backbone: Backbone, triplets: Sequence[Triplet], max_length: int) -> list[tuple[list[int], int]]:
    """Per triplet: the left-truncated token ids of ``render(prompt, chosen)`` and how many of the last
    ones are response tokens (the only ones the loss sees)."""
    tok = backbone.tokenizer
    full = tokenize(tok, [render(tok, t.prompt, t.chosen) for t in triplets], UNLIMITED)
    prompts = tokenize(tok, [prompt_text(tok, t.prompt) for t in triplets], UNLIMITED)
    return [(ids[-max_length:], max(0, min(len(ids) - len(p), max_length))) for ids, p in zip(full, prompts)]


def apply_sft(
    backbone: Backbone,
    triplets: Sequence[Triplet],
    config: SFTConfig = SFTConfig(),
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> dict[str, float | str]:
    """LoRA-tune ``backbone`` on the chosen responses and merge, **in place**; return a summary.

    ``backbone.revision`` gains ``+sft-<key>`` so feature caches and heads never confuse the tuned model
    with its base. Load a fresh backbone to get the base model back.
    """
    from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    if len(triplets) == 0:
        raise ValueError("triplets is empty: SFT needs at least one (prompt, chosen) pair")
    fields = {
        "version": SFT_VERSION,
        "backbone": backbone.identity(),
        "triplets": triplets_digest(triplets),
        "config": asdict(config),
    }
    key = content_key(fields)
    directory = cache_dir(cache_root) / "sft" / key
    lora = lora_config(backbone.model, config.r, config.alpha, config.dropout)
    torch.manual_seed(config.seed)  # the adapters' initialisation: the same run whatever came before
    peft_model = get_peft_model(backbone.model, lora)
    found = load_cached(directory, _read, kind=KIND, key=key, fields=fields, shape={"n": len(triplets)})
    cached = found is not None
    if found is not None:
        state, summary = found
        set_peft_model_state_dict(peft_model, {k: v.to(backbone.device) for k, v in state.items()})
    else:
        losses = _train(peft_model, backbone, triplets, config, progress)
        adapter = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
        summary = {"key": key, "first_loss": losses[0], "last_loss": losses[-1], "steps": len(losses), **asdict(config)}
        with publishing(directory, kind=KIND, key=key, fields=fields, shape={"n": len(triplets)}) as stage:
            atomic_write_bytes(stage.path / ADAPTER, save(adapter))
            atomic_write_json(stage.path / META, summary)
    backbone.model = peft_model.merge_and_unload()
    backbone.model.eval()
    backbone.model.requires_grad_(False)
    backbone.revision = f"{backbone.revision}+sft-{key}"
    return {**summary, "cached": cached}


def _train(
    peft_model: torch.nn.Module, backbone: Backbone, triplets: Sequence[Triplet], config: SFTConfig, progress: bool
) -> list[float]:
    """One pass of AdamW per epoch over seeded minibatches; returns the loss of every step."""
    examples = sft_examples(backbone, triplets, config.max_length)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # LoRA dropout masks
    peft_model.train()
    losses: list[float] = []
    pad = backbone.tokenizer.pad_token_id
    for _ in range(config.epochs):
        batches = torch.randperm(len(examples), generator=gen).split(config.batch_size)
        for batch in tqdm(batches, desc="LoRA SFT", disable=progress_off(progress)):
            rows = [examples[i] for i in batch.tolist()]
            width = max(len(ids) for ids, _ in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            labels = torch.full_like(ids, -100)
            for i, (seq, n_response) in enumerate(rows):  # left padding
                ids[i, width - len(seq) :] = torch.tensor(seq)
                mask[i, width - len(seq) :] = 1
                if n_response > 0:
                    labels[i, width - n_response :] = torch.tensor(seq[len(seq) - n_response :])
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            out = peft_model(
                input_ids=ids.to(backbone.device),
                attention_mask=mask.to(backbone.device),
                position_ids=positions.to(backbone.device),
                labels=labels.to(backbone.device),
            )
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            losses.append(float(out.loss.detach()))
    peft_model.eval()
    return losses


def _read(entry: CacheEntry) -> tuple[dict[str, torch.Tensor], dict]:
    """The adapter tensors and the summary of a verified SFT entry."""
    try:
        state = load(entry.read_bytes(ADAPTER))
    except SafetensorError as err:
        raise CacheError(f"cache entry {entry.path}: {ADAPTER} is not a safetensors file ({err})") from err
    summary = entry.read_json(META)
    if not isinstance(summary, dict) or summary.get("key") != entry.key:
        raise CacheError(f"cache entry {entry.path}: {META} belongs to another key than {entry.key!r}")
    return state, summary
