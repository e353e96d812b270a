"""``router explain FILE PLAN [--order ID ...]``: why the plan routes orders as it does (text for
people, ``--json`` for programs). Without ``--order``: the batch counted by reason
(:func:`router.explain.digest`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from router.cli.main import EXIT_OK, register_command
from router.errors import InputError

ALTERNATIVES_SHOWN = 8
TAKERS_SHOWN = 5


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain", help="why each order ships from where it does, and why lines stay unfilled",
        description="Explain a plan: per shipment its cost split; per order the alternatives it "
                    "had, what each would have cost and why it was not taken; per unfilled line "
                    "the reason; the prices of the scarce stock and capacity the order used (LP "
                    "duals, or Lagrangian prices of column generation on large batches). "
                    "Without --order: the whole batch counted by reason.")
    p.add_argument("file", help="the instance")
    p.add_argument("plan", help="the plan (JSON)")
    p.add_argument("--format", choices=("yaml", "json", "gap"),
                   help="instance format (default: from the extension)")
    p.add_argument("--order", action="append", metavar="ID",
                   help="an order to explain (repeat for several)")
    p.add_argument("--json", action="store_true", help="JSON for programs")
    p.add_argument("--all-nodes", action="store_true",
                   help="list every node holding the order's SKUs, also those barred from it "
                        "that could not have been cheaper")
    p.add_argument("--alternatives", type=int, default=ALTERNATIVES_SHOWN, metavar="N",
                   help=f"alternatives shown per order in text (default {ALTERNATIVES_SHOWN})")
    p.add_argument("--no-prices", action="store_true", help="do not compute prices")
    p.add_argument("--price-time", type=float, default=10.0, metavar="S",
                   help="seconds for computing the prices (default 10)")
    p.add_argument("--price-method", choices=("auto", "lp", "lagrangian"), default="auto",
                   help="lp: the LP relaxation's duals; lagrangian: column generation; auto "
                        "(default): the LP where it is expected to be solved in half the "
                        "time, else or failing that column generation")


def cmd_explain(args: argparse.Namespace) -> int:
    import router
    from router.duals import PriceParams
    from router.explain import digest, explain

    if args.alternatives < 0 or not args.price_time > 0:
        raise InputError([("", "--alternatives must be >= 0 and --price-time > 0")], "explain")
    instance = router.load(args.file, format=args.format)
    plan = router.Plan.read(args.plan)
    try:
        if args.order:
            e = explain(instance, plan, args.order, all_nodes=args.all_nodes,
                        prices=not args.no_prices, price_time_limit=args.price_time,
                        price_params=PriceParams(method=args.price_method))
            out = (json.dumps(e.to_dict(), indent=1) if args.json
                   else format_explanation(e, args.alternatives))
        else:
            d = digest(instance, plan)
            out = (json.dumps(d.to_dict(), indent=1) if args.json
                   else format_digest(d, plan, args.file, args.plan))
    except InputError as err:
        raise err.with_source(args.plan if err.source == "plan" else args.file) from None
    print(out)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------
# text for people


def _money(v: float | None) -> str:
    return "-" if v is None else f"{v:,.2f}"


def _signed(v: float | None) -> str:
    return "" if v is None else f" ({'+' if v >= 0 else '-'}{abs(v):,.2f})"


def _n(k: int, word: str) -> str:
    return f"{k:,} {word}" + ("" if k == 1 else "s")


def format_explanation(e: Any, shown: int = ALTERNATIVES_SHOWN) -> str:
    out = [f"{e.instance}: plan by {e.solver}, {e.status}, cost {_money(e.objective)}"]
    if e.prices is not None:
        p = e.prices
        out.append(f"prices: {p.method_name}: {p.message}" if p.solved
                   else f"prices: none ({p.message}; see --price-time, --no-prices)")
        out.extend(f"  ({t})" for t in p.tried if p.solved)
    for o in e.orders:
        out.append("")
        out.extend(_order_text(o, shown, e))
    return "\n".join(out)


def _order_text(o: Any, shown: int, e: Any) -> list[str]:
    limit = "no package limit" if o.max_packages is None else (
        "ship complete (1 package)" if o.max_packages == 1 else
        f"at most {o.max_packages} packages")
    n = len(o.shipments)
    short = sum(u.qty for u in o.unfilled)
    tail = f", {_n(short, 'unit')} unfilled" if short else ", nothing unfilled"
    shipped = f"in {_n(n, 'package')}" if n else "nothing shipped"
    out = [f"order {o.order} ({o.service}, {limit}, {o.penalty:,.2f} per unfilled unit): "
           f"{o.cost:,.2f}, {shipped}{tail}"]
    for s in o.shipments:
        c = s.cost
        out.append(f"  ships from {s.node} ({s.kind}), {c.km:,.1f} km, zone {c.zone} "
                   f"(<= {c.zone_max_km:g} km): {c.total:,.2f}")
        out.append(f"      package {c.per_package:,.2f} (zone) + {c.handling_per_package:,.2f} "
                   f"(handling)")
        for ln in c.lines:
            out.append(f"      {ln.sku} x{ln.qty}: weight {ln.qty} x {ln.per_kg:g}/kg x "
                       f"{ln.weight_kg:g} kg = {ln.weight:,.2f}, handling {ln.handling:,.2f}")
    for u in o.unfilled:
        out.append(f"  unfilled {u.sku} x{u.qty} ({u.penalty:,.2f} each): {u.reason.text} "
                   f"[{u.reason}]")
        out.extend(_alternatives_text(u.alternatives, shown, "      ", e))
    # a whole-order alternative the same as one for an unfilled line is not repeated
    seen = {(a.node, a.shipments, a.unfilled) for u in o.unfilled for a in u.alternatives}
    alts = [a for a in o.alternatives if (a.node, a.shipments, a.unfilled) not in seen]
    if alts:
        out.append("  alternatives (the order's cost with each, cheapest first):")
        out.extend(_alternatives_text(alts, shown, "      ", e))
    elif o.alternatives:
        out.append("  no other alternative for the order as a whole")
    elif not o.unlisted:
        out.append("  no other node holds its SKUs")
    if o.unlisted:
        parts = ", ".join(f"{r} {_n(k, 'node')}" for r, k in o.unlisted)
        out.append(f"  not listed, could not have cost less (--all-nodes lists them): {parts}")
    if o.prices:
        parts = "; ".join(
            f"{p.limit} {' '.join(x for x in (p.sku, p.node) if x)} "
            f"{p.price:,.2f} x {p.qty}" for p in o.prices)
        method = "LP" if e.prices is None or e.prices.method == "lp" else "Lagrangian"
        out.append(f"  {method} prices of the scarce limits it uses ({o.opportunity_cost:,.2f}): "
                   f"{parts}")
    return out


def _alternatives_text(alts: Any, shown: int, pad: str, e: Any) -> list[str]:
    out = []
    for a in alts[:shown]:
        where = "beyond every zone" if a.zone is None else f"zone {a.zone}"
        what = ", ".join(f"{ln.sku} x{ln.qty}" for ln in a.lines)
        verdict = (f"not taken: {', '.join(str(r) for r in a.reasons)}" if a.blocked
                   else str(a.reason))
        out.append(f"{pad}{a.node} ({a.kind}, {a.km:,.1f} km, {where}) for {what}: "
                   f"{_money(a.cost)}{_signed(a.delta)} {verdict}")
        out.extend(f"{pad}    {d}" for d in _details(a, e))
    if len(alts) > shown:
        out.append(f"{pad}... and {len(alts) - shown} more (--alternatives N)")
    return out


def _details(a: Any, e: Any) -> list[str]:
    from router.explain import WhyNot

    out = []
    if WhyNot.OUT_OF_ZONE in a.reasons and e.last_zone_km is not None:
        out.append(f"{a.km:,.1f} km: the last zone ends at {e.last_zone_km:g} km")
    if WhyNot.SERVICE_RADIUS in a.reasons and a.service_radius_km is not None:
        out.append(f"the node serves orders within {a.service_radius_km:g} km")
    if WhyNot.EXPRESS in a.reasons and e.express_max_km is not None:
        out.append(f"express orders ship from within {e.express_max_km:g} km")
    if WhyNot.STORE_INELIGIBLE in a.reasons:
        out.append("a store may not ship " + ", ".join(ln.sku for ln in a.lines))
    elif a.ineligible:
        out.append(f"({', '.join(a.ineligible)} may not ship from a store: left where it was)")
    for c in a.stock:
        if not c.short:
            continue
        text = (f"{c.sku}: asks {c.need}; {c.inventory} in stock, {c.safety_stock} held back, "
                f"{c.available} available, {c.used_by_others} used by other orders")
        if c.takers:
            names = ", ".join(f"{t.order} x{t.qty} (paid {t.paid:,.2f})"
                              for t in c.takers[:TAKERS_SHOWN])
            more = len(c.takers) - TAKERS_SHOWN
            text += f": {names}" + (f" and {more} more" if more > 0 else "")
        if c.price is not None:
            text += f"; price {c.price:,.2f} per unit"
        out.append(text)
    for lim in a.limits:
        what = {"node-units": "units from the node", "node-packages": "packages from the node",
                "order-packages": "packages of the order"}[str(lim.reason)]
        price = "" if lim.price is None else f"; price {lim.price:,.2f}"
        out.append(f"{what}: {lim.used} > limit {lim.limit}{price}")
    return out


def format_digest(d: Any, plan: Any, file: str, plan_file: str) -> str:
    out = [f"{d.instance}: plan by {plan.solver}, {plan.status}, cost {_money(plan.objective)}; "
           f"{d.orders:,} orders"]
    if d.unfilled:
        out.append("unfilled lines, by reason:")
        for t in d.unfilled:
            out.append(f"  {t.reason} ({t.reason.text}): {_n(t.count, 'line')}, "
                       f"{_n(t.units, 'unit')}, penalties {t.amount:,.2f}; e.g. "
                       f"{', '.join(t.examples)}")
    else:
        out.append("every unit shipped")
    if d.forgone:
        out.append("orders an alternative would have served for less, by why it was not taken:")
        for t in d.forgone:
            out.append(f"  {t.reason} ({t.reason.text}): {_n(t.count, 'order')}, "
                       f"{t.amount:,.2f} more paid; e.g. {', '.join(t.examples)}")
    else:
        out.append("no order had a cheaper alternative")
    example = next((t.examples[0] for t in (*d.unfilled, *d.forgone) if t.examples), None)
    if example is not None:
        out.append(f"one order in detail: router explain {file} {plan_file} --order {example}")
    return "\n".join(out)


register_command(add_parser, "explain", cmd_explain)
