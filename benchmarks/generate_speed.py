"""Time the generator and the load of what it writes, for every preset.

    python -m benchmarks.generate_speed                  # all presets, JSON (xs..m also YAML)
    python -m benchmarks.generate_speed xs s --yaml      # chosen presets, YAML for all of them
    python -m benchmarks.generate_speed --update-results   # benchmarks/results/generate_speed.*

Per preset and format: ``generate`` (``router.generate.generate_data``: drawing the batch and
building the mapping), ``write`` (text and file), file size, ``router.io.read`` (read, parse,
validate), ``compile`` (``router.compile_problem``) and the compiled size (orders, lines, nodes,
arcs, line-arcs). Each preset runs in its own child process, so memory and caches do not carry
over; the peak resident memory of the child is reported too. With ``--repeat N`` each stage
keeps its fastest time over N runs (the machine may be shared).

Results: ``generate_speed.md`` (the table) and ``generate_speed.json`` in a new folder
``benchmarks/results/runs/generate_speed-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import output

PRESETS = ("xs", "s", "m", "l", "xl")
YAML_UP_TO = ("xs", "s", "m")  # YAML for the big ones is slow to parse: JSON is their format


def measure(preset: str, fmt: str, seed: int = 1) -> dict[str, Any]:
    import numpy as np

    import router
    from router.generate import generate_data
    from router.io.write import write

    t0 = time.perf_counter()
    data = generate_data(preset, seed)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{preset}.{fmt}"
        size = write(data, path)
        t2 = time.perf_counter()
        del data
        inst = router.load(path)
        t3 = time.perf_counter()
    problem = router.compile_problem(inst)
    t4 = time.perf_counter()
    per_line = np.diff(problem.line_e_ptr)
    return {
        "preset": preset, "format": fmt, "generate_s": t1 - t0, "write_s": t2 - t1,
        "mb": size / 1e6, "load_s": t3 - t2, "compile_s": t4 - t3,
        "orders": problem.n_orders, "lines": problem.n_lines, "nodes": problem.n_nodes,
        "arcs": problem.n_arcs, "line_arcs": problem.n_line_arcs,
        "line_arcs_per_line": float(per_line.mean()), "max_line_arcs": int(per_line.max()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _child(preset: str, fmt: str, seed: int, q: Any) -> None:
    q.put(measure(preset, fmt, seed))


def run(preset: str, fmt: str, seed: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(preset, fmt, seed, q))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    return out


HEADER = ("| preset | format | generate s | write s | MB | load s | compile s | orders | lines "
          "| nodes | arcs | line-arcs | per line (max) | peak RSS MB |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: |")


def row(r: dict[str, Any]) -> str:
    return (f"| {r['preset']} | {r['format']} | {r['generate_s']:.2f} | {r['write_s']:.2f} "
            f"| {r['mb']:.1f} | {r['load_s']:.2f} | {r['compile_s']:.2f} | {r['orders']:,} "
            f"| {r['lines']:,} | {r['nodes']:,} | {r['arcs']:,} | {r['line_arcs']:,} "
            f"| {r['line_arcs_per_line']:.1f} ({r['max_line_arcs']}) | {r['peak_rss_mb']:.0f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generate_speed",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("presets", nargs="*", default=list(PRESETS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per preset and format; the fastest time of each stage is kept")
    ap.add_argument("--yaml", action="store_true", help="also YAML for every preset")
    ap.add_argument("--no-yaml", action="store_true", help="JSON only")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "generate_speed")
    results = []
    print(HEADER, flush=True)
    for preset in args.presets:
        formats = ["json"]
        if not args.no_yaml and (args.yaml or preset in YAML_UP_TO):
            formats.append("yaml")
        for fmt in formats:
            runs = [run(preset, fmt, args.seed) for _ in range(max(1, args.repeat))]
            r = dict(runs[0])
            for k in ("generate_s", "write_s", "load_s", "compile_s", "peak_rss_mb"):
                r[k] = min(x[k] for x in runs)
            results.append(r)
            print(row(r), flush=True)
    import platform

    out = folder / "generate_speed.md"
    head = (f"Generator speed (seed {args.seed}), {platform.processor() or platform.machine()}"
            f", Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"`{output.command('benchmarks.generate_speed', argv)}`\n\n")
    out.write_text(head + HEADER + "\n" + "\n".join(row(r) for r in results) + "\n",
                   encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n",
                                        encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
