"""The distributed solver against single-process ``auto`` at the same budget.

    python -m benchmarks.distributed [--cases xl,2m] [--seeds 1] [--budget xl=60,2m=240]
                                     [--workers 1,2] [--ray xl] [--name NAME]
                                     [-o DIR | --update-results]

Cases: ``l`` is ``router.generate("l", seed)`` (20,000 orders), ``xl`` the ``xl`` preset
(200,000 orders); ``2m`` the ``xl`` preset with ``orders=2_000_000`` (the network and
catalogue of ``xl``, ten times the orders). Each
case is generated and compiled once in this process; then ``auto`` and ``distributed`` with
each number of workers (shards = workers, the process executor; for the cases named by
``--ray`` also the Ray executor at the largest number of workers, on a local Ray instance
that the solver starts and stops) are run by
``router.solve(..., problem=...)`` with the same time limit (the solve and the verification
of the plan; compilation is reported apart). Per run: wall seconds, CPU seconds (this process
and its children; Ray workers' from the solver's figures), each worker's CPU seconds, the
coordinator's, cost, bound and gap, coordination rounds, the bytes of numpy arrays moved per
round (prices out, loads back) and once (the shards, for Ray), the stages' seconds, and the
load average of the machine before and after. The peak resident memory of this process is
reported per case.

The figures feed the scaling model of docs/reference.md ("Scaling out"). Results:
``NAME.json`` and ``NAME.md`` (``--name``, default ``distributed``; written again after every
case) in a new folder ``benchmarks/results/runs/distributed-<UTC time>/``, in ``-o DIR``, or
with ``--update-results`` in the committed ``benchmarks/results/``. The committed ones:
``--cases xl --seeds 1,2 --ray xl --name distributed_xl --update-results``, ``--cases l
--seeds 1,2,3 --name distributed_l --update-results`` and ``--cases 2m --name distributed_2m
--update-results``; the floor runs (``--floor``, see :data:`FLOOR`) ``--cases xl,2m --floor
--name distributed_floor --update-results``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from datetime import UTC, datetime
from typing import Any

import router
from benchmarks import output
from benchmarks.machine import machine, versions

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "l": ("l", {}), "xl": ("xl", {}), "2m": ("xl", {"orders": 2_000_000})}
DEFAULT_BUDGET = {"l": 10.0, "xl": 60.0, "2m": 240.0}


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _run(inst: Any, problem: Any, solver: str, budget: float, **kw: Any) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    c0, t0 = _cpu(), time.perf_counter()
    plan = router.solve(inst, solver, time_limit=budget, problem=problem, seed=1, **kw)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    st = plan.stats
    out: dict[str, Any] = {
        "solver": solver, **kw, "time_limit": budget, "status": str(plan.status),
        "objective": plan.objective, "bound": plan.lower_bound,
        "gap": None if plan.gap is None else round(plan.gap, 6),
        "wall_seconds": round(wall, 3), "stats_seconds": round(st.seconds, 3),
        "verify_seconds": round(st.verify_seconds, 3),
        "cpu_seconds_here": round(cpu, 3), "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "stages": [[s.name, round(s.seconds, 3), s.work] for s in st.stages]}
    if solver == "distributed":
        calls = st["calls"]
        rounds = [c for c in calls if c["method"] == "evaluate"]
        per_round = [c["sent_bytes"] + c["received_bytes"] for c in rounds]
        out.update({
            "shards": st["shards"], "workers": st["workers"], "hubs": st["hubs"],
            "locality": st["locality"], "shared_rows": st["shared_rows"], "rows": st["rows"],
            "evaluations": len(rounds), "rounds": st.get("rounds", 0),
            "bytes_per_round": max(per_round, default=0),
            "bytes_route": sum(c["sent_bytes"] + c["received_bytes"] for c in calls
                               if c["method"] == "route"),
            "setup_bytes": st["setup_bytes"],
            "worker_cpu_seconds": st["worker_cpu_seconds"],
            "coordinator_cpu_seconds": st["coordinator_cpu_seconds"],
            "bound_history": [[h["step"], h["bound"], round(h["seconds"], 3)]
                              for h in st["bound_history"]],
            "union_objective": st["union_objective"], "repair": st["repair"],
            "shard_moves": st["shard_moves"], "failures": st["failures"]})
    return out


FLOOR = {"work_limit": 2, "rounds": 2, "estimate_iterations": 0, "polish": False}
"""The least a decomposed run does (``--floor``): the bound at zero prices and two
coordination rounds, each shard routed by its two bidding passes, the repair's insertion,
no local search: what each order costs at the least, for the scaling model."""


def floor_run(inst: Any, problem: Any, workers: int) -> dict[str, Any]:
    c0, t0 = _cpu(), time.perf_counter()
    plan = router.solve(inst, "distributed", problem=problem, seed=1, workers=workers,
                        **FLOOR)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    st = plan.stats
    by_method: dict[str, dict[str, float]] = {}
    for c in st["calls"]:
        m = by_method.setdefault(c["method"], {"calls": 0, "wall": 0.0, "cpu_max": 0.0,
                                               "cpu_sum": 0.0, "bytes": 0})
        m["calls"] += 1
        m["wall"] = round(m["wall"] + c["seconds"], 4)
        m["cpu_max"] = round(m["cpu_max"] + max(c["cpu_seconds"]), 4)
        m["cpu_sum"] = round(m["cpu_sum"] + sum(c["cpu_seconds"]), 4)
        m["bytes"] += c["sent_bytes"] + c["received_bytes"]
    return {"workers": workers, "objective": plan.objective, "bound": plan.lower_bound,
            "wall_seconds": round(wall, 3), "stats_seconds": round(st.seconds, 3),
            "solve_seconds": round(st.solve_seconds, 3),
            "verify_seconds": round(st.verify_seconds, 3), "cpu_seconds_here": round(cpu, 3),
            "coordinator_cpu_seconds": st["coordinator_cpu_seconds"],
            "worker_cpu_seconds": st["worker_cpu_seconds"], "by_method": by_method,
            "stages": [[x.name, round(x.seconds, 3), x.work] for x in st.stages],
            "load_after": round(os.getloadavg()[0], 2)}


def run_case(name: str, seed: int, budget: float, workers: list[int], ray: bool,
             floor: bool = False) -> dict[str, Any]:
    t, c = time.perf_counter(), _cpu()
    preset, knobs = CASES[name]
    inst = router.generate(preset, seed=seed, **knobs)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    problem = router.compile_problem(inst)
    comp = time.perf_counter() - t
    case: dict[str, Any] = {
        "case": name, "seed": seed, "orders": problem.n_orders, "lines": problem.n_lines,
        "line_arcs": problem.n_line_arcs, "nodes": problem.n_nodes,
        "generate_seconds": round(gen, 2), "compile_seconds": round(comp, 3),
        "setup_cpu_seconds": round(_cpu() - c, 2), "runs": []}
    print(f"{name}: {problem.summary()}; generated in {gen:.1f} s, compiled in {comp:.2f} s",
          flush=True)
    if floor:
        case["floor"] = []
        for w in workers:
            r = floor_run(inst, problem, w)
            case["floor"].append(r)
            print(f"  floor, {w} worker(s): wall {r['wall_seconds']} s, cpu {r['cpu_seconds_here']}"
                  f" s, workers {r['worker_cpu_seconds']}, {r['by_method']}", flush=True)
        case["peak_rss_gb"] = round(_rss_gb(), 2)
        return case
    runs = [("auto", {})] + [("distributed", {"workers": w}) for w in workers]
    if ray:
        runs.append(("distributed", {"workers": max(workers), "executor": "ray"}))
    for solver, kw in runs:
        r = _run(inst, problem, solver, budget, **kw)
        case["runs"].append(r)
        print(f"  {solver} {kw}: objective {r['objective']} bound {r['bound']} "
              f"wall {r['wall_seconds']} s cpu {r['cpu_seconds_here']} s "
              f"load {r['load_before']}-{r['load_after']}", flush=True)
    case["peak_rss_gb"] = round(_rss_gb(), 2)
    return case


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Distributed solver against auto (benchmarks/distributed.py)", "",
             f"Command: `{res['command']}`; {res['started']}; machine: "
             f"{res['machine']['cpu']}, {res['machine']['usable_cores']} cores, "
             f"{res['machine']['memory_gb']} GB (shared: load averages below).", ""]
    for case in res["cases"]:
        if "floor" in case:
            lines += [f"## {case['case']} (seed {case['seed']}): the floor of a decomposed run "
                      f"({case['orders']:,} orders)", "",
                      f"Settings {FLOOR}; compiled in {case['compile_seconds']} s; peak memory "
                      f"{case['peak_rss_gb']} GB.", "",
                      "| workers | wall s | solve s | verify s | coordinator CPU s | "
                      "worker CPU s | per call kind: calls, wall s, CPU s (slowest shard), "
                      "CPU s (all shards), bytes | cost | bound |",
                      "| ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |"]
            for r in case["floor"]:
                calls = "; ".join(f"{k} {v['calls']}, {v['wall']}, {v['cpu_max']}, "
                                  f"{v['cpu_sum']}, {v['bytes']:,}"
                                  for k, v in r["by_method"].items())
                lines.append(f"| {r['workers']} | {r['wall_seconds']} | {r['solve_seconds']} | "
                             f"{r['verify_seconds']} | {r['coordinator_cpu_seconds']} | "
                             f"{', '.join(str(c) for c in r['worker_cpu_seconds'])} | {calls} | "
                             f"{r['objective']:,.2f} | {r['bound']:,.0f} |")
            lines.append("")
            continue
        lines += [f"## {case['case']}: {case['orders']:,} orders, {case['line_arcs']:,} "
                  f"line-arcs (seed {case['seed']})", "",
                  f"Generated in {case['generate_seconds']} s, compiled in "
                  f"{case['compile_seconds']} s; peak memory of the process "
                  f"{case['peak_rss_gb']} GB.", "",
                  "| run | wall s | CPU s (here) | worker CPU s | coordinator CPU s | cost | "
                  "bound | gap | rounds | bytes/round | load |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in case["runs"]:
            name = r["solver"] if r["solver"] == "auto" else \
                f"distributed, {r['workers']} worker(s), {r.get('executor', 'process')}"
            gap = "-" if r["gap"] is None else f"{100 * r['gap']:.2f} %"
            bound = "-" if r["bound"] is None else f"{r['bound']:,.0f}"
            wc = ", ".join(f"{c:.1f}" for c in r.get("worker_cpu_seconds", [])) or "-"
            lines.append(
                f"| {name} | {r['wall_seconds']} | {r['cpu_seconds_here']} | {wc} | "
                f"{r.get('coordinator_cpu_seconds', '-')} | {r['objective']:,.2f} | {bound} | "
                f"{gap} | {r.get('rounds', '-')} | {r.get('bytes_per_round', '-')} | "
                f"{r['load_before']}-{r['load_after']} |")
        lines.append("")
        for r in case["runs"]:
            if r["solver"] != "distributed":
                continue
            lines.append(f"- {r['workers']} worker(s), {r.get('executor', 'process')}: stages "
                         + ", ".join(f"{n} {s} s" for n, s, _ in r["stages"])
                         + "; bound by step: "
                         + ", ".join(f"{n} {b:,.0f}" for n, b, _ in r["bound_history"]
                                     if b is not None and math.isfinite(b))
                         + f"; locality {r['locality']}, shared rows {r['shared_rows']:,} of "
                           f"{r['rows']:,}; union before repair {r['union_objective']:,.2f}, "
                           f"repair {r['repair']}; setup bytes {r['setup_bytes']:,}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="xl,2m")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--budget", default="",
                    help="seconds per case, e.g. xl=60,2m=240 (defaults: those)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--ray", default="", help="cases also run on the Ray executor, e.g. xl")
    ap.add_argument("--floor", action="store_true",
                    help="only the floor runs (FLOOR: no time limit, least work)")
    ap.add_argument("--name", default="distributed",
                    help="the results are NAME.json and NAME.md (default distributed)")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "distributed")
    budget = dict(DEFAULT_BUDGET)
    for item in filter(None, args.budget.split(",")):
        k, _, v = item.partition("=")
        budget[k] = float(v)
    workers = [int(w) for w in args.workers.split(",")]
    res: dict[str, Any] = {
        "command": output.command("benchmarks.distributed", argv),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(), "cases": []}
    ray_cases = set(filter(None, args.ray.split(",")))

    def save() -> None:
        (folder / f"{args.name}.json").write_text(json.dumps(res, indent=1) + "\n")
        (folder / f"{args.name}.md").write_text(markdown(res))

    for name in filter(None, args.cases.split(",")):
        for seed in (int(v) for v in args.seeds.split(",")):
            res["cases"].append(run_case(name, seed, budget[name], workers, name in ray_cases,
                                         args.floor))
        save()  # kept after every case
    save()
    print(f"wrote {folder / args.name}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
