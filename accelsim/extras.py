"""Optional parts of the install (extras), and the one-line error when one is missing.

``pip install accelsim-codesign`` gives the simulator (engine, system model, ``accelsim`` command, the
models built directly in the IR). The rest comes with extras::

    pip install "accelsim-codesign[torch]"      # torch: from_torch, the traced zoo models
    pip install "accelsim-codesign[codesign]"   # torch, optuna, pyarrow: codesign
    pip install "accelsim-codesign[onnx]"       # onnx: from_onnx, --model FILE.onnx
    pip install "accelsim-codesign[ray]"        # ray: the ray runner of codesign
    pip install "accelsim-codesign[all]"        # all of them

Library code imports a module of an extra with :func:`require` (or, for a module's own top-level
imports, inside ``with importing(...)``), which raises :class:`MissingExtraError` (an
:class:`~accelsim.errors.AccelsimError`, so both commands print it and exit with status 2) with one
line naming the extra::

    codesign.estimator needs torch: pip install "accelsim-codesign[codesign]"
"""

from __future__ import annotations

import contextlib
import importlib

from .errors import AccelsimError, one_line

DISTRIBUTION = "accelsim-codesign"


class MissingExtraError(AccelsimError):
    """A package of an optional extra is not installed (or does not import)."""


def install_command(extra: str) -> str:
    """``pip install "accelsim-codesign[EXTRA]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def require(module: str, extra: str, what: str, hint: str = ""):
    """Import and return ``module`` (e.g. ``"torch"``, ``"pyarrow.parquet"``), which the extra ``extra``
    installs; when it cannot be imported, raise :class:`MissingExtraError` with one line:
    ``WHAT needs PACKAGE: pip install "accelsim-codesign[EXTRA]"``, followed by `` (HINT)`` when given
    (an alternative that needs no extra). A package that is installed but fails to import (one of its
    own dependencies missing, say) adds the import error to the line."""
    package = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").partition(".")[0]
        problem = "" if missing == package else f" (it does not import: {type(exc).__name__}: {one_line(exc, 120)})"
        tail = f" ({hint})" if hint else ""
        raise MissingExtraError(f"{what} needs {package}{problem}: {install_command(extra)}{tail}") from None


@contextlib.contextmanager
def importing(package: str, extra: str, what: str):
    """The imports of ``package`` in the block, e.g. a module's top-level ``import torch`` lines: when
    one fails, :func:`require` ``(package, extra, what)`` turns it into the one-line
    :class:`MissingExtraError`; when ``package`` itself imports, the failed import is re-raised as it is."""
    try:
        yield
    except ImportError:
        require(package, extra, what)
        raise
