"""Fixtures shared by the test files (the seeded ``tiny`` backbone, built once per session) and the
``book`` marker of the fast lane.

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


#: Fixtures that build the Jupyter Book (minutes): their tests belong to the full lane.
BOOK_FIXTURES = {"html", "browser"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a book-building fixture ``book``."""
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.book)
