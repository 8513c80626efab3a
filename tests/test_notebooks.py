"""Structure of the paired notebooks and freshness of their executed copies.

nbval (run on ``book/executed``) checks that the executed notebooks reproduce; these tests check
that what is executed is what is reviewed: every ``.py`` has an in-sync ``.ipynb``, follows the
notebook conventions of CONTRIBUTING.md, and has an executed copy made from its current source.
"""

from __future__ import annotations

import jupytext
import nbformat
import pytest
from notebook_checks import (
    EXECUTED,
    NOTEBOOKS,
    expected_badge,
    expected_setup_cell,
    notebook_names,
    toc_files,
)

NAMES = notebook_names()


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks() -> None:
    assert NAMES, "no notebooks/*.py found"


@pytest.mark.parametrize("name", NAMES)
def test_pair_in_sync(name: str) -> None:
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb_path = NOTEBOOKS / f"{name}.ipynb"
    assert ipynb_path.exists(), f"{name}.py has no paired .ipynb: run jupytext --sync notebooks/{name}.py"
    ipynb = jupytext.read(ipynb_path)
    assert _cells(py) == _cells(ipynb), f"run: jupytext --sync notebooks/{name}.py"


@pytest.mark.parametrize("name", NAMES)
def test_conventions(name: str) -> None:
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    first, setup, params = nb.cells[0], nb.cells[1], nb.cells[2]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "cell 1: a markdown title"
    assert expected_badge(name) in first.source, (
        f"cell 1: the Colab badge must be {expected_badge(name)} (run: python scripts/colab_cells.py)"
    )
    assert setup.cell_type == "code" and setup.source.strip() == expected_setup_cell(), (
        "cell 2 must be the Colab set-up cell of CONTRIBUTING.md, verbatim"
    )
    assert params.cell_type == "code" and "parameters" in params.metadata.get("tags", []), (
        "cell 3 must be the papermill cell tagged 'parameters'"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sys.path" not in source, "notebooks import the installed coala_lib; no sys.path edits"


@pytest.mark.parametrize("name", NAMES)
def test_in_table_of_contents(name: str) -> None:
    assert f"book/executed/{name}" in toc_files(), f"add book/executed/{name} to _toc.yml"


@pytest.mark.parametrize("name", NAMES)
def test_executed_copy_is_fresh(name: str) -> None:
    path = EXECUTED / f"{name}.ipynb"
    assert path.exists(), f"run: bash scripts/execute_notebooks.sh {name}"
    executed = nbformat.read(path, as_version=4)
    source = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    kept = nbformat.v4.new_notebook(
        cells=[c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    )
    assert _cells(kept) == _cells(source), (
        f"book/executed/{name}.ipynb was made from an older source: run bash scripts/execute_notebooks.sh {name}"
    )
    errors = [o for c in kept.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"book/executed/{name}.ipynb holds error outputs"
    assert all(c.get("execution_count") for c in kept.cells if c.cell_type == "code" and c.source.strip()), (
        f"book/executed/{name}.ipynb has unexecuted code cells"
    )
