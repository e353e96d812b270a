"""The floor: compile plus greedy, end to end, in orders per second; and the cost of the
compiled loops (numba) at import and after an install.

    python -m benchmarks.floor_speed solve [--presets l,xl] [--seeds 1,2,3] [--repeat 3]
                                           [--engines jit,numpy] [--baseline DIR]
    python -m benchmarks.floor_speed jit [--repeat 5]
    python -m benchmarks.floor_speed solve --update-results    # the committed results

``solve``: each preset and seed is generated once into a JSON file (kept in ``--dir``), then
``python -m router solve FILE --solver greedy -o PLAN`` runs ``--repeat`` times, each in a
fresh process. The figure is the plan's ``stats.seconds`` (compilation and the solve; file
loading excluded), the fastest of the repeats (the machine may be shared), and orders per
second from it. Engines: ``jit`` (this checkout), ``numpy`` (this checkout with
``ROUTER_JIT=0``: the numpy twins of the compiled loops) and ``baseline`` (the source tree
``--baseline DIR``, e.g. ``git archive 276677a | tar -x -C DIR``, run with that ``PYTHONPATH``).
The objective of every engine's plan is reported; the ``jit`` plan is checked by
``router verify``.

``jit``: CPU and wall seconds of ``import router`` with and without the compiled loops
(which are loaded, with numba, when router is imported), the same with an empty numba cache
(the loops compiled, as after an install), and the size of the installed numba and llvmlite.

Results: floor_speed.json and floor_speed.md (``solve``), jit_cost.json (``jit``), in a new
folder ``benchmarks/results/runs/floor_speed-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import util
from pathlib import Path
from typing import Any

from benchmarks import output
from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent


def _env(engine: str, baseline: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ROUTER_JIT", None)
    if engine == "numpy":
        env["ROUTER_JIT"] = "0"
    if engine == "baseline":
        assert baseline, "--baseline DIR is needed for the baseline engine"
        env["PYTHONPATH"] = baseline
    else:
        env["PYTHONPATH"] = str(ROOT)
    return env


def _instance(preset: str, seed: int, folder: Path) -> Path:
    path = folder / f"{preset}-{seed}.json"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "router", "generate", "--preset", preset,
                        "--seed", str(seed), "-o", str(path)], check=True,
                       env=_env("jit", None), capture_output=True)
    return path


def _solve_once(path: Path, engine: str, baseline: str | None, plan: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", "router", "solve", str(path), "--solver", "greedy",
                    "-o", str(plan)], check=True, env=_env(engine, baseline),
                   capture_output=True, cwd=tempfile.gettempdir())
    data = json.loads(plan.read_text())
    stats = data["stats"]
    return {"seconds": stats["seconds"], "compile_seconds": stats.get("compile_seconds"),
            "solve_seconds": stats.get("solve_seconds"), "objective": data["objective"]}


def cmd_solve(args: argparse.Namespace) -> None:
    out = output.output_dir(args, "floor_speed")
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for preset in filter(None, args.presets.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            path = _instance(preset, seed, folder)
            for engine in args.engines.split(","):
                plan = folder / f"{preset}-{seed}.{engine}.plan.json"
                runs = [_solve_once(path, engine, args.baseline, plan)
                        for _ in range(args.repeat)]
                best = min(runs, key=lambda r: r["seconds"])
                orders = _orders(path)
                row = {"preset": preset, "seed": seed, "engine": engine, "orders": orders,
                       "best_seconds": round(best["seconds"], 4),
                       "compile_seconds": round(best["compile_seconds"] or 0.0, 4),
                       "solve_seconds": round(best["solve_seconds"] or 0.0, 4),
                       "orders_per_second": round(orders / best["seconds"]),
                       "seconds_all": [round(r["seconds"], 4) for r in runs],
                       "objective": best["objective"]}
                if engine == "jit":
                    v = subprocess.run([sys.executable, "-m", "router", "verify", str(path),
                                        str(plan)], env=_env(engine, None),
                                       capture_output=True, text=True)
                    row["verified"] = v.returncode == 0
                rows.append(row)
                print(json.dumps(row))
    _write_solve(rows, args, out)
    print(f"wrote {out / 'floor_speed.md'}")


def _orders(path: Path) -> int:
    with path.open() as f:
        return len(json.load(f)["orders"])


def _write_solve(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    command = (f"python -m benchmarks.floor_speed solve --presets {args.presets} --seeds "
               f"{args.seeds} --repeat {args.repeat} --engines {args.engines}"
               + (" --baseline DIR" if args.baseline else "")
               + "".join(f" {f}" for f in output.flags(args)))
    data = {"command": command, "when": stamp, "machine": machine(),
            "load_average_1min_at_end": load, "rows": rows}
    (out / "floor_speed.json").write_text(json.dumps(data, indent=1) + "\n")
    lines = [f"Compile plus greedy, end to end (`{command}`), {stamp}", "",
             "`stats.seconds` of `router solve FILE --solver greedy` (compilation included, "
             "file loading excluded), fastest of the repeats, each in a fresh process; "
             f"load average at the end {load:.1f} on {os.cpu_count()} cores.", "",
             "| preset | seed | engine | orders | seconds | compile s | greedy s | orders/s "
             "| objective | verified |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['seed']} | {r['engine']} | {r['orders']:,} | "
                     f"{r['best_seconds']:.3f} | {r['compile_seconds']:.3f} | "
                     f"{r['solve_seconds']:.3f} | {r['orders_per_second']:,} | "
                     f"{r['objective']:,.3f} | {r.get('verified', '')} |")
    (out / "floor_speed.md").write_text("\n".join(lines) + "\n")


def _import_cost(env: dict[str, str]) -> tuple[float, float]:
    """CPU (user + system, of the child) and wall seconds of ``import router``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import router"], check=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime), wall


def _size_mb(package: str) -> float | None:
    spec = util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1)


def cmd_jit(args: argparse.Namespace) -> None:
    folder = output.output_dir(args, "floor_speed")
    out: dict[str, Any] = {"command": " ".join([f"python -m benchmarks.floor_speed jit "
                                                f"--repeat {args.repeat}",
                                                *output.flags(args)]),
                           "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                           "machine": machine()}
    for name, engine in (("import_without_jit", "numpy"), ("import_with_jit", "jit")):
        costs = [_import_cost(_env(engine, None)) for _ in range(args.repeat)]
        out[name] = {"cpu_seconds_min": round(min(c for c, _ in costs), 3),
                     "wall_seconds_min": round(min(w for _, w in costs), 3)}
    with tempfile.TemporaryDirectory() as cache:
        env = _env("jit", None) | {"NUMBA_CACHE_DIR": cache}
        first = _import_cost(env)  # an empty cache: every loop is compiled
        again = _import_cost(env)  # then loaded from that cache
    out["import_with_empty_cache"] = {"cpu_seconds": round(first[0], 3),
                                      "wall_seconds": round(first[1], 3)}
    out["import_with_that_cache"] = {"cpu_seconds": round(again[0], 3),
                                     "wall_seconds": round(again[1], 3)}
    out["installed_mb"] = {p: _size_mb(p) for p in ("numba", "llvmlite")}
    print(json.dumps(out, indent=1))
    (folder / "jit_cost.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {folder / 'jit_cost.json'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("solve")
    s.add_argument("--presets", default="l,xl")
    s.add_argument("--seeds", default="1,2,3")
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--engines", default="jit,numpy")
    s.add_argument("--baseline", default=None, help="source tree of the version compared")
    s.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "router-floor"),
                   help="where the generated batches and plans are kept")
    output.add_arguments(s)
    j = sub.add_parser("jit")
    j.add_argument("--repeat", type=int, default=5)
    output.add_arguments(j)
    args = ap.parse_args(argv)
    {"solve": cmd_solve, "jit": cmd_jit}[args.cmd](args)


if __name__ == "__main__":
    main()
