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
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from router import jit
from router.geo import EARTH_RADIUS_KM, haversine_km_scalar, haversine_rad
from router.instance import GAP_SKU, GapInstance, Instance, Order, OrderColumns, order_columns
from router.jit import njit

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


def _ptr(counts: IntArray) -> IntArray:
    """CSR pointer (n+1,) of segments of the given sizes."""
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


def segment_ptr(keys: IntArray, n: int) -> IntArray:
    """CSR pointer (n+1,) for sorted ``keys`` in ``0..n-1``."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr


def compile_problem(instance: Instance | GapInstance) -> Problem:
    """Compile an instance (routing batch or GAP) into a :class:`Problem`. A routing batch is
    :func:`compile_batch` of its orders against :func:`compile_network` of its network, in
    the state the instance gives (stock less safety stock, the nodes' limits)."""
    t0 = time.perf_counter()
    if isinstance(instance, GapInstance):
        problem = _compile_gap(instance)
    else:
        net = compile_network(instance)
        problem = compile_batch(net, instance.columns, name=instance.name,
                                pool_available=net.pool_available,
                                node_max_packages=net.node_max_packages,
                                node_capacity=net.node_capacity,
                                unfilled_penalty=instance.unfilled_penalty,
                                default_max_packages=instance.default_max_packages)
    object.__setattr__(problem, "compile_seconds", time.perf_counter() - t0)
    return problem


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """The per-node part of compilation, done once per network: ids, coordinates (radians and
    cosines), node kind, handling costs, service radii, SKU weights and store eligibility,
    zone tariffs, express radius, the spatial index of local (service-radius) nodes, and the
    universe of stock pools: every (node, SKU) pair the network may stock (named in an
    inventory), sorted by (SKU, node), as ``pool_node``, ``pool_sku`` (indices into
    ``node_ids`` / ``sku_ids``).

    ``pool_available``, ``node_max_packages`` and ``node_capacity`` are the state of the
    snapshot the network was compiled from (inventory less safety stock, the nodes' limits);
    a batch is compiled against any state (:func:`compile_batch`).

    Candidate sources of a line of SKU ``s`` for an order in grid cell ``c``: the pools
    ``free_pool[sku_ptr[s]:sku_ptr[s + 1]]`` of nodes without a local service radius (they
    may serve any order), and the local pools of SKU ``s`` in the cell and its eight
    neighbours (``loc_pool`` where ``loc_key`` is ``s * n_cells + c'``), which hold every order
    within reach of them. Pools of SKUs that a store may not ship are in neither. Pool indices
    of one SKU ascend with the node, so a line's sources sorted by pool are sorted by node.
    """

    node_ids: tuple[str, ...]
    sku_ids: tuple[str, ...]
    pool_node: IntArray  # (P,)
    pool_sku: IntArray  # (P,)
    pool_available: IntArray  # (P,) inventory less safety stock, >= 0
    node_max_packages: FloatArray  # (N,) inf where unlimited
    node_capacity: FloatArray  # (N,) inf where unlimited

    sku_weight: FloatArray  # (S,)
    sku_store_ok: np.ndarray  # (S,) bool
    node_lat: FloatArray  # (N,) degrees
    node_lon: FloatArray
    node_rlat: FloatArray  # radians
    node_rlon: FloatArray
    node_cos: FloatArray  # cosine of the latitude
    node_is_store: np.ndarray  # (N,) bool
    node_handling_per_unit: FloatArray
    node_handling_per_package: FloatArray
    node_radius: FloatArray  # (N,) service radius, inf where none
    zone_max_km: FloatArray  # (Z,) ascending
    zone_per_package: FloatArray
    zone_per_kg: FloatArray
    express_max_km: float | None

    grid: tuple[float, float, int, int] | None  # cell height, width (degrees), columns, cells
    sku_ptr: IntArray  # (S+1,) into free_pool
    free_pool: IntArray
    loc_key: IntArray  # (K,) sorted
    loc_pool: IntArray  # (K,)
    loc_sku_ptr: IntArray  # (S+1,) local pools of SKU s: loc_sku_ptr[s]:loc_sku_ptr[s + 1]

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_pools(self) -> int:
        return int(self.pool_node.shape[0])

    def pool_index(self, node: IntArray, sku: IntArray) -> IntArray:
        """The network pool of each (node, SKU) pair (e.g. a Problem's ``pool_node``,
        ``pool_sku``); -1 where the network holds no such pool."""
        node = np.asarray(node, dtype=np.int64)
        sku = np.asarray(sku, dtype=np.int64)
        n = max(self.n_nodes, 1)
        keys = self.pool_sku * n + self.pool_node
        want = sku * n + node
        if len(keys) == 0:
            return np.full(len(want), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return np.where(keys[pos] == want, pos, -1)


def compile_network(instance: Instance) -> CompiledNetwork:
    """The per-node part of compilation (see :class:`CompiledNetwork`). Uses only
    ``instance.shipping``, ``.skus`` and ``.nodes`` (their inventories name the pools; read
    from the columns built with the instance)."""
    c = instance.network_columns
    if (c.inv_sku < 0).any():
        raise KeyError("an inventory names a SKU the network does not know")
    n_skus = len(c.sku_ids)
    # stock pools: every (node, SKU) named in an inventory, sorted by (SKU, node)
    by_sku_node = np.lexsort((c.inv_node, c.inv_sku))
    pool_node, pool_sku = c.inv_node[by_sku_node], c.inv_sku[by_sku_node]
    available = np.maximum(c.inv_qty[by_sku_node] - c.node_safety_stock[pool_node], 0)

    # candidate index: pools of non-local nodes by SKU; local pools by (SKU, grid cell)
    shippable = ~(c.node_is_store[pool_node] & ~c.sku_store_ok[pool_sku])
    grid, local = _grid(c.node_radius, c.node_lat, c.node_lon)
    free = np.flatnonzero(shippable & ~local[pool_node])
    sku_ptr = segment_ptr(pool_sku[free], n_skus)
    loc_key = np.zeros(0, dtype=np.int64)
    loc_pool = np.zeros(0, dtype=np.int64)
    if grid is not None:
        loc_pool = np.flatnonzero(shippable & local[pool_node])
        loc_key = pool_sku[loc_pool] * grid[3] + _cell(c.node_lat[pool_node[loc_pool]],
                                                       c.node_lon[pool_node[loc_pool]], grid)
        srt = np.argsort(loc_key, kind="stable")  # pools ascend: (key, node) order
        loc_key, loc_pool = loc_key[srt], loc_pool[srt]
    loc_sku_ptr = segment_ptr(pool_sku[loc_pool], n_skus)

    zones = instance.shipping.zones
    n_rlat = np.radians(c.node_lat)
    return CompiledNetwork(
        node_ids=c.node_ids, sku_ids=c.sku_ids,
        pool_node=pool_node, pool_sku=pool_sku, pool_available=available,
        node_max_packages=c.node_max_packages.copy(), node_capacity=c.node_max_units.copy(),
        sku_weight=c.sku_weight, sku_store_ok=c.sku_store_ok,
        node_lat=c.node_lat, node_lon=c.node_lon, node_rlat=n_rlat,
        node_rlon=np.radians(c.node_lon), node_cos=np.cos(n_rlat),
        node_is_store=c.node_is_store, node_handling_per_unit=c.node_handling_per_unit,
        node_handling_per_package=c.node_handling_per_package, node_radius=c.node_radius,
        zone_max_km=np.array([z.max_km for z in zones], dtype=np.float64),
        zone_per_package=np.array([z.per_package for z in zones], dtype=np.float64),
        zone_per_kg=np.array([z.per_kg for z in zones], dtype=np.float64),
        express_max_km=instance.shipping.express_max_km,
        grid=grid, sku_ptr=sku_ptr, free_pool=free, loc_key=loc_key, loc_pool=loc_pool,
        loc_sku_ptr=loc_sku_ptr,
    )


def _state(values: object, n: int, what: str) -> FloatArray:
    a = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} values, got {a.shape[0]}")
    if np.isnan(a).any() or (a < 0).any():
        raise ValueError(f"{what}: values must be non-negative numbers")
    return a


def compile_batch(net: CompiledNetwork, orders: Sequence[Order] | OrderColumns, *, name: str,
                  pool_available: np.ndarray, node_max_packages: np.ndarray,
                  node_capacity: np.ndarray, unfilled_penalty: float,
                  default_max_packages: int | None,
                  banned_arcs: np.ndarray | None = None,
                  pools: np.ndarray | None = None) -> Problem:
    """A batch of orders compiled against the network, in the state given: units each pool
    may ship now (``pool_available``, (P,), inventory less safety stock), packages and units
    each node may still ship (``node_max_packages``, ``node_capacity``, (N,), inf where
    unlimited), the batch's unfilled penalty and default package limit (for orders that set
    none), and ``banned_arcs`` ((K, 2): order position in ``orders``, node index) that may not
    be used. Its cost grows with the batch, not with the network.

    The Problem's node and SKU indices are the network's; it carries the pools with stock
    available now at nodes that may still ship (:meth:`CompiledNetwork.pool_index` maps them
    back). ``orders`` may be the records or their columns (``Instance.columns``).

    ``pools`` (sorted network pool indices) says that only these pools have stock on offer:
    ``pool_available`` then holds their units (one value per pool of ``pools``) and every
    other pool has none. A batch of a few orders against a large network then costs nothing
    per network pool (the same problem as the dense ``pool_available`` with zeros)."""
    t0 = time.perf_counter()
    if isinstance(orders, OrderColumns):
        cols = orders
        if cols.sku_ids is not net.sku_ids and cols.sku_ids != net.sku_ids:
            raise ValueError("the order columns index other SKUs than the network")
    else:
        cols = order_columns(orders, net.sku_ids)
    n_nodes = net.n_nodes
    nn = max(n_nodes, 1)
    if pools is None:
        avail = _state(pool_available, net.n_pools, "pool_available")
    else:
        offered = np.asarray(pools)
        if offered.ndim != 1 or (offered.size and offered.dtype.kind not in "iu"):
            raise ValueError("pools: expected a 1-D array of integer network pool indices")
        offered = offered.astype(np.int64, copy=False)
        if len(offered) and (offered[0] < 0 or offered[-1] >= net.n_pools
                             or (np.diff(offered) <= 0).any()):
            raise ValueError(f"pools: expected sorted, distinct pool indices in "
                             f"[0, {net.n_pools})")
        avail = np.zeros(net.n_pools, dtype=np.float64)  # untouched pages cost nothing
        avail[offered] = _state(pool_available, len(offered), "pool_available")
    node_maxp = _state(node_max_packages, n_nodes, "node_max_packages")
    node_cap = _state(node_capacity, n_nodes, "node_capacity")
    if (cols.line_sku < 0).any():
        raise KeyError("an order line names a SKU the network does not know")
    n_orders = len(cols)
    banned = _banned_keys(banned_arcs, n_orders, n_nodes)

    # orders and lines
    line_sku, line_qty, order_line_ptr = cols.line_sku, cols.line_qty, cols.line_ptr
    n_lines = len(line_sku)
    line_order = np.repeat(np.arange(n_orders, dtype=np.int64), np.diff(order_line_ptr))
    dmp = n_nodes if default_max_packages is None else default_max_packages
    order_maxp = np.minimum(np.where(cols.max_packages >= 0, cols.max_packages, dmp), nn)
    own = cols.unfilled_penalty
    order_pen = np.where(np.isnan(own), float(unfilled_penalty), own)
    line_pen = order_pen[line_order]

    # pools that may ship now: stock left at a node with packages and units left
    node_open = (node_maxp > 0) & (node_cap > 0)
    if pools is None:
        pool_ok = (avail > 0) & node_open[net.pool_node]
        kept = np.flatnonzero(pool_ok)
    else:
        kept = offered[(avail[offered] > 0) & node_open[net.pool_node[offered]]]
        pool_ok = np.zeros(net.n_pools, dtype=bool)
        pool_ok[kept] = True
    # the problem's index of each pool kept (read only where pool_ok)
    pool_new = np.zeros(net.n_pools, dtype=np.int64)
    pool_new[kept] = np.arange(len(kept), dtype=np.int64)

    # candidate (line, pool) pairs, sorted by (line, node), and the arcs: unique (order, node)
    line_cell = np.zeros(n_lines, dtype=np.int64)
    if net.grid is not None and n_lines:
        line_cell = (line_sku * net.grid[3]
                     + _cell(cols.lat, cols.lon, net.grid)[line_order])
    if jit.ENABLED:
        n_cols = 0 if net.grid is None else net.grid[2]
        guess = int((net.sku_ptr[line_sku + 1] - net.sku_ptr[line_sku]).sum()) + 4 * n_lines
        count, e_line, e_net = _line_pools(line_sku, line_cell, net.sku_ptr, net.free_pool,
                                           net.loc_key, net.loc_pool, net.loc_sku_ptr, n_cols,
                                           pool_ok, net.pool_node, line_order, banned, nn,
                                           guess)
        arc_order, arc_node, e_arc = _arcs_of_orders(order_line_ptr, _ptr(count), e_net,
                                                     net.pool_node)
    else:
        e_line, e_net = _line_pools_numpy(net, line_sku, line_cell, pool_ok, line_order,
                                          banned, nn)
        e_node = net.pool_node[e_net]
        arc_order, arc_node, e_arc = _arcs_numpy(line_order[e_line] * nn + e_node, n_orders,
                                                 nn)

    # arcs filtered by zone, express and service radius
    km = _distances(net, cols, arc_node, arc_order)
    near_done = np.zeros(0, dtype=np.int64)
    express_km = net.express_max_km
    limits = net.zone_max_km.tolist()
    if express_km is not None:
        limits.append(express_km)
    if jit.ENABLED:
        lo, hi = _limit_bands(limits)
        express = np.inf if express_km is None else float(express_km)
        while True:  # a second pass only where a distance lies on a limit (rare)
            (near, a_order, a_node, a_km, arc_cost, e_line_k, e_arc_k, e_pool, e_unit, e_ub,
             arcs_of, line_arcs_of) = _finish(
                km, arc_order, arc_node, e_line, e_net, e_arc, net.zone_max_km,
                net.zone_per_package, net.zone_per_kg, net.node_radius, cols.express,
                express_km is not None, express, net.node_handling_per_package,
                net.node_handling_per_unit, net.sku_weight, line_sku, line_qty, avail,
                pool_new, n_orders, n_lines, lo, hi, _NEAR_TOL, len(near_done) == 0)
            if len(near) == 0:
                break
            km = _recompute(km, near, arc_node, arc_order, net.node_lat, net.node_lon,
                            cols.lat, cols.lon)
            near_done = near
        arc_order, arc_node, km, e_line, e_arc = a_order, a_node, a_km, e_line_k, e_arc_k
        order_arc_ptr, line_e_ptr = _ptr(arcs_of), _ptr(line_arcs_of)
    else:
        km = _exact_near_limits(km, limits, net.node_radius, arc_node, arc_order,
                                net.node_lat, net.node_lon, cols.lat, cols.lon)
        zone = np.searchsorted(net.zone_max_km, km, side="left")
        ok = (zone < len(net.zone_max_km)) & (km <= net.node_radius[arc_node])
        if express_km is not None:
            ok &= ~cols.express[arc_order] | (km <= express_km)
        new_index = np.cumsum(ok) - 1
        keep_e = ok[e_arc]
        e_line, e_net, e_arc = e_line[keep_e], e_net[keep_e], new_index[e_arc[keep_e]]
        arc_order, arc_node, km, zone = arc_order[ok], arc_node[ok], km[ok], zone[ok]
        arc_cost = net.zone_per_package[zone] + net.node_handling_per_package[arc_node]
        e_unit = (net.zone_per_kg[zone[e_arc]] * net.sku_weight[line_sku[e_line]]
                  + net.node_handling_per_unit[arc_node[e_arc]])
        e_ub = np.minimum(line_qty[e_line], avail[e_net]).astype(np.int64)
        e_pool = pool_new[e_net]
        order_arc_ptr = segment_ptr(arc_order, n_orders)
        line_e_ptr = segment_ptr(e_line, n_lines)
    # pools that no line-arc uses are kept: indices stay stable and they cost nothing
    problem = Problem(
        name=name, kind="routing", order_ids=cols.ids, node_ids=net.node_ids,
        sku_ids=net.sku_ids, line_order=line_order, line_sku=line_sku, line_qty=line_qty,
        line_penalty=line_pen, order_line_ptr=order_line_ptr, order_max_packages=order_maxp,
        node_max_packages=node_maxp, node_capacity=node_cap,
        pool_node=net.pool_node[kept], pool_sku=net.pool_sku[kept], pool_qty=avail[kept],
        arc_order=arc_order, arc_node=arc_node, arc_cost=arc_cost, arc_km=km,
        order_arc_ptr=order_arc_ptr,
        e_line=e_line, e_arc=e_arc, e_pool=e_pool, e_unit_cost=e_unit,
        e_use=np.ones(len(e_line), dtype=np.float64), e_ub=e_ub,
        line_e_ptr=line_e_ptr,
    )
    object.__setattr__(problem, "compile_seconds", time.perf_counter() - t0)
    return problem


def _banned_keys(banned_arcs: np.ndarray | None, n_orders: int, n_nodes: int) -> IntArray:
    """The banned (order, node) pairs as sorted unique keys order * max(N, 1) + node."""
    if banned_arcs is None:
        return np.zeros(0, dtype=np.int64)
    b = np.asarray(banned_arcs, dtype=np.int64)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError("banned_arcs: expected a (K, 2) array of (order position, node index)")
    if ((b[:, 0] < 0) | (b[:, 0] >= n_orders) | (b[:, 1] < 0) | (b[:, 1] >= n_nodes)).any():
        raise ValueError("banned_arcs: an order position or node index is out of range")
    return np.unique(b[:, 0] * max(n_nodes, 1) + b[:, 1])


LOCAL_RADIUS_KM = 1000.0
"""Nodes with a service radius up to this are paired with orders through a spatial grid."""


def _grid(node_radius: FloatArray, node_lat: FloatArray, node_lon: FloatArray
          ) -> tuple[tuple[float, float, int, int] | None, np.ndarray]:
    """The spatial grid of the local nodes (a finite service radius up to
    ``LOCAL_RADIUS_KM``) and which nodes are local; ``None`` and no local node where the grid
    would come within reach of a pole (80 degrees) or the antimeridian (every pair is then
    enumerated, which is always correct).

    Cells are at least as wide as the largest local radius r in both directions, so every
    order within r of a local node lies in the node's cell or a neighbouring one: haversine
    gives d >= R |dlat| and sin(d / 2R) >= cos(lat_max) sin(|dlon| / 2), where lat_max bounds
    the latitudes of both the node and any order within r of it. The exact radius test is
    applied later with the other arc filters; this only avoids pairing every order with
    every store in the country.
    """
    local = np.isfinite(node_radius) & (node_radius <= LOCAL_RADIUS_KM)
    none = np.zeros(len(node_radius), dtype=bool)
    if not local.any():
        return None, none
    r = float(node_radius[local].max())
    reach = float(np.degrees(r / EARTH_RADIUS_KM))
    lat_max = float(np.abs(node_lat[local]).max()) + reach
    if lat_max > 80.0:
        return None, none
    # any cell at least as wide as r is correct; a floor of 0.05 degrees keeps keys small
    g_lat = max(reach * (1 + 1e-9), 0.05)
    s = float(np.sin(r / (2 * EARTH_RADIUS_KM)) / np.cos(np.radians(lat_max)))
    if s >= 1.0:
        return None, none
    g_lon = max(float(np.degrees(2 * np.arcsin(s))) * (1 + 1e-9), 0.05)
    if float(np.abs(node_lon[local]).max()) + g_lon >= 180.0:
        return None, none
    n_cols = int(np.ceil(360.0 / g_lon)) + 3
    n_cells = (int(np.ceil(180.0 / g_lat)) + 3) * n_cols
    return (g_lat, g_lon, n_cols, n_cells), local


def _cell(lat: FloatArray, lon: FloatArray, grid: tuple[float, float, int, int]) -> IntArray:
    g_lat, g_lon, n_cols, _ = grid
    return ((np.floor((lat + 90.0) / g_lat).astype(np.int64) + 1) * n_cols
            + np.floor((lon + 180.0) / g_lon).astype(np.int64) + 1)


def _around(grid: tuple[float, float, int, int] | None) -> IntArray:
    """Key offsets of a cell and its eight neighbours (none without a grid)."""
    if grid is None:
        return np.zeros(0, dtype=np.int64)
    n_cols = grid[2]
    return np.array([dr + dc for dr in (-n_cols, 0, n_cols) for dc in (-1, 0, 1)],
                    dtype=np.int64)


def _line_pools_numpy(net: CompiledNetwork, line_sku: IntArray, line_cell: IntArray,
                      pool_ok: np.ndarray, line_order: IntArray, banned: IntArray,
                      nn: int) -> tuple[IntArray, IntArray]:
    """(line, pool) candidate pairs, sorted by (line, node): the vectorised twin of
    :func:`_line_pools`."""
    n_lines = len(line_sku)
    start = net.sku_ptr[line_sku]
    count = net.sku_ptr[line_sku + 1] - start
    lines = [np.repeat(np.arange(n_lines, dtype=np.int64), count)]
    pools = [net.free_pool[expand_ranges(start, count)]]
    if len(net.loc_key):
        for off in _around(net.grid).tolist():
            lo = np.searchsorted(net.loc_key, line_cell + off, side="left")
            hi = np.searchsorted(net.loc_key, line_cell + off, side="right")
            lines.append(np.repeat(np.arange(n_lines, dtype=np.int64), hi - lo))
            pools.append(net.loc_pool[expand_ranges(lo, hi - lo)])
    e_line, e_net = np.concatenate(lines), np.concatenate(pools)
    keep = pool_ok[e_net]
    if len(banned):
        key = line_order[e_line] * nn + net.pool_node[e_net]
        pos = np.minimum(np.searchsorted(banned, key), len(banned) - 1)
        keep &= banned[pos] != key
    e_line, e_net = e_line[keep], e_net[keep]
    srt = np.argsort(e_line * nn + net.pool_node[e_net], kind="stable")
    return e_line[srt], e_net[srt]


def _arcs_numpy(e_key: IntArray, n_orders: int, nn: int) -> tuple[IntArray, IntArray, IntArray]:
    """Arcs (unique keys order * nn + node) and each line-arc's arc: the vectorised twin of
    :func:`_arcs_of_orders`."""
    n_pairs = n_orders * nn
    if n_pairs <= 4 * len(e_key) + (1 << 20):
        # dense marking: the sorted unique keys and each key's rank, without a sort
        mark = np.zeros(n_pairs, dtype=bool)
        mark[e_key] = True
        arc_key = np.flatnonzero(mark)
        e_arc = (np.cumsum(mark) - 1)[e_key]
    else:
        arc_key, e_arc = np.unique(e_key, return_inverse=True)
    return arc_key // nn, arc_key % nn, e_arc


@njit
def _line_pools(line_sku, line_key, sku_ptr, free_pool, loc_key, loc_pool, loc_sku_ptr, n_cols,
                pool_ok, pool_node, line_order, banned, nn, guess):  # pragma: no cover
    """For each line, its candidate pools (the free pools of its SKU and the local ones in
    the cell of its order, key ``line_key``, and the eight around) that may ship now and are
    not banned, sorted by pool (so by node): the count per line and the pools, lines in
    order. (Compiled; the vectorised twin is :func:`_line_pools_numpy`.)"""
    n_lines = len(line_sku)
    count = np.zeros(n_lines, dtype=np.int64)
    out = np.empty(max(16, guess), dtype=np.int64)
    out_line = np.empty(max(16, guess), dtype=np.int64)
    buf = np.empty(64, dtype=np.int64)
    ne = 0
    for ln in range(n_lines):
        s = line_sku[ln]
        k = 0
        for j in range(sku_ptr[s], sku_ptr[s + 1]):
            p = free_pool[j]
            if pool_ok[p]:
                if k == len(buf):
                    buf = np.concatenate((buf, np.empty(len(buf), dtype=np.int64)))
                buf[k] = p
                k += 1
        n_free = k
        j0 = loc_sku_ptr[s]
        j1 = loc_sku_ptr[s + 1]
        if j1 > j0:
            c = line_key[ln]
            for row in range(3):
                lo = c + (row - 1) * n_cols - 1  # three cells of one row of the 3 x 3
                if j1 - j0 <= 16:
                    j = j0
                    while j < j1 and loc_key[j] < lo:
                        j += 1
                else:
                    j = j0 + np.searchsorted(loc_key[j0:j1], lo)
                while j < j1 and loc_key[j] <= lo + 2:
                    p = loc_pool[j]
                    if pool_ok[p]:
                        if k == len(buf):
                            buf = np.concatenate((buf, np.empty(len(buf), dtype=np.int64)))
                        buf[k] = p
                        k += 1
                    j += 1
            if k > n_free:  # merge: insertion sort (the free part is sorted already)
                for i in range(n_free, k):
                    v = buf[i]
                    t = i - 1
                    while t >= 0 and buf[t] > v:
                        buf[t + 1] = buf[t]
                        t -= 1
                    buf[t + 1] = v
        if len(banned):
            o = line_order[ln] * nn
            kept = 0
            for i in range(k):
                key = o + pool_node[buf[i]]
                j = np.searchsorted(banned, key)
                if j < len(banned) and banned[j] == key:
                    continue
                buf[kept] = buf[i]
                kept += 1
            k = kept
        if ne + k > len(out):
            size = max(2 * len(out), ne + k)
            grown = np.empty(size, dtype=np.int64)
            grown_line = np.empty(size, dtype=np.int64)
            for i in range(ne):  # (element loops: a slice copy compiles numba's shape checks)
                grown[i] = out[i]
                grown_line[i] = out_line[i]
            out = grown
            out_line = grown_line
        for i in range(k):
            out[ne + i] = buf[i]
            out_line[ne + i] = ln
        ne += k
        count[ln] = k
    return count, out_line[:ne], out[:ne]


@njit
def _arcs_of_orders(order_line_ptr, line_e_ptr, e_pool, pool_node):  # pragma: no cover
    """The arcs (unique (order, node), sorted) of line-arcs (pools ``e_pool``) sorted by
    (line, node), and each line-arc's arc. (Compiled; the twin is :func:`_arcs_numpy`.)"""
    n_orders = len(order_line_ptr) - 1
    n_e = len(e_pool)
    e_node = np.empty(n_e, dtype=np.int64)
    for e in range(n_e):
        e_node[e] = pool_node[e_pool[e]]
    e_arc = np.empty(n_e, dtype=np.int64)
    arc_order = np.empty(n_e, dtype=np.int64)
    arc_node = np.empty(n_e, dtype=np.int64)
    buf = np.empty(64, dtype=np.int64)
    na = 0
    for o in range(n_orders):
        e0 = line_e_ptr[order_line_ptr[o]]
        e1 = line_e_ptr[order_line_ptr[o + 1]]
        increasing = True
        for e in range(e0 + 1, e1):
            if e_node[e] <= e_node[e - 1]:
                increasing = False
                break
        if increasing:  # one line, or lines on disjoint ascending nodes: arcs are line-arcs
            for e in range(e0, e1):
                arc_order[na] = o
                arc_node[na] = e_node[e]
                e_arc[e] = na
                na += 1
            continue
        if e1 - e0 > len(buf):
            buf = np.empty(e1 - e0, dtype=np.int64)
        k = 0
        for e in range(e0, e1):  # insertion into the sorted unique nodes of the order
            v = e_node[e]
            t = k - 1
            while t >= 0 and buf[t] > v:
                t -= 1
            if t >= 0 and buf[t] == v:
                continue
            for u in range(k, t + 1, -1):
                buf[u] = buf[u - 1]
            buf[t + 1] = v
            k += 1
        for i in range(k):
            arc_order[na + i] = o
            arc_node[na + i] = buf[i]
        for e in range(e0, e1):
            e_arc[e] = na + np.searchsorted(buf[:k], e_node[e])
        na += k
    return arc_order[:na], arc_node[:na], e_arc


_CHUNK = 1 << 16
"""Arcs per block of the distance computation (temporaries stay small and in cache)."""


def _distances(net: CompiledNetwork, cols: OrderColumns, arc_node: IntArray,
               arc_order: IntArray) -> FloatArray:
    """Haversine km of every arc, block by block (elementwise: the same values as one
    whole-array call)."""
    km = np.empty(len(arc_node), dtype=np.float64)
    o_rlat = np.radians(cols.lat)
    o_rlon = np.radians(cols.lon)
    o_cos = np.cos(o_rlat)
    for lo in range(0, len(km), _CHUNK):
        n = arc_node[lo:lo + _CHUNK]
        o = arc_order[lo:lo + _CHUNK]
        km[lo:lo + _CHUNK] = haversine_rad(net.node_rlat[n], net.node_rlon[n], net.node_cos[n],
                                           o_rlat[o], o_rlon[o], o_cos[o])
    return km


_NEAR_TOL = 1e-9


def _limit_bands(limits: list[float]) -> tuple[FloatArray, FloatArray]:
    """The bands around each limit (sorted) within which a distance is recomputed."""
    lim = np.sort(np.asarray(limits, dtype=np.float64))
    return lim - _NEAR_TOL * (1.0 + lim), lim + _NEAR_TOL * (1.0 + lim)


def _recompute(km: FloatArray, idx: IntArray, arc_node: IntArray, arc_order: IntArray,
               node_lat: FloatArray, node_lon: FloatArray, order_lat: FloatArray,
               order_lon: FloatArray) -> FloatArray:
    """``km`` with the arcs ``idx`` recomputed by the verifier's scalar formula."""
    if len(idx) == 0:
        return km
    km = km.copy()
    for i in idx.tolist():
        n, o = int(arc_node[i]), int(arc_order[i])
        km[i] = haversine_km_scalar(float(node_lat[n]), float(node_lon[n]), float(order_lat[o]),
                                    float(order_lon[o]))
    return km


@njit
def _near_limits(km, lo, hi, node_radius, arc_node, tol):  # pragma: no cover  (compiled)
    """Arcs whose distance lies within a band of a limit or of their node's service radius
    (the twin of the test in :func:`_exact_near_limits`)."""
    out = np.empty(16, dtype=np.int64)
    k = 0
    for i in range(len(km)):
        d = km[i]
        near = False
        for j in range(len(lo)):
            if lo[j] <= d <= hi[j]:
                near = True
                break
        r = node_radius[arc_node[i]]
        if not near and np.isfinite(r) and abs(d - r) <= tol * (1.0 + r):
            near = True
        if near:
            if k == len(out):
                out = np.concatenate((out, np.empty(len(out), dtype=np.int64)))
            out[k] = i
            k += 1
    return out[:k].copy()


@njit
def _finish(km, arc_order, arc_node, e_line, e_net, e_arc, zone_max, zone_pp, zone_pkg,
            node_radius, order_express, has_express, express_km, node_hpp, node_hpu,
            sku_weight, line_sku, line_qty, avail, pool_new, n_orders, n_lines, lo, hi, tol,
            find_near):  # pragma: no cover  (compiled)
    """Arcs kept (a zone, within the node's service radius and the express radius) and their
    costs; line-arcs of the arcs kept, their unit costs and bounds; arcs per order and
    line-arcs per line. With ``find_near``, first the arcs whose distance lies within a band
    of a limit or of their node's service radius (the test of :func:`_exact_near_limits`):
    where there are any, they are returned alone, to be recomputed."""
    n_a = len(km)
    if find_near:
        near = _near_limits(km, lo, hi, node_radius, arc_node, tol)
        if len(near):
            e0 = np.zeros(0, dtype=np.int64)
            f0 = np.zeros(0)
            return (near, e0, e0, f0, f0, e0, e0, e0, f0, e0, e0, e0)
    near = np.zeros(0, dtype=np.int64)
    n_z = len(zone_max)
    new_index = np.empty(n_a, dtype=np.int64)
    zone = np.empty(n_a, dtype=np.int64)
    a_order = np.empty(n_a, dtype=np.int64)
    a_node = np.empty(n_a, dtype=np.int64)
    a_km = np.empty(n_a)
    a_cost = np.empty(n_a)
    arcs_of = np.zeros(n_orders, dtype=np.int64)
    line_arcs_of = np.zeros(n_lines, dtype=np.int64)
    na = 0
    for a in range(n_a):
        d = km[a]
        z = 0
        while z < n_z and zone_max[z] < d:
            z += 1
        n = arc_node[a]
        o = arc_order[a]
        ok = z < n_z and d <= node_radius[n]
        if ok and has_express and order_express[o] and not d <= express_km:
            ok = False
        if not ok:
            new_index[a] = -1
            continue
        new_index[a] = na
        zone[a] = z
        a_order[na] = o
        a_node[na] = n
        a_km[na] = d
        a_cost[na] = zone_pp[z] + node_hpp[n]
        arcs_of[o] += 1
        na += 1
    n_e = len(e_line)
    o_line = np.empty(n_e, dtype=np.int64)
    o_arc = np.empty(n_e, dtype=np.int64)
    o_pool = np.empty(n_e, dtype=np.int64)
    o_unit = np.empty(n_e)
    o_ub = np.empty(n_e, dtype=np.int64)
    ne = 0
    for e in range(n_e):
        a = e_arc[e]
        j = new_index[a]
        if j < 0:
            continue
        ln = e_line[e]
        p = e_net[e]
        o_line[ne] = ln
        o_arc[ne] = j
        o_pool[ne] = pool_new[p]
        o_unit[ne] = zone_pkg[zone[a]] * sku_weight[line_sku[ln]] + node_hpu[arc_node[a]]
        o_ub[ne] = np.int64(min(float(line_qty[ln]), avail[p]))
        line_arcs_of[ln] += 1
        ne += 1
    return (near, a_order[:na], a_node[:na], a_km[:na], a_cost[:na], o_line[:ne], o_arc[:ne],
            o_pool[:ne], o_unit[:ne], o_ub[:ne], arcs_of, line_arcs_of)


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
