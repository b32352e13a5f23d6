"""The ending every experiment script shares: run the work (an input error is one line and status 2),
then write ``<out>.json``, ``.md`` and ``.png`` atomically, the command first in the JSON and Markdown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from accelsim.errors import AccelsimError
from accelsim.io import write_atomic
from codesign.errors import CodesignError


def finish(script: str, argv: list, out: Path, work, markdown, plot) -> int:
    """``work()`` -> result dict (its command is set here), written as ``out`` .json/.md/.png by
    ``markdown(result)`` and ``plot(result, path)``; returns the exit status."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        res = work()
    except (AccelsimError, CodesignError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res["command"] = " ".join([f"python experiments/{script}"] + list(argv))
    write_atomic(out.with_suffix(".json"), json.dumps(res, indent=1))
    text = markdown(res)
    write_atomic(out.with_suffix(".md"), text)
    plot(res, out.with_suffix(".png"))
    print(text)
    print(f"-> {out.with_suffix('.md')}, .json, .png")
    return 0
