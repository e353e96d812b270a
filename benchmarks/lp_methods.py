"""The LP relaxation of the MIP model by HiGHS's methods: ``python -m benchmarks.lp_methods``.

Solves the LP relaxation of a sale-day batch (default ``l``, seed 1: ``instances/l.json``) with
HiGHS through highspy, once per method (default ``simplex,ipm,pdlp``; interior point without
crossover), under a time limit (default 120 s), and reports status, objective, iterations
and seconds: the alternatives to the Lagrangian bound of ``router.solvers.bounds``.

Options: ``--preset l --seed 1 --methods simplex,ipm --time-limit 120``. Results:
``lp_methods_<preset><seed>.json`` (``--name`` to change it) in a new folder
``benchmarks/results/runs/lp_methods-<UTC time>/``, in ``-o DIR``, or with ``--update-results``
in the committed ``benchmarks/results/`` (``python -m benchmarks.lp_methods --update-results``
gives the committed ``lp_methods_l1.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from benchmarks import output
from benchmarks.machine import machine
from benchmarks.suites import generate
from router.compile import compile_problem
from router.solvers.exact.model import build_model


def solve(model: Any, method: str, time_limit: float) -> dict[str, Any]:
    import highspy

    ptr, rows, vals = model.csc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.n_cols, model.n_rows
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = model.obj, model.col_lb, model.col_ub
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isinf(model.row_lb), -inf, model.row_lb)
    lp.row_upper_ = np.where(np.isinf(model.row_ub), inf, model.row_ub)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = ptr.astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("solver", method)
    h.setOptionValue("time_limit", float(time_limit))
    if method == "ipm":
        h.setOptionValue("run_crossover", "off")
    h.passModel(lp)
    c0, t0 = time.process_time(), time.perf_counter()
    h.run()
    info = h.getInfo()
    return {"method": method, "status": str(h.getModelStatus()),
            "objective": float(info.objective_function_value),
            "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(time.process_time() - c0, 2),
            "simplex_iterations": int(info.simplex_iteration_count),
            "ipm_iterations": int(info.ipm_iteration_count),
            "pdlp_iterations": int(getattr(info, "pdlp_iteration_count", 0))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.lp_methods",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="l")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--methods", default="simplex,ipm,pdlp")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--name", help="the results are NAME.json (default "
                                   "lp_methods_<preset><seed>)")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "lp_methods")
    p = compile_problem(generate(args.preset, args.seed))
    model = build_model(p)
    out: dict[str, Any] = {"command": output.command("benchmarks.lp_methods", argv),
                           "machine": machine(), "batch": f"{args.preset}-{args.seed}",
                           "model": model.size(), "runs": []}
    for m in filter(None, args.methods.split(",")):
        r = solve(model, m, args.time_limit)
        print(json.dumps(r), file=sys.stderr)
        out["runs"].append(r)
    path = folder / f"{args.name or f'lp_methods_{args.preset}{args.seed}'}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
