"""``router generate``: write a realistic sale-day batch (see :mod:`router.generate`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from router.cli.main import EXIT_OK, register_command
from router.errors import InputError


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
    d = p.add_argument_group(
        "a day of events (--day): a JSON Lines stream for `router replay` (docs/reference.md)")
    d.add_argument("--day", action="store_true",
                   help="write a sale day of events for a network instead of a batch: order "
                        "arrivals on an 11/11 curve, walk-in sales, replenishments, counts, "
                        "cancellations, store acceptance probabilities")
    d.add_argument("--network", metavar="NET",
                   help="the network: an instance file or a ledger file (default: the preset "
                        "and knobs above, generated with --seed)")
    d.add_argument("--day-orders", type=int, metavar="N",
                   help="orders over the day (default 100,000): scales the whole curve")
    d.add_argument("--duration", type=float, metavar="S",
                   help="seconds of the day from midnight (default 86400)")
    d.add_argument("--spike", type=float, metavar="F",
                   help="height of the midnight opening spike over the afternoon rate (14)")
    d.add_argument("--evening", type=float, metavar="F",
                   help="height of the evening peak over the afternoon rate (1)")
    d.add_argument("--walkin-rate", type=float, metavar="F",
                   help="share of a store's shelf stock sold to walk-in shoppers (0.3)")
    d.add_argument("--replenish-cover", type=float, metavar="F",
                   help="share of the expected demand each replenishment wave brings (1)")
    d.add_argument("--count-share", type=float, metavar="F",
                   help="share of store pools that report a stock count (0.02)")
    d.add_argument("--cancel-share", type=float, metavar="F",
                   help="share of orders the customer cancels (0.01)")
    d.add_argument("--decline", type=float, metavar="F",
                   help="mean probability that a store declines a shipment (0.04)")


_DAY_KNOBS = ("duration", "spike", "evening", "walkin_rate", "replenish_cover", "count_share",
              "cancel_share", "decline")


def cmd_generate_day(args: argparse.Namespace, knobs: dict[str, Any]) -> int:
    from router.generate import generate
    from router.instance import Instance
    from router.io.read import load
    from router.network.day import write_generated_day

    if not args.output.endswith(".jsonl"):
        raise InputError([("", "a day is written as JSON Lines: the file must end in "
                               ".jsonl")], args.output)
    t0 = time.perf_counter()
    if args.network is None:
        network = generate(args.preset, args.seed, **knobs)
    elif args.network.endswith(".db"):
        from router.network.store import Store

        store = Store.open(args.network)
        try:
            network = store.network()[0]
        finally:
            store.close()
    else:
        loaded = load(args.network)
        if not isinstance(loaded, Instance):
            raise InputError([("", "a network must be a router/instance-v1 file")],
                             args.network)
        network = loaded
    day_knobs = {k: getattr(args, k) for k in _DAY_KNOBS}
    day_knobs["orders"] = args.day_orders
    header, size = write_generated_day(args.output, network, args.seed, **day_knobs)
    print(f"{args.output}: a day for {network.name}: {header['orders']:,} orders over "
          f"{header['duration']:g} s, {size:,} bytes, {time.perf_counter() - t0:.2f} s",
          file=sys.stderr)
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from router.generate import generate_data
    from router.io.write import format_for, write

    knobs = {k: getattr(args, k) for k in ("orders", "warehouses", "stores", "skus", "scarcity",
                                           "store_share", "express_share", "tightness", "zipf",
                                           "name")}
    if args.day:
        return cmd_generate_day(args, knobs)
    day_only = [f"--{k.replace('_', '-')}" for k in (*_DAY_KNOBS, "day_orders", "network")
                if getattr(args, k) is not None]
    if day_only:
        raise InputError([("", f"{', '.join(day_only)}: only with --day")], "generate")
    format_for(args.output)  # a bad extension is reported before any work
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
