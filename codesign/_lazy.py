"""Lazy re-exports for the codesign subpackages (PEP 562).

Each subpackage's ``__init__`` names which of its modules holds which public name; a name is imported
from its module the first time it is read. So ``from codesign.estimator import Estimator`` works, while
importing ``codesign.estimator.features`` alone (as a spawned dataset worker does) does not pull in the
estimator's torch model, and a package ``__init__`` adds no import edge (see tests/test_architecture.py).
"""

from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, table: dict) -> tuple:
    """``(__getattr__, __dir__, __all__)`` for ``package``, given ``{module: (name, ...)}``."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)   # later reads skip this function
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
