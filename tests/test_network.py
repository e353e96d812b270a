"""router.Network on a hand-made network whose outcomes are worked out by hand.

Network: warehouse W and store S about 1 km apart, both in the first zone (5 per package,
0.5 per kg). W: A 3, B 2, 2 packages per capacity window (1 hour). S: A 2 with a safety stock
of 1 (one available), 1.0 handling per package (so W is cheaper when it can ship). SKU A weighs
1 kg, B 2 kg; a unit left unfilled costs 100.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import router
from router.instance import Instance, Line, Order
from router.network import LedgerError, Network

NET: dict[str, Any] = {
    "name": "hand-net",
    "shipping": {"zones": [{"max_km": 50, "per_package": 5.0, "per_kg": 0.5},
                           {"max_km": 500, "per_package": 8.0, "per_kg": 1.5}]},
    "unfilled_penalty": 100.0,
    "skus": [{"id": "A", "weight_kg": 1.0}, {"id": "B", "weight_kg": 2.0}],
    "nodes": [
        {"id": "W", "kind": "warehouse", "lat": 30.0, "lon": 120.0, "max_packages": 2,
         "max_units": 10, "inventory": {"A": 3, "B": 2}},
        {"id": "S", "kind": "store", "lat": 30.01, "lon": 120.0, "handling_per_package": 1.0,
         "safety_stock": 1, "inventory": {"A": 2}},
    ],
    "orders": [],
}


def network_instance() -> Instance:
    return Instance.from_dict(copy.deepcopy(NET))


def order(oid: str, **lines: int) -> Order:
    return Order(oid, 30.0, 120.0, tuple(Line(s, q) for s, q in lines.items()))


def shipped(plan: router.Plan) -> set[tuple[str, str, str, int]]:
    return {(s.order, s.node, ln.sku, ln.qty) for s in plan.shipments for ln in s.lines}


def stock(net: Network) -> dict[tuple[str, str], int]:
    s = net.ledger.s
    return {(s.node_ids[n], s.sku_ids[k]): int(q) for n, k, q in
            zip(s.pool_node, s.pool_sku, net.ledger.on_hand, strict=True)}


def route_commit(net: Network, orders: list[Order]) -> router.Plan:
    plan = net.route(orders, solver="greedy")
    net.commit(plan)
    assert net.audit() == []
    assert net.accounting().balanced
    return plan


def test_stock_and_capacity_carry_over_batches() -> None:
    net = Network(network_instance())
    p1 = route_commit(net, [order("O1", A=2)])
    assert shipped(p1) == {("O1", "W", "A", 2)}
    assert p1.objective == pytest.approx(6.0)
    assert stock(net)[("W", "A")] == 1
    # W has one A left, S one above its safety stock: the order is split
    p2 = route_commit(net, [order("O2", A=2)])
    assert shipped(p2) == {("O2", "W", "A", 1), ("O2", "S", "A", 1)}
    assert p2.objective == pytest.approx(5.5 + 6.5)
    assert stock(net) == {("W", "A"): 0, ("W", "B"): 2, ("S", "A"): 1}
    # W has used its 2 packages of this window: B waits in the backorder queue
    p3 = route_commit(net, [order("O3", B=1)])
    assert p3.shipments == () and p3.objective == pytest.approx(100.0)
    acc = net.accounting()
    assert (acc.ordered, acc.shipped, acc.waiting) == (5, 4, 1)
    # the next capacity window: the waiting unit is offered again and ships from W
    net.advance(3600.0)
    p4 = route_commit(net, [])
    assert shipped(p4) == {("O3", "W", "B", 1)}
    assert p4.objective == pytest.approx(5.0 + 1.0)
    assert net.accounting().waiting == 0
    costs = net.costs()
    assert costs["package"] + costs["unit"] == pytest.approx(6.0 + 12.0 + 6.0)


def test_backorders_wait_for_stock_and_expire_at_the_wait_limit() -> None:
    net = Network(network_instance(), wait_limit=600.0)
    route_commit(net, [order("O1", B=2)])
    route_commit(net, [order("O2", B=1)])  # W has no B left, S holds none
    assert net.accounting().waiting == 1
    assert net.route([], solver="greedy").stats.extra["batch_orders"] == 0  # nothing new to try
    net.advance(100.0)
    net.adjust("W", "B", 1, kind="replenish")  # the restock makes it worth offering again
    p = route_commit(net, [])
    assert shipped(p) == {("O2", "W", "B", 1)}
    route_commit(net, [order("O3", B=1)])
    net.advance(650.0)
    assert net.accounting().waiting == 1 and net.accounting().cancelled == 0
    info = net.advance(100.0 + 650.0)  # O3 started waiting at 100 s: 600 s later it is gone
    assert info["cancelled"] == 1
    acc = net.accounting()
    assert (acc.waiting, acc.cancelled) == (0, 1)
    assert net.costs()["cancelled"] == pytest.approx(100.0)


def test_release_returns_stock_and_capacity() -> None:
    net = Network(network_instance())
    route_commit(net, [order("O1", A=2)])
    assert net.ledger.used_packages.tolist() == [1, 0]
    assert net.release("O1") == 2
    assert stock(net)[("W", "A")] == 3
    assert net.ledger.used_packages.tolist() == [0, 0]
    acc = net.accounting()
    assert (acc.shipped, acc.dropped) == (0, 2)
    assert net.release("O1") == 0  # nothing left to release
    assert net.audit() == []


def test_declined_shipment_is_rerouted_without_that_store() -> None:
    net = Network(network_instance())
    route_commit(net, [order("O1", A=2)])
    p = route_commit(net, [order("O2", A=2)])
    assert ("O2", "S", "A", 1) in shipped(p)
    assert net.decline("O2", "S") == 1
    assert stock(net)[("S", "A")] == 2  # the store's unit is back on its shelf
    assert net.accounting().waiting == 1
    # S has stock but declined O2; W has none: the unit stays unfilled, never from S
    p = route_commit(net, [])
    assert p.stats.extra["backorders_offered"] == 1 and p.shipments == ()
    net.adjust("W", "A", 1, kind="replenish")
    p = route_commit(net, [])  # W has used both packages of this window
    assert p.stats.extra["backorders_offered"] == 1 and p.shipments == ()
    net.advance(3600.0)
    p = route_commit(net, [])
    assert shipped(p) == {("O2", "W", "A", 1)}
    with pytest.raises(LedgerError, match="no active package"):
        net.decline("O2", "S")


def test_a_plan_that_no_longer_fits_is_refused_and_changes_nothing() -> None:
    net = Network(network_instance())
    plan = net.route([order("O1", A=3)], solver="greedy")
    assert shipped(plan) == {("O1", "W", "A", 3)}
    net.adjust("W", "A", 2, kind="sale")  # walk-in shoppers take two of the three
    before = (net.ledger.on_hand.copy(), net.accounting())
    with pytest.raises(LedgerError, match="ships 3 units, 1 available"):
        net.commit(plan)
    assert np.array_equal(net.ledger.on_hand, before[0]) and net.accounting() == before[1]
    assert net.ledger.n_orders == 0 and net.audit() == []


def test_commits_are_idempotent() -> None:
    net = Network(network_instance())
    plan = net.route([order("O1", A=1)], solver="greedy")
    first, again = net.commit(plan), net.commit(plan)
    assert first.committed and not again.committed and first.plan_id == again.plan_id
    assert net.accounting().shipped == 1
    with pytest.raises(LedgerError, match="has not routed"):
        net.commit(router.Plan(instance="other", solver="x", status="feasible", objective=0.0,
                               lower_bound=None, cost=None, shipments=(), unfilled=()))


def test_an_order_is_committed_once_whatever_was_routed() -> None:
    net = Network(network_instance())
    first = net.route([order("O1", A=1)], solver="greedy")
    second = net.route([order("O1", A=1), order("O2", B=1)], solver="greedy")
    net.commit(first)
    with pytest.raises(LedgerError, match="'O1' is already in the ledger"):
        net.commit(second)
    assert net.accounting().ordered == 1 and net.audit() == []


def test_route_rejects_known_or_unknown_orders() -> None:
    net = Network(network_instance())
    route_commit(net, [order("O1", A=1)])
    with pytest.raises(router.InputError, match="already known"):
        net.route([order("O1", A=1)], solver="greedy")
    with pytest.raises(router.InputError, match="unknown SKU 'Q'"):
        net.route([order("O2", Q=1)], solver="greedy")
    with pytest.raises(router.InputError, match="does not stock it"):
        net.adjust("S", "B", 1)


def test_sale_never_goes_below_zero_and_count_sets_the_stock() -> None:
    net = Network(network_instance())
    assert net.adjust("S", "A", 5, kind="sale") == -2
    assert stock(net)[("S", "A")] == 0
    assert net.adjust("S", "A", 4, kind="count") == 4
    assert net.adjust("W", {"A": 1, "B": 2}, kind="replenish") == 3
    assert stock(net) == {("W", "A"): 4, ("W", "B"): 4, ("S", "A"): 4}
    assert net.audit() == []


def test_ledger_file_restarts_with_every_commit(tmp_path: Any) -> None:
    path = tmp_path / "net.db"
    net = Network.create(network_instance(), path, wait_limit=900.0)
    route_commit(net, [order("O1", A=2)])
    route_commit(net, [order("O2", A=2), order("O3", B=1)])
    net.decline("O2", "S")
    net.advance(4000.0)
    net.adjust("W", "A", 3, kind="replenish")
    route_commit(net, [])
    state = (net.ledger.on_hand.copy(), net.accounting(), net.costs(), net.summary())
    net.close()
    with Network.open(path) as again:
        assert again.audit() == []
        assert np.array_equal(again.ledger.on_hand, state[0])
        assert again.accounting() == state[1]
        assert again.costs() == pytest.approx(state[2])
        assert again.summary() == state[3]
        assert again.ledger.banned == {1: {1}}
        assert again.ledger.wait_limit == 900.0
    with pytest.raises(router.InputError, match="already exists"):
        Network.create(network_instance(), path)


def test_snapshot_is_the_state_for_routing_now(tmp_path: Any) -> None:
    net = Network(network_instance())
    for o in (order("O1", A=2), order("O2", A=2), order("O3", B=1)):
        route_commit(net, [o])
    snap = net.snapshot()
    w = next(n for n in snap.nodes if n.id == "W")
    assert dict(w.inventory) == {"A": 0, "B": 2} and w.max_packages == 0
    assert [(o.id, [(ln.sku, ln.qty) for ln in o.lines]) for o in snap.orders] == \
        [("O3", [("B", 1)])]
    path = tmp_path / "snap.json"
    net.save(path)
    back = Network.load(path)
    assert back.accounting().waiting == 1
    assert stock(back) == stock(net)
    # `router solve` on the snapshot routes the backlog against the current state
    plan = router.solve(router.load(str(path)), solver="greedy")
    assert plan.shipments == ()  # W has no package left in this window


def test_network_commands(tmp_path: Any, capsys: Any) -> None:
    from router.cli import main
    from router.io.write import write

    src = tmp_path / "net.json"
    write(network_instance(), src)
    db = tmp_path / "net.db"
    assert main(["network", "init", str(db), "--from", str(src)]) == 0
    assert main(["network", "init", str(db), "--from", str(src)]) == 2
    with Network.open(db) as net:
        route_commit(net, [order("O1", A=2)])
    capsys.readouterr()
    assert main(["network", "show", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1 plans committed, 1 orders" in out and "audit: consistent" in out
    assert "ordered 2 = shipped 2 + waiting 0" in out
    assert main(["network", "export", str(db), "-o", str(tmp_path / "now.yaml")]) == 0
    now = router.load(str(tmp_path / "now.yaml"))
    assert dict(next(n for n in now.nodes if n.id == "W").inventory) == {"A": 1, "B": 2}
    assert main(["network", "show", str(tmp_path / "missing.db")]) == 2
    assert main(["network", "show", str(src)]) == 2
    assert "not a router ledger" in capsys.readouterr().err
