"""Heuristic benchmarks: greedy speed, auto's gap to the best plan known, GAP gaps.

    python -m benchmarks.heuristics_speed speed [--preset l] [--seed 1] [--repeat 5]
    python -m benchmarks.heuristics_speed reference --preset m [--seconds 120]
    python -m benchmarks.heuristics_speed auto --preset m --seconds 1
    python -m benchmarks.heuristics_speed gap [--seconds 1] [--types abc]
    python -m benchmarks.heuristics_speed overrun [--presets xs,s,m,l] [--limits 0.01,0.1,1]

``speed``: orders per second of every fast heuristic (solver call only: compilation is timed
apart), the best of ``--repeat`` runs, by wall clock and by the process's CPU time (the
heuristics are single-threaded numpy, so CPU time is one core's time even on a busy
machine). ``reference``: the best plan known for a preset (the
best of ``ortools-highs`` warm-started from greedy and ``auto``, each given ``--seconds``),
kept in benchmarks/results/best_known.json with its lower bound. ``auto``: auto's gap at the
given budget against that reference. ``gap``: every heuristic's gap to the proven optimum
on the GAP types A-C of instances/gap (bounds_min.tsv). ``overrun``: auto's wall-clock
time against its limit on every preset.

Results go to a new folder ``benchmarks/results/runs/heuristics_speed-<UTC time>/``, to ``-o
DIR``, or with ``--update-results`` to the committed ``benchmarks/results/`` (e.g.
``python -m benchmarks.heuristics_speed speed --preset l --update-results``). ``reference``
starts from the best_known.json of its output folder, else the committed one, and writes
the updated file to its output folder; ``auto`` reads the same file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import router
from benchmarks import output
from benchmarks.suites import GAP_DIR
from router.compile import Problem, compile_problem
from router.contract import Run
from router.evaluate import violations
from router.plan import build_plan
from router.solvers.registry import get

BEST_KNOWN = "best_known.json"
FAST = ("greedy", "regret", "nearest", "fewest-splits")


def _problem(preset: str, seed: int) -> Problem:
    inst = router.generate(preset=preset, seed=seed)
    return compile_problem(inst)


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average_1min": round(load[0], 2)}


def _save(out: Path, name: str, data: dict[str, Any]) -> None:
    (out / name).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out / name}")


def cmd_speed(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    p = _problem(args.preset, args.seed)
    out: dict[str, Any] = {"preset": args.preset, "seed": args.seed, "orders": p.n_orders,
                           "line_arcs": p.n_line_arcs,
                           "compile_seconds": round(p.compile_seconds, 4),
                           "machine": _machine(), "solvers": {}}
    for name in args.solvers.split(","):
        times, cpu = [], []
        obj = None
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            r = get(name).func(p, Run.of(seed=args.seed))
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            assert r.x is not None and not violations(p, r.x), name
            obj = r.objective
        best, best_cpu = min(times), min(cpu)
        out["solvers"][name] = {"best_seconds": round(best, 4),
                                "median_seconds": round(statistics.median(times), 4),
                                "best_cpu_seconds": round(best_cpu, 4),
                                "orders_per_second": round(p.n_orders / best),
                                "orders_per_cpu_second": round(p.n_orders / best_cpu),
                                "objective": obj}
        print(f"{name:14s} wall {best:7.3f} s ({p.n_orders / best:8.0f} orders/s)  "
              f"cpu {best_cpu:7.3f} s ({p.n_orders / best_cpu:8.0f} orders/s)  "
              f"objective {obj:.2f}")
    _save(folder, f"heuristics_speed_{args.preset}.json", out)
    return out


def _best_known(folder: Path) -> dict[str, Any]:
    path = output.starting_point(folder, BEST_KNOWN)
    return json.loads(path.read_text()) if path else {}


def cmd_reference(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    inst = router.generate(preset=args.preset, seed=args.seed)
    p = compile_problem(inst)
    key = f"{args.preset}-{args.seed}"
    known = _best_known(folder)
    entry = known.get(key, {"objective": None, "lower_bound": None, "source": None})
    for name in args.solvers.split(","):
        t = time.perf_counter()
        try:
            r = get(name).func(p, Run.of(args.seconds, seed=args.seed))
        except router.SolverUnavailable as e:
            print(f"{name}: {e}")
            continue
        secs = time.perf_counter() - t
        print(f"{name}: {r.status} objective {r.objective} bound {r.bound} "
              f"in {secs:.1f} s")
        if r.x is not None and not violations(p, r.x) and (
                entry["objective"] is None or r.objective < entry["objective"]):
            # a reference plan is kept only once the independent verifier accepts it
            plan = build_plan(p, name, str(r.status), r.x, r.bound, {})
            report = router.verify(inst, plan, raise_on_error=False)
            if report.ok:
                entry.update(objective=report.cost.total,
                             source=f"{name} {args.seconds:g} s")
            else:
                print(f"{name}: plan rejected by the verifier:\n{report}")
        if r.bound is not None and (entry["lower_bound"] is None
                                          or r.bound > entry["lower_bound"]):
            entry["lower_bound"] = r.bound
    known[key] = entry
    print(key, entry)
    _save(folder, BEST_KNOWN, known)
    return entry


def cmd_auto(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    p = _problem(args.preset, args.seed)
    ref = _best_known(folder).get(f"{args.preset}-{args.seed}")
    t = time.perf_counter()
    r = get("auto").func(p, Run.of(args.seconds, seed=args.seed))
    secs = time.perf_counter() - t
    assert r.x is not None and not violations(p, r.x)
    out: dict[str, Any] = {"preset": args.preset, "seed": args.seed, "time_limit": args.seconds,
                           "seconds": round(secs, 3), "objective": r.objective,
                           "lower_bound": r.bound, "status": str(r.status),
                           "stages": [st.to_dict() for st in r.stats.stages], "machine": _machine()}
    if ref and ref.get("objective"):
        out["best_known"] = ref["objective"]
        out["gap_to_best_known_pct"] = round(100 * (r.objective / ref["objective"] - 1), 3)
        if ref.get("lower_bound"):
            out["gap_to_bound_pct"] = round(100 * (r.objective / ref["lower_bound"] - 1), 3)
    print(json.dumps(out, indent=1))
    _save(folder, f"auto_{args.preset}-{args.seed}_{args.seconds:g}s.json", out)
    return out


def cmd_gap(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with (GAP_DIR / "bounds_min.tsv").open() as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["lower_bound"] == r["upper_bound"] and r["instance"][0] in args.types]
    solvers = args.solvers.split(",")
    gaps: dict[str, list[float]] = {s: [] for s in solvers}
    per_instance = []
    for row in rows:
        name, opt = row["instance"], float(row["upper_bound"])
        p = compile_problem(router.load(GAP_DIR / "instances" / name, format="gap"))
        line: dict[str, Any] = {"instance": name, "optimum": opt}
        for s in solvers:
            limit = args.seconds if s in ("lagrangian", "auto") else None
            r = get(s).func(p, Run.of(limit))
            if r.objective is None:
                line[s] = None
                continue
            g = 100 * (r.objective / opt - 1)
            gaps[s].append(g)
            line[s] = round(g, 3)
            if r.bound is not None:
                assert r.bound <= opt + 1e-6, (name, s, r.bound, opt)
                line[s + "_bound_gap"] = round(100 * (1 - r.bound / opt), 3)
        per_instance.append(line)
        print(name, {s: line[s] for s in solvers})
    summary = {s: {"instances": len(v), "no_plan": len(rows) - len(v),
                   "mean_gap_pct": round(statistics.fmean(v), 3) if v else None,
                   "max_gap_pct": round(max(v), 3) if v else None,
                   "optimal": sum(1 for g in v if g < 1e-9)} for s, v in gaps.items()}
    out = {"types": args.types, "seconds_for_timed": args.seconds, "summary": summary,
           "instances": per_instance, "machine": _machine()}
    print(json.dumps(summary, indent=1))
    _save(folder, "heuristics_gap.json", out)
    return out


def cmd_overrun(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Wall-clock seconds of auto against its time limit, per preset and budget."""
    rows = []
    for preset in filter(None, args.presets.split(",")):
        p = _problem(preset, args.seed)
        for limit in (float(v) for v in args.limits.split(",")):
            t = time.perf_counter()
            r = get("auto").func(p, Run.of(limit, seed=args.seed))
            secs = time.perf_counter() - t
            assert r.x is not None and not violations(p, r.x)
            rows.append({"preset": preset, "time_limit": limit, "seconds": round(secs, 3),
                         "overrun": round(secs - limit, 3), "objective": r.objective,
                         "stages": [st.to_dict() for st in r.stats.stages]})
            print(rows[-1])
    out = {"rows": rows, "machine": _machine()}
    _save(folder, "auto_overrun.json", out)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--preset", default="l")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--repeat", type=int, default=5)
    s.add_argument("--solvers", default=",".join(FAST))
    r = sub.add_parser("reference")
    r.add_argument("--preset", default="m")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--seconds", type=float, default=120.0)
    r.add_argument("--solvers", default="ortools-highs,auto")
    a = sub.add_parser("auto")
    a.add_argument("--preset", default="m")
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--seconds", type=float, default=1.0)
    g = sub.add_parser("gap")
    g.add_argument("--seconds", type=float, default=1.0)
    g.add_argument("--types", default="abc")
    g.add_argument("--solvers", default=",".join((*FAST, "lagrangian", "auto")))
    o = sub.add_parser("overrun")
    o.add_argument("--presets", default="xs,s,m,l")
    o.add_argument("--limits", default="0.01,0.1,1")
    o.add_argument("--seed", type=int, default=1)
    for command in (s, r, a, g, o):
        output.add_arguments(command)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "heuristics_speed")
    {"speed": cmd_speed, "reference": cmd_reference, "auto": cmd_auto, "gap": cmd_gap,
     "overrun": cmd_overrun}[args.cmd](args, folder)


if __name__ == "__main__":
    main()
