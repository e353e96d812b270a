"""Compilation: arcs, line-arcs, costs and pruning, hand-checked on small instances."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router.compile import (
    CompiledNetwork,
    Problem,
    compile_batch,
    compile_network,
    compile_problem,
    expand_ranges,
    segment_ptr,
)
from router.geo import haversine_km
from router.instance import Instance, Line, Order, order_columns
from tests.conftest import HAND, assert_same_problem, base_dict, gap_path
from tests.strategies import instance_dicts, instances

SETTINGS = settings(max_examples=60, deadline=None)


def hand(name: str) -> Problem:
    inst = router.load(HAND / f"{name}.yaml")
    return compile_problem(inst)


def arcs(p: Problem) -> dict[tuple[str, str], float]:
    """(order id, node id) -> package cost."""
    return {(p.order_ids[o], p.node_ids[n]): c
            for o, n, c in zip(p.arc_order.tolist(), p.arc_node.tolist(), p.arc_cost.tolist(),
                               strict=True)}


def line_arcs(p: Problem) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(order id, sku id, node id) -> (unit cost, upper bound)."""
    out = {}
    for e in range(p.n_line_arcs):
        line, a = int(p.e_line[e]), int(p.e_arc[e])
        key = (p.order_ids[int(p.line_order[line])], p.sku_ids[int(p.line_sku[line])],
               p.node_ids[int(p.arc_node[a])])
        out[key] = (float(p.e_unit_cost[e]), int(p.e_ub[e]))
    return out


def compiled(d: dict[str, Any]) -> Problem:
    return compile_problem(Instance.from_dict(d))


def check_structure(p: Problem) -> None:
    """Invariants of the index structure every solver relies on."""
    assert p.order_line_ptr[0] == 0 and p.order_line_ptr[-1] == p.n_lines
    np.testing.assert_array_equal(np.diff(p.order_line_ptr), np.bincount(p.line_order,
                                                                         minlength=p.n_orders))
    key = p.arc_order * max(p.n_nodes, 1) + p.arc_node
    assert (np.diff(key) > 0).all()  # sorted by (order, node), unique
    np.testing.assert_array_equal(p.order_arc_ptr, segment_ptr(p.arc_order, p.n_orders))
    ekey = p.e_line * max(p.n_nodes, 1) + p.arc_node[p.e_arc]
    assert (np.diff(ekey) > 0).all()  # sorted by (line, node), unique
    np.testing.assert_array_equal(p.line_e_ptr, segment_ptr(p.e_line, p.n_lines))
    np.testing.assert_array_equal(p.line_order[p.e_line], p.arc_order[p.e_arc])
    np.testing.assert_array_equal(p.pool_node[p.e_pool], p.arc_node[p.e_arc])
    np.testing.assert_array_equal(p.pool_sku[p.e_pool], p.line_sku[p.e_line])
    assert (p.e_ub >= 1).all()
    assert (p.e_ub <= p.line_qty[p.e_line]).all()
    assert (p.e_ub <= p.pool_qty[p.e_pool]).all()
    # every arc carries at least one line-arc
    assert set(p.e_arc.tolist()) == set(range(p.n_arcs))
    for name in ("line_qty", "arc_cost", "e_unit_cost", "e_ub", "pool_qty", "node_capacity"):
        assert not getattr(p, name).flags.writeable


@pytest.mark.parametrize("name", ["split", "store", "express", "safety", "unfillable",
                                  "capacity"])
def test_structure_of_hand_instances(name: str) -> None:
    p = hand(name)
    assert p.kind == "routing"
    check_structure(p)


def test_split_costs() -> None:
    p = hand("split")
    # zone 1 (22 km): 5 per package, 0.5 per kg; W-far at 1112 km, zone 3: 12, 4.0
    assert arcs(p) == {("O-1", "W-near-A"): 5.0, ("O-1", "W-near-B"): 5.0,
                       ("O-1", "W-far"): 12.0}
    assert line_arcs(p) == {("O-1", "A", "W-near-A"): (0.5, 1), ("O-1", "A", "W-far"): (4.0, 1),
                            ("O-1", "B", "W-near-B"): (0.5, 1), ("O-1", "B", "W-far"): (4.0, 1)}
    assert p.arc_km.tolist() == pytest.approx([22.239, 22.239, 1111.95], abs=0.01)
    assert p.line_penalty.tolist() == [200.0, 200.0]
    assert p.order_max_packages.tolist() == [3]  # unlimited = number of nodes
    assert not p.must_fill


def test_store_costs_and_ineligible_sku() -> None:
    p = hand("store")
    # ST: zone 1 plus handling 1 per package; WH: zone 2 (111 km)
    assert arcs(p) == {("O-1", "WH"): 8.0, ("O-1", "ST"): 6.0, ("O-2", "WH"): 8.0}
    # A (0.5 kg): WH 1.5 * 0.5; ST 0.5 * 0.5 + 0.5 handling. B (10 kg) only from WH: 15
    assert line_arcs(p) == {("O-1", "A", "WH"): (0.75, 2), ("O-1", "A", "ST"): (0.75, 2),
                            ("O-2", "B", "WH"): (15.0, 1)}


def test_express_radius_prunes_arcs() -> None:
    p = hand("express")
    assert arcs(p) == {("O-express", "WH-close"): 12.0, ("O-standard", "WH-far"): 8.0,
                       ("O-standard", "WH-close"): 12.0}
    d = router.load(HAND / "express.yaml").to_dict()  # type: ignore[union-attr]
    del d["shipping"]["express_max_km"]  # no express limit: both nodes may serve
    assert ("O-express", "WH-far") in arcs(compiled(d))


def test_safety_stock_reduces_pools() -> None:
    p = hand("safety")
    pools = {(p.node_ids[n], p.sku_ids[s]): q for n, s, q in
             zip(p.pool_node.tolist(), p.pool_sku.tolist(), p.pool_qty.tolist(), strict=True)}
    assert pools == {("ST", "A"): 1.0, ("WH", "A"): 10.0}
    assert line_arcs(p)[("O-1", "A", "ST")] == (0.5, 1)


def test_beyond_last_zone_is_pruned() -> None:
    p = hand("unfillable")
    assert arcs(p) == {("O-1", "WH"): 5.0}
    assert p.line_penalty.tolist() == [50.0, 50.0]  # the order's own penalty
    z_line = p.sku_ids.index("Z")
    lz = int(np.flatnonzero(p.line_sku == z_line)[0])
    assert p.line_e_ptr[lz] == p.line_e_ptr[lz + 1]  # no source for Z


def test_capacities() -> None:
    p = hand("capacity")
    assert p.node_max_packages.tolist() == [2.0, math.inf]
    assert p.node_capacity.tolist() == [3.0, math.inf]
    assert p.e_use.tolist() == [1.0] * p.n_line_arcs


def test_zero_capacity_nodes_and_missing_stock_are_pruned() -> None:
    d = base_dict()
    d["orders"] = [{"id": "O1", "lat": 30.0, "lon": 120.0,
                    "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}]
    d["nodes"].append({"id": "W0", "kind": "warehouse", "lat": 30.0, "lon": 120.0,
                       "max_units": 0, "inventory": {"A": 9}})
    d["nodes"].append({"id": "W1", "kind": "warehouse", "lat": 30.0, "lon": 120.0,
                       "max_packages": 0, "inventory": {"A": 9}})
    d["nodes"].append({"id": "W2", "kind": "warehouse", "lat": 30.0, "lon": 120.0,
                       "inventory": {"A": 0, "B": 3}, "safety_stock": 3})
    d["nodes"][0]["inventory"] = {"A": 1}  # W: only one A, no B
    p = compiled(d)
    check_structure(p)
    # S is a store: B is not store-eligible. W0, W1 closed. W2 holds nothing beyond safety stock
    assert set(arcs(p)) == {("O1", "W"), ("O1", "S")}
    assert set(line_arcs(p)) == {("O1", "A", "W"), ("O1", "A", "S")}
    assert line_arcs(p)[("O1", "A", "W")][1] == 1  # bound: the pool, not the qty


def test_service_radius() -> None:
    d = base_dict()
    d["nodes"][0]["service_radius_km"] = 20.0  # W is 22.2 km away
    assert set(arcs(compiled(d))) == {("O1", "S")}
    d["nodes"][0]["service_radius_km"] = 23.0
    assert set(arcs(compiled(d))) == {("O1", "S"), ("O1", "W")}


def test_order_limits_and_penalties() -> None:
    d = base_dict()
    d["default_max_packages"] = 2
    d["orders"].append({"id": "O2", "lat": 30.0, "lon": 120.0, "max_packages": 1,
                        "unfilled_penalty": 7.5, "lines": [{"sku": "A", "qty": 1}]})
    d["orders"].append({"id": "O3", "lat": 30.0, "lon": 120.0, "max_packages": 9,
                        "lines": [{"sku": "A", "qty": 1}]})
    p = compiled(d)
    assert p.order_max_packages.tolist() == [2, 1, 2]  # 9 is capped at the 2 nodes
    assert p.line_penalty.tolist() == [200.0, 7.5, 200.0]


def test_zone_boundary_is_inclusive() -> None:
    d = base_dict()
    km = float(haversine_km(np.array(30.2), np.array(120.0), np.array(30.0), np.array(120.0)))
    d["shipping"]["zones"][0]["max_km"] = km  # W exactly on the edge of zone 1
    d["shipping"]["zones"][1]["max_km"] = km + 1
    p = compiled(d)
    assert arcs(p)[("O1", "W")] == 5.0


def test_empty_batch_compiles() -> None:
    d = base_dict()
    d["orders"] = []
    p = compiled(d)
    assert (p.n_orders, p.n_lines, p.n_arcs, p.n_line_arcs) == (0, 0, 0, 0)
    d = base_dict()
    d["nodes"] = []
    p = compiled(d)
    assert (p.n_orders, p.n_arcs) == (1, 0)
    check_structure(p)


def test_haversine() -> None:
    # one degree of latitude on a 6371 km sphere
    assert float(haversine_km(np.array(0.0), np.array(0.0), np.array(1.0), np.array(0.0))) == \
        pytest.approx(6371.0 * math.pi / 180)
    # antipodes
    assert float(haversine_km(np.array(0.0), np.array(0.0), np.array(0.0), np.array(180.0))) == \
        pytest.approx(6371.0 * math.pi)


def test_helpers() -> None:
    assert expand_ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist() == [5, 6, 2, 3, 4]
    assert expand_ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).size == 0
    assert segment_ptr(np.array([0, 0, 2]), 4).tolist() == [0, 2, 2, 3, 3]


def test_gap_compile_small() -> None:
    gap = router.parse_gap("2 3  1 2 3  4 5 6  7 8 9  10 2 12  9 11", name="tiny")
    p = compile_problem(gap)
    assert p.kind == "gap" and p.must_fill
    # job 1: agent 1 (7 <= 9), agent 2 (10 > 11? no, 10 <= 11); job 2: both; job 3: a1 9<=9,
    # a2 12 > 11 pruned
    assert arcs(p) == {("j1", "a1"): 1.0, ("j1", "a2"): 4.0, ("j2", "a1"): 2.0,
                       ("j2", "a2"): 5.0, ("j3", "a1"): 3.0}
    assert p.e_use.tolist() == [7.0, 10.0, 8.0, 2.0, 9.0]
    assert p.node_capacity.tolist() == [9.0, 11.0]
    assert p.e_unit_cost.tolist() == [0.0] * 5
    assert p.e_ub.tolist() == [1] * 5
    assert p.order_max_packages.tolist() == [1, 1, 1]
    assert np.isinf(p.line_penalty).all() and np.isinf(p.pool_qty).all()
    assert p.sku_ids == ("job",)
    check_structure(p)


@pytest.mark.parametrize("name", ["c0515_1", "a05100", "e20200"])
def test_gap_compile_files(name: str) -> None:
    gap = router.load(gap_path(name), format="gap")
    p = compile_problem(gap)
    assert isinstance(gap, router.GapInstance)
    assert (p.n_orders, p.n_nodes, p.n_lines) == (gap.n_jobs, gap.n_agents, gap.n_jobs)
    fits = gap.resource <= gap.capacity[:, None]
    assert p.n_arcs == int(fits.sum())
    np.testing.assert_array_equal(p.arc_cost, gap.cost.T[fits.T])
    np.testing.assert_array_equal(p.e_use, gap.resource.T[fits.T])
    check_structure(p)


def _disagreeing_point() -> tuple[float, float, float, float]:
    """An order position where numpy's and the scalar haversine differ in the last bit."""
    from router.geo import haversine_km_scalar as scalar_km

    for k in range(1, 10_000):
        lat, lon = 30.0 + k * 1e-4, 120.0 + k * 7e-5
        vec = float(haversine_km(np.array(30.2), np.array(120.0), np.array(lat), np.array(lon)))
        sca = scalar_km(30.2, 120.0, lat, lon)
        if vec < sca:
            return lat, lon, vec, sca
    pytest.skip("numpy and math agree everywhere on this machine")


@pytest.mark.parametrize("limit", ["zone", "express", "radius"])
def test_distance_limits_agree_with_the_verifier_to_the_last_bit(limit: str) -> None:
    """A limit that falls between numpy's and the scalar distance must not make compile keep
    an arc the verifier rejects (or price it in another zone)."""
    lat, lon, vec, sca = _disagreeing_point()
    d = base_dict()
    d["nodes"] = d["nodes"][:1]
    d["orders"][0].update(lat=lat, lon=lon, service="express")
    d["shipping"]["express_max_km"] = 1000.0
    if limit == "zone":
        d["shipping"]["zones"][0]["max_km"] = vec
    elif limit == "express":
        d["shipping"]["express_max_km"] = vec
    else:
        d["nodes"][0]["service_radius_km"] = vec
    inst = Instance.from_dict(d)
    p = compile_problem(inst)
    plan = router.solve(inst, solver="greedy", verify=False, problem=p)
    report = router.verify(inst, plan, raise_on_error=False)
    assert report.ok, str(report)
    if limit == "zone":
        assert plan.objective == pytest.approx(8.0 + 1.5)  # zone 2, as the verifier says
    else:
        assert plan.shipments == ()  # beyond the limit, as the verifier says


def test_only_distances_near_a_limit_are_recomputed() -> None:
    from router.compile import _exact_near_limits

    km = np.array([5.0, 10.0 + 5e-9, 10.0 + 5e-8, 20.0 - 1e-12, 30.0, 40.0])
    node_radius = np.array([np.inf, 30.0])
    arc_node = np.array([0, 0, 0, 0, 1, 0])
    zeros = np.zeros(2)
    # every recomputed distance becomes 0 (all points at the origin)
    out = _exact_near_limits(km, [10.0, 10.0 + 1e-12, 20.0], node_radius, arc_node,
                             np.zeros(6, dtype=np.int64), zeros, zeros, zeros[:1], zeros[:1])
    assert out.tolist() == [5.0, 0.0, 10.0 + 5e-8, 0.0, 0.0, 40.0]
    assert km[1] == 10.0 + 5e-9  # the input is not modified


# --------------------------------------------------------------------------------------------
# the network compiled once, batches against it


def batch(net: CompiledNetwork, inst: Instance, orders: Any = None, **state: Any) -> Problem:
    """compile_batch of the instance's orders (or ``orders``) in the network's own state,
    with ``state`` overriding it."""
    kw: dict[str, Any] = {"name": inst.name, "pool_available": net.pool_available,
                          "node_max_packages": net.node_max_packages,
                          "node_capacity": net.node_capacity,
                          "unfilled_penalty": inst.unfilled_penalty,
                          "default_max_packages": inst.default_max_packages}
    kw.update(state)
    return compile_batch(net, inst.orders if orders is None else orders, **kw)


@pytest.mark.parametrize("name", ["split", "store", "express", "safety", "unfillable",
                                  "capacity"])
def test_batch_equals_compile_problem_on_hand_instances(name: str) -> None:
    inst = router.load(HAND / f"{name}.yaml")
    assert isinstance(inst, Instance)
    net = compile_network(inst)
    assert_same_problem(batch(net, inst), compile_problem(inst))
    assert_same_problem(batch(net, inst, inst.columns), compile_problem(inst))


@pytest.mark.parametrize(("preset", "seed"), [("xs", 1), ("s", 2), ("m", 1)])
def test_batch_equals_compile_problem_on_generated_batches(preset: str, seed: int) -> None:
    inst = router.generate(preset, seed=seed)
    net = compile_network(inst)
    assert net.grid is not None  # stores with a service radius: the spatial index is used
    p = batch(net, inst)
    assert_same_problem(p, compile_problem(inst))
    check_structure(p)
    assert p.node_ids is net.node_ids and p.sku_ids is net.sku_ids


@SETTINGS
@given(instances())
def test_batch_equals_compile_problem(inst: Instance) -> None:
    net = compile_network(inst)
    p = batch(net, inst)
    assert_same_problem(p, compile_problem(inst))
    check_structure(p)
    # the problem's pools are network pools, with the stock available now
    idx = net.pool_index(p.pool_node, p.pool_sku)
    assert (idx >= 0).all()
    np.testing.assert_array_equal(p.pool_qty, net.pool_available[idx])
    assert (p.pool_qty > 0).all()


@SETTINGS
@given(instance_dicts(max_orders=8), st.data())
def test_a_batch_of_some_orders_equals_the_instance_of_those_orders(
        d: dict[str, Any], data: st.DataObject) -> None:
    inst = Instance.from_dict(d)
    keep = data.draw(st.lists(st.sampled_from(range(len(d["orders"]))), unique=True))
    sub = {**d, "orders": [d["orders"][i] for i in sorted(keep)]}
    net = compile_network(inst)  # the network of the full instance serves any of its batches
    assert_same_problem(batch(net, inst, [inst.orders[i] for i in sorted(keep)]),
                        compile_problem(Instance.from_dict(sub)))


@SETTINGS
@given(instance_dicts(), st.data())
def test_pool_stock_and_node_limits_of_the_batch_are_honoured(
        d: dict[str, Any], data: st.DataObject) -> None:
    """A batch in another state equals the instance whose inventories (no safety stock) and
    node limits are that state."""
    inst = Instance.from_dict(d)
    net = compile_network(inst)
    avail = np.array(data.draw(st.lists(st.integers(0, 6), min_size=net.n_pools,
                                        max_size=net.n_pools)), dtype=np.int64)
    limit = st.one_of(st.just(math.inf), st.integers(0, 5).map(float))
    maxp = np.array(data.draw(st.lists(limit, min_size=net.n_nodes, max_size=net.n_nodes)))
    cap = np.array(data.draw(st.lists(limit, min_size=net.n_nodes, max_size=net.n_nodes)))
    p = batch(net, inst, pool_available=avail, node_max_packages=maxp, node_capacity=cap)
    check_structure(p)
    state = {**d, "nodes": []}
    for i, n in enumerate(d["nodes"]):
        n = {k: v for k, v in n.items() if k not in ("max_packages", "max_units",
                                                    "safety_stock")}
        pools = np.flatnonzero(net.pool_node == i)
        n["inventory"] = {net.sku_ids[int(net.pool_sku[k])]: int(avail[k]) for k in pools}
        if math.isfinite(maxp[i]):
            n["max_packages"] = int(maxp[i])
        if math.isfinite(cap[i]):
            n["max_units"] = int(cap[i])
        state["nodes"].append(n)
    assert_same_problem(p, compile_problem(Instance.from_dict(state)))
    # directly: no line-arc from a node without packages or units left, none beyond the stock
    open_node = (maxp > 0) & (cap > 0)
    assert open_node[p.arc_node].all()
    np.testing.assert_array_equal(p.node_max_packages, maxp)
    np.testing.assert_array_equal(p.node_capacity, cap)
    idx = net.pool_index(p.pool_node, p.pool_sku)
    assert (p.e_ub <= avail[idx][p.e_pool]).all()
    assert (avail[idx] > 0).all()


@SETTINGS
@given(instance_dicts(), st.data())
def test_stock_of_some_pools_equals_the_dense_stock(d: dict[str, Any],
                                                    data: st.DataObject) -> None:
    """``pools=``: the stock of the pools named, none elsewhere, is the problem of the dense
    stock with zeros elsewhere (pools named with no stock change nothing)."""
    inst = Instance.from_dict(d)
    net = compile_network(inst)
    avail = np.array(data.draw(st.lists(st.integers(0, 6), min_size=net.n_pools,
                                        max_size=net.n_pools)), dtype=np.int64)
    named = np.array(sorted(data.draw(st.sets(st.sampled_from(range(net.n_pools)))
                                      if net.n_pools else st.just(set()))), dtype=np.int64)
    dense = np.zeros(net.n_pools, dtype=np.int64)
    dense[named] = avail[named]
    p = batch(net, inst, pools=named, pool_available=avail[named])
    assert_same_problem(p, batch(net, inst, pool_available=dense))
    check_structure(p)
    assert set(net.pool_index(p.pool_node, p.pool_sku).tolist()) <= set(named.tolist())


def test_stock_of_some_pools_is_checked() -> None:
    inst = router.load(HAND / "split.yaml")
    assert isinstance(inst, Instance)
    net = compile_network(inst)
    assert net.n_pools >= 2
    one = np.ones(2)
    with pytest.raises(ValueError, match="pools"):
        batch(net, inst, pools=np.array([1, 0]), pool_available=one)  # not sorted
    with pytest.raises(ValueError, match="pools"):
        batch(net, inst, pools=np.array([0, net.n_pools]), pool_available=one)  # no such pool
    with pytest.raises(ValueError, match="pools"):
        batch(net, inst, pools=np.array([True, True]), pool_available=one)  # a mask
    with pytest.raises(ValueError, match="pools"):
        batch(net, inst, pools=np.array([[0, 1]]), pool_available=one)  # 2-D
    with pytest.raises(ValueError, match="pool_available"):
        batch(net, inst, pools=np.array([0, 1]), pool_available=np.ones(3))  # one per pool
    with pytest.raises(ValueError, match="pool_available"):
        batch(net, inst, pools=np.array([0, 1]), pool_available=-one)


@SETTINGS
@given(instances(), st.data())
def test_banned_arcs_are_absent(inst: Instance, data: st.DataObject) -> None:
    net = compile_network(inst)
    full = compile_problem(inst)
    pairs = [(o, n) for o in range(full.n_orders) for n in range(full.n_nodes)]
    banned = data.draw(st.lists(st.sampled_from(pairs), unique=True) if pairs else st.just([]))
    p = batch(net, inst, banned_arcs=np.array(banned, dtype=np.int64).reshape(-1, 2))
    check_structure(p)
    got = set(zip(p.arc_order.tolist(), p.arc_node.tolist(), strict=True))
    before = set(zip(full.arc_order.tolist(), full.arc_node.tolist(), strict=True))
    assert got == before - set(banned)
    # the line-arcs left are those of the arcs left, with the same costs and bounds
    assert {k: v for k, v in line_arcs(full).items()
            if (full.order_ids.index(k[0]), full.node_ids.index(k[2])) not in set(banned)
            } == line_arcs(p)


def test_banned_arcs_example() -> None:
    inst = router.load(HAND / "split.yaml")
    assert isinstance(inst, Instance)
    net = compile_network(inst)
    far = net.node_ids.index("W-far")
    p = batch(net, inst, banned_arcs=np.array([[0, far]]))
    assert arcs(p) == {("O-1", "W-near-A"): 5.0, ("O-1", "W-near-B"): 5.0}
    assert set(line_arcs(p)) == {("O-1", "A", "W-near-A"), ("O-1", "B", "W-near-B")}


def test_batch_state_is_checked() -> None:
    inst = router.load(HAND / "split.yaml")
    assert isinstance(inst, Instance)
    net = compile_network(inst)
    with pytest.raises(ValueError, match="pool_available"):
        batch(net, inst, pool_available=np.zeros(net.n_pools + 1))
    with pytest.raises(ValueError, match="node_capacity"):
        batch(net, inst, node_capacity=-np.ones(net.n_nodes))
    with pytest.raises(ValueError, match="banned_arcs"):
        batch(net, inst, banned_arcs=np.array([[1, 0]]))  # one order only: position 1 is out
    # the batch's defaults apply to orders that set none
    p = batch(net, inst, unfilled_penalty=7.0, default_max_packages=1)
    assert p.line_penalty.tolist() == [7.0, 7.0]
    assert p.order_max_packages.tolist() == [1]


def test_network_pools_and_index() -> None:
    inst = router.load(HAND / "safety.yaml")
    assert isinstance(inst, Instance)
    net = compile_network(inst)
    key = net.pool_sku * net.n_nodes + net.pool_node
    assert (np.diff(key) > 0).all()  # sorted by (SKU, node)
    pools = {(net.node_ids[n], net.sku_ids[s]): int(q) for n, s, q in
             zip(net.pool_node.tolist(), net.pool_sku.tolist(), net.pool_available.tolist(),
                 strict=True)}
    want = {(n.id, s): max(0, q - n.safety_stock) for n in inst.nodes
            for s, q in n.inventory.items()}
    assert pools == want
    assert net.pool_index(net.pool_node, net.pool_sku).tolist() == list(range(net.n_pools))
    assert net.pool_index(np.array([0]), np.array([len(net.sku_ids)])).tolist() == [-1]


@SETTINGS
@given(st.lists(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "Z"]), st.integers(1, 5)),
                         max_size=4), max_size=8),
       st.data())
def test_order_columns_read_every_line_whether_its_object_is_shared_or_not(
        lines_per_order: list[list[tuple[str, int]]], data: st.DataObject) -> None:
    """Lines that are one object in several orders (as validation shares them) and equal
    lines that are distinct objects give the columns of a line-by-line reading."""
    shared: dict[tuple[str, int], Line] = {}
    orders = []
    for k, spec in enumerate(lines_per_order):
        lines = []
        for sku, qty in spec:
            if data.draw(st.booleans()):
                lines.append(shared.setdefault((sku, qty), Line(sku, qty)))
            else:
                lines.append(Line(sku, qty))
        orders.append(Order(f"O{k}", 30.0, 120.0, tuple(lines)))
    sku_ids = ("A", "B", "C")
    cols = order_columns(orders, sku_ids)
    flat = [ln for o in orders for ln in o.lines]
    assert cols.line_sku.tolist() == [sku_ids.index(ln.sku) if ln.sku in sku_ids else -1
                                      for ln in flat]
    assert cols.line_qty.tolist() == [ln.qty for ln in flat]
    assert cols.line_ptr.tolist() == np.cumsum([0] + [len(o.lines) for o in orders]).tolist()
    assert cols.ids == tuple(o.id for o in orders)
