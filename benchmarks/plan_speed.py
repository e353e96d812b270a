"""Speed of the stages after the solver: building the plan and verifying it.

    python -m benchmarks.plan_speed [--presets l,xl] [--seeds 1,2] [--repeat 5] [--label after]
    python -m benchmarks.plan_speed --label after --update-results   # the committed results

Per preset and seed: the sale-day batch ``router.generate(preset, seed)`` is compiled and routed
once by ``greedy`` (seed 0, as ``router.solve`` runs it; its units per line-arc, as a solver returns them); then
``router.plan.build_plan`` of that array and ``router.verify`` of the plan it gives are each
timed ``--repeat`` times, each call after a full garbage collection. Each figure is the
fastest of the repeats, by wall clock and by CPU time (the machine may be shared), with the CPU
time per order line (the unit of ``router.solve.PipelineParams``).

Results: plan_speed.json holds one set of rows per ``--label`` (a rerun replaces the rows of
its label and keeps the others, so a ``before`` run made on an older commit stays beside the
``after`` one); plan_speed.md shows every label and the speed-up of each over the first. They
go to a new folder ``benchmarks/results/runs/plan_speed-<UTC time>/``, to ``-o DIR``, or with
``--update-results`` to the committed ``benchmarks/results/``; the rows of the other labels
come from the plan_speed.json of that folder, else from the committed one.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import router
from benchmarks import output
from benchmarks.machine import machine
from router.compile import compile_problem
from router.contract import Run
from router.plan import build_plan
from router.solvers.registry import get
from router.verify import verify

JSON = "plan_speed.json"


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Fastest wall-clock and CPU seconds of ``repeat`` calls, and the last result; each call
    starts after a full garbage collection (not timed), the previous result freed."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu), out


def measure(preset: str, seed: int, repeat: int) -> list[dict[str, Any]]:
    inst = router.generate(preset, seed=seed)
    problem = compile_problem(inst)
    out = get("greedy").func(problem, Run.of(params=get("greedy").params()))
    rows = []
    base = {"preset": preset, "seed": seed, "orders": problem.n_orders,
            "lines": problem.n_lines}
    w, c, plan = best_of(repeat, lambda: build_plan(problem, "greedy", out.status, out.x,
                                                    out.bound, {}))
    rows.append({**base, "stage": "build_plan", "shipments": len(plan.shipments),
                 "wall_s": round(w, 5), "cpu_s": round(c, 5)})
    w, c, report = best_of(repeat, lambda: verify(inst, plan, raise_on_error=False))
    if not report.ok:
        raise SystemExit(f"{preset}-{seed}: the greedy plan does not verify:\n{report}")
    rows.append({**base, "stage": "verify", "shipments": len(plan.shipments),
                 "wall_s": round(w, 5), "cpu_s": round(c, 5)})
    for r in rows:
        r["cpu_us_per_line"] = round(1e6 * r["cpu_s"] / r["lines"], 3)
        print(f"{preset}-{seed} {r['stage']:10s} {r['lines']:8,} lines {r['shipments']:8,} "
              f"shipments  wall {r['wall_s']:8.4f} s  cpu {r['cpu_s']:8.4f} s  "
              f"{r['cpu_us_per_line']:7.2f} us/line", flush=True)
    return rows


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write(rows: list[dict[str, Any]], args: argparse.Namespace, folder: Path) -> None:
    data: dict[str, Any] = {"runs": {}}
    start = output.starting_point(folder, JSON)
    if start is not None:
        data = json.loads(start.read_text())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data["runs"][args.label] = {
        "command": " ".join([f"python -m benchmarks.plan_speed --presets {args.presets} "
                             f"--seeds {args.seeds} --repeat {args.repeat} --label {args.label}",
                             *output.flags(args)]),
        "commit": _commit(), "when": stamp, "machine": machine(), "rows": rows}
    (folder / JSON).write_text(json.dumps(data, indent=1) + "\n")
    labels = list(data["runs"])
    first = labels[0]
    key = ("preset", "seed", "stage")
    ref = {tuple(r[k] for k in key): r for r in data["runs"][first]["rows"]}
    out = ["# Building and verifying the plan", "",
           "Fastest of the repeats, wall clock and CPU seconds; CPU microseconds per order line. "
           "The plan is greedy's on `router.generate(preset, seed)`.", ""]
    for label in labels:
        run = data["runs"][label]
        out += [f"## {label}", "", f"`{run['command']}` at commit {run['commit'] or '?'}, "
                                   f"{run['when']}", "",
                "| batch | stage | lines | shipments | wall s | CPU s | CPU us/line | "
                f"CPU speed-up over {first} |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in run["rows"]:
            base = ref.get(tuple(r[k] for k in key))
            up = f"{base['cpu_s'] / r['cpu_s']:.1f}x" if base and r["cpu_s"] > 0 else ""
            out.append(f"| {r['preset']}-{r['seed']} | {r['stage']} | {r['lines']:,} | "
                       f"{r['shipments']:,} | {r['wall_s']:.4f} | {r['cpu_s']:.4f} | "
                       f"{r['cpu_us_per_line']:.2f} | {up} |")
        out.append("")
    (folder / "plan_speed.md").write_text("\n".join(out))
    print(f"wrote {folder / 'plan_speed.md'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="l,xl")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--label", default="after")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "plan_speed")
    rows: list[dict[str, Any]] = []
    for preset in filter(None, args.presets.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            rows += measure(preset, seed, args.repeat)
    write(rows, args, folder)


if __name__ == "__main__":
    main()
