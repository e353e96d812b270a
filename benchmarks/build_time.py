"""Model building time of the MIP backends: ``python -m benchmarks.build_time [PRESETS]``.

For each sale-day preset (default ``m,l``: 2,000 and 20,000 orders, ``router.generate`` seed 1)
it times, on the compiled batch:

- ``model``: the shared MIP model as numpy arrays (:func:`router.solvers.exact.model.build_model`);
- the hand-over of that model to each backend, without solving: the MathOpt ``ModelProto``
  with its MIP start (``ortools-*``, one figure: the three engines receive the same proto),
  the ``pulp.LpProblem`` plus the MPS and start files PuLP writes for CBC (``pulp-cbc``), the
  ``pulp.LpProblem`` plus the bulk ``addCols``/``addRows`` into HiGHS (``pulp-highs``);
- with ``--solve S``, each backend end to end under a time limit of S seconds, reporting the
  ``build_seconds`` and ``solve_seconds`` the solver itself returns, its status and objective.

Figures are also given per 100,000 arcs. Options: ``--seed N``, ``--repeat N`` (best of N,
default 2). The figures are written to ``build_time.json`` (``--name`` to change it) in a new
folder ``benchmarks/results/runs/build_time-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/`` (``python -m
benchmarks.build_time m,l --update-results``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import output
from router.compile import Problem, compile_problem

mip_model = importlib.import_module("router.solvers.exact.model")
ortools_mip = importlib.import_module("router.solvers.exact.ortools")
pulp_mip = importlib.import_module("router.solvers.exact.pulp")

BACKENDS = ("ortools-highs", "ortools-scip", "ortools-cpsat", "pulp-cbc", "pulp-highs")


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def handover_ortools(model: Any, start: np.ndarray) -> None:
    from ortools.math_opt import model_parameters_pb2

    mp = ortools_mip.model_proto(model)
    mparams = model_parameters_pb2.ModelSolveParametersProto()
    hint = mparams.solution_hints.add()
    hint.variable_values.ids.extend(range(model.n_cols))
    hint.variable_values.values.extend(start.tolist())
    mp.SerializeToString()  # what the core solver receives
    mparams.SerializeToString()


def handover_cbc(model: Any, start: np.ndarray) -> None:
    with pulp_mip._no_gc():  # as the backend does
        _handover_cbc(model, start)


def _handover_cbc(model: Any, start: np.ndarray) -> None:
    prob, cols = pulp_mip.pulp_problem(model)
    for v, val in zip(cols, start.tolist(), strict=True):
        v.setInitialValue(val, check=False)
    pulp = pulp_mip._pulp()
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mps = os.path.join(d, "m.mps")
        vs, vnames, cnames, _ = prob.writeMPS(mps, rename=1)
        pulp.PULP_CBC_CMD(msg=False).writesol(os.path.join(d, "m.mst"), prob, vs, vnames,
                                              cnames)


def handover_pulp_highs(model: Any, start: np.ndarray) -> None:
    with pulp_mip._no_gc():  # as the backend does
        _handover_pulp_highs(model, start)


def _handover_pulp_highs(model: Any, start: np.ndarray) -> None:
    import highspy

    pulp_mip.pulp_problem(model)
    with pulp_mip._stdout_to_stderr():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    n = model.n_cols
    h.addCols(n, model.obj, model.col_lb, model.col_ub, 0, np.zeros(n, dtype=np.int32),
              np.zeros(0, dtype=np.int32), np.zeros(0))
    ptr = model.row_ptr()
    lo = np.where(np.isinf(model.row_lb), -highspy.kHighsInf, model.row_lb)
    hi = np.where(np.isinf(model.row_ub), highspy.kHighsInf, model.row_ub)
    h.addRows(model.n_rows, lo, hi, model.n_nonzeros, ptr[:-1].astype(np.int32),
              model.a_col.astype(np.int32), model.a_val)
    h.setSolution(n, np.arange(n, dtype=np.int32), start)


def measure(problem: Problem, repeat: int) -> dict[str, Any]:
    from router.contract import Run
    from router.solvers.registry import get

    model = mip_model.build_model(problem)
    t_model = best_of(repeat, lambda: mip_model.build_model(problem))
    x = get("greedy").func(problem, Run.of()).x
    start = (model.values_from_x(problem, x) if x is not None
             else np.zeros(model.n_cols, dtype=np.float64))
    out: dict[str, Any] = {"instance": problem.name, "orders": problem.n_orders,
                           "arcs": problem.n_arcs, "line_arcs": problem.n_line_arcs,
                           **model.size(), "model_seconds": t_model}
    hand = {"ortools-*": handover_ortools, "pulp-cbc": handover_cbc,
            "pulp-highs": handover_pulp_highs}
    out["handover_seconds"] = {k: best_of(repeat, lambda f=f: f(model, start))  # type: ignore[misc]
                               for k, f in hand.items()}
    return out


def solve_each(problem: Problem, seconds: float) -> dict[str, Any]:
    from router.contract import Run
    from router.solvers.registry import get

    res = {}
    for name in BACKENDS:
        t0 = time.perf_counter()
        r = get(name).func(problem, Run.of(seconds))
        res[name] = {"wall_seconds": time.perf_counter() - t0, "status": str(r.status),
                     "objective": r.objective, "lower_bound": r.bound,
                     "build_seconds": r.stats.build_seconds,
                     "solve_seconds": r.stats.solve_seconds,
                     "fallback": r.termination.fallback or None}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.build_time", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="?", default="m,l", help="router.generate presets (m,l)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--solve", type=float, metavar="S",
                    help="also run every backend with this time limit")
    ap.add_argument("--name", default="build_time",
                    help="the figures are written to NAME.json (default build_time)")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "build_time")
    generate = importlib.import_module("router.generate")
    rows = []
    for preset in filter(None, args.presets.split(",")):
        problem = compile_problem(generate.generate(preset, seed=args.seed))
        row = measure(problem, args.repeat)
        row["preset"] = preset
        if args.solve:
            row["solve"] = solve_each(problem, args.solve)
        rows.append(row)
        per = 1e5 / max(1, row["arcs"])
        print(f"\n{preset}: {problem.summary()}; model {row['columns']:,} columns, "
              f"{row['rows']:,} rows, {row['nonzeros']:,} nonzeros")
        print("| backend | build s (model + hand-over) | build s per 100k arcs |")
        print("| --- | ---: | ---: |")
        for k, h in row["handover_seconds"].items():
            total = row["model_seconds"] + h
            print(f"| {k} | {total:.3f} ({row['model_seconds']:.3f} + {h:.3f}) | "
                  f"{total * per:.2f} |")
        if args.solve:
            print(f"\nend to end, time limit {args.solve:g} s:")
            print("| backend | status | objective | bound | build s | solve s | wall s |")
            print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
            for name, r in row["solve"].items():
                obj = "-" if r["objective"] is None else f"{r['objective']:.2f}"
                lb = "-" if r["lower_bound"] is None else f"{r['lower_bound']:.2f}"
                fb = " (fallback)" if r["fallback"] else ""
                print(f"| {name} | {r['status']}{fb} | {obj} | {lb} | "
                      f"{r['build_seconds']:.2f} | {r['solve_seconds']:.2f} | "
                      f"{r['wall_seconds']:.2f} |")
        sys.stdout.flush()
    path = folder / f"{args.name}.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
