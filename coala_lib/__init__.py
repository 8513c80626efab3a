"""coala_lib: the library behind the COALA reproducibility book.

Each module owns one concept of the paper (Feng & Pilanci, ICML 2026); the notebooks under
``notebooks/`` only call into it. See ``ARCHITECTURE`` in the book's introduction for the map.
"""

import warnings

__version__ = "0.1.0"

# Known, harmless third-party warnings, silenced once for every process that imports coala_lib (their
# text carries the building machine's paths into executed pages): tqdm.auto in a kernel without
# ipywidgets falls back to text bars, and TRL/PEFT still read a transformers property renamed in v5.
warnings.filterwarnings("ignore", message="IProgress not found")
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """The library's own warnings (an uncertified solve, a damaged cache entry) are shown as
    ``Category: message``: their text says what happened and what to do, while the file and line of the
    library that raised them would only print the reader's install path into every executed page."""
    if category.__module__.startswith("coala_lib."):
        return f"{category.__name__}: {message}\n"
    return _default_format_warning(message, category, filename, lineno, line)


_default_format_warning = warnings.formatwarning
warnings.formatwarning = _format_warning
