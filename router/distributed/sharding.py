"""Sharding: one batch split into shards of orders by region, and each shard as compiled arrays.

Regions come from the compiled arrays alone (solvers never see the instance): every order's
*home* is the node of its shortest arc. The hubs are the nodes that are home to most orders
(together at least ``HUB_SHARE`` of them, at most ``MAX_HUBS``); each order belongs to the hub
nearest to it among its arcs (or, with no arc to a hub, to the hub of its home's orders). The
distance between two hubs is estimated from the arcs of the orders of one to the other; a
greedy path through the hubs (nearest unvisited next, from the hub farthest from the others)
orders them so that neighbours on the path are neighbours on the map. Orders sorted by
(position of their hub on the path, distance to it) are cut into shards of equal size: each
shard a region of whole hub catchments (a catchment is cut only where the sizes demand it),
so that most candidate nodes of an order (the stores around it, its nearest warehouses) are
used by its own shard's orders only.

:func:`locality` measures how regional a split is. On the 20,000-order ``l`` batch in two
shards 84 % of the lines have their cheapest source at a node that is mostly the cheapest
source of their own shard's lines (a split by longitude: 75 %; by order index: 52 %).

A shard is a :class:`~router.compile.Problem` of its own orders (its lines, arcs and
line-arcs, and the stock pools they draw on; every node, with the whole batch's limits),
travelling as a dictionary of numpy arrays (:func:`shard_arrays`, :func:`problem_from_arrays`),
never as per-order Python objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem, expand_ranges

HUB_SHARE = 0.9  # hubs: the fewest homes holding this share of the orders ...
MAX_HUBS = 512  # ... but no more than this many

# array fields of a Problem, sent to a worker (the ids stay with the coordinator)
ARRAY_FIELDS = tuple(f.name for f in dataclasses.fields(Problem)
                     if f.name not in ("name", "kind", "order_ids", "node_ids", "sku_ids",
                                       "compile_seconds"))


@dataclass(frozen=True, eq=False)
class Shard:
    """One shard: its orders, lines, arcs, line-arcs and pools as indices into the whole
    batch (sorted), and its own compiled problem (indices local to it; all nodes kept)."""

    index: int
    orders: np.ndarray
    lines: np.ndarray
    arcs: np.ndarray
    line_arcs: np.ndarray
    pools: np.ndarray
    problem: Problem

    @property
    def n_rows(self) -> int:
        """Coupling rows of the shard: its pools, then every node's packages and units."""
        return len(self.pools) + 2 * self.problem.n_nodes

    def rows(self, n_pools: int) -> np.ndarray:
        """The batch's row index (pools, packages, units as in ``DualPrices.vector``) of each
        of the shard's rows."""
        n = self.problem.n_nodes
        return np.concatenate([self.pools, n_pools + np.arange(n), n_pools + n + np.arange(n)])


@dataclass(frozen=True)
class Sharding:
    """Which shard each order is in, the hubs found, and how regional the split is
    (:func:`locality`)."""

    shard_of: np.ndarray  # (O,)
    n_shards: int
    hubs: int
    locality: float


def region_order(p: Problem) -> tuple[np.ndarray, int]:
    """Orders in regional sequence (hub by hub along a path through the hubs), and the number
    of hubs (see the module docstring)."""
    n_o = p.n_orders
    if n_o == 0:
        return np.zeros(0, dtype=np.int64), 0
    has = np.diff(p.order_arc_ptr) > 0
    starts = p.order_arc_ptr[:-1]
    # home: the node of the shortest arc (arcs of an order are contiguous)
    home = np.full(n_o, -1, dtype=np.int64)
    if p.n_arcs:
        o_idx = np.flatnonzero(has)
        seg_min = np.minimum.reduceat(p.arc_km, starts[o_idx])
        first = _first_at(p.arc_km, p.arc_order, seg_min[np.searchsorted(o_idx, p.arc_order)],
                          n_o)
        home[o_idx] = p.arc_node[first[o_idx]]
    counts = np.bincount(home[home >= 0], minlength=p.n_nodes)
    by_size = np.argsort(-counts, kind="stable")
    cum = np.cumsum(counts[by_size])
    total = max(int(cum[-1]) if len(cum) else 0, 1)
    k = int(np.searchsorted(cum, HUB_SHARE * total) + 1)
    hubs = by_size[:max(1, min(k, MAX_HUBS, int((counts > 0).sum()) or 1))]
    n_h = len(hubs)
    hub_pos = np.full(p.n_nodes, -1, dtype=np.int64)
    hub_pos[hubs] = np.arange(n_h)
    # each order's nearest hub among its arcs
    on_hub = hub_pos[p.arc_node] >= 0
    km_h = np.where(on_hub, p.arc_km, np.inf)
    hub_of = np.full(n_o, -1, dtype=np.int64)
    if p.n_arcs:
        o_idx = np.flatnonzero(has)
        best = np.minimum.reduceat(km_h, starts[o_idx])
        ok = np.isfinite(best)
        first = _first_at(km_h, p.arc_order, best[np.searchsorted(o_idx, p.arc_order)], n_o)
        sel = o_idx[ok]
        hub_of[sel] = hub_pos[p.arc_node[first[sel]]]
    # orders without an arc to a hub: the hub most of their home's orders have
    lost = np.flatnonzero((hub_of < 0) & (home >= 0))
    if len(lost):
        known = hub_of >= 0
        vote = np.zeros((p.n_nodes, n_h))
        np.add.at(vote, (home[known], hub_of[known]), 1.0)
        guess = np.argmax(vote[home[lost]], axis=1)
        hub_of[lost] = np.where(vote[home[lost]].max(axis=1) > 0, guess, 0)
    hub_of[hub_of < 0] = 0
    # hub-to-hub distances: mean km of the arcs from the orders of one hub to the other
    d = np.zeros((n_h, n_h))
    if p.n_arcs and n_h > 1:
        sel = np.flatnonzero(on_hub)
        key = hub_of[p.arc_order[sel]] * n_h + hub_pos[p.arc_node[sel]]
        s = np.bincount(key, weights=p.arc_km[sel], minlength=n_h * n_h)
        c = np.bincount(key, minlength=n_h * n_h)
        known = c > 0
        mean = np.where(known, s / np.maximum(c, 1), np.nan).reshape(n_h, n_h)
        mean = np.where(np.isnan(mean), mean.T, mean)
        d = np.where(np.isnan(mean), np.nanmax(mean) if np.isfinite(mean).any() else 1.0, mean)
        np.fill_diagonal(d, 0.0)
    path = _greedy_path(d)
    rank = np.empty(n_h, dtype=np.int64)
    rank[path] = np.arange(n_h)
    km_to_hub = np.zeros(n_o)
    if p.n_arcs:
        o_idx = np.flatnonzero(has)
        best = np.minimum.reduceat(km_h, starts[o_idx])
        km_to_hub[o_idx] = np.where(np.isfinite(best), best, 0.0)
    seq = np.lexsort((np.arange(n_o), km_to_hub, rank[hub_of]))
    return seq, n_h


def _first_at(values: np.ndarray, seg: np.ndarray, target: np.ndarray, n_seg: int
              ) -> np.ndarray:
    """Per segment (``seg`` sorted), the first index where ``values`` equals the segment's
    ``target`` (given per element); -1 where none."""
    hit = np.flatnonzero(values == target)
    out = np.full(n_seg, -1, dtype=np.int64)
    if len(hit):
        s = seg[hit]
        first = np.ones(len(hit), dtype=bool)
        first[1:] = s[1:] != s[:-1]
        out[s[first]] = hit[first]
    return out


def _greedy_path(d: np.ndarray) -> np.ndarray:
    """A path through every point (nearest unvisited next), from the point farthest from the
    others on average."""
    n = len(d)
    if n <= 2:
        return np.arange(n)
    start = int(np.argmax(d.sum(axis=1)))
    seen = np.zeros(n, dtype=bool)
    path = [start]
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, d[path[-1]])
        nxt = int(np.argmin(row))
        path.append(nxt)
        seen[nxt] = True
    return np.array(path, dtype=np.int64)


def shard_orders(p: Problem, n_shards: int) -> Sharding:
    """Orders split into ``n_shards`` regions of equal size (see the module docstring)."""
    n_shards = max(1, min(int(n_shards), max(p.n_orders, 1)))
    seq, n_h = region_order(p)
    shard_of = np.zeros(p.n_orders, dtype=np.int64)
    if p.n_orders:
        shard_of[seq] = np.arange(p.n_orders) * n_shards // p.n_orders
    return Sharding(shard_of, n_shards, n_h, locality(p, shard_of, n_shards))


def locality(p: Problem, shard_of: np.ndarray, n_shards: int) -> float:
    """Share of lines whose cheapest source (the line-arc of least cost for the whole line,
    package included) is at a node that is the cheapest source mostly of lines of the same
    shard: how regional the split is (1 when no node serves two shards; about
    ``1 / n_shards`` for a split that ignores geography)."""
    if p.n_line_arcs == 0 or n_shards <= 1:
        return 1.0
    c = p.e_unit_cost * p.line_qty[p.e_line] + p.arc_cost[p.e_arc]
    lines = np.flatnonzero(np.diff(p.line_e_ptr) > 0)
    best = np.minimum.reduceat(c, p.line_e_ptr[lines])
    first = _first_at(c, p.e_line, best[np.searchsorted(lines, p.e_line)], p.n_lines)
    first = first[first >= 0]
    node = p.arc_node[p.e_arc[first]]
    shard = shard_of[p.line_order[p.e_line[first]]]
    votes = np.bincount(node * n_shards + shard, minlength=p.n_nodes * n_shards)
    owner = np.argmax(votes.reshape(p.n_nodes, n_shards), axis=1)
    return float(np.mean(owner[node] == shard))


def make_shard(p: Problem, index: int, orders: np.ndarray) -> Shard:
    """The compiled problem of ``orders`` (sorted order indices of ``p``): their lines, arcs
    and line-arcs, the pools those draw on (with the whole batch's stock), every node with
    the whole batch's limits."""
    orders = np.asarray(orders, dtype=np.int64)
    olp, oap, lep = p.order_line_ptr, p.order_arc_ptr, p.line_e_ptr
    n_l = olp[orders + 1] - olp[orders]
    n_a = oap[orders + 1] - oap[orders]
    lines = expand_ranges(olp[orders], n_l)
    arcs = expand_ranges(oap[orders], n_a)
    n_e = lep[lines + 1] - lep[lines]
    E = expand_ranges(lep[lines], n_e)
    pools = np.unique(p.e_pool[E])
    arc_new = np.full(p.n_arcs, -1, dtype=np.int64)
    arc_new[arcs] = np.arange(len(arcs))
    pool_new = np.full(len(p.pool_qty), -1, dtype=np.int64)
    pool_new[pools] = np.arange(len(pools))
    k = len(orders)

    def ptr(counts: np.ndarray) -> np.ndarray:
        out = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=out[1:])
        return out

    sub = Problem(
        name=f"{p.name}#shard{index}", kind=p.kind, order_ids=("",) * k,
        node_ids=p.node_ids, sku_ids=p.sku_ids,
        line_order=np.repeat(np.arange(k, dtype=np.int64), n_l),
        line_sku=p.line_sku[lines], line_qty=p.line_qty[lines],
        line_penalty=p.line_penalty[lines], order_line_ptr=ptr(n_l),
        order_max_packages=p.order_max_packages[orders],
        node_max_packages=p.node_max_packages, node_capacity=p.node_capacity,
        pool_node=p.pool_node[pools], pool_sku=p.pool_sku[pools], pool_qty=p.pool_qty[pools],
        arc_order=np.repeat(np.arange(k, dtype=np.int64), n_a), arc_node=p.arc_node[arcs],
        arc_cost=p.arc_cost[arcs], arc_km=p.arc_km[arcs], order_arc_ptr=ptr(n_a),
        e_line=np.repeat(np.arange(len(lines), dtype=np.int64), n_e),
        e_arc=arc_new[p.e_arc[E]], e_pool=pool_new[p.e_pool[E]],
        e_unit_cost=p.e_unit_cost[E], e_use=p.e_use[E], e_ub=p.e_ub[E], line_e_ptr=ptr(n_e),
    )
    return Shard(index, orders, lines, arcs, E, pools, sub)


def make_shards(p: Problem, sharding: Sharding) -> list[Shard]:
    """Every non-empty shard of ``sharding``, in index order (renumbered from 0)."""
    out: list[Shard] = []
    by = np.argsort(sharding.shard_of, kind="stable")
    bounds = np.searchsorted(sharding.shard_of[by], np.arange(sharding.n_shards + 1))
    for s in range(sharding.n_shards):
        orders = np.sort(by[bounds[s]:bounds[s + 1]])
        if len(orders):
            out.append(make_shard(p, len(out), orders))
    return out


def shard_arrays(shard: Shard) -> dict[str, np.ndarray]:
    """What a worker receives: the shard problem's arrays (and its size, name and kind as
    small arrays), no per-order Python objects."""
    sp = shard.problem
    d = {f: getattr(sp, f) for f in ARRAY_FIELDS}
    d["_meta"] = np.array([shard.index, sp.n_orders, 1 if sp.kind == "gap" else 0],
                          dtype=np.int64)
    return d


def problem_from_arrays(d: dict[str, np.ndarray]) -> Problem:
    """The shard problem again from :func:`shard_arrays` (node and SKU ids left blank)."""
    index, n_orders, gap = (int(v) for v in d["_meta"])
    n_nodes = len(d["node_capacity"])
    n_skus = int(d["line_sku"].max(initial=-1)) + 1 if len(d["line_sku"]) else 0
    n_skus = max(n_skus, int(d["pool_sku"].max(initial=-1)) + 1)
    fields: dict[str, Any] = {f: d[f] for f in ARRAY_FIELDS}
    return Problem(name=f"shard{index}", kind="gap" if gap else "routing",
                   order_ids=("",) * n_orders, node_ids=("",) * n_nodes,
                   sku_ids=("",) * n_skus, **fields)


def nbytes(d: object) -> int:
    """Bytes of the numpy arrays in a (nested) tuple, list or dict: what travels."""
    if isinstance(d, np.ndarray):
        return int(d.nbytes)
    if isinstance(d, dict):
        return sum(nbytes(v) for v in d.values())
    if isinstance(d, (list, tuple)):
        return sum(nbytes(v) for v in d)
    if isinstance(d, (int, float)):
        return 8
    return 0
