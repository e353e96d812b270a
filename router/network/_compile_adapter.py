"""Temporary stand-in for the network/batch split of :mod:`router.compile`.

``compile_network`` / ``compile_batch`` follow the interface the compile module is being given
(a network compiled once, batches compiled against it, indices in the network's numbering).
Until it lands, a batch is compiled here by building a small :class:`Instance` (the batch's
SKUs and the nodes that hold them, stock as available now) and calling
:func:`router.compile.compile_problem`, then renumbering the result into the network's node,
SKU and pool indices and dropping banned arcs. Its cost grows with the batch and the nodes
that stock the batch's SKUs, not with the whole network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from router.compile import Problem, compile_problem, expand_ranges, segment_ptr
from router.instance import Instance, Order


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """The per-node part of compilation, done once per network (the universe of stock pools
    sorted by (SKU, node), as ``pool_node`` / ``pool_sku``)."""

    instance: Instance
    node_ids: tuple[str, ...]
    sku_ids: tuple[str, ...]
    pool_node: np.ndarray
    pool_sku: np.ndarray
    sku_pool_ptr: np.ndarray  # (S+1,) pools of SKU s are sku_pool_ptr[s]:[s+1]
    sku_index: MappingProxyType[str, int]


def compile_network(instance: Instance) -> CompiledNetwork:
    sku_ids = tuple(s.id for s in instance.skus)
    sku_index = {s: i for i, s in enumerate(sku_ids)}
    node_ids = tuple(n.id for n in instance.nodes)
    p_node = [ni for ni, n in enumerate(instance.nodes) for _ in n.inventory]
    p_sku = [sku_index[s] for n in instance.nodes for s in n.inventory]
    pool_node = np.array(p_node, dtype=np.int64)
    pool_sku = np.array(p_sku, dtype=np.int64)
    order = np.lexsort((pool_node, pool_sku))
    pool_node, pool_sku = pool_node[order], pool_sku[order]
    ptr = segment_ptr(pool_sku, len(sku_ids))
    for a in (pool_node, pool_sku, ptr):
        a.setflags(write=False)
    return CompiledNetwork(instance, node_ids, sku_ids, pool_node, pool_sku, ptr,
                           MappingProxyType(sku_index))


def compile_batch(net: CompiledNetwork, orders: Sequence[Order], *, name: str,
                  pool_available: np.ndarray, node_max_packages: np.ndarray,
                  node_capacity: np.ndarray, unfilled_penalty: float,
                  default_max_packages: int | None,
                  banned_arcs: np.ndarray | None = None) -> Problem:
    t0 = time.perf_counter()
    inst = net.instance
    skus = np.unique(np.array([net.sku_index[ln.sku] for o in orders for ln in o.lines],
                              dtype=np.int64))
    counts = net.sku_pool_ptr[skus + 1] - net.sku_pool_ptr[skus]
    pools = expand_ranges(net.sku_pool_ptr[skus], counts)
    pn = net.pool_node[pools]
    open_ = (node_max_packages[pn] > 0) & (node_capacity[pn] > 0) & (pool_available[pools] > 0)
    pools, pn = pools[open_], pn[open_]
    nodes = np.unique(pn)
    by_node = np.argsort(pn, kind="stable")
    ptr = np.searchsorted(pn[by_node], np.append(nodes, len(net.node_ids)))
    sku_ids, avail = net.sku_ids, pool_available
    sub_nodes = []
    for k, ni in enumerate(nodes.tolist()):
        ps = pools[by_node[ptr[k]:ptr[k + 1]]].tolist()
        n = inst.nodes[ni]
        mp, cap = float(node_max_packages[ni]), float(node_capacity[ni])
        sub_nodes.append(replace(
            n, safety_stock=0,
            inventory=MappingProxyType({sku_ids[int(net.pool_sku[p])]: int(avail[p])
                                        for p in ps}),
            max_packages=None if mp == np.inf else int(mp),
            max_units=None if cap == np.inf else int(cap)))
    sub = Instance(name=name, shipping=inst.shipping, unfilled_penalty=unfilled_penalty,
                   skus=tuple(inst.skus[s] for s in skus.tolist()), nodes=tuple(sub_nodes),
                   orders=tuple(orders), default_max_packages=default_max_packages)
    p = compile_problem(sub)
    n_nodes = len(net.node_ids)
    arc_node = nodes[p.arc_node]
    pool_node, pool_sku = nodes[p.pool_node], skus[p.pool_sku]
    keep_arc = np.ones(p.n_arcs, dtype=bool)
    if banned_arcs is not None and len(banned_arcs):
        banned = np.asarray(banned_arcs, dtype=np.int64).reshape(-1, 2)
        keep_arc = ~np.isin(p.arc_order * n_nodes + arc_node,
                            banned[:, 0] * n_nodes + banned[:, 1])
    new_arc = np.cumsum(keep_arc) - 1
    keep_e = keep_arc[p.e_arc]
    arc_order = p.arc_order[keep_arc]
    e_line = p.e_line[keep_e]
    out = Problem(
        name=name, kind="routing", order_ids=p.order_ids, node_ids=net.node_ids,
        sku_ids=net.sku_ids, line_order=p.line_order, line_sku=skus[p.line_sku],
        line_qty=p.line_qty, line_penalty=p.line_penalty, order_line_ptr=p.order_line_ptr,
        order_max_packages=p.order_max_packages,
        node_max_packages=np.asarray(node_max_packages, dtype=np.float64).copy(),
        node_capacity=np.asarray(node_capacity, dtype=np.float64).copy(),
        pool_node=pool_node, pool_sku=pool_sku, pool_qty=p.pool_qty,
        arc_order=arc_order, arc_node=arc_node[keep_arc], arc_cost=p.arc_cost[keep_arc],
        arc_km=p.arc_km[keep_arc], order_arc_ptr=segment_ptr(arc_order, p.n_orders),
        e_line=e_line, e_arc=new_arc[p.e_arc[keep_e]], e_pool=p.e_pool[keep_e],
        e_unit_cost=p.e_unit_cost[keep_e], e_use=p.e_use[keep_e], e_ub=p.e_ub[keep_e],
        line_e_ptr=segment_ptr(e_line, p.n_lines))
    object.__setattr__(out, "compile_seconds", time.perf_counter() - t0)
    return out
