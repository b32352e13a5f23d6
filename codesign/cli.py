"""``codesign`` command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description="Network/accelerator co-design on top of accelsim.")
    p.add_argument("--version", action="version", version="codesign 0.1.0")
    return p


def main(argv=None) -> int:
    build_parser().parse_args(argv)
    print("codesign: no sub-commands yet; see accelsim for simulation", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
