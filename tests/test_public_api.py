"""The codesign public API survives the split into subpackages: every earlier flat module path still
imports (as the same module object, with a DeprecationWarning naming the new home), every package
re-exports exactly the public names of its modules, and a package import stays lazy."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import codesign

ROOT = Path(__file__).resolve().parents[1]
# Names a package exports from a module that imports them (earlier releases exported them there).
KEPT = {"codesign.accuracy": {"arch_str": "tables", "op_indices": "tables"},
        "codesign.estimator": {"nb201_network": "measured", "nb201_live_edges": "measured"}}
PACKAGES = ("codesign.spaces", "codesign.estimator", "codesign.accuracy", "codesign.search", "codesign.supernet")


def _public_names(path: Path) -> set:
    """Names a module defines at top level (functions, classes, assignments) that do not start with _."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(t.id for t in ast.walk(target) if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("old, new", sorted(codesign.MOVED.items()))
def test_an_earlier_flat_path_is_the_moved_module(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert [str(w.message) for w in caught if w.category is DeprecationWarning] == \
        [f"{old} moved to {new}; import it from there"]


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_exports_every_public_name_of_its_modules(package):
    pkg = importlib.import_module(package)
    folder = ROOT / Path(*package.split("."))
    defined = {}
    for f in sorted(folder.glob("*.py")):
        if f.name != "__init__.py":
            for name in _public_names(f):
                assert name not in defined, f"{package}: {name} is defined in both {defined[name]} and {f.stem}"
                defined[name] = f.stem
    modules = {f.stem for f in folder.glob("*.py")}
    exported = {n: m for n, m in defined.items() if n not in modules}   # a submodule's name is the submodule
    exported.update(KEPT.get(package, {}))
    assert set(exported) == set(pkg.__all__), \
        f"{package}: missing {sorted(set(exported) - set(pkg.__all__))}, extra {sorted(set(pkg.__all__) - set(exported))}"
    for name in pkg.__all__:
        assert getattr(pkg, name) is getattr(importlib.import_module(f"{package}.{exported[name]}"), name)
    assert set(pkg.__all__) <= set(dir(pkg))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        getattr(pkg, "no_such_name")


def test_names_the_readme_and_the_experiments_import_still_resolve():
    from codesign.accuracy import DATASETS, DEFAULT_TABLE, NB201Table, arch_str, score  # noqa: F401
    from codesign.estimator import Estimator, TrainConfig, train_estimator  # noqa: F401
    from codesign.search import SearchResult, genome_key, random_genome, run_search  # noqa: F401
    from codesign.supernet import SKIP, SupernetConfig, latency_table, positions, train_supernet  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from codesign.dataset import DatasetRequest, generate, load_dataset  # noqa: F401
        from codesign.space import HardwareSpace, NetworkSpace, build_network, hardware_pool  # noqa: F401
        from codesign.validate import kendall_tau_b, spearman  # noqa: F401
    assert Estimator.__module__ == "codesign.estimator.model"


def test_importing_the_spaces_and_features_does_not_import_torch():
    code = ("import sys, codesign.spaces.space, codesign.estimator.features, codesign.accuracy.tables, "
            "codesign.estimator, codesign.search; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_an_alias_keeps_the_modules_own_spec():
    sys.modules.pop("codesign.runs", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module("codesign.runs")
    assert module.__spec__.name == module.__name__ == "codesign.search.runs"
