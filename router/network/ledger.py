"""The ledger of a network during a sale day: stock, capacity windows, orders, packages and the
backorder queue, as numpy arrays indexed like the compiled network.

Every operation is built as a :class:`Change` first (new values of the rows it touches, new
rows it adds) and checked against the invariants, vectorised over the rows it touches; only a
change that passes is written (by :mod:`router.network.store`, one transaction) and then
applied. So a failed check, a failed write or a killed process never leaves half an operation
behind.

Invariants (checked on every change; :meth:`Ledger.audit` recomputes them from the records):

- stock: on hand is never negative, and a plan never ships more of a pool than it has
  available (on hand less the node's safety stock) when it is committed;
- capacity: packages and units sent by a node in the current capacity window never exceed its
  limits (windows reset when the clock enters a new one);
- orders: packages of an order (over every batch) never exceed its package limit, and no
  package comes from a node the order was banned from (a store that declined it);
- units: every ordered unit is exactly one of shipped, waiting (backordered), cancelled (left
  unfilled past the wait limit, or unshippable; charged the penalty) or dropped (the customer
  cancelled). Stock on hand equals the initial stock plus adjustments less the units of active
  packages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.compile import expand_ranges
from router.errors import RouterError
from router.geo import haversine_km_scalar, haversine_rad
from router.instance import Instance

ACTIVE, RELEASED, DECLINED = 0, 1, 2
PACKAGE_STATES = ("active", "released", "declined")
ADJUST_KINDS = ("sale", "replenish", "count")
UNLIMITED = -1  # order package limit


class LedgerError(RouterError):
    """An operation would break an invariant of the ledger (nothing was changed)."""


class Column:
    """A growable numpy column: ``col.a`` is the filled part (a view, writable in place)."""

    __slots__ = ("_buf", "_n")

    def __init__(self, dtype: Any, data: np.ndarray | None = None) -> None:
        data = np.zeros(0, dtype=dtype) if data is None else np.asarray(data, dtype=dtype)
        self._buf = np.empty(max(16, len(data)), dtype=dtype)
        self._buf[:len(data)] = data
        self._n = len(data)

    def __len__(self) -> int:
        return self._n

    @property
    def a(self) -> np.ndarray:
        return self._buf[:self._n]

    def extend(self, values: np.ndarray) -> None:
        k = len(values)
        if self._n + k > len(self._buf):
            buf = np.empty(max(2 * len(self._buf), self._n + k), dtype=self._buf.dtype)
            buf[:self._n] = self._buf[:self._n]
            self._buf = buf
        self._buf[self._n:self._n + k] = values
        self._n += k


# --------------------------------------------------------------------------------------------
# static records of the network


@dataclass(frozen=True, eq=False)
class Static:
    """The network's records as arrays (never changed): nodes, SKUs, tariff, stock pools."""

    name: str
    node_ids: tuple[str, ...]
    sku_ids: tuple[str, ...]
    node_store: np.ndarray  # (N,) bool
    node_lat: np.ndarray
    node_lon: np.ndarray
    node_hpp: np.ndarray
    node_hpu: np.ndarray
    node_ss: np.ndarray  # (N,) int safety stock
    node_max_packages: np.ndarray  # (N,) float, inf = unlimited (per capacity window)
    node_max_units: np.ndarray
    sku_weight: np.ndarray
    zone_max: np.ndarray
    zone_pp: np.ndarray
    zone_pkg: np.ndarray
    express_km: float  # inf = no limit
    unfilled_penalty: float
    default_max_packages: int | None
    pool_node: np.ndarray  # (P,) sorted by (SKU, node)
    pool_sku: np.ndarray
    initial: np.ndarray  # (P,) stock on hand at the start
    pool_key: np.ndarray = field(init=False)  # (P,) SKU * N + node, ascending

    def __post_init__(self) -> None:
        key = self.pool_sku * max(len(self.node_ids), 1) + self.pool_node
        if len(key) > 1 and (np.diff(key) <= 0).any():
            raise ValueError("pools must be sorted by (SKU, node), without repeats")
        object.__setattr__(self, "pool_key", key)
        for v in vars(self).values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_pools(self) -> int:
        return len(self.pool_node)

    def pools_of(self, node: np.ndarray, sku: np.ndarray) -> np.ndarray:
        """Pool index of each (node, SKU) pair; -1 where the network has no such pool."""
        key = np.asarray(sku, dtype=np.int64) * max(self.n_nodes, 1) + np.asarray(node)
        pk = self.pool_key
        if len(pk) == 0:
            return np.full(len(key), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(pk, key), len(pk) - 1)
        return np.where(pk[pos] == key, pos, -1)

    def package_costs(self, order_lat: np.ndarray, order_lon: np.ndarray, node: np.ndarray,
                      line_pkg: np.ndarray, line_sku: np.ndarray, line_qty: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Cost of packages from ``node`` to orders at (lat, lon), each with the lines
        ``line_pkg == k``: (package part, per-unit part), from the records (SPEC section 3)."""
        km = _km(self.node_lat[node], self.node_lon[node], order_lat, order_lon,
                 self.zone_max)
        zone = np.minimum(np.searchsorted(self.zone_max, km, side="left"),
                          len(self.zone_max) - 1)
        fixed = self.zone_pp[zone] + self.node_hpp[node]
        per_unit = (self.zone_pkg[zone[line_pkg]] * self.sku_weight[line_sku]
                    + self.node_hpu[node[line_pkg]]) * line_qty
        return fixed, np.bincount(line_pkg, weights=per_unit, minlength=len(node))


def _km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray,
        edges: np.ndarray) -> np.ndarray:
    """Haversine distances; those within a hair of a zone edge recomputed with the scalar
    formula the verifier uses (there the last bit decides the zone)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    km = haversine_rad(p1, np.radians(lon1), np.cos(p1), p2, np.radians(lon2), np.cos(p2))
    if len(km) and len(edges):
        gap = np.min(np.abs(km[:, None] - edges[None, :]), axis=1)
        for i in np.flatnonzero(gap <= 1e-9 * (1.0 + km)).tolist():
            km[i] = haversine_km_scalar(float(lat1[i]), float(lon1[i]), float(lat2[i]),
                                        float(lon2[i]))
    return km


def static_of(instance: Instance, pool_node: np.ndarray, pool_sku: np.ndarray) -> Static:
    """The records of ``instance``'s nodes and SKUs, with the pools in the given order."""
    nodes = instance.nodes
    sku_ids = tuple(s.id for s in instance.skus)
    inf = math.inf
    zones = instance.shipping.zones
    node_inv = [n.inventory for n in nodes]
    initial = np.array([node_inv[n].get(sku_ids[s], 0) for n, s in
                        zip(pool_node.tolist(), pool_sku.tolist(), strict=True)], dtype=np.int64)
    ex = instance.shipping.express_max_km
    return Static(
        name=instance.name, node_ids=tuple(n.id for n in nodes), sku_ids=sku_ids,
        node_store=np.array([n.kind == "store" for n in nodes], dtype=bool),
        node_lat=np.array([n.lat for n in nodes], dtype=np.float64),
        node_lon=np.array([n.lon for n in nodes], dtype=np.float64),
        node_hpp=np.array([n.handling_per_package for n in nodes], dtype=np.float64),
        node_hpu=np.array([n.handling_per_unit for n in nodes], dtype=np.float64),
        node_ss=np.array([n.safety_stock for n in nodes], dtype=np.int64),
        node_max_packages=np.array([inf if n.max_packages is None else n.max_packages
                                    for n in nodes], dtype=np.float64),
        node_max_units=np.array([inf if n.max_units is None else n.max_units for n in nodes],
                                dtype=np.float64),
        sku_weight=np.array([s.weight_kg for s in instance.skus], dtype=np.float64),
        zone_max=np.array([z.max_km for z in zones], dtype=np.float64),
        zone_pp=np.array([z.per_package for z in zones], dtype=np.float64),
        zone_pkg=np.array([z.per_kg for z in zones], dtype=np.float64),
        express_km=inf if ex is None else float(ex),
        unfilled_penalty=float(instance.unfilled_penalty),
        default_max_packages=instance.default_max_packages,
        pool_node=np.asarray(pool_node, dtype=np.int64).copy(),
        pool_sku=np.asarray(pool_sku, dtype=np.int64).copy(), initial=initial)


# --------------------------------------------------------------------------------------------
# changes


@dataclass
class Change:
    """One operation on the ledger, as the rows it adds and the new values of the rows it
    touches (indices are the ledger's). Written in one transaction, then applied."""

    kind: str  # commit, release, decline, adjust, advance
    clock: float
    window: int
    reset_usage: bool = False
    plan: tuple[str, str, int, int, float] | None = None  # id, batch, orders, packages, objective
    orders_new: dict[str, Any] | None = None  # ids, lat, lon, express, limit, penalty, time,
    # line_start, n_lines, packages
    lines_new: dict[str, np.ndarray] | None = None  # order, sku, qty + the dynamic columns
    lines_set: dict[str, np.ndarray] | None = None  # idx + shipped, waiting, cancelled, dropped, since
    orders_set: tuple[np.ndarray, np.ndarray] | None = None  # (order idx, active packages)
    packages_new: dict[str, np.ndarray] | None = None
    packages_state: tuple[np.ndarray, np.ndarray] | None = None  # (package idx, new state)
    ship_new: dict[str, np.ndarray] | None = None  # line, pool, qty (grouped by package)
    pools_set: tuple[np.ndarray, np.ndarray] | None = None  # (pool idx, on hand)
    usage_set: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (node, packages, units)
    banned_new: tuple[np.ndarray, np.ndarray] | None = None  # (order idx, node idx)
    adjustments: list[tuple[float, str, int, int, int]] | None = None  # t, kind, pool, qty,
    # delta
    restocked_skus: np.ndarray | None = None  # SKUs whose stock rose (re-offer their backorders)
    tried_lines: np.ndarray | None = None  # lines offered in this batch
    retry_lines: np.ndarray | None = None  # lines to offer again at the next batch
    summary: dict[str, Any] = field(default_factory=dict)




@dataclass(frozen=True)
class BatchOrders:
    """The orders of one routed batch in ledger terms: new orders (to be added) and residual
    orders already in the ledger (their waiting lines offered again)."""

    ids: tuple[str, ...]  # every order of the batch, in batch order
    new_count: int  # the first new_count orders are new, the rest residual
    residual: np.ndarray  # ledger order index of each residual order
    lat: np.ndarray  # new orders
    lon: np.ndarray
    express: np.ndarray
    limit: np.ndarray  # effective package limit, UNLIMITED where none
    penalty: np.ndarray
    line_ptr: np.ndarray  # (new_count+1,) lines of new order i
    line_sku: np.ndarray
    line_qty: np.ndarray
    residual_lines: np.ndarray  # ledger line index of each offered residual line
    residual_line_ptr: np.ndarray  # (len(residual)+1,)


@dataclass(frozen=True)
class Accounting:
    """Every ordered unit, by what became of it."""

    ordered: int
    shipped: int
    waiting: int
    cancelled: int
    dropped: int

    @property
    def balanced(self) -> bool:
        return self.ordered == self.shipped + self.waiting + self.cancelled + self.dropped

    def __str__(self) -> str:
        return (f"ordered {self.ordered:,} = shipped {self.shipped:,} + waiting "
                f"{self.waiting:,} + cancelled {self.cancelled:,} + dropped {self.dropped:,}"
                f" ({'balanced' if self.balanced else 'UNBALANCED'})")


# --------------------------------------------------------------------------------------------
# the ledger


class Ledger:
    """State of the network (see the module docstring); change it only through changes."""

    def __init__(self, static: Static, *, capacity_window: float = 3600.0,
                 wait_limit: float = 7200.0) -> None:
        if not (capacity_window > 0 and math.isfinite(capacity_window)):
            raise ValueError("capacity_window must be a positive number of seconds")
        if not wait_limit >= 0:
            raise ValueError("wait_limit must be a non-negative number of seconds")
        self.s = static
        self.capacity_window = float(capacity_window)
        self.wait_limit = float(wait_limit)
        n, p = static.n_nodes, static.n_pools
        self.clock = 0.0
        self.window = 0
        self.on_hand = static.initial.copy()
        self._pool_ss = static.node_ss[static.pool_node]
        self._available = np.maximum(0, self.on_hand - self._pool_ss)
        self.adjusted = np.zeros(p, dtype=np.int64)  # sum of adjustment deltas per pool
        self.used_packages = np.zeros(n, dtype=np.int64)
        self.used_units = np.zeros(n, dtype=np.int64)
        # orders
        self.order_ids: list[str] = []
        self.order_index: dict[str, int] = {}
        self.o_lat, self.o_lon = Column(np.float64), Column(np.float64)
        self.o_express = Column(np.bool_)
        self.o_limit, self.o_penalty = Column(np.int64), Column(np.float64)
        self.o_time = Column(np.float64)
        self.o_packages = Column(np.int64)
        self.o_line_start, self.o_n_lines = Column(np.int64), Column(np.int64)
        self.o_pkg_start, self.o_pkg_count = Column(np.int64), Column(np.int64)
        self.extra_pkg_ranges: dict[int, list[tuple[int, int]]] = {}
        # lines
        self.l_order, self.l_sku, self.l_qty = Column(np.int64), Column(np.int64), Column(np.int64)
        self.l_shipped, self.l_waiting = Column(np.int64), Column(np.int64)
        self.l_cancelled, self.l_dropped = Column(np.int64), Column(np.int64)
        self.l_since = Column(np.float64)  # when the waiting units started waiting (nan: none)
        self.l_tried = Column(np.int64)  # epoch of the last offer (not persisted)
        # packages and their lines
        self.k_order, self.k_node = Column(np.int64), Column(np.int64)
        self.k_window, self.k_plan = Column(np.int64), Column(np.int64)
        self.k_state = Column(np.int8)
        self.k_cost_package, self.k_cost_unit = Column(np.float64), Column(np.float64)
        self.k_line_start, self.k_n_lines = Column(np.int64), Column(np.int64)
        self.s_line, self.s_pool, self.s_qty = Column(np.int64), Column(np.int64), Column(np.int64)
        self.banned: dict[int, set[int]] = {}
        self.plan_ids: dict[str, int] = {}
        self.plans: list[tuple[str, str, float, int, int, float]] = []
        # re-offer triggers: an epoch counter bumped by restocks and window resets
        self.epoch = 1
        self.sku_epoch = np.zeros(len(static.sku_ids), dtype=np.int64)
        self.window_epoch = 0
        self.waiting_lines = np.zeros(0, dtype=np.int64)
        self.adjustment_count = 0

    # ---- views -----------------------------------------------------------------------------
    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    @property
    def n_lines(self) -> int:
        return len(self.l_qty)

    @property
    def n_packages(self) -> int:
        return len(self.k_order)

    def available(self) -> np.ndarray:
        """Units each pool may ship now: on hand less the node's safety stock, at least 0
        (kept up to date with the stock; read-only)."""
        v = self._available.view()
        v.flags.writeable = False
        return v

    def available_for(self, skus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pools of ``skus`` (sorted) and their units :meth:`available`: a batch's
        compiled problem then carries the pools its orders can use, not the network's
        (``compile_batch(..., pools=)``)."""
        u = np.unique(skus)
        lo = np.searchsorted(self.s.pool_sku, u, side="left")
        hi = np.searchsorted(self.s.pool_sku, u, side="right")
        idx = expand_ranges(lo, hi - lo)
        return idx, self._available[idx]

    def set_on_hand(self, on_hand: np.ndarray) -> None:
        """Replace the whole stock on hand (restoring from a file)."""
        self.on_hand = np.asarray(on_hand, dtype=np.int64).copy()
        self._available = np.maximum(0, self.on_hand - self._pool_ss)

    def packages_left(self) -> np.ndarray:
        return self.s.node_max_packages - self.used_packages

    def units_left(self) -> np.ndarray:
        return self.s.node_max_units - self.used_units

    def window_of(self, t: float) -> int:
        return math.floor(t / self.capacity_window)

    def first_line(self, first_order: int) -> int:
        """The first line of order ``first_order`` (lines are stored order after order)."""
        return (int(self.o_line_start.a[first_order]) if first_order < self.n_orders
                else self.n_lines)

    def accounting(self, first_order: int = 0) -> Accounting:
        """Units of the orders from ``first_order`` on, by what became of them."""
        a = self.first_line(first_order)
        return Accounting(int(self.l_qty.a[a:].sum()), int(self.l_shipped.a[a:].sum()),
                          int(self.l_waiting.a[a:].sum()), int(self.l_cancelled.a[a:].sum()),
                          int(self.l_dropped.a[a:].sum()))

    def order_packages(self, o: int) -> np.ndarray:
        """Every package (any state) of order ``o``."""
        ranges = [(int(self.o_pkg_start.a[o]), int(self.o_pkg_count.a[o]))]
        ranges += self.extra_pkg_ranges.get(o, [])
        return np.concatenate([np.arange(a, a + c, dtype=np.int64) for a, c in ranges])

    def package_lines(self, k: np.ndarray) -> np.ndarray:
        return expand_ranges(self.k_line_start.a[k], self.k_n_lines.a[k])

    def order_lines(self, o: int) -> np.ndarray:
        a = int(self.o_line_start.a[o])
        return np.arange(a, a + int(self.o_n_lines.a[o]), dtype=np.int64)

    def allowance(self, orders: np.ndarray) -> np.ndarray:
        """Packages each order may still get (a large number where unlimited)."""
        lim = self.o_limit.a[orders]
        return np.where(lim == UNLIMITED, 1 << 40, lim - self.o_packages.a[orders])

    def reoffer_lines(self) -> np.ndarray:
        """Waiting lines worth offering again now: their SKU was restocked, the capacity
        window changed, or a store declined them since they were last offered."""
        w = self.waiting_lines
        if len(w) == 0:
            return w
        trigger = np.maximum(self.sku_epoch[self.l_sku.a[w]], self.window_epoch)
        return w[trigger > self.l_tried.a[w]]

    # ---- changes ---------------------------------------------------------------------------
    def _base(self, kind: str) -> Change:
        return Change(kind=kind, clock=self.clock, window=self.window)

    def commit_change(self, batch: BatchOrders, plan_id: str, batch_name: str,
                      objective: float, pkg_order: np.ndarray, pkg_node: np.ndarray,
                      sl_pkg: np.ndarray, sl_line: np.ndarray, sl_qty: np.ndarray) -> Change:
        """The change that commits a routed batch. ``pkg_order`` / ``pkg_node``: batch order
        position and node of each package; ship lines: their package, the *batch line*
        (new lines numbered first, in order, then the offered residual lines) and units."""
        s = self.s
        nb = batch.new_count
        n_new_lines = len(batch.line_qty)
        base_o, base_l = self.n_orders, self.n_lines
        n_batch = len(batch.ids)
        # ledger index of every batch order and batch line
        order_of = np.concatenate([base_o + np.arange(nb, dtype=np.int64), batch.residual])
        line_of = np.concatenate([base_l + np.arange(n_new_lines, dtype=np.int64),
                                  batch.residual_lines])
        new_line_order = np.repeat(np.arange(nb, dtype=np.int64), np.diff(batch.line_ptr))
        batch_line_order = np.concatenate([
            new_line_order,
            nb + np.repeat(np.arange(len(batch.residual), dtype=np.int64),
                           np.diff(batch.residual_line_ptr))])
        batch_line_sku = np.concatenate([batch.line_sku, self.l_sku.a[batch.residual_lines]])
        outstanding = np.concatenate([batch.line_qty, self.l_waiting.a[batch.residual_lines]])
        K = len(pkg_order)
        problems: list[str] = []
        known = [oid for oid in batch.ids[:nb] if oid in self.order_index]
        if known:
            raise LedgerError(f"order {known[0]!r} is already in the ledger (committed by "
                              f"another batch since this one was routed)")
        if len(sl_qty) and int(sl_qty.min()) < 1:
            problems.append("a package line carries no units")
        if K and (pkg_order.min() < 0 or pkg_order.max() >= n_batch):
            raise LedgerError("a package is for an order not in the batch")
        if len(sl_line) and (sl_line.min() < 0 or sl_line.max() >= len(line_of)):
            raise LedgerError("a package carries a line not in the batch")
        if (batch_line_order[sl_line] != pkg_order[sl_pkg]).any():
            problems.append("a package carries a line of another order")
        pool = s.pools_of(pkg_node[sl_pkg], batch_line_sku[sl_line])
        if (pool < 0).any():
            i = int(np.flatnonzero(pool < 0)[0])
            problems.append(f"node {s.node_ids[pkg_node[sl_pkg[i]]]} holds no SKU "
                            f"{s.sku_ids[batch_line_sku[sl_line[i]]]}")
            raise LedgerError("; ".join(problems))
        key = pkg_order * max(s.n_nodes, 1) + pkg_node
        if len(np.unique(key)) != K:
            problems.append("two packages from one node for one order in one batch")
        # stock: never more than available now
        used_p, pool_q = _group_sum(pool, sl_qty)
        avail = self._available[used_p]
        over = pool_q > avail
        for i in np.flatnonzero(over)[:3].tolist():
            problems.append(f"node {s.node_ids[s.pool_node[used_p[i]]]} SKU "
                            f"{s.sku_ids[s.pool_sku[used_p[i]]]}: ships {pool_q[i]} units, "
                            f"{avail[i]} available")
        # node capacity of the current window
        nodes_u, node_pk = np.unique(pkg_node, return_counts=True)
        node_un = np.bincount(np.searchsorted(nodes_u, pkg_node[sl_pkg]), weights=sl_qty,
                              minlength=len(nodes_u)).astype(np.int64)
        new_pk = self.used_packages[nodes_u] + node_pk
        new_un = self.used_units[nodes_u] + node_un
        for i in np.flatnonzero((new_pk > s.node_max_packages[nodes_u])
                                | (new_un > s.node_max_units[nodes_u]))[:3].tolist():
            problems.append(f"node {s.node_ids[nodes_u[i]]}: {new_pk[i]} packages / "
                            f"{new_un[i]} units in this window, above its capacity")
        # lines: never more than outstanding
        shipped_b = np.bincount(sl_line, weights=sl_qty, minlength=len(line_of)).astype(np.int64)
        if (shipped_b > outstanding).any():
            problems.append("a line ships more units than it has outstanding")
        # orders: package limits over every batch, banned nodes
        pk_per_order = np.bincount(pkg_order, minlength=n_batch).astype(np.int64)
        allowance = np.concatenate([
            np.where(batch.limit == UNLIMITED, 1 << 40, batch.limit),
            self.allowance(batch.residual)])
        if (pk_per_order > allowance).any():
            problems.append("an order gets more packages than its limit")
        res_k = np.flatnonzero(pkg_order >= nb)
        for k in res_k.tolist():
            o = int(order_of[pkg_order[k]])
            if int(pkg_node[k]) in self.banned.get(o, ()):
                problems.append(f"order {self.order_ids[o]} ships from "
                                f"{s.node_ids[pkg_node[k]]}, which declined it")
        if problems:
            raise LedgerError("plan does not fit the ledger: " + "; ".join(problems))

        ch = self._base("commit")
        seq = len(self.plans)
        ch.plan = (plan_id, batch_name, n_batch, K, float(objective))
        # new orders and their lines
        if nb:
            ch.orders_new = {"ids": list(batch.ids[:nb]), "lat": batch.lat, "lon": batch.lon,
                             "express": batch.express, "limit": batch.limit,
                             "penalty": batch.penalty,
                             "time": np.full(nb, self.clock), "line_start":
                             base_l + batch.line_ptr[:-1], "n_lines": np.diff(batch.line_ptr),
                             "packages": pk_per_order[:nb]}
        # packages grouped by order, their lines by package (plans come so; else sorted)
        if K > 1 and (np.diff(pkg_order) < 0).any():
            order_sort = np.argsort(pkg_order, kind="stable")
            inv = np.empty(K, dtype=np.int64)
            inv[order_sort] = np.arange(K)
            pkg_order, pkg_node = pkg_order[order_sort], pkg_node[order_sort]
            sl_pkg = inv[sl_pkg]
        if len(sl_pkg) > 1 and (np.diff(sl_pkg) < 0).any():
            line_sort = np.argsort(sl_pkg, kind="stable")
            sl_pkg, sl_line, sl_qty, pool = (sl_pkg[line_sort], sl_line[line_sort],
                                             sl_qty[line_sort], pool[line_sort])
        g_order = order_of[pkg_order]
        o_lat = np.concatenate([batch.lat, self.o_lat.a[batch.residual]])[pkg_order]
        o_lon = np.concatenate([batch.lon, self.o_lon.a[batch.residual]])[pkg_order]
        cost_pkg, cost_unit = s.package_costs(o_lat, o_lon, pkg_node, sl_pkg,
                                              batch_line_sku[sl_line], sl_qty)
        n_lines_k = np.bincount(sl_pkg, minlength=K).astype(np.int64)
        ch.packages_new = {"order": g_order, "node": pkg_node,
                           "window": np.full(K, self.window, dtype=np.int64),
                           "plan": np.full(K, seq, dtype=np.int64),
                           "cost_package": cost_pkg, "cost_unit": cost_unit,
                           "line_start": len(self.s_line) + np.cumsum(n_lines_k) - n_lines_k,
                           "n_lines": n_lines_k}
        ch.ship_new = {"line": line_of[sl_line], "pool": pool, "qty": sl_qty}
        ch.pools_set = (used_p, self.on_hand[used_p] - pool_q)
        ch.usage_set = (nodes_u, new_pk, new_un)
        # lines after the batch: what is not shipped waits (or is cancelled)
        n_pk_after = np.concatenate([np.zeros(nb, dtype=np.int64),
                                     self.o_packages.a[batch.residual]]) + pk_per_order
        lim_all = np.concatenate([batch.limit, self.o_limit.a[batch.residual]])
        exhausted = (lim_all != UNLIMITED) & (n_pk_after >= lim_all)
        left = outstanding - shipped_b
        cancel = (left > 0) & ((self.wait_limit <= 0) | exhausted[batch_line_order])
        waiting = np.where(cancel, 0, left)
        prev_since = np.concatenate([np.full(n_new_lines, np.nan),
                                     self.l_since.a[batch.residual_lines]])
        since = np.where(waiting > 0, np.where(np.isnan(prev_since), self.clock, prev_since),
                         np.nan)
        cancelled_now = np.where(cancel, left, 0)
        prev = np.concatenate([np.zeros(n_new_lines, dtype=np.int64),
                               self.l_shipped.a[batch.residual_lines]])
        prev_c = np.concatenate([np.zeros(n_new_lines, dtype=np.int64),
                                 self.l_cancelled.a[batch.residual_lines]])
        nl = n_new_lines
        ch.lines_new = {"order": base_o + new_line_order, "sku": batch.line_sku,
                        "qty": batch.line_qty, "shipped": shipped_b[:nl], "waiting": waiting[:nl],
                        "cancelled": cancelled_now[:nl],
                        "dropped": np.zeros(nl, dtype=np.int64), "since": since[:nl]}
        rl = batch.residual_lines
        if len(rl):
            ch.lines_set = {"idx": rl, "shipped": prev[nl:] + shipped_b[nl:],
                            "waiting": waiting[nl:], "cancelled": prev_c[nl:] + cancelled_now[nl:],
                            "dropped": self.l_dropped.a[rl], "since": since[nl:]}
            ch.orders_set = (batch.residual, n_pk_after[nb:])
        ch.tried_lines = line_of
        ch.summary = {"orders": n_batch, "new_orders": nb, "packages": K,
                      "units": int(sl_qty.sum()), "waiting": int(waiting.sum()),
                      "cancelled": int(cancelled_now.sum()),
                      "cost": float(cost_pkg.sum() + cost_unit.sum())}
        return ch

    def release_change(self, o: int) -> Change:
        """The customer cancels order ``o``: its active packages are released (their stock and
        window capacity come back) and its waiting units are dropped."""
        ch = self._base("release")
        lines = self.order_lines(o)
        back = self._undo_packages(ch, o, self.order_packages(o), RELEASED)
        shipped = self.l_shipped.a[lines] - back
        if shipped.any():
            raise LedgerError(f"order {self.order_ids[o]}: shipped units without a package")
        waiting = self.l_waiting.a[lines]
        zero = np.zeros(len(lines), dtype=np.int64)
        ch.lines_set = {"idx": lines, "shipped": zero, "waiting": zero,
                        "cancelled": self.l_cancelled.a[lines],
                        "dropped": self.l_dropped.a[lines] + back + waiting,
                        "since": np.full(len(lines), np.nan)}
        ch.summary = {"units": int((back + waiting).sum()), "returned": int(back.sum())}
        return ch

    def decline_change(self, o: int, node: int) -> Change:
        """The store ``node`` declines its active package for order ``o``: stock and window
        capacity come back, the units wait again (offered at the next batch) and the order
        is never again routed to that store."""
        ch = self._base("decline")
        ks = self.order_packages(o)
        ks = ks[(self.k_node.a[ks] == node) & (self.k_state.a[ks] == ACTIVE)]
        if len(ks) == 0:
            raise LedgerError(f"order {self.order_ids[o]} has no active package from "
                              f"{self.s.node_ids[node]}")
        lines = self.order_lines(o)
        back = self._undo_packages(ch, o, ks, DECLINED)
        waiting = self.l_waiting.a[lines] + back
        since = self.l_since.a[lines]
        since = np.where(waiting > 0, np.where(np.isnan(since), self.clock, since), np.nan)
        ch.lines_set = {"idx": lines, "shipped": self.l_shipped.a[lines] - back,
                        "waiting": waiting, "cancelled": self.l_cancelled.a[lines],
                        "dropped": self.l_dropped.a[lines], "since": since}
        ch.banned_new = (np.array([o], dtype=np.int64), np.array([node], dtype=np.int64))
        ch.retry_lines = lines[back > 0]
        ch.summary = {"units": int(back.sum())}
        return ch

    def _undo_packages(self, ch: Change, o: int, ks: np.ndarray, state: int) -> np.ndarray:
        """Fill ``ch`` with the active packages among ``ks`` (of order ``o``) undone: their
        stock back, their window capacity back (packages of this window), the order's package
        count less them. Returns the units returned per line of the order."""
        ks = ks[self.k_state.a[ks] == ACTIVE]
        back = np.zeros(int(self.o_n_lines.a[o]), dtype=np.int64)
        if len(ks) == 0:
            return back
        sl = self.package_lines(ks)
        pool, qty = self.s_pool.a[sl], self.s_qty.a[sl]
        used_p, pool_q = _group_sum(pool, qty)
        ch.pools_set = (used_p, self.on_hand[used_p] + pool_q)
        ch.packages_state = (ks, np.full(len(ks), state, dtype=np.int8))
        ch.orders_set = (np.array([o], dtype=np.int64),
                         np.array([int(self.o_packages.a[o]) - len(ks)], dtype=np.int64))
        cur = ks[self.k_window.a[ks] == self.window]
        if len(cur):
            nodes, npk = np.unique(self.k_node.a[cur], return_counts=True)
            csl = self.package_lines(cur)
            node_of_line = np.repeat(self.k_node.a[cur], self.k_n_lines.a[cur])
            un = np.bincount(np.searchsorted(nodes, node_of_line), weights=self.s_qty.a[csl],
                             minlength=len(nodes)).astype(np.int64)
            ch.usage_set = (nodes, self.used_packages[nodes] - npk, self.used_units[nodes] - un)
        np.add.at(back, self.s_line.a[sl] - int(self.o_line_start.a[o]), qty)
        ch.restocked_skus = np.unique(self.s.pool_sku[used_p])
        return back

    def adjust_change(self, pools: np.ndarray, kind: str, qty: np.ndarray) -> Change:
        """Stock changes outside the plans, at distinct ``pools``: ``sale`` (walk-in shoppers
        take ``qty``; never below zero), ``replenish`` (``qty`` arrive) or ``count`` (the
        node counted ``qty`` on hand)."""
        if kind not in ADJUST_KINDS:
            raise ValueError(f"unknown adjustment {kind!r}; use one of {', '.join(ADJUST_KINDS)}")
        pools = np.asarray(pools, dtype=np.int64)
        qty = np.asarray(qty, dtype=np.int64)
        if len(np.unique(pools)) != len(pools):
            raise LedgerError("an adjustment names a pool twice")
        if (qty < 0).any():
            raise LedgerError("an adjustment quantity must be a non-negative integer")
        cur = self.on_hand[pools]
        new = {"sale": np.maximum(0, cur - qty), "replenish": cur + qty, "count": qty}[kind]
        ch = self._base("adjust")
        ch.pools_set = (pools, new)
        ch.adjustments = [(self.clock, kind, p, q, d) for p, q, d in
                          zip(pools.tolist(), qty.tolist(), (new - cur).tolist(), strict=True)]
        up = new > cur
        if up.any():
            ch.restocked_skus = np.unique(self.s.pool_sku[pools[up]])
        ch.summary = {"delta": int((new - cur).sum()),
                      "short": int(np.maximum(0, qty - cur).sum()) if kind == "sale" else 0}
        return ch

    def advance_change(self, t: float) -> Change:
        """Move the clock to ``t``: a new capacity window resets the capacity used, and waiting
        units past the wait limit are cancelled at their penalty."""
        if not t >= self.clock:
            raise LedgerError(f"the clock cannot go back (from {self.clock:g} s to {t:g} s)")
        ch = self._base("advance")
        ch.clock = float(t)
        ch.window = self.window_of(t)
        ch.reset_usage = ch.window != self.window
        w = self.waiting_lines
        if len(w):
            expired = w[self.l_since.a[w] + self.wait_limit <= t]
            if len(expired):
                ch.lines_set = {"idx": expired, "shipped": self.l_shipped.a[expired],
                                "waiting": np.zeros(len(expired), dtype=np.int64),
                                "cancelled": self.l_cancelled.a[expired]
                                + self.l_waiting.a[expired],
                                "dropped": self.l_dropped.a[expired],
                                "since": np.full(len(expired), np.nan)}
                ch.summary["cancelled"] = int(self.l_waiting.a[expired].sum())
        return ch

    # ---- applying --------------------------------------------------------------------------
    def apply(self, ch: Change) -> None:
        """Apply a checked (and, with a store, written) change."""
        self.clock = ch.clock
        if ch.reset_usage or ch.window != self.window:
            self.window = ch.window
            self.used_packages[:] = 0
            self.used_units[:] = 0
            self.window_epoch = self.epoch = self.epoch + 1
        if ch.plan is not None:
            pid, batch, n_o, n_k, obj = ch.plan
            self.plan_ids[pid] = len(self.plans)
            self.plans.append((pid, batch, ch.clock, n_o, n_k, obj))
        k0 = self.n_packages
        if ch.orders_new is not None:
            on = ch.orders_new
            base = self.n_orders
            for i, oid in enumerate(on["ids"]):
                self.order_index[oid] = base + i
            self.order_ids.extend(on["ids"])
            for k in ("lat", "lon", "express", "limit", "penalty", "time", "line_start",
                      "n_lines"):
                getattr(self, "o_" + k).extend(np.asarray(on[k]))
            self.o_packages.extend(np.asarray(on["packages"]))
            self.o_pkg_start.extend(np.full(len(on["ids"]), k0, dtype=np.int64))
            self.o_pkg_count.extend(np.zeros(len(on["ids"]), dtype=np.int64))
        if ch.lines_new is not None:
            ln = ch.lines_new
            for k in ("order", "sku", "qty", "shipped", "waiting", "cancelled", "dropped",
                      "since"):
                getattr(self, "l_" + k).extend(np.asarray(ln[k]))
            self.l_tried.extend(np.full(len(ln["qty"]), -1, dtype=np.int64))
        if ch.lines_set is not None and "idx" in ch.lines_set:
            ls = ch.lines_set
            idx = ls["idx"]
            for k in ("shipped", "waiting", "cancelled", "dropped", "since"):
                getattr(self, "l_" + k).a[idx] = ls[k]
        if ch.orders_set is not None:
            self.o_packages.a[ch.orders_set[0]] = ch.orders_set[1]
        if ch.packages_new is not None:
            pn = ch.packages_new
            for k in ("order", "node", "window", "plan", "cost_package", "cost_unit",
                      "line_start", "n_lines"):
                getattr(self, "k_" + k).extend(np.asarray(pn[k]))
            self.k_state.extend(np.zeros(len(pn["order"]), dtype=np.int8))
            self._index_packages(pn["order"], k0)
        if ch.ship_new is not None:
            for k in ("line", "pool", "qty"):
                getattr(self, "s_" + k).extend(ch.ship_new[k])
        if ch.packages_state is not None:
            self.k_state.a[ch.packages_state[0]] = ch.packages_state[1]
        if ch.pools_set is not None:
            idx, val = ch.pools_set
            if ch.adjustments is not None:
                self.adjusted[idx] += val - self.on_hand[idx]
                self.adjustment_count += len(ch.adjustments)
            self.on_hand[idx] = val
            self._available[idx] = np.maximum(0, val - self._pool_ss[idx])
        if ch.usage_set is not None:
            n, pk, un = ch.usage_set
            self.used_packages[n] = pk
            self.used_units[n] = un
        if ch.banned_new is not None:
            for o, n in zip(ch.banned_new[0].tolist(), ch.banned_new[1].tolist(), strict=True):
                self.banned.setdefault(o, set()).add(n)
        if ch.restocked_skus is not None and len(ch.restocked_skus):
            self.epoch += 1
            self.sku_epoch[ch.restocked_skus] = self.epoch
        if ch.tried_lines is not None:
            self.l_tried.a[ch.tried_lines] = self.epoch
        if ch.retry_lines is not None:
            self.l_tried.a[ch.retry_lines] = -1
        self._refresh_waiting(ch)

    def _index_packages(self, orders: np.ndarray, k0: int) -> None:
        """Record the range of new packages (grouped by order) of each order."""
        if len(orders) == 0:
            return
        starts = np.flatnonzero(np.r_[True, orders[1:] != orders[:-1]])
        counts = np.diff(np.r_[starts, len(orders)])
        uo = orders[starts]
        first = self.o_pkg_count.a[uo] == 0
        self.o_pkg_start.a[uo[first]] = k0 + starts[first]
        self.o_pkg_count.a[uo[first]] = counts[first]
        for o, a, c in zip(uo[~first].tolist(), (k0 + starts[~first]).tolist(),
                           counts[~first].tolist(), strict=True):
            self.extra_pkg_ranges.setdefault(o, []).append((a, c))

    def _refresh_waiting(self, ch: Change) -> None:
        new = None
        if ch.lines_new is not None:
            k = len(ch.lines_new["qty"])
            new = len(self.l_qty) - k + np.flatnonzero(ch.lines_new["waiting"] > 0)
        if ch.lines_set is None or "idx" not in ch.lines_set:
            if new is not None and len(new):  # new lines only: they come after every other
                self.waiting_lines = np.concatenate([self.waiting_lines, new])
            return
        t = np.asarray(ch.lines_set["idx"], dtype=np.int64)
        keep = self.waiting_lines[~np.isin(self.waiting_lines, t)]
        add = t[self.l_waiting.a[t] > 0]
        self.waiting_lines = np.union1d(keep, add if new is None else np.concatenate([add, new]))

    # ---- checks ----------------------------------------------------------------------------
    def audit(self) -> list[str]:
        """Every invariant recomputed from the records (the plans, packages, adjustments and
        lines); an empty list when the ledger is consistent."""
        s, out = self.s, []
        active = self.k_state.a == ACTIVE
        sl_active = np.repeat(active, self.k_n_lines.a)
        if len(sl_active) != len(self.s_qty):
            return ["package lines do not match the packages"]
        shipped_pool = np.bincount(self.s_pool.a[sl_active], weights=self.s_qty.a[sl_active],
                                   minlength=s.n_pools).astype(np.int64)
        expect = s.initial + self.adjusted - shipped_pool
        if (expect != self.on_hand).any():
            out.append(f"stock on hand differs from initial + adjustments - shipped at "
                       f"{int((expect != self.on_hand).sum())} pools")
        if (self.on_hand < 0).any():
            out.append("negative stock on hand")
        if (self._available != np.maximum(0, self.on_hand - self._pool_ss)).any():
            out.append("available stock differs from stock on hand less safety stock")
        shipped_line = np.bincount(self.s_line.a[sl_active], weights=self.s_qty.a[sl_active],
                                   minlength=self.n_lines).astype(np.int64)
        if (shipped_line != self.l_shipped.a).any():
            out.append("shipped units of a line differ from its active packages")
        parts = (self.l_shipped.a + self.l_waiting.a + self.l_cancelled.a + self.l_dropped.a)
        if (parts != self.l_qty.a).any():
            out.append(f"{int((parts != self.l_qty.a).sum())} lines do not account for "
                       f"every unit")
        for name in ("l_shipped", "l_waiting", "l_cancelled", "l_dropped"):
            if (getattr(self, name).a < 0).any():
                out.append(f"negative {name[2:]} units")
        cur = active & (self.k_window.a == self.window)
        pk = np.bincount(self.k_node.a[cur], minlength=s.n_nodes)
        sl_cur = np.repeat(cur, self.k_n_lines.a)
        un = np.bincount(np.repeat(self.k_node.a, self.k_n_lines.a)[sl_cur],
                         weights=self.s_qty.a[sl_cur], minlength=s.n_nodes).astype(np.int64)
        if (pk != self.used_packages).any() or (un != self.used_units).any():
            out.append("capacity used in this window differs from its active packages")
        if (pk > s.node_max_packages).any() or (un > s.node_max_units).any():
            out.append("a node is over its capacity in this window")
        opk = np.bincount(self.k_order.a[active], minlength=self.n_orders)
        if (opk != self.o_packages.a).any():
            out.append("package counts of orders differ from their active packages")
        lim = self.o_limit.a
        if ((lim != UNLIMITED) & (opk > lim)).any():
            out.append("an order has more packages than its limit")
        for o, nodes in self.banned.items():
            ks = self.order_packages(o)
            bad = active[ks] & np.isin(self.k_node.a[ks], list(nodes))
            if bad.any():
                out.append(f"order {self.order_ids[o]} ships from a node that declined it")
        waiting = np.flatnonzero(self.l_waiting.a > 0)
        if not np.array_equal(waiting, self.waiting_lines):
            out.append("the backorder queue differs from the waiting lines")
        if np.isnan(self.l_since.a[waiting]).any():
            out.append("a waiting line has no waiting time")
        return out

    # ---- costs -----------------------------------------------------------------------------
    def costs(self, first_order: int = 0) -> dict[str, float]:
        """Cost of the orders from ``first_order`` on: their active packages (fixed and
        per-unit parts), cancelled units and waiting units at their penalties."""
        active = (self.k_state.a == ACTIVE) & (self.k_order.a >= first_order)
        a = self.first_line(first_order)
        pen = self.o_penalty.a[self.l_order.a[a:]]
        return {"package": float(self.k_cost_package.a[active].sum()),
                "unit": float(self.k_cost_unit.a[active].sum()),
                "cancelled": float((self.l_cancelled.a[a:] * pen).sum()),
                "waiting": float((self.l_waiting.a[a:] * pen).sum())}


def _group_sum(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uk, inv = np.unique(keys, return_inverse=True)
    return uk, np.bincount(inv, weights=values, minlength=len(uk)).astype(np.int64)


