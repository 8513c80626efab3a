"""The library's dependency contract: stages import only themselves and lower stages.

Order of the pipeline (lowest first): core, data, backbone, convex, head, guidance, baselines,
evaluation, accounting, claims, experiments (the experiments the benchmarks run, e.g. the IMDb
frontier); ``chapters`` (notebook-only experiments and figures) sits on top and nothing in the library
imports it. Function-local imports count too: hiding an upward import inside a function does not make it
acceptable. No library module imports ``bench/``, whose scripts are thin command lines over the library
(the frontier's under 300 lines).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "coala_lib"
STAGES = [
    "core",
    "data",
    "backbone",
    "convex",
    "head",
    "guidance",
    "baselines",
    "evaluation",
    "accounting",
    "claims",
    "experiments",
    "chapters",
]
BENCH = LIB.parent / "bench"
#: The most lines a benchmark that is a command line over a library package may have.
THIN_BENCHES = {"imdb_frontier.py": 300}
#: Library packages held to the size rules (every stage): no module over 600 lines, no function over 80.
SIZED = STAGES
#: Benchmark functions still over 80 lines, by file (each is being shortened; the test below fails once one
#: is short, so that its entry is removed and the list cannot go stale).
LONG_BENCH_FUNCTIONS: dict[str, str] = {}


def _stage(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "coala_lib" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[str]:
    package = ".".join(path.relative_to(LIB.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "coala_lib":
                found += [f"coala_lib.{alias.name}" for alias in node.names]
            else:
                found.append(module)
    return found


MODULES = sorted(p for p in LIB.rglob("*.py") if p.parent != LIB)


def test_every_module_sits_in_a_known_stage() -> None:
    stages = {p.relative_to(LIB).parts[0] for p in MODULES}
    assert stages == set(STAGES)
    top_level = sorted(p.name for p in LIB.glob("*.py"))
    assert top_level == ["__init__.py"], f"modules outside a stage folder: {top_level}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_imports_point_down_the_pipeline(path: Path) -> None:
    own = path.relative_to(LIB).parts[0]
    upward = []
    for module in _imports(path):
        stage = _stage(module)
        if stage is None:
            continue
        if stage not in STAGES:
            upward.append(f"{module} (not a stage)")
        elif STAGES.index(stage) > STAGES.index(own):
            upward.append(module)
    assert not upward, f"{path.relative_to(LIB)} ({own}) imports higher stages: {upward}"


def test_nothing_in_the_library_imports_the_chapter_helpers() -> None:
    offenders = [
        str(p.relative_to(LIB))
        for p in MODULES
        if p.relative_to(LIB).parts[0] != "chapters" and any(_stage(m) == "chapters" for m in _imports(p))
    ]
    assert not offenders


def test_no_import_cycles_between_modules() -> None:
    graph = {}
    for path in MODULES:
        name = ".".join(path.relative_to(LIB.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        graph[name] = {m for m in _imports(path) if m.startswith("coala_lib.") and m != name}
    names = set(graph)

    def resolve(module: str) -> str | None:
        while module and module not in names:
            module = module.rpartition(".")[0]
        return module or None

    edges = {
        n: {r for m in deps if (r := resolve(m)) and r != n and not n.startswith(r + ".")} for n, deps in graph.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                raise AssertionError(
                    "import cycle: " + " -> ".join(trail[trail.index(nxt) :] + [nxt])
                    if nxt in trail
                    else f"cycle through {nxt}"
                )
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n, [n])


def test_no_library_module_imports_the_benchmarks() -> None:
    """``bench/`` scripts are command lines over the library: the library never imports one (by name, or by
    path through importlib)."""
    offenders = []
    for path in sorted(LIB.rglob("*.py")):
        names = [m for m in _imports(path) if m.split(".")[0] == "bench" or m.split(".")[0].startswith("bench_")]
        text = path.read_text()
        loads = [word for word in ("spec_from_file_location", "load_bench", "runpy") if word in text]
        if names or loads:
            offenders.append(f"{path.relative_to(LIB)}: {names + loads}")
    assert not offenders


@pytest.mark.parametrize("name", sorted(THIN_BENCHES))
def test_thin_benchmarks_stay_thin(name: str) -> None:
    lines = len((BENCH / name).read_text().splitlines())
    assert lines < THIN_BENCHES[name], (
        f"bench/{name} has {lines} lines: move what is not the command line to the library"
    )


def _long_functions(text: str) -> dict[str, int]:
    """The functions (methods and nested ones included) over 80 lines, with their lengths."""
    return {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80
    }


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.relative_to(LIB).parts[0] in SIZED], ids=lambda p: str(p.relative_to(LIB))
)
def test_modules_and_functions_stay_short(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= 600, f"{path.relative_to(LIB)} has {len(text.splitlines())} lines"
    long = [f"{name} ({lines} lines)" for name, lines in _long_functions(text).items()]
    assert not long, f"{path.relative_to(LIB)}: functions over 80 lines: {long}"


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_benchmark_functions_stay_short(path: Path) -> None:
    long = _long_functions(path.read_text())
    allowed = LONG_BENCH_FUNCTIONS.get(path.name)
    if allowed is not None:
        assert allowed in long, f"bench/{path.name}: {allowed} is no longer long: drop it from LONG_BENCH_FUNCTIONS"
    over = [f"{name} ({lines} lines)" for name, lines in long.items() if name != allowed]
    assert not over, f"bench/{path.name}: functions over 80 lines: {over}"


def test_long_benchmark_allow_list_names_existing_files() -> None:
    missing = sorted(name for name in LONG_BENCH_FUNCTIONS if not (BENCH / name).is_file())
    assert not missing, f"LONG_BENCH_FUNCTIONS names files bench/ lacks: {missing}"


#: The imports of a module inside a stage (not a stage package) that benchmarks still make, file -> modules:
#: each is a name its package does not export (or a benchmark another change is still moving). An entry
#: that no longer matches the script fails too, so the list cannot go stale: shrink it as imports move.
BENCH_DEEP_IMPORTS = {
    "gpu_check.py": {"coala_lib.baselines.trl_training"},  # PAPER_TRAINING_ARGS
    "head_selection.py": {"coala_lib.head.selection"},  # FeatureChoice, StudyConfig, run_study
    "solver.py": {
        "coala_lib.backbone.encoders",
        "coala_lib.backbone.registry",
        "coala_lib.convex.config",
        "coala_lib.convex.cronos",
        "coala_lib.convex.reference",
        "coala_lib.convex.reformulation",
        "coala_lib.core.files",
        "coala_lib.core.runtime",
        "coala_lib.data.imdb",
        "coala_lib.head.config",
        "coala_lib.head.training",
    },
}


def _is_package(dotted: str) -> bool:
    return (LIB.parent.joinpath(*dotted.split(".")) / "__init__.py").exists()


def _bound_names(package: str) -> set[str]:
    """The names a package's ``__init__`` binds at its top level (what ``from package import name`` reads)."""
    tree = ast.parse((LIB.parent.joinpath(*package.split(".")) / "__init__.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _library_modules_imported(path: Path) -> set[str]:
    """Every ``coala_lib`` module ``path`` imports, function-local imports included; ``from package import
    module`` counts as the module unless the package's ``__init__`` binds that name itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            bound = _bound_names(node.module) if _is_package(node.module) else set()
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                is_module = LIB.parent.joinpath(*child.split(".")).with_suffix(".py").exists() or _is_package(child)
                found.add(child if is_module and alias.name not in bound else node.module)
    return {m for m in found if _stage(m) is not None}


def test_benchmarks_import_the_library_through_stage_packages() -> None:
    """``bench/`` imports ``coala_lib.<stage>`` (or a package inside one, e.g. ``coala_lib.experiments.frontier``),
    not the modules behind it, except the allow-listed :data:`BENCH_DEEP_IMPORTS`."""
    deep = {}
    for path in sorted(BENCH.glob("*.py")):
        modules = {m for m in _library_modules_imported(path) if not _is_package(m)}
        if modules:
            deep[path.name] = modules
    new = {name: sorted(extra) for name, mods in deep.items() if (extra := mods - BENCH_DEEP_IMPORTS.get(name, set()))}
    gone = {name: sorted(stale) for name, mods in BENCH_DEEP_IMPORTS.items() if (stale := mods - deep.get(name, set()))}
    assert not new, (
        f"benchmarks import modules inside a stage: {new}; import the name from its stage package (add it to the "
        "package's __init__ when it is an entry point)"
    )
    assert not gone, f"BENCH_DEEP_IMPORTS lists imports the benchmarks no longer make: {gone}"


NOTEBOOKS = LIB.parent / "notebooks"
#: The packages notebooks import the library through: each stage's, and the chapters' figures.
NOTEBOOK_PACKAGES = {f"coala_lib.{stage}" for stage in STAGES} | {"coala_lib.chapters.plots"}
#: The imports of anything else that notebooks still make, notebook -> modules, each with its reason (a name
#: clash between two modules of one stage, say). As for the benchmarks, an entry that no longer matches the
#: notebook fails too, so the list cannot go stale. Empty: every notebook imports through the packages
#: (``from coala_lib.claims import ledger, paper`` reads submodules the package binds itself).
NOTEBOOK_DEEP_IMPORTS: dict[str, set[str]] = {}


def test_notebooks_import_the_library_through_stage_packages() -> None:
    """``notebooks/*.py`` import ``coala_lib.<stage>`` or ``coala_lib.chapters.plots`` (function-local imports
    included), not the modules behind them, except the allow-listed :data:`NOTEBOOK_DEEP_IMPORTS`."""
    deep = {}
    for path in sorted(NOTEBOOKS.glob("*.py")):
        modules = _library_modules_imported(path) - NOTEBOOK_PACKAGES
        if modules:
            deep[path.name] = modules
    new = {
        name: sorted(extra) for name, mods in deep.items() if (extra := mods - NOTEBOOK_DEEP_IMPORTS.get(name, set()))
    }
    gone = {
        name: sorted(stale) for name, mods in NOTEBOOK_DEEP_IMPORTS.items() if (stale := mods - deep.get(name, set()))
    }
    assert not new, (
        f"notebooks import modules inside a stage: {new}; import the name from its stage package (add it to the "
        "package's __init__ and __all__)"
    )
    assert not gone, f"NOTEBOOK_DEEP_IMPORTS lists imports the notebooks no longer make: {gone}"
