"""``router export``: write the MIP model of a batch for other solvers (Gurobi, CPLEX, ...).

The model is the one the exact solvers use (:mod:`router.solvers.exact.model`), written as free
MPS (``.mps``) or CPLEX LP (``.lp``), chosen by the extension of the output file. Variables and
constraints carry readable names: ``y_<order>_<node>`` (a package), ``x_<order>_<sku>_<node>``
(units), ``u_<order>_<sku>`` (unfilled units), and rows ``fill_``, ``link_``, ``carry_``,
``stock_``, ``pkg_``, ``cap_``, ``opkg_``. The optimum of the file is the optimum of the batch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from router.cli.main import EXIT_OK, register_command
from router.errors import InputError

MODEL_FORMATS = {".mps": "mps", ".lp": "lp"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write the MIP model of a batch (MPS or LP)",
        description="Write the mixed-integer model of a batch, as the exact solvers build it, "
                    "for other solvers: free MPS (-o model.mps) or CPLEX LP (-o model.lp), "
                    "with readable variable and constraint names.")
    p.add_argument("file", help="instance file (YAML, JSON, or GAP with --format gap)")
    p.add_argument("--format", choices=("yaml", "json", "gap"),
                   help="instance format (default: from the extension)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write: .mps or .lp")


def model_format(path: str) -> str:
    fmt = MODEL_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError([("", "the model file must end in .mps or .lp")], path)
    return fmt


def export(instance: Any, path: str) -> dict[str, int]:
    """Write the model of ``instance`` to ``path`` (.mps or .lp); returns the model size."""
    from router.compile import compile_problem
    from router.solvers.exact.model import build_model, write_lp, write_mps

    fmt = model_format(path)
    problem = compile_problem(instance)
    model = build_model(problem)
    try:
        (write_mps if fmt == "mps" else write_lp)(model, problem, path)
    except OSError as e:
        raise InputError([("", f"cannot write the model: {e.strerror or e}")], path) from None
    return model.size()


def cmd_export(args: argparse.Namespace) -> int:
    import router

    model_format(args.output)  # a bad extension is reported before any work
    t0 = time.perf_counter()
    instance = router.load(args.file, format=args.format)
    size = export(instance, args.output)
    print(f"{args.output}: {size['columns']} variables ({size['integer_columns']} integer), "
          f"{size['rows']} constraints, {size['nonzeros']} nonzeros, "
          f"{time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return EXIT_OK


register_command(add_parser, "export", cmd_export)
