"""Compilation of an instance into arrays: the only input solvers ever see.

Indices: orders ``o``, nodes ``n``, SKUs ``s``, lines ``l`` (grouped by order), stock pools ``p``
(one per (node, SKU) with available stock), candidate arcs ``a`` (an (order, node) pair that can
carry a shipment, sorted by order then node), and line-arcs ``e`` (a line that an arc can carry,
sorted by line then node).

A solution is one integer array ``x`` over line-arcs: the units of line ``e_line[e]`` that node
``arc_node[e_arc[e]]`` ships. Everything else (shipments, unfilled units, cost) follows from it
(:mod:`router.evaluate`).

Arcs that can never be used are pruned here: beyond the last zone, outside the express radius
or the node's service radius, SKUs that a store may not ship, (node, SKU) pairs without
available stock, and nodes whose package or unit capacity is zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numpy as np

from router.geo import EARTH_RADIUS_KM, haversine_km_scalar, haversine_rad
from router.instance import GAP_SKU, GapInstance, Instance

IntArray = np.ndarray
FloatArray = np.ndarray


@dataclass(frozen=True, eq=False)
class Problem:
    """A batch compiled to read-only numpy arrays (see the module docstring for indices)."""

    name: str
    kind: str  # "routing" or "gap"
    order_ids: tuple[str, ...]
    node_ids: tuple[str, ...]
    sku_ids: tuple[str, ...]

    # lines (L), grouped by order: lines of order o are order_line_ptr[o]:order_line_ptr[o+1]
    line_order: IntArray
    line_sku: IntArray
    line_qty: IntArray
    line_penalty: FloatArray  # cost per unfilled unit; inf where the line must be filled (GAP)
    order_line_ptr: IntArray  # (O+1,)

    order_max_packages: IntArray  # (O,) shipments allowed; n_nodes where unlimited
    node_max_packages: FloatArray  # (N,) inf where unlimited
    node_capacity: FloatArray  # (N,) units (GAP: resource) per batch; inf where unlimited

    # stock pools (P): available units of one SKU at one node (inf where unlimited, GAP)
    pool_node: IntArray
    pool_sku: IntArray
    pool_qty: FloatArray

    # candidate arcs (A), sorted by (order, node): arcs of order o are order_arc_ptr[o]:[o+1]
    arc_order: IntArray
    arc_node: IntArray
    arc_cost: FloatArray  # fixed cost of a shipment: zone per_package + node handling_per_package
    arc_km: FloatArray  # distance (GAP: the assignment cost, for distance-based rules)
    order_arc_ptr: IntArray  # (O+1,)

    # line-arcs (E), sorted by (line, node): line-arcs of line l are line_e_ptr[l]:[l+1]
    e_line: IntArray
    e_arc: IntArray
    e_pool: IntArray
    e_unit_cost: FloatArray  # per unit shipped: zone per_kg * weight + node handling_per_unit
    e_use: FloatArray  # capacity of node consumed per unit (1 for routing; GAP resource)
    e_ub: IntArray  # most units the line-arc can carry: min(qty, pool stock)
    line_e_ptr: IntArray  # (L+1,)

    compile_seconds: float = 0.0

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_lines(self) -> int:
        return int(self.line_qty.shape[0])

    @property
    def n_arcs(self) -> int:
        return int(self.arc_order.shape[0])

    @property
    def n_line_arcs(self) -> int:
        return int(self.e_line.shape[0])

    @property
    def e_order(self) -> IntArray:
        return self.line_order[self.e_line]

    @property
    def e_node(self) -> IntArray:
        return self.arc_node[self.e_arc]

    @property
    def must_fill(self) -> bool:
        return bool(np.isinf(self.line_penalty).any())

    def summary(self) -> str:
        return (f"{self.name}: {self.n_orders} orders, {self.n_lines} lines, {self.n_nodes} nodes, "
                f"{self.n_arcs} arcs, {self.n_line_arcs} line-arcs")


def freeze_arrays(obj: object) -> None:
    """Make every numpy array field of a dataclass instance read-only."""
    for f in fields(obj):  # type: ignore[arg-type]
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray):
            v.setflags(write=False)


def expand_ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """Concatenate ``arange(starts[i], starts[i] + counts[i])`` for every i, vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + (np.arange(total) - offsets)


def segment_ptr(keys: IntArray, n: int) -> IntArray:
    """CSR pointer (n+1,) for sorted ``keys`` in ``0..n-1``."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr


def compile_problem(instance: Instance | GapInstance) -> Problem:
    """Compile an instance (routing batch or GAP) into a :class:`Problem`."""
    t0 = time.perf_counter()
    if isinstance(instance, GapInstance):
        problem = _compile_gap(instance)
    else:
        problem = _compile_routing(instance)
    object.__setattr__(problem, "compile_seconds", time.perf_counter() - t0)
    return problem


def _compile_routing(inst: Instance) -> Problem:
    sku_ids = tuple(s.id for s in inst.skus)
    sku_index = {s: i for i, s in enumerate(sku_ids)}
    sku_weight = np.array([s.weight_kg for s in inst.skus], dtype=np.float64)
    sku_store_ok = np.array([s.store_eligible for s in inst.skus], dtype=bool)

    nodes = inst.nodes
    n_nodes = len(nodes)
    node_ids = tuple(n.id for n in nodes)
    node_lat = np.array([n.lat for n in nodes], dtype=np.float64)
    node_lon = np.array([n.lon for n in nodes], dtype=np.float64)
    node_is_store = np.array([n.kind == "store" for n in nodes], dtype=bool)
    node_hpu = np.array([n.handling_per_unit for n in nodes], dtype=np.float64)
    node_hpp = np.array([n.handling_per_package for n in nodes], dtype=np.float64)
    inf = np.inf
    node_maxp = np.array([inf if n.max_packages is None else n.max_packages for n in nodes],
                         dtype=np.float64)
    node_cap = np.array([inf if n.max_units is None else n.max_units for n in nodes],
                        dtype=np.float64)
    node_radius = np.array([inf if n.service_radius_km is None else n.service_radius_km
                            for n in nodes], dtype=np.float64)
    node_open = (node_maxp > 0) & (node_cap > 0)

    # stock pools sorted by (sku, node)
    p_node: list[int] = []
    p_sku: list[int] = []
    p_qty: list[int] = []
    for ni, n in enumerate(nodes):
        if not node_open[ni]:
            continue
        ss = n.safety_stock
        for s, q in n.inventory.items():
            if q > ss:
                p_node.append(ni)
                p_sku.append(sku_index[s])
                p_qty.append(q - ss)
    pool_node = np.array(p_node, dtype=np.int64)
    pool_sku = np.array(p_sku, dtype=np.int64)
    pool_qty_i = np.array(p_qty, dtype=np.int64)
    order_p = np.lexsort((pool_node, pool_sku))
    pool_node, pool_sku, pool_qty_i = pool_node[order_p], pool_sku[order_p], pool_qty_i[order_p]

    # orders and lines
    orders = inst.orders
    n_orders = len(orders)
    order_ids = tuple(o.id for o in orders)
    order_lat = np.array([o.lat for o in orders], dtype=np.float64)
    order_lon = np.array([o.lon for o in orders], dtype=np.float64)
    order_express = np.array([o.service == "express" for o in orders], dtype=bool)
    dmp = inst.default_max_packages
    order_maxp = np.array([min(o.max_packages if o.max_packages is not None
                               else (dmp if dmp is not None else n_nodes), max(n_nodes, 1))
                           for o in orders], dtype=np.int64)
    order_pen = np.array([inst.order_penalty(o) for o in orders], dtype=np.float64)
    n_lines_of = np.array([len(o.lines) for o in orders], dtype=np.int64)
    line_order = np.repeat(np.arange(n_orders, dtype=np.int64), n_lines_of)
    line_sku = np.array([sku_index[ln.sku] for o in orders for ln in o.lines], dtype=np.int64)
    line_qty = np.array([ln.qty for o in orders for ln in o.lines], dtype=np.int64)
    line_pen = order_pen[line_order]
    order_line_ptr = segment_ptr(line_order, n_orders)

    # candidate (line, pool) pairs: every node holding the line's SKU; nodes with a local
    # service radius only for the orders a spatial grid puts within reach
    local = _local_nodes(node_radius, node_lat, order_lat, order_lon)
    e_line, e_pool = _pairs_by_sku(line_sku, pool_sku, ~local[pool_node], len(sku_ids))
    if local.any():
        ln, lp = _pairs_near(local, node_radius, node_lat, node_lon, order_lat, order_lon,
                             order_line_ptr, line_sku, pool_node, pool_sku)
        e_line, e_pool = np.concatenate([e_line, ln]), np.concatenate([e_pool, lp])
        by_line_node = np.argsort(e_line * max(n_nodes, 1) + pool_node[e_pool], kind="stable")
        e_line, e_pool = e_line[by_line_node], e_pool[by_line_node]
    e_node = pool_node[e_pool]
    keep = ~(node_is_store[e_node] & ~sku_store_ok[line_sku[e_line]])
    e_line, e_pool, e_node = e_line[keep], e_pool[keep], e_node[keep]

    # arcs: unique (order, node) pairs, filtered by zone, express and service radius
    e_key = line_order[e_line] * max(n_nodes, 1) + e_node
    n_pairs = n_orders * max(n_nodes, 1)
    if n_pairs <= 4 * len(e_key) + (1 << 20):
        # dense marking: the sorted unique keys and each key's rank, without a sort
        mark = np.zeros(n_pairs, dtype=bool)
        mark[e_key] = True
        arc_key = np.flatnonzero(mark)
        e_arc = (np.cumsum(mark) - 1)[e_key]
    else:
        arc_key, e_arc = np.unique(e_key, return_inverse=True)
    arc_order = arc_key // max(n_nodes, 1)
    arc_node = arc_key % max(n_nodes, 1)
    n_rlat, o_rlat = np.radians(node_lat), np.radians(order_lat)
    km = haversine_rad(n_rlat[arc_node], np.radians(node_lon)[arc_node], np.cos(n_rlat)[arc_node],
                    o_rlat[arc_order], np.radians(order_lon)[arc_order],
                    np.cos(o_rlat)[arc_order])
    express_km = inst.shipping.express_max_km
    limits = [z.max_km for z in inst.shipping.zones]
    if express_km is not None:
        limits.append(express_km)
    km = _exact_near_limits(km, limits, node_radius, arc_node, arc_order, node_lat, node_lon,
                            order_lat, order_lon)
    zone_max = np.array([z.max_km for z in inst.shipping.zones], dtype=np.float64)
    zone_pp = np.array([z.per_package for z in inst.shipping.zones], dtype=np.float64)
    zone_pkg = np.array([z.per_kg for z in inst.shipping.zones], dtype=np.float64)
    zone = np.searchsorted(zone_max, km, side="left")
    ok = (zone < len(zone_max)) & (km <= node_radius[arc_node])
    if express_km is not None:
        ok &= ~order_express[arc_order] | (km <= express_km)
    new_index = np.cumsum(ok) - 1
    keep_e = ok[e_arc]
    e_line, e_pool, e_arc = e_line[keep_e], e_pool[keep_e], new_index[e_arc[keep_e]]
    arc_order, arc_node, km, zone = arc_order[ok], arc_node[ok], km[ok], zone[ok]

    arc_cost = zone_pp[zone] + node_hpp[arc_node]
    e_unit = zone_pkg[zone[e_arc]] * sku_weight[line_sku[e_line]] + node_hpu[arc_node[e_arc]]
    e_ub = np.minimum(line_qty[e_line], pool_qty_i[e_pool])
    # pools that no line-arc uses are kept: indices stay stable and they cost nothing
    return Problem(
        name=inst.name, kind="routing", order_ids=order_ids, node_ids=node_ids, sku_ids=sku_ids,
        line_order=line_order, line_sku=line_sku, line_qty=line_qty, line_penalty=line_pen,
        order_line_ptr=order_line_ptr, order_max_packages=order_maxp,
        node_max_packages=node_maxp, node_capacity=node_cap,
        pool_node=pool_node, pool_sku=pool_sku, pool_qty=pool_qty_i.astype(np.float64),
        arc_order=arc_order, arc_node=arc_node, arc_cost=arc_cost, arc_km=km,
        order_arc_ptr=segment_ptr(arc_order, n_orders),
        e_line=e_line, e_arc=e_arc, e_pool=e_pool, e_unit_cost=e_unit,
        e_use=np.ones(len(e_line), dtype=np.float64), e_ub=e_ub,
        line_e_ptr=segment_ptr(e_line, len(line_qty)),
    )


LOCAL_RADIUS_KM = 1000.0
"""Nodes with a service radius up to this are paired with orders through a spatial grid."""


def _pairs_by_sku(line_sku: IntArray, pool_sku: IntArray, usable: np.ndarray,
                  n_skus: int) -> tuple[IntArray, IntArray]:
    """Every (line, pool) pair of the line's SKU among the ``usable`` pools, sorted by
    (line, node) (pools are sorted by (SKU, node))."""
    idx = np.flatnonzero(usable)
    ptr = segment_ptr(pool_sku[idx], n_skus)
    counts = ptr[line_sku + 1] - ptr[line_sku]
    e_line = np.repeat(np.arange(len(line_sku), dtype=np.int64), counts)
    return e_line, idx[expand_ranges(ptr[line_sku], counts)]


def _local_nodes(node_radius: FloatArray, node_lat: FloatArray, order_lat: FloatArray,
                 order_lon: FloatArray) -> np.ndarray:
    """Nodes served through the spatial grid: a finite service radius up to
    ``LOCAL_RADIUS_KM``, away from the poles and the antimeridian (there every pair is
    enumerated, which is always correct)."""
    local = np.isfinite(node_radius) & (node_radius <= LOCAL_RADIUS_KM)
    if not local.any() or len(order_lat) == 0:
        return np.zeros(len(node_radius), dtype=bool)
    lat_max = max(float(np.abs(order_lat).max()), float(np.abs(node_lat[local]).max()))
    if lat_max > 80.0 or float(np.abs(order_lon).max()) > 170.0:
        return np.zeros(len(node_radius), dtype=bool)
    return local


def _pairs_near(local: np.ndarray, node_radius: FloatArray, node_lat: FloatArray,
                node_lon: FloatArray, order_lat: FloatArray, order_lon: FloatArray,
                order_line_ptr: IntArray, line_sku: IntArray, pool_node: IntArray,
                pool_sku: IntArray) -> tuple[IntArray, IntArray]:
    """(line, pool) pairs of one SKU for the local nodes and the orders in the grid cells
    around them.

    Cells are at least as wide as the largest local radius r in both directions, so every
    order within r of a node lies in the node's cell or a neighbouring one: haversine gives
    d >= R |dlat| and sin(d / 2R) >= cos(lat_max) sin(|dlon| / 2). The exact radius test is
    applied later with the other arc filters; this only avoids pairing every order with
    every store in the country.
    """
    r = float(node_radius[local].max())
    lat_max = max(float(np.abs(order_lat).max()), float(np.abs(node_lat[local]).max()))
    # any cell at least as wide as r is correct; a floor of 0.05 degrees keeps keys small
    g_lat = max(np.degrees(r / EARTH_RADIUS_KM) * (1 + 1e-9), 0.05)
    s = np.sin(r / (2 * EARTH_RADIUS_KM)) / np.cos(np.radians(lat_max))
    g_lon = 360.0 if s >= 1.0 else max(np.degrees(2 * np.arcsin(s)) * (1 + 1e-9), 0.05)
    n_cols = int(np.ceil(360.0 / g_lon)) + 3
    n_cells = (int(np.ceil(180.0 / g_lat)) + 3) * n_cols

    def cell(lat: FloatArray, lon: FloatArray) -> IntArray:
        return ((np.floor((lat + 90.0) / g_lat).astype(np.int64) + 1) * n_cols
                + np.floor((lon + 180.0) / g_lon).astype(np.int64) + 1)

    # lines keyed by (SKU, cell of the order); local pools look up the 3 x 3 cells around them
    line_order = np.repeat(np.arange(len(order_lat), dtype=np.int64), np.diff(order_line_ptr))
    line_key = line_sku * n_cells + cell(order_lat, order_lon)[line_order]
    perm = np.argsort(line_key, kind="stable")
    sorted_key = line_key[perm]
    pools = np.flatnonzero(local[pool_node])
    pool_cell = cell(node_lat[pool_node[pools]], node_lon[pool_node[pools]])
    out_line, out_pool = [], []
    for dr in (-n_cols, 0, n_cols):
        for dc in (-1, 0, 1):
            key = pool_sku[pools] * n_cells + pool_cell + dr + dc
            lo = np.searchsorted(sorted_key, key, side="left")
            hi = np.searchsorted(sorted_key, key, side="right")
            out_line.append(perm[expand_ranges(lo, hi - lo)])
            out_pool.append(np.repeat(pools, hi - lo))
    return np.concatenate(out_line), np.concatenate(out_pool)


def _exact_near_limits(km: FloatArray, limits: list[float], node_radius: FloatArray,
                       arc_node: IntArray, arc_order: IntArray, node_lat: FloatArray,
                       node_lon: FloatArray, order_lat: FloatArray,
                       order_lon: FloatArray) -> FloatArray:
    """Distances within a hair of a zone edge, the express radius or the node's service radius,
    recomputed with the verifier's scalar formula: numpy's trigonometry may differ from
    ``math`` in the last bit, and on an edge that bit decides eligibility and zone."""
    tol = 1e-9
    lim = np.sort(np.asarray(limits, dtype=np.float64))
    lo, hi = lim - tol * (1.0 + lim), lim + tol * (1.0 + lim)
    k = np.searchsorted(hi, km)  # the first limit whose band does not end below km
    near = (k < len(lim)) & (km >= lo[np.minimum(k, len(lim) - 1)])
    if np.isfinite(node_radius).any():
        radius = node_radius[arc_node]
        with np.errstate(invalid="ignore"):
            near |= np.isfinite(radius) & (np.abs(km - radius) <= tol * (1.0 + radius))
    idx = np.flatnonzero(near)
    if len(idx) == 0:
        return km
    km = km.copy()
    for i in idx.tolist():
        n, o = int(arc_node[i]), int(arc_order[i])
        km[i] = haversine_km_scalar(float(node_lat[n]), float(node_lon[n]), float(order_lat[o]),
                          float(order_lon[o]))
    return km


def _compile_gap(gap: GapInstance) -> Problem:
    m, n = gap.n_agents, gap.n_jobs
    cost = gap.cost.astype(np.float64)
    res = gap.resource.astype(np.float64)
    cap = gap.capacity.astype(np.float64)
    # arc (job j, agent i), sorted by job then agent; prune agents that cannot take the job alone
    jm, im = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    jj, ii = jm.ravel(), im.ravel()
    ok = res[ii, jj] <= cap[ii]
    jj, ii = jj[ok], ii[ok]
    a = len(jj)
    arc_cost = cost[ii, jj]
    return Problem(
        name=gap.name, kind="gap", order_ids=gap.order_ids, node_ids=gap.node_ids,
        sku_ids=(GAP_SKU,),
        line_order=np.arange(n, dtype=np.int64), line_sku=np.zeros(n, dtype=np.int64),
        line_qty=np.ones(n, dtype=np.int64), line_penalty=np.full(n, np.inf),
        order_line_ptr=np.arange(n + 1, dtype=np.int64),
        order_max_packages=np.ones(n, dtype=np.int64),
        node_max_packages=np.full(m, np.inf), node_capacity=cap,
        pool_node=np.arange(m, dtype=np.int64), pool_sku=np.zeros(m, dtype=np.int64),
        pool_qty=np.full(m, np.inf),
        arc_order=jj.astype(np.int64), arc_node=ii.astype(np.int64), arc_cost=arc_cost,
        arc_km=arc_cost.copy(), order_arc_ptr=segment_ptr(jj, n),
        e_line=jj.astype(np.int64), e_arc=np.arange(a, dtype=np.int64),
        e_pool=ii.astype(np.int64), e_unit_cost=np.zeros(a), e_use=res[ii, jj],
        e_ub=np.ones(a, dtype=np.int64), line_e_ptr=segment_ptr(jj, n),
    )
