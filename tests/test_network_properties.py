"""Random sequences of route/commit, release, adjust, decline and clock moves on random small
networks (tests/strategies.py): the ledger never oversells, never loses a unit, and a ledger
file closed and reopened at any point holds exactly the same state."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from router.instance import Instance
from router.network import Network
from tests.strategies import instance_dicts

OPS = st.lists(st.one_of(
    st.tuples(st.just("route"), st.integers(0, 3)),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("adjust"), st.integers(0, 50), st.sampled_from(["sale", "replenish",
                                                                      "count"]),
              st.integers(0, 6)),
    st.tuples(st.just("decline"), st.integers(0, 50)),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 30.0, 700.0, 3600.0])),
    st.tuples(st.just("reopen")),
), min_size=1, max_size=14)


def state(net: Network) -> dict[str, Any]:
    led = net.ledger
    return {"on_hand": led.on_hand.tolist(), "packages": led.used_packages.tolist(),
            "units": led.used_units.tolist(), "clock": led.clock, "window": led.window,
            "accounting": led.accounting(), "costs": led.costs(),
            "waiting": led.waiting_lines.tolist(), "banned": led.banned,
            "plans": list(led.plan_ids), "states": led.k_state.a.tolist(),
            "orders": led.order_ids}


def check(net: Network, initial_plus_in: np.ndarray) -> None:
    led = net.ledger
    assert net.audit() == []
    assert net.accounting().balanced
    assert (led.on_hand >= 0).all()
    # never oversold: what the pools shipped is at most what ever came into them
    active = np.repeat(led.k_state.a == 0, led.k_n_lines.a)
    out = np.bincount(led.s_pool.a[active], weights=led.s_qty.a[active],
                      minlength=led.s.n_pools)
    assert (out <= initial_plus_in).all()
    assert (led.used_packages <= led.s.node_max_packages).all()
    assert (led.used_units <= led.s.node_max_units).all()


@settings(max_examples=60, deadline=None)
@given(instance_dicts(max_nodes=4, max_orders=8, max_skus=3), OPS, st.integers(0, 3))
def test_random_operations_keep_the_ledger_consistent(d: dict[str, Any], ops: list[Any],
                                                      seed: int) -> None:
    inst = Instance.from_dict(d)
    pool = list(inst.orders)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.db"
        net = Network.create(inst, path, capacity_window=3600.0, wait_limit=1800.0)
        s = net.ledger.s
        inflow = s.initial.copy()
        served = 0
        for op in ops:
            if op[0] == "route":
                batch = [dataclasses.replace(pool[(served + k) % len(pool)],
                                             id=f"B{served + k}") for k in range(op[1])]
                served += op[1]
                avail = net.ledger.available().copy()
                plan = net.route(batch, solver="greedy", seed=seed)
                # every shipment fits the stock available when it was routed
                used = np.zeros(s.n_pools, dtype=np.int64)
                for sh in plan.shipments:
                    for ln in sh.lines:
                        p = s.pools_of(np.array([net.node_index[sh.node]]),
                                       np.array([net.sku_index[ln.sku]]))[0]
                        used[p] += ln.qty
                assert (used <= avail).all()
                before_cost = net.costs()
                res = net.commit(plan)
                assert res.committed and not net.commit(plan).committed
                # the ledger's cost of the new packages, from its records, is the plan's
                after_cost = net.costs()
                assert plan.cost is not None
                shipped_cost = (after_cost["package"] + after_cost["unit"]
                                - before_cost["package"] - before_cost["unit"])
                assert abs(shipped_cost - plan.cost.package - plan.cost.unit) <= 1e-6 * (
                    1 + abs(shipped_cost))
            elif op[0] == "release" and net.ledger.n_orders:
                net.release(net.ledger.order_ids[op[1] % net.ledger.n_orders])
            elif op[0] == "adjust" and s.n_pools:
                p = op[1] % s.n_pools
                before = int(net.ledger.on_hand[p])
                net.adjust(s.node_ids[s.pool_node[p]], s.sku_ids[s.pool_sku[p]], op[3],
                           kind=op[2])
                inflow[p] += max(0, int(net.ledger.on_hand[p]) - before)
            elif op[0] == "decline":
                led = net.ledger
                ks = np.flatnonzero((led.k_state.a == 0) & s.node_store[led.k_node.a])
                if len(ks):
                    k = int(ks[op[1] % len(ks)])
                    o, n = int(led.k_order.a[k]), int(led.k_node.a[k])
                    returned = net.decline(led.order_ids[o], s.node_ids[n])
                    assert returned > 0 and n in net.ledger.banned[o]
            elif op[0] == "advance":
                net.advance(net.clock + op[1])
            elif op[0] == "reopen":
                before = state(net)
                net.close()
                net = Network.open(path)
                assert state(net) == before
            check(net, inflow)
        # after the day every unit is shipped, waiting, cancelled or dropped
        acc = net.accounting()
        ordered = sum(ln.qty for k in range(served) for ln in pool[k % len(pool)].lines)
        assert acc.ordered == ordered
        assert acc.shipped + acc.waiting + acc.cancelled + acc.dropped == ordered
        # a declined order never ships from the store that declined it
        led = net.ledger
        for o, nodes in led.banned.items():
            ks = led.order_packages(o)
            for k in ks.tolist():
                if int(led.k_node.a[k]) in nodes:
                    assert led.k_state.a[k] != 0
        before = state(net)
        net.close()
        with Network.open(path) as again:
            assert state(again) == before
            assert again.audit() == []
