"""numba, imported for the engine without the cost of numba's BLAS probe; or plain Python kernels.

When :mod:`accelsim._jit` says this process runs the kernels interpreted, ``njit`` leaves each
function as it is, ``prange`` is ``range`` and numba is never imported.

When numba first loads or compiles a function it imports ``numba.np.arraymath``, which probes for a
BLAS by importing ``scipy.linalg`` (and, through it, much of scipy): about 0.3 s of CPU, a third of a
whole ``accelsim simulate`` command, for linear algebra the kernels never call (they use no
``np.dot``, ``@`` or ``np.linalg``). Where scipy is installed and not yet imported, the probe is
answered "no BLAS" at once. In this process numba-compiled code then cannot call BLAS routines
(``np.dot`` on arrays and ``np.linalg``), which only matters to other numba code run beside the
engine: set ``ACCELSIM_NUMBA_BLAS=1`` to keep numba's probe. Imported scipy stays whole: only the
probe's import is answered, and ``import scipy.linalg`` works as usual afterwards.
"""

from __future__ import annotations

import os
import sys

from .._jit import interpreted


def _import_without_blas_probe() -> None:
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules or os.environ.get("ACCELSIM_NUMBA_BLAS"):
        return
    sys.modules["scipy.linalg"] = None   # the probe's `import scipy.linalg.cython_blas` fails at once
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if "scipy.linalg" in sys.modules and sys.modules["scipy.linalg"] is None:
            del sys.modules["scipy.linalg"]


def _plain(*args, **options):
    """``njit`` for interpreted kernels: the function itself, as a decorator with or without options."""
    if len(args) == 1 and callable(args[0]) and not options:
        return args[0]
    return lambda function: function


if interpreted():   # ACCELSIM_JIT=0, or a small command's choice (accelsim._jit): numba never loads
    njit, prange = _plain, range
else:
    _import_without_blas_probe()
    from numba import njit, prange  # noqa: E402

__all__ = ["njit", "prange"]
