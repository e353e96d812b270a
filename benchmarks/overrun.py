"""Does every solver keep its time limit? ``python -m benchmarks.overrun``

Every registered solver runs on the generated sale-day batches ``xs`` .. ``xl`` (seed 1 by
default) at budgets 0.05, 0.5, 2 and 10 s (30 s instead of 10 s on ``xl``); each run is one
``router.solve(instance, solver, time_limit=T)`` call in a forked child process of its own (the
instance generated once in the parent), and the wall-clock time of the call is compared with
the promise: T + max(0.1 s, 10% of T) (:func:`router.solve.overrun_limit`), apart from the
documented floor. The floor of a batch is measured first: the fastest of three
``router.solve(instance, "greedy")`` calls (compilation, one greedy pass, building and
verifying the plan); a run that took longer than its promise but no longer than the floor
(plus 20% and 50 ms for noise) is marked ``floor``, any other is ``OVER``.

    python -m benchmarks.overrun                       # everything (about 30 minutes)
    python -m benchmarks.overrun --presets xs,s,m --budgets 0.05,0.5 --solvers greedy,auto
    python -m benchmarks.overrun --update-results      # rewrite benchmarks/results/overrun.*

Results go to a new folder ``benchmarks/results/runs/overrun-<UTC time>/`` (``overrun.json``
and ``overrun.md``) unless ``--update-results`` (the committed ``benchmarks/results/``) or
``-o DIR`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import select
import signal
import time
from typing import Any

from benchmarks import machine, output

PRESETS = ("xs", "s", "m", "l", "xl")
BUDGETS = (0.05, 0.5, 2.0, 10.0)
XL_BUDGETS = (0.05, 0.5, 2.0, 30.0)


def _child(inst: Any, solver: str, budget: float, seed: int, w: int) -> None:
    import router

    try:
        t0 = time.perf_counter()
        plan = router.solve(inst, solver=solver, time_limit=budget, seed=seed)
        wall = time.perf_counter() - t0
        t = plan.termination
        rec = {"wall": wall, "seconds": plan.stats.seconds, "status": str(plan.status),
               "reason": str(t.reason) if t else "", "limit": str(t.limit) if t else "",
               "fallback": bool(t and t.fallback), "source": plan.source,
               "objective": plan.objective, "bound": plan.lower_bound,
               "compile": plan.stats.compile_seconds, "verify": plan.stats.verify_seconds}
    except BaseException as e:  # noqa: BLE001  (anything is a result to report)
        rec = {"error": f"{type(e).__name__}: {e}"}
    os.write(w, pickle.dumps(rec))
    os._exit(0)


def run_one(inst: Any, solver: str, budget: float, seed: int, kill_after: float
            ) -> dict[str, Any]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setpgid(0, 0)
        _child(inst, solver, budget, seed, w)
    os.close(w)
    chunks = []
    end = time.perf_counter() + kill_after
    try:
        while time.perf_counter() < end:
            ready, _, _ = select.select([r], [], [], 0.1)
            if ready:
                chunk = os.read(r, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        else:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"error": f"killed after {kill_after:.0f} s"}
        os.waitpid(pid, 0)
    finally:
        os.close(r)
    if not chunks:
        return {"error": "the child died without an answer"}
    rec: dict[str, Any] = pickle.loads(b"".join(chunks))
    return rec


def floor_seconds(inst: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        rec = run_one(inst, "greedy", 1e9, 0, 600)
        best = min(best, rec.get("wall", float("inf")))
    return best


def verdict(wall: float, budget: float, floor: float) -> str:
    from router.solve import overrun_limit

    if wall <= overrun_limit(budget):
        return "ok"
    if wall <= 1.2 * floor + 0.05:
        return "floor"
    return "OVER"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.overrun", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--budgets", help="budgets in seconds (default 0.05,0.5,2,10; xl 30 for 10)")
    ap.add_argument("--solvers", help="comma-separated (default: every available solver)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    output.add_arguments(ap)
    args = ap.parse_args(argv)

    import router
    from router.solve import overrun_limit
    from router.solvers.registry import registry

    solvers = (args.solvers.split(",") if args.solvers else
               sorted(n for n, i in registry().items() if i.available() is None))
    out = output.output_dir(args, "overrun")
    rows: list[dict[str, Any]] = []
    floors: dict[str, float] = {}
    t_start = time.time()
    for preset in filter(None, args.presets.split(",")):
        inst = router.generate(preset, seed=args.seed)
        budgets = ([float(b) for b in args.budgets.split(",")] if args.budgets else
                   list(XL_BUDGETS if preset == "xl" else BUDGETS))
        floors[preset] = floor_seconds(inst)
        print(f"{preset}: {len(inst.orders)} orders, floor {floors[preset]:.3f} s", flush=True)
        for budget in budgets:
            for solver in solvers:
                rec = run_one(inst, solver, budget, 0, 3 * budget + 120)
                wall = rec.get("wall")
                row = {"preset": preset, "orders": len(inst.orders), "solver": solver,
                       "budget": budget, "promise": round(overrun_limit(budget), 3),
                       "floor": round(floors[preset], 3), **rec}
                row["verdict"] = ("error" if wall is None else
                                  verdict(wall, budget, floors[preset]))
                rows.append(row)
                print(f"  {solver:14s} T={budget:<5g} wall={wall if wall is None else round(wall, 3)}"
                      f" {row['verdict']} {rec.get('status', rec.get('error', ''))}", flush=True)
    meta = {"machine": machine.describe() if hasattr(machine, "describe") else {},
            "command": output.command("benchmarks.overrun", argv),
            "seed": args.seed, "floors": floors, "wall_minutes": round((time.time() - t_start)
                                                                        / 60, 1)}
    (out / "overrun.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1,
                                                 default=str) + "\n")
    (out / "overrun.md").write_text(report(rows, floors, meta))
    print(f"wrote {out / 'overrun.md'}")
    return 0


def report(rows: list[dict[str, Any]], floors: dict[str, float], meta: dict[str, Any]) -> str:
    lines = ["# Time limits kept", "",
             f"Command: `{meta['command']}` ({meta['wall_minutes']} min). Promise: the call "
             "returns within T + max(0.1 s, 10% of T); `floor`: over the promise but within "
             "the batch's floor (compilation, one greedy pass, building and verifying the "
             "plan: measured first, below), `OVER`: beyond both.", ""]
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    lines += ["| batch | orders | floor (s) |", "| --- | ---: | ---: |"]
    for p in presets:
        n = next(r["orders"] for r in rows if r["preset"] == p)
        lines.append(f"| {p} | {n:,} | {floors[p]:.3f} |")
    lines.append("")
    budgets = sorted({r["budget"] for r in rows})
    solvers = sorted({r["solver"] for r in rows})
    for p in presets:
        bs = [b for b in budgets if any(r["preset"] == p and r["budget"] == b for r in rows)]
        lines += [f"## {p}: wall seconds of the call", "",
                  "| solver | " + " | ".join(f"T={b:g}" for b in bs) + " |",
                  "| --- |" + " ---: |" * len(bs)]
        for s in solvers:
            cells = []
            for b in bs:
                r = next((r for r in rows if r["preset"] == p and r["solver"] == s
                          and r["budget"] == b), None)
                if r is None:
                    cells.append("")
                elif r.get("wall") is None:
                    cells.append(f"error: {r.get('error', '')[:40]}")
                else:
                    mark = {"ok": "", "floor": " (floor)", "OVER": " **OVER**"}[r["verdict"]]
                    cells.append(f"{r['wall']:.3f}{mark}")
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    over = [r for r in rows if r["verdict"] in ("OVER", "error")]
    lines += [f"Runs over the promise and the floor: {len(over)} of {len(rows)}.", ""]
    for r in over:
        lines.append(f"- {r['preset']} {r['solver']} T={r['budget']:g}: "
                     f"{r.get('wall', r.get('error'))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
