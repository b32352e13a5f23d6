"""The import structure of ``accelsim`` and ``codesign``, read from the source with ``ast`` (nothing is
imported, so the test takes milliseconds and needs no optional package).

Every ``import`` and ``from ... import`` statement counts, absolute or relative, at module level or
inside a function (a lazy import runs too, only later); those under ``if TYPE_CHECKING:`` do not, as
they never run. ``from X import name`` is an import of the module ``X.name`` when there is one, else of
``X``. Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``, but that is not counted as an
edge: Python imports a package before any of its submodules, so a package ``__init__`` importing its
own submodules is not a cycle.

Two rules:

- a library module never imports a command-line module (``accelsim.cli``, ``codesign.cli``): the CLIs
  sit on top of the libraries, and anything they share lives in a library module (``accelsim.io``
  for file I/O). Only the CLI modules themselves (``codesign.cli`` builds on ``accelsim.cli``), a
  ``__main__`` module and the tests may import one; the scripts in ``experiments/`` and
  ``benchmarks/`` may not either.
- there is no import cycle among the project's modules (each failure names one cycle, with the line
  of each import in it).
- inside ``codesign`` imports run only downward through its layers (``CODESIGN_LAYERS``): the base
  modules, then ``spaces``, then ``estimator`` and ``accuracy``, then ``search`` and ``supernet``,
  then ``monotonicity`` (it uses the Pareto code of ``search``), then the CLI. A module imports its
  own subpackage or a lower layer; two subpackages on one layer do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accelsim", "codesign")
SCRIPT_DIRS = ("experiments", "benchmarks", "examples")
CLI_MODULES = frozenset({"accelsim.cli", "codesign.cli"})
# Cycles that are known and wait for a restructure, as frozensets of their modules, each with the
# reason; none today.
KNOWN_CYCLES: dict = {}
# codesign's layers, lowest first: a module may import modules of its own subpackage or of a lower layer.
CODESIGN_LAYERS = (("codesign", "codesign._lazy", "codesign.errors", "codesign.identity", "codesign.runners"),
                   ("codesign.spaces",),
                   ("codesign.estimator", "codesign.accuracy"),
                   ("codesign.search", "codesign.supernet"),
                   ("codesign.monotonicity",),
                   ("codesign.cli",))


def project_modules() -> dict:
    """Dotted module name -> (source file, whether it is a package ``__init__``)."""
    found = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            is_pkg = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import / ImportFrom node, anywhere, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, modules) -> "str | None":
    """The project module a dotted name lands in (its longest prefix that is one), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, module: str, is_pkg: bool, modules) -> dict:
    """Project modules that ``path`` (module ``module``) imports -> the line of the first such import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if is_pkg else module.rpartition(".")[0]
    found: dict = {}
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [_resolve(a.name, modules) for a in node.names]
        else:
            if node.level:
                base = package.split(".") if package else []
                if node.level - 1 > len(base):
                    continue   # beyond the top-level package: not a project import
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else _resolve(source, modules)
                       for a in node.names]
        for t in targets:
            if t is not None and t != module:
                found[t] = min(found.get(t, node.lineno), node.lineno)
    return found


def import_graph() -> dict:
    """Module -> {imported project module: line}."""
    modules = project_modules()
    return {m: imports_of(f, m, is_pkg, modules) for m, (f, is_pkg) in modules.items()}


def find_cycles(graph: dict) -> list:
    """One cycle ``[m0, m1, ..., m0]`` per strongly connected component of more than one module (or a
    module importing itself), found with Tarjan's algorithm, iteratively."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in graph.get(v, ()):
                        components.append(comp)
    return [_cycle_in(graph, comp) for comp in components]


def _cycle_in(graph: dict, comp: set) -> list:
    """A shortest cycle through the smallest module of a strongly connected component (breadth first)."""
    start = min(comp)
    parent = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return list(reversed(path)) + [start]
            if w in comp and w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {sorted(comp)}")


def describe(graph: dict, cycle: list) -> str:
    """``a (line 3) -> b (line 9) -> a``: each module with the line of its import of the next."""
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def _may_import_cli(module: str) -> bool:
    return module in CLI_MODULES or module.rpartition(".")[2] == "__main__"


# ------------------------------------------------------------------------------------------- tests
def test_the_graph_sees_every_kind_of_import():
    g = import_graph()
    assert "accelsim.errors" in g["accelsim.config"]                       # from .errors import ...
    assert "accelsim.io" in g["accelsim.workload.precision_policy"]        # from ..io import ..., in a function
    assert "accelsim.workload.torch_import" in g["accelsim.workload"]      # lazy import in __getattr__
    assert "codesign.estimator.features" in g["codesign.estimator.model"]                  # from . import features
    assert "accelsim.engine.tables" in g["codesign.estimator.features"]              # from accelsim.engine import tables
    assert "accelsim.cli" in g["codesign.cli"]                             # absolute, between the two CLIs
    assert set(g) >= {"accelsim", "accelsim.io", "codesign", "codesign.cli"}


def test_no_library_module_imports_a_cli_module():
    g = import_graph()
    bad = [f"{m} imports {t} (line {line})" for m, targets in sorted(g.items()) if not _may_import_cli(m)
           for t, line in sorted(targets.items()) if t in CLI_MODULES]
    assert not bad, "library modules must not import a command-line module: " + "; ".join(bad)


def test_no_script_imports_a_cli_module():
    modules = project_modules()
    bad = []
    for d in SCRIPT_DIRS:
        for f in sorted((ROOT / d).rglob("*.py")) if (ROOT / d).is_dir() else []:
            for t, line in imports_of(f, f.stem, False, modules).items():
                if t in CLI_MODULES:
                    bad.append(f"{f.relative_to(ROOT)} imports {t} (line {line})")
    assert not bad, "scripts must import from library modules, not a CLI: " + "; ".join(bad)


def test_no_import_cycle():
    g = import_graph()
    cycles = [c for c in find_cycles(g) if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, "import cycles: " + "; ".join(describe(g, c) for c in cycles)


def codesign_unit(module: str) -> "tuple | None":
    """(layer, unit) of a codesign module: the unit is its subpackage (the base modules are one unit);
    None for a module outside codesign."""
    for layer, units in enumerate(CODESIGN_LAYERS):
        for unit in units:
            if module == unit or (layer > 0 and module.startswith(unit + ".")):
                return layer, (unit if layer else "base")
    if module.startswith("codesign."):
        raise AssertionError(f"{module} is on no layer of CODESIGN_LAYERS; add its subpackage there")
    return None


def layer_violations(graph: dict) -> list:
    bad = []
    for m, targets in sorted(graph.items()):
        src = codesign_unit(m)
        if src is None:
            continue
        for t, line in sorted(targets.items()):
            dst = codesign_unit(t)
            if dst is None or dst[1] == src[1] or dst[0] < src[0] or m == "codesign":
                continue
            bad.append(f"{m} (layer {src[0]}) imports {t} (layer {dst[0]}) at line {line}")
    return bad


def test_codesign_imports_run_only_downward():
    bad = layer_violations(import_graph())
    assert not bad, "codesign imports must run downward through CODESIGN_LAYERS: " + "; ".join(bad)


def test_layer_rule_catches_upward_and_sideways_imports():
    g = {"codesign.spaces.space": {"codesign.search.problems": 7, "codesign.errors": 3},
         "codesign.estimator.dataset": {"codesign.accuracy.tables": 9, "codesign.estimator.model": 2,
                                        "codesign.runners": 4},
         "codesign.cli": {"codesign.supernet.train": 5}}
    assert layer_violations(g) == [
        "codesign.estimator.dataset (layer 2) imports codesign.accuracy.tables (layer 2) at line 9",
        "codesign.spaces.space (layer 1) imports codesign.search.problems (layer 3) at line 7"]


def test_known_cycle_exceptions_still_exist():
    """An exception in KNOWN_CYCLES is removed once its cycle is gone, so that it cannot come back unseen."""
    found = {frozenset(c) for c in find_cycles(import_graph())}
    assert not [sorted(k) for k in KNOWN_CYCLES if k not in found]


def test_cycle_finder_finds_and_describes_cycles():
    g = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}, "e": {"e": 5}, "f": {"a": 6}}
    cycles = find_cycles(g)
    assert sorted(map(tuple, cycles)) == [("a", "b", "c", "a"), ("e", "e")]
    assert describe(g, ["a", "b", "c", "a"]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    assert find_cycles({"a": {"b": 1}, "b": {}, "c": {"a": 2}}) == []
