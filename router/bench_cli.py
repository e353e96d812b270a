"""``router bench``: the benchmark harness of the ``benchmarks`` package (a source checkout)."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from router.cli import register_command


def _add(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmark the solvers (see benchmarks/README.md)")
    try:
        from benchmarks.cli import add_arguments
    except ImportError:  # installed without the benchmarks package
        p.add_argument("rest", nargs=argparse.REMAINDER)
        return
    add_arguments(p)


def _run(args: argparse.Namespace) -> int:
    try:
        from benchmarks.cli import run
    except ImportError:
        print("router bench: the benchmarks package is not installed", file=sys.stderr)
        return 2
    return run(args, " ".join(["router", *map(shlex.quote, sys.argv[1:])]))


register_command(_add, "bench", _run)
