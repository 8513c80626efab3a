"""Fixtures shared by the test files (the seeded ``tiny`` backbone, built once per session; a toy
generator and judge for the generated IMDb variant) and the ``book`` marker of the fast lane.

Tests that need the built book (the ``html`` and ``browser`` fixtures of test_book.py and
test_browser.py) are marked ``book`` here, so ``scripts/test.sh --fast`` (``-m "not slow and not book"``)
leaves them, with nbval, to the full lane.

``tiny`` is the randomly initialised two-layer Llama of :func:`coala_lib.backbone.registry.build_tiny`
(seed 0, CPU, GPT-2's BPE). Tests only read it (the baselines train deep copies); a test that modifies
the model in place (SFT merges) builds its own with ``fresh_tiny()``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from coala_lib.backbone.registry import Backbone, load_backbone


@pytest.fixture(scope="session")
def tiny() -> Backbone:
    """The shared read-only ``tiny`` backbone (seed 0) on the CPU."""
    return load_backbone("tiny", device="cpu", seed=0)


@pytest.fixture
def fresh_tiny() -> Callable[..., Backbone]:
    """A factory of new ``tiny`` backbones (``fresh_tiny(seed=1)``) for tests that modify or compare models."""

    def build(seed: int = 0) -> Backbone:
        return load_backbone("tiny", device="cpu", seed=seed)

    return build


class ToyPairGenerator:
    """Continues each prompt with a (rejected, chosen) pair, " it was awful" / " it was great", and counts
    the prompts of each call in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, prompts: list[str]) -> list[tuple[str, str]]:
        self.calls.append(len(prompts))
        return [(p + " it was awful", p + " it was great") for p in prompts]


class ToyJudge:
    """A sentiment judge that finds "great" positive (0.9) and everything else negative (0.1)."""

    key = "toy-judge"

    def positivity(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([0.9 if "great" in t else 0.1 for t in texts])


@pytest.fixture
def toy_generator() -> ToyPairGenerator:
    """A fresh :class:`ToyPairGenerator` (its ``calls`` start empty)."""
    return ToyPairGenerator()


@pytest.fixture
def toy_judge() -> ToyJudge:
    """The :class:`ToyJudge`."""
    return ToyJudge()


#: Fixtures that build the Jupyter Book (minutes): their tests belong to the full lane.
BOOK_FIXTURES = {"html", "browser", "phone", "chromium"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a book-building fixture ``book``."""
    for item in items:
        # a test that asks for a browser by name (request.getfixturevalue) names none of them: its module does
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.name == "test_browser.py":
            item.add_marker(pytest.mark.book)
