"""Compilation speed: a whole instance, the network alone, and a batch against a network.

    python -m benchmarks.compile_speed [--seeds 1,2,3] [--repeat 5] [--batch 2000]
    python -m benchmarks.compile_speed --update-results     # the committed results

Per seed: ``compile_problem`` of the ``m``, ``l`` and ``xl`` presets; ``compile_network`` of
the ``xl`` network (3,000 nodes); and ``compile_batch`` of a ``--batch``-order batch (the first
orders of the ``xl`` instance) against that network, from the order records (their columns
built in the call) and from prebuilt columns. A batch's cost must grow with the batch, not the
network: the batch against ``xl`` is to be compared with ``compile_problem`` of ``m`` (2,000
orders). Each figure is the fastest of ``--repeat`` runs, by wall clock and by CPU time (the
machine may be shared). Results: ``compile_speed.json`` and ``.md`` in a new folder
``benchmarks/results/runs/compile_speed-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import router
from benchmarks import output
from benchmarks.machine import machine
from router.compile import compile_batch, compile_network, compile_problem
from router.instance import Instance, order_columns


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Fastest wall-clock and CPU seconds of ``repeat`` calls, and the last result."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu), out


def batch_against(net: Any, inst: Instance, orders: Any) -> Any:
    return compile_batch(net, orders, name="batch", pool_available=net.pool_available,
                         node_max_packages=net.node_max_packages,
                         node_capacity=net.node_capacity,
                         unfilled_penalty=inst.unfilled_penalty,
                         default_max_packages=inst.default_max_packages)


def measure(seed: int, repeat: int, batch: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(what: str, wall: float, cpu: float, p: Any) -> None:
        rows.append({"seed": seed, "what": what, "orders": p.n_orders,
                     "line_arcs": p.n_line_arcs if hasattr(p, "n_line_arcs") else None,
                     "wall_s": round(wall, 5), "cpu_s": round(cpu, 5)})
        print(f"seed {seed} {what:40s} wall {wall:8.4f} s  cpu {cpu:8.4f} s")

    for preset in ("m", "l"):
        inst = router.generate(preset, seed=seed)
        w, c, p = best_of(repeat, lambda inst=inst: compile_problem(inst))
        row(f"compile_problem {preset}", w, c, p)
    xl = router.generate("xl", seed=seed)
    w, c, net = best_of(max(1, repeat // 2), lambda: compile_network(xl))
    rows.append({"seed": seed, "what": "compile_network xl", "orders": 0, "line_arcs": None,
                 "nodes": net.n_nodes, "pools": net.n_pools, "wall_s": round(w, 5),
                 "cpu_s": round(c, 5)})
    print(f"seed {seed} {'compile_network xl':40s} wall {w:8.4f} s  cpu {c:8.4f} s")
    records = xl.orders[:batch]
    cols = order_columns(records, net.sku_ids)
    w, c, p = best_of(repeat, lambda: batch_against(net, xl, records))
    row(f"compile_batch {batch} orders vs xl (records)", w, c, p)
    w, c, p = best_of(repeat, lambda: batch_against(net, xl, cols))
    row(f"compile_batch {batch} orders vs xl (columns)", w, c, p)
    w, c, p = best_of(max(1, repeat // 2), lambda: compile_problem(xl))
    row("compile_problem xl", w, c, p)
    return rows


def write(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = {"command": " ".join([f"python -m benchmarks.compile_speed --seeds {args.seeds} "
                                 f"--repeat {args.repeat} --batch {args.batch}",
                                 *output.flags(args)]),
            "when": stamp, "machine": machine(), "rows": rows}
    (out / "compile_speed.json").write_text(json.dumps(data, indent=1) + "\n")
    lines = [f"Compilation speed ({data['command']}), {stamp}", "",
             "Fastest of the repeats; wall clock and CPU seconds.", "",
             "| seed | what | orders | line-arcs | wall s | CPU s |",
             "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        la = "" if r["line_arcs"] is None else f"{r['line_arcs']:,}"
        lines.append(f"| {r['seed']} | {r['what']} | {r['orders']:,} | {la} | "
                     f"{r['wall_s']:.4f} | {r['cpu_s']:.4f} |")
    (out / "compile_speed.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=2000)
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    out = output.output_dir(args, "compile_speed")
    rows: list[dict[str, Any]] = []
    for seed in (int(s) for s in args.seeds.split(",") if s):
        rows += measure(seed, args.repeat, args.batch)
    write(rows, args, out)
    print(f"wrote {out / 'compile_speed.md'}")


if __name__ == "__main__":
    main()
