"""Lazy re-exports for the codesign subpackages (PEP 562): :func:`accelsim._lazy.lazy_exports`,
which both packages share. Each subpackage's ``__init__`` names which of its modules holds which
public name; a name is imported from its module the first time it is read."""

from __future__ import annotations

from accelsim._lazy import lazy_exports

__all__ = ["lazy_exports"]
