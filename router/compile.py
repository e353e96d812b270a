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

from router.geo import EARTH_RADIUS_KM, haversine_km_scalar, haversine_rad
from router.instance import GAP_SKU, GapInstance, Instance, Order, OrderColumns, order_columns

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

    Candidate sources of a line of SKU ``s`` for an order in grid cell ``c``: if the key
    ``s * n_cells + c`` is in ``cell_key`` (at ``k``), the pools
    ``cand_pool[cell_ptr[k]:cell_ptr[k + 1]]``, else ``cand_pool[sku_ptr[s]:sku_ptr[s + 1]]``;
    either list is sorted by node. The second holds the pools of nodes without a local service
    radius (they may serve any order); the first adds the local pools of the SKU in the cell
    and its eight neighbours, which hold every order within reach of them. Pools of SKUs a
    store may not ship are in neither.
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
    sku_ptr: IntArray  # (S+1,) into cand_pool
    cell_key: IntArray  # (K,) sorted
    cell_ptr: IntArray  # (K+1,) into cand_pool
    cand_pool: IntArray

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
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        found = (keys[pos] == want) if len(keys) else np.zeros(len(want), dtype=bool)
        return np.where(found, pos, -1)


def compile_network(instance: Instance) -> CompiledNetwork:
    """The per-node part of compilation (see :class:`CompiledNetwork`). Uses only
    ``instance.shipping``, ``.skus`` and ``.nodes`` (their inventories name the pools)."""
    sku_ids = tuple(s.id for s in instance.skus)
    sku_index = {s: i for i, s in enumerate(sku_ids)}
    sku_weight = np.array([s.weight_kg for s in instance.skus], dtype=np.float64)
    sku_store_ok = np.array([s.store_eligible for s in instance.skus], dtype=bool)
    nodes = instance.nodes
    n_nodes = len(nodes)
    node_lat = np.array([n.lat for n in nodes], dtype=np.float64)
    node_lon = np.array([n.lon for n in nodes], dtype=np.float64)
    node_is_store = np.array([n.kind == "store" for n in nodes], dtype=bool)
    inf = np.inf
    node_radius = np.array([inf if n.service_radius_km is None else n.service_radius_km
                            for n in nodes], dtype=np.float64)

    # stock pools: every (node, SKU) named in an inventory, sorted by (SKU, node)
    counts = np.array([len(n.inventory) for n in nodes], dtype=np.int64)
    pool_node = np.repeat(np.arange(n_nodes, dtype=np.int64), counts)
    pool_sku = np.array([sku_index[s] for n in nodes for s in n.inventory], dtype=np.int64)
    stock = np.array([q for n in nodes for q in n.inventory.values()], dtype=np.int64)
    safety = np.array([n.safety_stock for n in nodes], dtype=np.int64)
    by_sku_node = np.lexsort((pool_node, pool_sku))
    pool_node, pool_sku = pool_node[by_sku_node], pool_sku[by_sku_node]
    available = np.maximum(stock[by_sku_node] - safety[pool_node], 0)

    # candidate index: pools of non-local nodes by SKU, then merged lists per (SKU, cell)
    shippable = ~(node_is_store[pool_node] & ~sku_store_ok[pool_sku])
    grid, local = _grid(node_radius, node_lat, node_lon)
    free = np.flatnonzero(shippable & ~local[pool_node])
    sku_ptr = segment_ptr(pool_sku[free], len(sku_ids))
    cell_key = np.zeros(0, dtype=np.int64)
    cell_ptr = np.zeros(1, dtype=np.int64)
    cand = free
    if grid is not None:
        _, _, n_cols, n_cells = grid
        lp = np.flatnonzero(shippable & local[pool_node])
        around = np.array([dr + dc for dr in (-n_cols, 0, n_cols) for dc in (-1, 0, 1)],
                          dtype=np.int64)
        base = pool_sku[lp] * n_cells + _cell(node_lat[pool_node[lp]],
                                              node_lon[pool_node[lp]], grid)
        keys = (base[:, None] + around[None, :]).ravel()
        cell_key, key_of = np.unique(keys, return_inverse=True)
        key_sku = cell_key // n_cells
        n_free = sku_ptr[key_sku + 1] - sku_ptr[key_sku]
        ent_key = np.concatenate([np.repeat(np.arange(len(cell_key), dtype=np.int64), n_free),
                                  key_of.ravel()])
        ent_pool = np.concatenate([free[expand_ranges(sku_ptr[key_sku], n_free)],
                                   np.repeat(lp, len(around))])
        srt = np.lexsort((ent_pool, ent_key))
        cell_ptr = segment_ptr(ent_key[srt], len(cell_key)) + len(free)
        cand = np.concatenate([free, ent_pool[srt]])

    zones = instance.shipping.zones
    n_rlat = np.radians(node_lat)
    return CompiledNetwork(
        node_ids=tuple(n.id for n in nodes), sku_ids=sku_ids,
        pool_node=pool_node, pool_sku=pool_sku, pool_available=available,
        node_max_packages=np.array([inf if n.max_packages is None else n.max_packages
                                    for n in nodes], dtype=np.float64),
        node_capacity=np.array([inf if n.max_units is None else n.max_units for n in nodes],
                               dtype=np.float64),
        sku_weight=sku_weight, sku_store_ok=sku_store_ok,
        node_lat=node_lat, node_lon=node_lon, node_rlat=n_rlat, node_rlon=np.radians(node_lon),
        node_cos=np.cos(n_rlat), node_is_store=node_is_store,
        node_handling_per_unit=np.array([n.handling_per_unit for n in nodes], dtype=np.float64),
        node_handling_per_package=np.array([n.handling_per_package for n in nodes],
                                           dtype=np.float64),
        node_radius=node_radius,
        zone_max_km=np.array([z.max_km for z in zones], dtype=np.float64),
        zone_per_package=np.array([z.per_package for z in zones], dtype=np.float64),
        zone_per_kg=np.array([z.per_kg for z in zones], dtype=np.float64),
        express_max_km=instance.shipping.express_max_km,
        grid=grid, sku_ptr=sku_ptr, cell_key=cell_key, cell_ptr=cell_ptr, cand_pool=cand,
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
                  banned_arcs: np.ndarray | None = None) -> Problem:
    """A batch of orders compiled against the network, in the state given: units each pool
    may ship now (``pool_available``, (P,), inventory less safety stock), packages and units
    each node may still ship (``node_max_packages``, ``node_capacity``, (N,), inf where
    unlimited), the batch's unfilled penalty and default package limit (for orders that set
    none), and ``banned_arcs`` ((K, 2): order position in ``orders``, node index) that may not
    be used. Its cost grows with the batch, not with the network.

    The Problem's node and SKU indices are the network's; it carries the pools with stock
    available now at nodes that may still ship (:meth:`CompiledNetwork.pool_index` maps them
    back). ``orders`` may be the records or their columns (``Instance.columns``)."""
    t0 = time.perf_counter()
    if isinstance(orders, OrderColumns):
        cols = orders
        if cols.sku_ids is not net.sku_ids and cols.sku_ids != net.sku_ids:
            raise ValueError("the order columns index other SKUs than the network")
    else:
        cols = order_columns(orders, net.sku_ids)
    n_nodes = net.n_nodes
    nn = max(n_nodes, 1)
    avail = _state(pool_available, net.n_pools, "pool_available")
    node_maxp = _state(node_max_packages, n_nodes, "node_max_packages")
    node_cap = _state(node_capacity, n_nodes, "node_capacity")
    if (cols.line_sku < 0).any():
        raise KeyError("an order line names a SKU the network does not know")

    # orders and lines
    n_orders = len(cols)
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
    pool_ok = (avail > 0) & node_open[net.pool_node]
    pools = np.flatnonzero(pool_ok)
    pool_new = np.full(net.n_pools, -1, dtype=np.int64)
    pool_new[pools] = np.arange(len(pools), dtype=np.int64)

    # candidate (line, pool) pairs from the network's index, sorted by (line, node)
    start, count = _candidates(net, cols, line_order)
    e_net = net.cand_pool[expand_ranges(start, count)]
    e_line = np.repeat(np.arange(n_lines, dtype=np.int64), count)
    keep = pool_ok[e_net]
    e_node = net.pool_node[e_net]
    if banned_arcs is not None and len(banned_arcs):
        keep &= ~_banned(banned_arcs, n_orders, n_nodes, line_order[e_line] * nn + e_node)
    e_line, e_net, e_node = e_line[keep], e_net[keep], e_node[keep]

    # arcs: unique (order, node) pairs, filtered by zone, express and service radius
    e_key = line_order[e_line] * nn + e_node
    n_pairs = n_orders * nn
    if n_pairs <= 4 * len(e_key) + (1 << 20):
        # dense marking: the sorted unique keys and each key's rank, without a sort
        mark = np.zeros(n_pairs, dtype=bool)
        mark[e_key] = True
        arc_key = np.flatnonzero(mark)
        e_arc = (np.cumsum(mark) - 1)[e_key]
    else:
        arc_key, e_arc = np.unique(e_key, return_inverse=True)
    arc_order = arc_key // nn
    arc_node = arc_key % nn
    o_rlat = np.radians(cols.lat)
    km = haversine_rad(net.node_rlat[arc_node], net.node_rlon[arc_node], net.node_cos[arc_node],
                       o_rlat[arc_order], np.radians(cols.lon)[arc_order],
                       np.cos(o_rlat)[arc_order])
    express_km = net.express_max_km
    limits = net.zone_max_km.tolist()
    if express_km is not None:
        limits.append(express_km)
    km = _exact_near_limits(km, limits, net.node_radius, arc_node, arc_order, net.node_lat,
                            net.node_lon, cols.lat, cols.lon)
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
    # pools that no line-arc uses are kept: indices stay stable and they cost nothing
    problem = Problem(
        name=name, kind="routing", order_ids=cols.ids, node_ids=net.node_ids,
        sku_ids=net.sku_ids, line_order=line_order, line_sku=line_sku, line_qty=line_qty,
        line_penalty=line_pen, order_line_ptr=order_line_ptr, order_max_packages=order_maxp,
        node_max_packages=node_maxp, node_capacity=node_cap,
        pool_node=net.pool_node[pools], pool_sku=net.pool_sku[pools], pool_qty=avail[pools],
        arc_order=arc_order, arc_node=arc_node, arc_cost=arc_cost, arc_km=km,
        order_arc_ptr=segment_ptr(arc_order, n_orders),
        e_line=e_line, e_arc=e_arc, e_pool=pool_new[e_net], e_unit_cost=e_unit,
        e_use=np.ones(len(e_line), dtype=np.float64), e_ub=e_ub,
        line_e_ptr=segment_ptr(e_line, n_lines),
    )
    object.__setattr__(problem, "compile_seconds", time.perf_counter() - t0)
    return problem


def _banned(banned_arcs: np.ndarray, n_orders: int, n_nodes: int, e_key: IntArray
            ) -> np.ndarray:
    """Which keys (order * max(N, 1) + node) are among the banned (order, node) pairs."""
    b = np.asarray(banned_arcs, dtype=np.int64)
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError("banned_arcs: expected a (K, 2) array of (order position, node index)")
    if ((b[:, 0] < 0) | (b[:, 0] >= n_orders) | (b[:, 1] < 0) | (b[:, 1] >= n_nodes)).any():
        raise ValueError("banned_arcs: an order position or node index is out of range")
    bk = np.unique(b[:, 0] * max(n_nodes, 1) + b[:, 1])
    pos = np.minimum(np.searchsorted(bk, e_key), len(bk) - 1)
    return bk[pos] == e_key


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


def _candidates(net: CompiledNetwork, cols: OrderColumns, line_order: IntArray
                ) -> tuple[IntArray, IntArray]:
    """Where each line's candidate pools start in ``net.cand_pool``, and how many."""
    sku = cols.line_sku
    start = net.sku_ptr[sku]
    count = net.sku_ptr[sku + 1] - start
    if net.grid is not None and len(net.cell_key) and len(sku):
        key = sku * net.grid[3] + _cell(cols.lat, cols.lon, net.grid)[line_order]
        k = np.minimum(np.searchsorted(net.cell_key, key), len(net.cell_key) - 1)
        hit = net.cell_key[k] == key
        start = np.where(hit, net.cell_ptr[k], start)
        count = np.where(hit, net.cell_ptr[k + 1] - net.cell_ptr[k], count)
    return start, count


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
