"""coala_lib: the library behind the COALA reproducibility book.

Each module owns one concept of the paper (Feng & Pilanci, ICML 2026); the notebooks under
``notebooks/`` only call into it. See ``ARCHITECTURE`` in the book's introduction for the map.
"""

__version__ = "0.1.0"
