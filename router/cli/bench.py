"""``router bench``: the benchmark harness of the ``benchmarks`` folder of a source checkout
(it is not installed with the package)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from router.cli.main import register_command


def _checkout() -> None:
    """Make the ``benchmarks`` folder beside the installed (editable) package importable."""
    root = Path(__file__).resolve().parents[2]
    if (root / "benchmarks" / "cli.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))



def _add(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmark the solvers (see benchmarks/README.md)")
    _checkout()
    try:
        from benchmarks.cli import add_arguments
    except ImportError:  # installed without the benchmarks package
        p.add_argument("rest", nargs=argparse.REMAINDER)
        return
    add_arguments(p)


def _run(args: argparse.Namespace) -> int:
    _checkout()
    try:
        from benchmarks.cli import run
    except ImportError:
        print("router bench: needs the benchmarks folder of a source checkout", file=sys.stderr)
        return 2
    return run(args, " ".join(["router", *map(shlex.quote, sys.argv[1:])]))


register_command(_add, "bench", _run)
