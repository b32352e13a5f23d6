"""codesign: estimator training and joint network/accelerator search on top of accelsim.

Subpackages, each importing only those listed before it (tests/test_architecture.py checks it):

- the base modules ``errors``, ``identity`` (run fingerprints and output folders) and ``runners``
  (serial, process and Ray runners for dataset shards and search batches);
- ``spaces``: network, hardware and NAS-Bench-201 spaces;
- ``estimator``: features, dataset, estimator model, measured-table estimators, validation;
- ``accuracy``: NAS-Bench-201 table, zero-shot proxies, short training, torch twins;
- ``search``: problems, algorithms, journal, Pareto fronts, run configs, runs and sweeps;
- ``supernet``: the differentiable supernet search;
- ``cli``: the ``codesign`` command.

The flat module paths of earlier releases (``codesign.space``, ``codesign.dataset``,
``codesign.runs``, ...) still import, as aliases of the modules that now hold the code, with a
DeprecationWarning naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

# Earlier flat module -> the module that holds its code now.
MOVED = {
    "codesign.space": "codesign.spaces.space",
    "codesign.nb201": "codesign.spaces.nb201",
    "codesign.features": "codesign.estimator.features",
    "codesign.baselines": "codesign.estimator.baselines",
    "codesign.dataset": "codesign.estimator.dataset",
    "codesign.measured": "codesign.estimator.measured",
    "codesign.validate": "codesign.estimator.validate",
    "codesign.torch_models": "codesign.accuracy.torch_models",
    "codesign.problems": "codesign.search.problems",
    "codesign.journal": "codesign.search.journal",
    "codesign.pareto": "codesign.search.pareto",
    "codesign.runconfig": "codesign.search.runconfig",
    "codesign.runs": "codesign.search.runs",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an earlier flat module path as the module that now holds its code (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; import it from there", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(MOVED[spec.name])
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec   # the import system set the alias's spec on it; the module keeps its own


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.append(_Alias())
