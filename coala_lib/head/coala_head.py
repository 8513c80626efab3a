"""The trained COALA head and its saved format.

The head scores one pooled feature vector :math:`f \\in \\mathbb{R}^d`:

.. math::  s(f) = w_2^\\top \\big(W_1 \\tilde f\\big)_+, \\qquad \\tilde f = (f - \\mu) / \\sigma,

with :math:`W_1 \\in \\mathbb{R}^{m \\times d}` from Phase I (the ReLU network recovered from the convex
program) and :math:`w_2 = \\theta_2` from Phase II. On disk a head is a directory holding
``head.safetensors`` (tensors) and ``head.json`` (everything else needed to use it: the backbone id,
pooling, Phase I/II hyper-parameters). Loading never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from coala_lib.core.files import atomic_write_bytes, atomic_write_json

HEAD_FORMAT_VERSION = 1
_TENSORS = ("W1", "w2", "feature_mean", "feature_scale")


@dataclass
class CoalaHead:
    """Two-layer ReLU scorer on normalised pooled features (see the module docstring)."""

    W1: torch.Tensor
    w2: torch.Tensor
    feature_mean: torch.Tensor
    feature_scale: torch.Tensor
    model_id: str
    pooling: str
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m, d = self.W1.shape
        if self.w2.shape != (m,):
            raise ValueError(
                f"w2 must have shape ({m},) to match W1 {tuple(self.W1.shape)}, got {tuple(self.w2.shape)}"
            )
        for name in ("feature_mean", "feature_scale"):
            if getattr(self, name).shape != (d,):
                raise ValueError(f"{name} must have shape ({d},), got {tuple(getattr(self, name).shape)}")
        if bool((self.feature_scale <= 0).any()):
            raise ValueError("feature_scale must be positive")

    @property
    def dim(self) -> int:
        return int(self.W1.shape[1])

    @property
    def width(self) -> int:
        return int(self.W1.shape[0])

    @property
    def fingerprint(self) -> str:
        """16 hex digits of the SHA-256 of the tensors as :meth:`save` writes them (float32, CPU) and of the
        backbone id and pooling: two heads score every input alike iff (up to hash collisions) these match.
        The cache key names the inputs of a fit; this names its output, which a rerun of the same fit on
        another machine reproduces only up to floating-point reduction order."""
        digest = hashlib.sha256(f"{self.model_id}\0{self.pooling}".encode())
        for name in _TENSORS:
            tensor = getattr(self, name).detach().to("cpu", torch.float32).contiguous()
            digest.update(name.encode() + repr(tuple(tensor.shape)).encode() + tensor.numpy().tobytes())
        return digest.hexdigest()[:16]

    def hidden(self, features: torch.Tensor) -> torch.Tensor:
        """First-layer activations :math:`(W_1 \\tilde f)_+`, shape (B, m)."""
        if features.shape[-1] != self.dim:
            raise ValueError(f"features have dimension {features.shape[-1]} but the head expects {self.dim}")
        W1 = self.W1.to(features.device, torch.float32)
        normed = (features.float() - self.feature_mean.to(features.device)) / self.feature_scale.to(features.device)
        return torch.relu(normed @ W1.T)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Scores :math:`s(f)` for a batch of pooled features (B, d) -> (B,)."""
        return self.hidden(features) @ self.w2.to(features.device, torch.float32)

    @classmethod
    def random(cls, dim: int, width: int, seed: int, model_id: str, pooling: str = "mean") -> CoalaHead:
        """A head of seeded Gaussian weights (:math:`W_1` scaled by :math:`1/\\sqrt d`) on unnormalised features:
        for benchmarks, whose cost does not depend on the weights."""
        g = torch.Generator().manual_seed(seed)
        W1 = torch.randn(width, dim, generator=g) / dim**0.5
        return cls(W1, torch.randn(width, generator=g), torch.zeros(dim), torch.ones(dim), model_id, pooling)

    def to(self, device: torch.device | str) -> CoalaHead:
        tensors = {name: getattr(self, name).to(device) for name in _TENSORS}
        return CoalaHead(**tensors, model_id=self.model_id, pooling=self.pooling, config=dict(self.config))

    def save(self, directory: str | Path) -> Path:
        """Write ``head.safetensors`` and ``head.json`` into ``directory`` (each atomically)."""
        path = Path(directory)
        tensors = {name: getattr(self, name).detach().to("cpu", torch.float32).contiguous() for name in _TENSORS}
        atomic_write_bytes(path / "head.safetensors", save(tensors))
        meta = {
            "format_version": HEAD_FORMAT_VERSION,
            "model_id": self.model_id,
            "pooling": self.pooling,
            "width": self.width,
            "dim": self.dim,
            "config": self.config,
        }
        atomic_write_json(path / "head.json", meta)
        return path

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | str = "cpu") -> CoalaHead:
        path = Path(directory)
        meta_path, tensor_path = path / "head.json", path / "head.safetensors"
        if not meta_path.is_file() or not tensor_path.is_file():
            raise FileNotFoundError(f"{path} is not a saved head: it needs head.json and head.safetensors")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != HEAD_FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')} is not {HEAD_FORMAT_VERSION}")
        tensors = load_file(str(tensor_path), device=str(device))
        missing = [name for name in _TENSORS if name not in tensors]
        if missing:
            raise ValueError(f"{tensor_path} lacks tensors {missing}")
        return cls(
            **{n: tensors[n] for n in _TENSORS},
            model_id=meta["model_id"],
            pooling=meta["pooling"],
            config=meta.get("config", {}),
        )
