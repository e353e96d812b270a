"""Quality of the Lagrangian bound against time: ``python -m benchmarks.bound_quality``.

For each sale-day batch (default ``m-1,l-1,l-2,l-3,xl-1``: ``router.generate(preset, seed)``;
seed 1 of ``m`` and ``l`` are the shipped ``instances/m.yaml`` and ``instances/l.json``) it
runs :func:`router.solvers.bounds.lagrangian_bound` under several wall-clock budgets (a fresh
call each, compilation excluded, the oracle's set-up included) and once without a budget
(until the column generation converges: the reference bound). Reported per run: the bound,
wall and CPU seconds, why it stopped, rounds, and the gap of the best plan known to the bound
(``(plan - bound) / plan``; plans from ``benchmarks/results/best_known.json``), and how far the
bound is below the converged one. ``--lp`` also solves the LP relaxation of the MIP model
with HiGHS's simplex (``lp-bound`` on small batches; 30-90 s on ``l``) for comparison.

Options: ``--cases m-1,l-2``, ``--budgets m=0.25,0.5,1;l=1,2,5``, ``--repeat N`` (the run with
the least CPU time of N is kept; the machine may be shared), ``--clock cpu`` (budgets in CPU
seconds of the process, for figures that do not depend on the load of a shared machine),
``--name NAME``: the results are NAME.json and NAME.md (default ``bound_quality``), in a new
folder ``benchmarks/results/runs/bound_quality-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/``. The committed ones:

    python -m benchmarks.bound_quality --clock cpu --update-results
    python -m benchmarks.bound_quality --cases m-1,l-1 --budgets "m=;l=" --lp \
        --name bound_quality_lp --update-results
    python -m benchmarks.bound_quality --cases "" --gap --name bound_quality_gap \
        --update-results
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import output
from benchmarks.machine import machine
from benchmarks.suites import REFERENCE, generate
from router.compile import Problem, compile_problem
from router.contract import Budget
from router.solvers.bounds import lagrangian_bound

BUDGETS = {"m": (0.25, 0.5, 1.0), "l": (1.0, 2.0, 5.0, 10.0), "xl": (5.0, 10.0, 20.0, 30.0)}
CASES = ("m-1", "l-1", "l-2", "l-3", "xl-1")


def known_plans(path: Path = REFERENCE) -> dict[str, float]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {k: float(v["objective"]) for k, v in data.items() if v.get("objective")}


class CpuDeadline:
    """A budget of CPU seconds of this process (``--clock cpu``): on a shared machine the
    wall clock measures the other processes too."""

    def __init__(self, limit: float | None) -> None:
        self.start = time.process_time()
        self.limit = limit

    def remaining(self) -> float:
        if self.limit is None:
            return math.inf
        return max(0.0, self.limit - (time.process_time() - self.start))

    def expired(self) -> bool:
        return self.remaining() <= 0.0


def one_run(p: Problem, budget: float | None, clock: str = "wall") -> dict[str, Any]:
    c0, w0 = time.process_time(), time.perf_counter()
    r = lagrangian_bound(p, CpuDeadline(budget) if clock == "cpu" else Budget.start(budget))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    s = r.stats
    return {"budget": budget, "bound": r.bound if math.isfinite(r.bound) else None,
            "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "stop": s.stop,
            "iterations": s.iterations, "evaluations": s.evaluations,
            "oracle_seconds": round(s.oracle_seconds, 3),
            "master_seconds": round(s.master_seconds, 3), "master_rows": s.master_rows,
            "master_orders": s.master_orders, "exact_oracle": s.exact_oracle}


def lp_relaxation(p: Problem) -> dict[str, Any]:
    from router.solvers.exact.model import build_model
    from router.solvers.exact.ortools import lp_bound

    t0 = time.perf_counter()
    res = lp_bound(p, Budget.start(), model=build_model(p))  # the model: always the simplex
    return {"lp_bound": res.bound, "lp_seconds": round(time.perf_counter() - t0, 3)}


def gap_table(max_iterations: int = 200) -> list[dict[str, Any]]:
    """Every GAP instance of instances/gap: the bound (no budget, at most ``max_iterations``
    rounds), the LP relaxation's bound, the knapsack Lagrangian's bound (climbed from the
    dual's prices towards the best known plan's cost, at most ``KnapsackParams.max_iterations``
    evaluations) and the best known (``bounds_min.tsv``)."""
    from benchmarks.suites import GAP_DIR, gap_bounds
    from router.io.read import load
    from router.solvers.bounds import knapsack
    from router.solvers.bounds.dual import integral_costs
    from router.solvers.exact.ortools import lp_bound
    from router.solvers.heuristics.assign import Matrices

    rows = []
    for name, (lo, hi) in sorted(gap_bounds().items()):
        p = compile_problem(load(GAP_DIR / "instances" / name, format="gap"))
        c0 = time.process_time()
        r = lagrangian_bound(p, None, max_iterations=max_iterations)
        cpu = time.process_time() - c0
        lp = lp_bound(p, Budget.start()).bound
        c0 = time.process_time()
        M = Matrices(p)
        kr = knapsack.knapsack_bound(M, knapsack.lp_order_prices(M, r.prices.cap), hi,
                                     Budget.start(), integral_costs(p))
        k_cpu = time.process_time() - c0
        rows.append({"instance": name, "jobs": p.n_orders, "agents": p.n_nodes,
                     "bound": r.bound, "lp_bound": lp, "best_lower": lo, "best_upper": hi,
                     "cpu_seconds": round(cpu, 3), "stop": r.stats.stop,
                     "knapsack_bound": kr.bound, "knapsack_cpu_seconds": round(k_cpu, 3),
                     "knapsack_evaluations": kr.iterations, "knapsack_stop": kr.stop,
                     "valid": bool(r.bound <= hi and kr.bound <= hi)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bound_quality",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--budgets", default="",
                    help=f"per preset, e.g. 'm=0.25,1;l=2,10' (default: {BUDGETS})")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="budgets in wall-clock or in CPU seconds of this process")
    ap.add_argument("--lp", action="store_true", help="also solve the LP relaxation (HiGHS)")
    ap.add_argument("--gap", action="store_true",
                    help="also every GAP instance: bound, LP bound, best known")
    ap.add_argument("--name", default="bound_quality",
                    help="the results are NAME.json and NAME.md (default bound_quality)")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "bound_quality")
    budgets = {k: list(v) for k, v in BUDGETS.items()}
    for part in filter(None, args.budgets.split(";")):
        k, v = part.split("=")
        budgets[k.strip()] = [float(b) for b in v.split(",") if b.strip()]
    plans = known_plans()
    out: dict[str, Any] = {"machine": machine(), "clock": args.clock,
                           "load_average": round(os.getloadavg()[0], 2),
                           "command": output.command("benchmarks.bound_quality", argv),
                           "cases": {}}
    for case in filter(None, args.cases.split(",")):
        preset, seed = case.rsplit("-", 1)
        t0 = time.perf_counter()
        p = compile_problem(generate(preset, int(seed)))
        print(f"{case}: {p.summary()} (generated and compiled in "
              f"{time.perf_counter() - t0:.1f} s)", file=sys.stderr)
        ref = one_run(p, None, args.clock)
        runs = []
        for b in budgets.get(preset, []):
            best = None
            for _ in range(max(1, args.repeat)):
                r = one_run(p, b, args.clock)
                if best is None or r["cpu_seconds"] < best["cpu_seconds"]:
                    best = r
            runs.append(best)
        entry: dict[str, Any] = {"orders": p.n_orders, "line_arcs": p.n_line_arcs,
                                 "best_plan": plans.get(case), "reference": ref, "runs": runs}
        if args.lp:
            entry.update(lp_relaxation(p))
        for r in [ref, *runs]:
            if r["bound"] is not None and entry["best_plan"]:
                r["gap_pct"] = round(100 * (entry["best_plan"] - r["bound"]) / entry["best_plan"],
                                     4)
            if r["bound"] is not None and ref["bound"]:
                r["below_reference_pct"] = round(100 * (ref["bound"] - r["bound"]) / ref["bound"],
                                                 4)
        out["cases"][case] = entry
        for r in [*runs, ref]:
            print(f"  {r['budget'] if r['budget'] is not None else 'none':>5}: bound "
                  f"{r['bound']}, {r['seconds']} s ({r['cpu_seconds']} s CPU), {r['stop']}, "
                  f"gap {r.get('gap_pct')}%", file=sys.stderr)
    if args.gap:
        out["gap"] = gap_table()
        bad = [r["instance"] for r in out["gap"] if not r["valid"]]
        print(f"GAP: {len(out['gap'])} instances, bound above the best known on {bad}",
              file=sys.stderr)
    (folder / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (folder / f"{args.name}.md").write_text(markdown(out))
    print(f"wrote {folder / args.name}.json and .md", file=sys.stderr)
    return 0


def markdown(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = ["# Lagrangian bound: quality against time", "",
             f"`{out['command']}` on {m.get('cpu')} ({m.get('cores')} cores). Budgets in "
             + ("CPU seconds of the process (the machine was shared: wall seconds beside "
                "them are longer)." if out.get("clock") == "cpu" else
                "wall-clock seconds (CPU seconds beside them).")
             + f" Load average at the start: {out.get('load_average')}.", "",
             ]
    if out["cases"]:
        lines += ["Gap: best plan known against the bound, `(plan - bound) / plan`; 'below "
                  "ref.': how far the bound is below the converged one (budget 'none').", "",
                  "| batch | orders | line-arcs | budget s | bound | wall s | CPU s | rounds "
                  "| stop | gap to best plan | below ref. |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for case, e in out["cases"].items():
        for r in [*e["runs"], e["reference"]]:
            b = "none" if r["budget"] is None else f"{r['budget']:g}"
            bound = "-" if r["bound"] is None else f"{r['bound']:,.1f}"
            gap = "-" if r.get("gap_pct") is None else f"{r['gap_pct']:.3f}%"
            below = "-" if r.get("below_reference_pct") is None else \
                f"{r['below_reference_pct']:.3f}%"
            lines.append(f"| {case} | {e['orders']:,} | {e['line_arcs']:,} | {b} | {bound} | "
                         f"{r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['iterations']} | "
                         f"{r['stop']} | {gap} | {below} |")
    lines.append("")
    if out.get("note"):
        lines += [f"Note: {out['note']}.", ""]
    lp = [(c, e) for c, e in out["cases"].items() if e.get("lp_bound") is not None]
    if lp:
        lines += ["LP relaxation of the MIP model (HiGHS simplex through MathOpt):", "",
                  "| batch | LP bound | seconds | converged Lagrangian bound |",
                  "| --- | ---: | ---: | ---: |"]
        for c, e in lp:
            lines.append(f"| {c} | {e['lp_bound']:,.2f} | {e['lp_seconds']:.1f} | "
                         f"{e['reference']['bound']:,.2f} |")
        lines.append("")
    if out.get("gap"):
        g = out["gap"]
        above_lp = sum(1 for r in g if r["lp_bound"] is not None and r["bound"] >= r["lp_bound"]
                       - 1e-6 * abs(r["lp_bound"]))
        closed = sum(1 for r in g if r["bound"] >= r["best_upper"])
        k_closed = sum(1 for r in g if r["knapsack_bound"] >= r["best_upper"])
        k_above = sum(1 for r in g if r["knapsack_bound"] > r["bound"])
        k_lo = sum(1 for r in g if r["knapsack_bound"] >= r["best_lower"])
        k_cpu = sorted(r["knapsack_cpu_seconds"] for r in g)
        lines += [f"GAP instances (`instances/gap`, {len(g)}): the bound is below the best "
                  f"known plan on {sum(r['valid'] for r in g)}, at least the LP bound on "
                  f"{above_lp}, equal to the best known plan (optimality proven) on {closed}; "
                  f"CPU seconds: median "
                  f"{sorted(r['cpu_seconds'] for r in g)[len(g) // 2]:.2f}, "
                  f"max {max(r['cpu_seconds'] for r in g):.2f}. The knapsack Lagrangian "
                  f"(`router.solvers.bounds.knapsack`, from the dual's prices, steps towards "
                  f"the best known cost) is above the LP bound on {k_above}, at least the "
                  f"best lower bound published on {k_lo}, equal to the best known plan on "
                  f"{k_closed}; CPU seconds: median {k_cpu[len(g) // 2]:.2f}, max "
                  f"{k_cpu[-1]:.2f}.", "",
                  "| instance | jobs x agents | bound | LP bound | knapsack bound | best known "
                  "(lower - upper) | CPU s | knapsack CPU s |",
                  "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        for r in g:
            lp = "-" if r["lp_bound"] is None else f"{r['lp_bound']:,.0f}"
            lines.append(f"| {r['instance']} | {r['jobs']} x {r['agents']} | "
                         f"{r['bound']:,.0f} | {lp} | {r['knapsack_bound']:,.0f} | "
                         f"{r['best_lower']:,.0f} - {r['best_upper']:,.0f} | "
                         f"{r['cpu_seconds']:.2f} | {r['knapsack_cpu_seconds']:.2f} |")
        lines.append("")
    best = [(c, e["best_plan"]) for c, e in out["cases"].items() if e.get("best_plan")]
    if best:
        lines += ["Best plans known (`benchmarks/results/best_known.json`): "
                  + ", ".join(f"{c} {v:,.2f}" for c, v in best) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
