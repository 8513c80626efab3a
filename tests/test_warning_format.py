"""coala_lib's own warnings print without the library's file path; others keep Python's format."""

import warnings

import coala_lib  # noqa: F401  (installs the formatter)
from coala_lib.convex.cronos import UncertifiedWarning


def test_library_warnings_print_without_a_path() -> None:
    text = warnings.formatwarning("gap 0.2", UncertifiedWarning, "/some/site-packages/x.py", 3)
    assert text == "UncertifiedWarning: gap 0.2\n"


def test_other_warnings_keep_pythons_format() -> None:
    text = warnings.formatwarning("old", DeprecationWarning, "/a/b.py", 7)
    assert "/a/b.py:7" in text and "DeprecationWarning: old" in text
