"""Reference bounds and plans of the generated sale-day batches: ``python -m benchmarks.references``.

For every preset and seed (``router.generate(preset, seed)``) it computes

- the reference **bound**: the Lagrangian dual by column generation run to convergence, no
  time limit (:func:`router.solvers.bounds.lagrangian_bound`; proven, at least the LP
  relaxation's bound);
- reference **plans**: each solver of ``--solvers`` with a long budget (``--seconds``, per
  preset), every plan checked by the independent verifier (:func:`router.verify`);

and records in ``best_known.json`` (the committed ``benchmarks/results/best_known.json`` with
``--update-results``, ``DIR/best_known.json`` with ``-o DIR``, by default a new folder
``benchmarks/results/runs/references-<UTC time>/``; it starts from the file already in that
folder, else from the committed one) for the key ``<preset>-<seed>`` the best verified plan
(``objective``, ``source``, ``command``) and the best proven bound (``lower_bound``,
``bound_source``, ``bound_command``) beside what the file held. A bound above a verified plan
is wrong: it is dropped, and the entry's ``notes`` say so. The benchmark harness reads the
file for its best plan and best bound of every sale-day batch.

    python -m benchmarks.references --presets l --seeds 1-10 --update-results
    python -m benchmarks.references --presets xs,s,m --seeds 1-10 --solvers ortools-highs \\
        --seconds "xs=120;s=120;m=300" --update-results
    python -m benchmarks.references --presets xl --seeds 1-3 --seconds "xl=180" --update-results
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from typing import Any

import router
from benchmarks import output
from benchmarks.machine import machine
from benchmarks.suites import generate, parse_seeds
from router.compile import compile_problem
from router.contract import Run
from router.evaluate import violations
from router.plan import build_plan
from router.solvers.bounds import lagrangian_bound
from router.solvers.registry import get

SECONDS = {"xs": 60.0, "s": 60.0, "m": 120.0, "l": 60.0, "xl": 180.0}
FILE = "best_known.json"


def _seconds(text: str | None) -> dict[str, float]:
    out = dict(SECONDS)
    for part in (text or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = float(v)
    return out


def reference(preset: str, seed: int, solvers: list[str], seconds: float, entry: dict[str, Any],
              command: str, bound: bool = True) -> dict[str, Any]:
    """The entry of one batch, updated with a converged bound and the solvers' plans."""
    inst = generate(preset, seed)
    p = compile_problem(inst)
    entry = dict(entry)
    notes = list(entry.get("notes", []))
    converged: float | None = None
    if bound:
        t, c = time.perf_counter(), time.process_time()
        res = lagrangian_bound(p)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"{preset}-{seed}: bound {res.bound:.4f} ({res.stats.stop}, "
              f"{res.stats.iterations} rounds, {wall:.1f} s, {cpu:.1f} s CPU)", flush=True)
        converged = res.bound if math.isfinite(res.bound) else None
        if math.isfinite(res.bound) and (entry.get("lower_bound") is None
                                         or res.bound > float(entry["lower_bound"])):
            entry.update(lower_bound=res.bound,
                         bound_source=f"Lagrangian dual by column generation, converged "
                                      f"({res.stats.iterations} rounds, {cpu:.1f} s CPU)",
                         bound_command=command)
    for name in solvers:
        t = time.perf_counter()
        try:
            r = get(name).func(p, Run.of(seconds, seed=0))
        except router.SolverUnavailable as e:
            print(f"  {name}: {e}")
            continue
        secs = time.perf_counter() - t
        print(f"  {name} {seconds:g} s: {r.status} objective {r.objective} bound {r.bound} "
              f"({secs:.1f} s)", flush=True)
        if r.x is None or violations(p, r.x):
            continue
        plan = build_plan(p, name, str(r.status), r.x, None, {})
        report = router.verify(inst, plan, raise_on_error=False)
        if not report.ok:
            print(f"  {name}: plan rejected by the verifier:\n{report}")
            continue
        cost = report.cost.total
        if entry.get("objective") is None or cost < float(entry["objective"]) - 1e-9:
            entry.update(objective=cost, source=f"{name} {seconds:g} s (verified)",
                         command=command)
        if r.bound is not None and (entry.get("lower_bound") is None
                                    or r.bound > float(entry["lower_bound"])):
            entry.update(lower_bound=r.bound, bound_source=f"{name} {seconds:g} s",
                         bound_command=command)
    lb, ub = entry.get("lower_bound"), entry.get("objective")
    if lb is not None and ub is not None and float(lb) > float(ub) + 1e-6 * abs(float(ub)):
        notes.append(f"a recorded bound {float(lb):.4f} ({entry.get('bound_source')}) was above "
                     f"a verified plan {float(ub):.4f}: dropped")
        entry.pop("lower_bound", None)
        entry.pop("bound_source", None)
        entry.pop("bound_command", None)
        if converged is not None:  # the converged bound of this run stands in
            entry.update(lower_bound=converged, bound_source="Lagrangian dual by column "
                         "generation, converged", bound_command=command)
    if notes:
        entry["notes"] = notes
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.references",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="l,xl")
    ap.add_argument("--seeds", default="1-3", help="e.g. 1-10 or 1,2,5")
    ap.add_argument("--solvers", default="auto",
                    help="solvers whose long runs give reference plans (comma-separated; "
                         "empty: the bound only)")
    ap.add_argument("--seconds", default=None,
                    help=f"budget per preset, e.g. 'l=60;xl=180' (default {SECONDS})")
    ap.add_argument("--no-bound", action="store_true", help="plans only")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "references")
    start = output.starting_point(folder, FILE)
    known: dict[str, Any] = json.loads(start.read_text()) if start else {}
    out = folder / FILE
    seconds = _seconds(args.seconds)
    solvers = [s for s in args.solvers.split(",") if s]
    print(f"machine: {json.dumps(machine())}", flush=True)
    for preset in [p for p in args.presets.split(",") if p]:
        for seed in parse_seeds(args.seeds):
            key = f"{preset}-{seed}"
            command = " ".join([
                "python -m benchmarks.references", "--presets", preset, "--seeds", str(seed),
                "--solvers", shlex.quote(",".join(solvers)) if solvers else "''",
                "--seconds", shlex.quote(f"{preset}={seconds[preset]:g}"),
                *(["--no-bound"] if args.no_bound else []), *output.flags(args)])
            known[key] = reference(preset, seed, solvers, seconds[preset], known.get(key, {}),
                                   command, bound=not args.no_bound)
            out.write_text(json.dumps(known, indent=1) + "\n")
            print(f"{key}: {json.dumps(known[key])}", flush=True)
    if not out.exists():  # nothing to run: the file it started from
        out.write_text(json.dumps(known, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
