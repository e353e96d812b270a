"""``router show PLAN [--instance FILE] [--map map.png]``: a plan a person can read."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from router.cli.main import EXIT_BAD_INPUT, EXIT_OK, register_command
from router.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "show", help="a plan a person can read (and a map of it)",
        description="Summarise a plan: cost split, packages per order, split rate, unfilled "
                    "units, store share, node utilisation against capacity (busiest first) "
                    "and the limits it binds; with --map, draw it on a longitude/latitude map.")
    p.add_argument("plan", help="the plan (JSON)")
    p.add_argument("--instance", metavar="FILE",
                   help="its instance: cost split by part, store share, distances, capacities")
    p.add_argument("--format", choices=("yaml", "json", "gap"),
                   help="instance format (default: from the extension)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="nodes listed by utilisation (default 10)")
    p.add_argument("--prices", action="store_true",
                   help="the prices of stock and capacity (LP duals, or Lagrangian prices "
                        "of column generation on large batches)")
    p.add_argument("--price-time", type=float, default=10.0, metavar="S",
                   help="seconds for the prices (default 10)")
    p.add_argument("--map", metavar="IMAGE", help="draw the plan to IMAGE (.png, .svg, .pdf)")
    p.add_argument("--density", choices=("auto", "on", "off"), default="auto",
                   help="density view of the map (default: for large batches)")
    p.add_argument("--json", action="store_true", help="JSON for programs")


def cmd_show(args: argparse.Namespace) -> int:
    import router
    from router.show import format_summary, summarize

    if args.top < 0 or not args.price_time > 0:
        raise InputError([("", "--top must be >= 0 and --price-time > 0")], "show")
    if args.map and not args.instance:
        raise InputError([("", "--map needs --instance (the coordinates are in the instance)")],
                         "show")
    if args.map and args.map.rsplit(".", 1)[-1].lower() not in ("png", "svg", "pdf"):
        raise InputError([("", "the map is written as .png, .svg or .pdf")], args.map)
    if (args.prices or args.map) and args.instance is None:
        raise InputError([("", "--prices needs --instance")], "show")
    if args.map:
        from router.plot import PlotUnavailable, require

        try:
            require()  # before any work
        except PlotUnavailable as e:
            print(f"router: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
    plan = router.Plan.read(args.plan)
    instance = None if args.instance is None else router.load(args.instance, format=args.format)
    if instance is not None and plan.instance != instance.name:
        raise InputError([("", f"the plan is for instance {plan.instance!r}, not "
                               f"{instance.name!r}")], args.plan)
    if args.map:
        from router.instance import Instance

        if not isinstance(instance, Instance):
            raise InputError([("", "a map needs a routing batch (GAP files have no "
                                   "coordinates)")], args.instance)
    prices = None
    if args.prices and instance is not None:
        from router.duals import batch_prices

        prices = batch_prices(instance, args.price_time)
    summary = summarize(plan, instance, prices=prices, top=max(args.top, 10))
    print(json.dumps(summary.to_dict(), indent=1) if args.json
          else format_summary(summary, args.top))
    if args.map:
        from router.plot import draw_map

        assert isinstance(instance, Instance)
        density = None if args.density == "auto" else args.density == "on"
        try:
            dense = draw_map(plan, instance, args.map, density=density)
        except OSError as e:
            raise InputError([("", f"cannot write the map: {e.strerror or e}")],
                             args.map) from None
        print(f"{args.map}: map of {len(plan.shipments):,} shipments"
              f"{' (density view)' if dense else ''}", file=sys.stderr)
    return EXIT_OK


register_command(add_parser, "show", cmd_show)
