"""Time the explanations, the plan summary, the prices and the map on sale-day batches.

    python -m benchmarks.explain_speed                       # s, m, l (seed 1) and m seed 2
    python -m benchmarks.explain_speed --update-results     # benchmarks/results/explain_speed.*
    python -m benchmarks.explain_speed --cases l-1 --repeat 1 -o /tmp/explain_l

Per batch, on its greedy plan (deterministic): ``digest`` (the batch counted by reason, as
``router explain FILE PLAN`` without ``--order``), ``explain`` of one order and of every order
(without prices), ``lp_prices`` (the LP relaxation within ``--price-time`` seconds: status, bound
and wall-clock time, HiGHS running in a child process), ``lagrangian_prices`` (column
generation alone within the same time: bound, stop code, wall-clock time), ``batch_prices``
(what ``explain`` computes: the method chosen, whether converged, wall-clock time),
``summarize`` and ``draw_map``. Other times are CPU
seconds of this process (``time.process_time``; the machine may be shared), the fastest of
``--repeat`` runs; the LP and the map run once. Loading the file is not counted.

Results: ``explain_speed.md`` (the table) and ``explain_speed.json`` in a new folder
``benchmarks/results/runs/explain_speed-<UTC time>/``, in ``-o DIR``, or with
``--update-results`` in the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import output

ROOT = Path(__file__).resolve().parent.parent
CASES = (("s", 1), ("m", 1), ("m", 2), ("l", 1))
SHIPPED = {("s", 1): "s.yaml", ("m", 1): "m.yaml", ("l", 1): "l.json"}
ALL_ORDERS_UP_TO = 2000  # explain every order only of batches up to this size


def _best(f: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = f()
        best = min(best, time.process_time() - t)
    return best, out


def measure(preset: str, seed: int, repeat: int, price_time: float) -> dict[str, Any]:
    import router
    from router.duals import batch_prices, lagrangian_prices, lp_prices
    from router.explain import digest, explain
    from router.show import summarize

    name = SHIPPED.get((preset, seed))
    inst = router.load(ROOT / "instances" / name) if name else router.generate(preset, seed)
    plan = router.solve(inst, solver="greedy")
    row: dict[str, Any] = {"batch": f"{preset}-{seed}", "orders": len(inst.orders),
                           "shipments": len(plan.shipments)}
    row["digest_s"], d = _best(lambda: digest(inst, plan), repeat)
    row["unfilled_lines"] = sum(t.count for t in d.unfilled)
    row["orders_forgone"] = sum(t.count for t in d.forgone)
    one = inst.orders[0].id
    row["explain_one_s"], e = _best(lambda: explain(inst, plan, one, prices=False), repeat)
    row["alternatives_one"] = len(e.orders[0].alternatives)
    if len(inst.orders) <= ALL_ORDERS_UP_TO:
        row["explain_all_s"], e = _best(lambda: explain(inst, plan, prices=False), repeat)
        row["alternatives_all"] = sum(len(o.alternatives) for o in e.orders)
    row["summarize_s"], _ = _best(lambda: summarize(plan, inst), repeat)
    t = time.perf_counter()  # wall clock: HiGHS runs in a child process
    p = lp_prices(inst, price_time)
    row["lp_wall_s"], row["lp_status"], row["lp_bound"] = (time.perf_counter() - t, p.detail,
                                                          p.bound)
    t = time.perf_counter()
    p = lagrangian_prices(inst, price_time)
    row["lag_wall_s"], row["lag_stop"], row["lag_bound"] = (time.perf_counter() - t, p.detail,
                                                            p.bound)
    t = time.perf_counter()
    p = batch_prices(inst, price_time)
    row["prices_wall_s"], row["prices_method"] = time.perf_counter() - t, p.method
    row["prices_converged"] = p.converged if p.solved else None
    try:
        from router.plot import draw_map

        with tempfile.TemporaryDirectory() as tmp:
            t = time.process_time()
            dense = draw_map(plan, inst, Path(tmp) / "map.png")
            row["map_s"], row["map_density"] = time.process_time() - t, dense
    except ImportError:
        pass
    return row


COLUMNS = ("batch", "orders", "shipments", "digest_s", "unfilled_lines", "orders_forgone",
           "explain_one_s", "alternatives_one", "explain_all_s", "alternatives_all",
           "summarize_s", "lp_wall_s", "lp_status", "lp_bound", "lag_wall_s", "lag_stop",
           "lag_bound", "prices_wall_s", "prices_method", "prices_converged", "map_s",
           "map_density")


def table(rows: list[dict[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return "-" if v is None else str(v)

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    out += ["| " + " | ".join(cell(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--price-time", type=float, default=10.0)
    ap.add_argument("--cases", help="batches to run, e.g. l-1,m-2 (default: "
                                    + ",".join(f"{p}-{s}" for p, s in CASES) + ")")
    output.add_arguments(ap)
    args = ap.parse_args(argv)
    folder = output.output_dir(args, "explain_speed")
    cases = CASES
    if args.cases:
        cases = tuple((c.rsplit("-", 1)[0], int(c.rsplit("-", 1)[1]))
                      for c in args.cases.split(","))
    rows = []
    for preset, seed in cases:
        rows.append(measure(preset, seed, args.repeat, args.price_time))
        print(json.dumps(rows[-1]), file=sys.stderr)
    text = table(rows)
    print(text)
    out = folder / "explain_speed.md"
    head = ("CPU seconds (fastest of the repeats; the prices: wall clock, once), greedy plans; "
            f"`{output.command('benchmarks.explain_speed', argv)}`\n\n")
    out.write_text(head + text + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
