"""``router network init/show/export``: a network's ledger file (SQLite)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from router.cli.main import EXIT_NO_PLAN, EXIT_OK, register_command
from router.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "network", help="a network's ledger (stock, capacity, orders) in a SQLite file",
        description="A network's ledger through a sale day, in one SQLite file: every commit "
                    "one transaction, so a killed process reopens with every committed plan.")
    s = p.add_subparsers(dest="network_command", required=True, parser_class=type(p))
    q = s.add_parser("init", help="create a ledger file from an instance file's network")
    q.add_argument("ledger", help="the ledger file to create (must not exist)")
    q.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="instance file: its nodes, SKUs, stock and tariff")
    q.add_argument("--backlog", action="store_true",
                   help="put the file's orders in the backorder queue (a snapshot from "
                        "`router network export`); without it they are ignored")
    q.add_argument("--capacity-window", type=float, default=3600.0, metavar="S",
                   help="seconds a node's max_packages/max_units apply to (default 3600)")
    q.add_argument("--wait-limit", type=float, default=7200.0, metavar="S",
                   help="seconds units may wait before they are cancelled (default 7200; "
                        "0: no backorders)")
    q = s.add_parser("show", help="summary of a ledger: stock, orders, units, cost, audit")
    q.add_argument("ledger")
    q.add_argument("--json", action="store_true", help="as JSON")
    q = s.add_parser("export", help="write the ledger's current state as an instance file")
    q.add_argument("ledger")
    q.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="instance file (.json, .yaml): nodes with the stock on hand and the "
                        "capacity left in this window, the backorder queue as orders")


def _params(args: argparse.Namespace) -> dict[str, Any]:
    problems = []
    if not args.capacity_window > 0:
        problems.append(("--capacity-window", "must be a positive number of seconds"))
    if not args.wait_limit >= 0:
        problems.append(("--wait-limit", "must be a number of seconds >= 0"))
    if problems:
        raise InputError(problems, "network init")
    return {"capacity_window": args.capacity_window, "wait_limit": args.wait_limit}


def show_text(summary: dict[str, Any], audit: list[str]) -> str:
    u, c = summary["units"], summary["cost"]
    lines = [
        f"{summary['file']}: network {summary['network']}: {summary['nodes']:,} nodes "
        f"({summary['stores']:,} stores), {summary['skus']:,} SKUs, {summary['pools']:,} pools",
        f"clock {summary['clock']:g} s (capacity window {summary['window']} of "
        f"{summary['capacity_window']:g} s), wait limit {summary['wait_limit']:g} s",
        f"stock on hand {summary['stock_on_hand']:,} units ({summary['stock_available']:,} "
        f"available), {summary['adjustments']:,} adjustments",
        f"{summary['plans']:,} plans committed, {summary['orders']:,} orders, "
        f"{summary['packages']:,} active packages, {summary['orders_waiting']:,} orders "
        f"waiting",
        f"units: ordered {u['ordered']:,} = shipped {u['shipped']:,} + waiting "
        f"{u['waiting']:,} + cancelled {u['cancelled']:,} + dropped {u['dropped']:,} "
        f"({'balanced' if u['balanced'] else 'NOT BALANCED'})",
        f"cost: packages {c['package']:,.2f} + units {c['unit']:,.2f} + cancelled "
        f"{c['cancelled']:,.2f} = {c['total']:,.2f} (waiting units at their penalty: "
        f"{c['waiting']:,.2f})",
        "audit: consistent" if not audit else "audit: " + "; ".join(audit),
    ]
    return "\n".join(lines)


def cmd_network(args: argparse.Namespace) -> int:
    from router.instance import Instance
    from router.io.read import load
    from router.io.write import format_for
    from router.network import Network

    if args.network_command == "init":
        params = _params(args)
        inst = load(args.source)
        if not isinstance(inst, Instance):
            raise InputError([("", "a network must be a router/instance-v1 file")], args.source)
        with Network.create(inst, args.ledger, **params) as net:
            if inst.orders and args.backlog:
                net.enqueue(inst.orders)
            elif inst.orders:
                print(f"{args.source}: its {len(inst.orders):,} orders are not queued "
                      f"(--backlog queues them)", file=sys.stderr)
            print(show_text(net.summary(), net.audit()), file=sys.stderr)
        return EXIT_OK
    if args.network_command == "export":
        format_for(args.output)  # a bad extension is reported before any work
    with Network.open(args.ledger) as net:
        audit = net.audit()
        if args.network_command == "show":
            if args.json:
                print(json.dumps({**net.summary(), "audit": audit}, indent=1))
            else:
                print(show_text(net.summary(), audit))
            return EXIT_OK if not audit else EXIT_NO_PLAN
        size = net.save(args.output)
        snap_orders = len(net.ledger.waiting_lines)
        print(f"{args.output}: the state at {net.clock:g} s: {net.ledger.s.n_nodes:,} nodes, "
              f"{snap_orders:,} waiting lines, {size:,} bytes", file=sys.stderr)
    return EXIT_OK


register_command(add_parser, "network", cmd_network)
