"""``router generate``: write a realistic sale-day batch (see :mod:`router.generate`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from router.cli.main import EXIT_OK, register_command


def add_parser(sub: Any) -> None:
    from router.generate import PRESETS, PRESETS_ORDER

    sizes = ", ".join(f"{k} ({PRESETS[k].orders:,} orders, "
                      f"{PRESETS[k].warehouses + PRESETS[k].stores:,} nodes)"
                      for k in PRESETS_ORDER)
    p = sub.add_parser(
        "generate", help="write a realistic sale-day instance",
        description="Write a realistic 11/11 sale-day batch (mainland China). A preset sets "
                    f"every knob: {sizes}; the options below override it. The same seed and "
                    "options give the same bytes. JSON or YAML by the extension of FILE.")
    p.add_argument("--preset", choices=PRESETS_ORDER, default="s",
                   help="size and defaults (default: s)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="instance file to write (.json, .yaml or .yml)")
    p.add_argument("--name", help="instance name (default: sale-day-PRESET-SEED)")
    g = p.add_argument_group("knobs (default: the preset's)")
    g.add_argument("--orders", type=int, metavar="N", help="orders in the batch")
    g.add_argument("--warehouses", type=int, metavar="N", help="warehouses (regional hubs)")
    g.add_argument("--stores", type=int, metavar="N", help="partner stores")
    g.add_argument("--skus", type=int, metavar="N", help="SKUs in the catalogue")
    g.add_argument("--scarcity", type=float, metavar="F",
                   help="share of the batch's units short overall, 0-1 (SKUs under-stocked)")
    g.add_argument("--store-share", type=float, metavar="F",
                   help="chance that a store carries the SKU of a random order line, 0-0.9")
    g.add_argument("--express-share", type=float, metavar="F",
                   help="share of express orders (at most the share express is offered to)")
    g.add_argument("--tightness", type=float, metavar="F",
                   help="capacity tightness: every node capacity is divided by it (default 1)")
    g.add_argument("--zipf", type=float, metavar="F", help="exponent of SKU popularity (0.9)")


def cmd_generate(args: argparse.Namespace) -> int:
    from router.generate import generate_data
    from router.io.write import format_for, write

    format_for(args.output)  # a bad extension is reported before any work
    knobs = {k: getattr(args, k) for k in ("orders", "warehouses", "stores", "skus", "scarcity",
                                           "store_share", "express_share", "tightness", "zipf",
                                           "name")}
    t0 = time.perf_counter()
    data = generate_data(args.preset, args.seed, **knobs)
    size = write(data, args.output)
    seconds = time.perf_counter() - t0
    n_lines = sum(len(o["lines"]) for o in data["orders"])
    print(f"{args.output}: {data['name']}: {len(data['orders'])} orders, {n_lines} lines, "
          f"{len(data['nodes'])} nodes, {len(data['skus'])} SKUs, {size:,} bytes, "
          f"{seconds:.2f} s", file=sys.stderr)
    return EXIT_OK


register_command(add_parser, "generate", cmd_generate)
