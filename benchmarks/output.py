"""Where a benchmark writes: one rule for every script of benchmarks/.

- ``--update-results``: the committed results, ``benchmarks/results/`` (replacing or merging
  into the files there);
- ``-o DIR`` / ``--out DIR``: the folder DIR;
- otherwise a new folder ``benchmarks/results/runs/<script>-<UTC time>/`` (ignored by git), so
  that trying a benchmark never touches the committed results.

A script that merges into a committed file (rows per label, best plans per batch, saved runs to
resume) starts from the file in its output folder if it has one, else from the committed one
(:func:`starting_point`), and writes only to its output folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"  # the committed results
RUNS = RESULTS / "runs"  # a new folder per run unless told otherwise (git-ignored)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``-o/--out DIR`` and ``--update-results``, one or the other."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--out", metavar="DIR",
                       help="write the results to DIR (default: a new folder "
                            "benchmarks/results/runs/<script>-<UTC time>/)")
    where.add_argument("--update-results", action="store_true",
                       help="write the committed results under benchmarks/results/")


def committed(sub: str = "") -> Path:
    """The committed results folder (or its subfolder ``sub``)."""
    return RESULTS / sub if sub else RESULTS


def new_run_dir(script: str = "", runs: Path | None = None, create: bool = True) -> Path:
    """A new folder of ``runs`` (default RUNS) named ``<script>-<UTC time>`` (``<UTC time>``
    without a script); created (unless ``create`` is false) so that two runs in the same
    second get their own."""
    runs = RUNS if runs is None else runs
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{script}-{stamp}" if script else stamp
    out, k = runs / base, 1
    while True:
        if not create:
            if not out.exists():
                return out
        else:
            runs.mkdir(parents=True, exist_ok=True)
            try:
                out.mkdir()
                return out
            except FileExistsError:
                pass
        k += 1
        out = runs / f"{base}-{k}"


def output_dir(args: argparse.Namespace, script: str, sub: str = "") -> Path:
    """The folder a run writes to (created): ``-o DIR``; the committed results (their
    subfolder ``sub``) with ``--update-results``; else a new folder of RUNS."""
    if getattr(args, "out", None):
        out = Path(args.out)
    elif getattr(args, "update_results", False):
        out = committed(sub)
    else:
        out = new_run_dir(script)
    out.mkdir(parents=True, exist_ok=True)
    return out


def starting_point(out: Path, name: str, sub: str = "") -> Path | None:
    """What a merging script starts from: ``out/name`` if it exists, else the committed
    ``name`` (under ``sub``) if that exists. Read only; the script writes to ``out``."""
    for path in (out / name, committed(sub) / name):
        if path.exists():
            return path
    return None


def flags(args: argparse.Namespace) -> list[str]:
    """The output options given, as they would be typed (for the recorded command)."""
    if getattr(args, "update_results", False):
        return ["--update-results"]
    if getattr(args, "out", None):
        return ["-o", str(args.out)]
    return []


def command(prog: str, argv: Sequence[str] | None) -> str:
    """The command line of a run, e.g. ``python -m benchmarks.overrun --update-results``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([f"python -m {prog}", *(shlex.quote(a) for a in args)])
