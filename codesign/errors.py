"""The error codesign raises for bad input: one line, naming the file, argument or field at fault."""

from __future__ import annotations

from accelsim.errors import AccelsimError


class CodesignError(AccelsimError):
    """A dataset, checkpoint, measurement file or request is malformed or does not match the code."""
