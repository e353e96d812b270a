"""A plan against the MIP model that the exact backends hand their engines (docs/mip.md):

    python -m benchmarks.mip_check INSTANCE PLAN [--claim BOUND] [-o DIR | --update-results]

The plan's column values (``MipModel.values_from_x``), every column and row bound of the
model, the model's objective at those values, and HiGHS (through OR-Tools MathOpt, as
``ortools-highs`` runs it) solving the model with every column fixed at them. A plan that
passes and costs less than a dual bound an engine reported (``--claim``) shows that bound
wrong: router cannot recheck a branch-and-bound proof (docs/mip.md, "Engine proofs").

Result: mip_check.json in a new folder ``benchmarks/results/runs/mip_check-<UTC time>/``, in
``-o DIR``, or with ``--update-results`` in the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from typing import Any

import numpy as np

import router
from benchmarks import output
from router.compile import compile_problem
from router.evaluate import objective, violations
from router.plan import Plan, x_from_plan

mip_model = importlib.import_module("router.solvers.exact.model")


def check(instance_path: str, plan_path: str, seconds: float = 120.0) -> dict[str, Any]:
    problem = compile_problem(router.load(instance_path))
    x, why = x_from_plan(problem, Plan.read(plan_path))
    if x is None:
        return {"instance": instance_path, "plan": plan_path, "usable": False, "why": why}
    model = mip_model.build_model(problem)
    v = model.values_from_x(problem, x)
    tol = 1e-6
    col_bad = int(((v < model.col_lb - tol) | (v > model.col_ub + tol)).sum())
    ax = np.bincount(model.a_row, weights=model.a_val * v[model.a_col], minlength=model.n_rows)
    row_bad = int(((ax < model.row_lb - tol) | (ax > model.row_ub + tol)).sum())
    out: dict[str, Any] = {
        "instance": instance_path, "plan": plan_path, "usable": True,
        "problem_violations": violations(problem, x), "cost": objective(problem, x),
        "model_objective": model.objective_of(v), "columns_out_of_bounds": col_bad,
        "rows_violated": row_bad, "columns": model.n_cols, "rows": model.n_rows}
    ortools_mip = importlib.import_module("router.solvers.exact.ortools")
    from router.solvers.exact.driver import EngineSetup

    fixed = dataclasses.replace(model, col_lb=v.copy(), col_ub=v.copy())
    setup = EngineSetup(0, 1e-4, 1, None, False, ortools_mip.OrToolsParams())
    a = ortools_mip.run_mathopt(fixed, ortools_mip.HIGHS, None, seconds, setup)
    out["highs_fixed"] = {"status": a.status, "bound": a.bound, "detail": a.detail,
                          "objective": None if a.values is None
                          else model.objective_of(a.values)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mip_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instance")
    ap.add_argument("plan")
    ap.add_argument("--claim", type=float, default=None,
                    help="a dual bound an engine reported for this instance")
    ap.add_argument("--seconds", type=float, default=120.0,
                    help="time limit of the fixed-column HiGHS solve")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    res = check(args.instance, args.plan, args.seconds)
    res["command"] = output.command("benchmarks.mip_check", argv)
    if args.claim is not None:
        res["claim"] = args.claim
        res["claim_contradicted"] = bool(
            res.get("usable") and not res["problem_violations"] and res["rows_violated"] == 0
            and res["columns_out_of_bounds"] == 0
            and res["cost"] < args.claim - 1e-6 * max(1.0, abs(args.claim)))
    folder = output.output_dir(args, "mip_check")
    path = folder / "mip_check.json"
    path.write_text(json.dumps(res, indent=1, default=str) + "\n", encoding="utf-8")
    json.dump(res, sys.stdout, indent=1, default=str)
    sys.stdout.write(f"\nwrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
