"""Checking a routed batch against the ledger, from the ledger's records.

:func:`batch_instance` builds the :class:`~router.instance.Instance` a batch was routed
against, as the ledger holds it now: the batch's orders, and every node the plan ships from
with its own record (place, tariff, handling, safety stock), its stock on hand of the SKUs the
plan ships from it, and the capacity it has left in the current window. The independent
verifier (:func:`router.verify`) then recomputes feasibility and cost from that instance,
never from the compiled arrays the solver saw. What an instance cannot say (an order banned
from a store that declined it) is checked by :func:`banned_shipments`. Building the view
costs time in the plan's size, not the network's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

import numpy as np

from router.instance import Instance, Order
from router.network.ledger import Ledger
from router.plan import Plan


def batch_instance(network: Instance, ledger: Ledger, orders: Sequence[Order], plan: Plan,
                   node_index: Mapping[str, int], sku_index: Mapping[str, int]) -> Instance:
    """The instance ``plan`` must satisfy: ``orders`` against the ledger's current state."""
    s = ledger.s
    nodes: dict[int, dict[str, int]] = {}
    pairs_n: list[int] = []
    pairs_s: list[int] = []
    for sh in plan.shipments:
        ni = node_index.get(sh.node)
        if ni is None:
            continue  # not in the network: the verifier reports the unknown node
        inv = nodes.setdefault(ni, {})
        for ln in sh.lines:
            si = sku_index.get(ln.sku)
            if si is not None and ln.sku not in inv:
                inv[ln.sku] = len(pairs_n)  # replaced by the stock on hand below
                pairs_n.append(ni)
                pairs_s.append(si)
    pool = s.pools_of(np.array(pairs_n, dtype=np.int64), np.array(pairs_s, dtype=np.int64))
    on_hand = np.where(pool >= 0, ledger.on_hand[np.maximum(pool, 0)], 0).tolist()
    for inv in nodes.values():
        for sku, k in inv.items():
            inv[sku] = int(on_hand[k])
    pk_left, un_left = ledger.packages_left(), ledger.units_left()
    view_nodes = []
    for ni, inv in nodes.items():
        mp, mu = float(pk_left[ni]), float(un_left[ni])
        view_nodes.append(replace(
            network.nodes[ni], inventory=MappingProxyType(inv),
            max_packages=None if mp == np.inf else int(mp),
            max_units=None if mu == np.inf else int(mu)))
    batch_skus = sorted({sku_index[ln.sku] for o in orders for ln in o.lines
                         if ln.sku in sku_index})
    return Instance(name=plan.instance, shipping=network.shipping,
                    unfilled_penalty=network.unfilled_penalty,
                    skus=tuple(network.skus[i] for i in batch_skus), nodes=tuple(view_nodes),
                    orders=tuple(orders), default_max_packages=network.default_max_packages)


def banned_shipments(plan: Plan, banned: Mapping[str, frozenset[str] | set[str]]
                     ) -> list[str]:
    """Shipments of ``plan`` from a node its order is banned from (order id -> node ids)."""
    if not banned:
        return []
    return [f"order {sh.order} ships from {sh.node}, which declined it"
            for sh in plan.shipments if sh.node in banned.get(sh.order, ())]
