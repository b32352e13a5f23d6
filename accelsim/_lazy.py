"""Lazy re-exports for a package ``__init__`` (PEP 562), shared by ``accelsim`` and ``codesign``.

A package's ``__init__`` names which of its modules holds which public name; a name is imported from its
module the first time it is read. So ``import accelsim`` costs milliseconds and ``accelsim.simulate``
still works: the Numba kernels load only when the engine is first used, and ``accelsim --help`` or a
config error never imports numba. Likewise importing ``codesign.estimator.features`` alone (as a
spawned dataset worker does) does not pull in the estimator's torch model, and a package ``__init__``
adds no import edge (see tests/test_architecture.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys


def lazy_exports(package: str, table: dict, submodules: bool = False) -> tuple:
    """``(__getattr__, __dir__, __all__)`` for ``package``, given ``{module: (name, ...)}``.

    With ``submodules``, reading a public name that is none of those but names a submodule imports it
    (``import accelsim; accelsim.config.load_hardware(...)``, as when the package imported its
    submodules eagerly)."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            if submodules and not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}"):
                return importlib.import_module(f"{package}.{name}")   # the import sets the attribute
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)   # later reads skip this function
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
