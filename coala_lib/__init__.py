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
