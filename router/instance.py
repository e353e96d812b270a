"""Immutable value objects for one routing batch (``router/instance-v1``) and for GAP files.

Objects are built by :mod:`router.validate` (``Instance.from_dict``) or :mod:`router.io.read`;
they are never mutated afterwards. Inventories are read-only mappings and GAP matrices are
read-only numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.records import (
    FORMAT,
    Line,
    Node,
    NodeKind,
    Order,
    Service,
    Shipping,
    Sku,
    Zone,
)
from router.validate import instance_fields

__all__ = ["FORMAT", "GAP_SKU", "AnyInstance", "GapInstance", "Instance", "Line", "Node",
           "NetworkColumns", "NodeKind", "Order", "OrderColumns", "Service", "Shipping", "Sku",
           "Zone", "network_columns", "order_columns"]


@dataclass(frozen=True, eq=False)
class OrderColumns:
    """Orders as read-only columns: one row per order, one per line (lines grouped by order,
    in the orders' and their lines' order). Compilation reads these instead of the records.

    ``line_sku`` indexes ``sku_ids`` (-1 for a SKU not in it); ``max_packages`` is -1 and
    ``unfilled_penalty`` NaN where the order leaves them to the batch's defaults."""

    ids: tuple[str, ...]
    sku_ids: tuple[str, ...]
    lat: np.ndarray  # (O,) float64
    lon: np.ndarray  # (O,) float64
    express: np.ndarray  # (O,) bool
    max_packages: np.ndarray  # (O,) int64, -1 where not set
    unfilled_penalty: np.ndarray  # (O,) float64, NaN where not set
    line_ptr: np.ndarray  # (O+1,) lines of order o: line_ptr[o]:line_ptr[o+1]
    line_sku: np.ndarray  # (L,) int64
    line_qty: np.ndarray  # (L,) int64

    def __post_init__(self) -> None:
        for name in ("lat", "lon", "express", "max_packages", "unfilled_penalty", "line_ptr",
                     "line_sku", "line_qty"):
            getattr(self, name).setflags(write=False)

    def __len__(self) -> int:
        return len(self.ids)


def order_columns(orders: Sequence[Order], sku_ids: tuple[str, ...]) -> OrderColumns:
    """The columns of ``orders``, SKUs indexed in ``sku_ids``."""
    n = len(orders)
    index = {s: i for i, s in enumerate(sku_ids)}
    n_lines = np.fromiter((len(o.lines) for o in orders), dtype=np.int64, count=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_lines, out=ptr[1:])
    lines = [ln for o in orders for ln in o.lines]
    get = index.get
    return OrderColumns(
        ids=tuple(o.id for o in orders), sku_ids=sku_ids,
        lat=np.fromiter((o.lat for o in orders), dtype=np.float64, count=n),
        lon=np.fromiter((o.lon for o in orders), dtype=np.float64, count=n),
        express=np.fromiter((o.service == "express" for o in orders), dtype=bool, count=n),
        max_packages=np.fromiter((-1 if o.max_packages is None else o.max_packages
                                  for o in orders), dtype=np.int64, count=n),
        unfilled_penalty=np.fromiter((math.nan if o.unfilled_penalty is None
                                      else o.unfilled_penalty for o in orders),
                                     dtype=np.float64, count=n),
        line_ptr=ptr,
        line_sku=np.fromiter((get(ln.sku, -1) for ln in lines), dtype=np.int64,
                             count=len(lines)),
        line_qty=np.fromiter((ln.qty for ln in lines), dtype=np.int64, count=len(lines)),
    )


@dataclass(frozen=True, eq=False)
class NetworkColumns:
    """SKUs, nodes and inventories as read-only columns: one row per SKU, per node, and per
    inventory entry (in the nodes' order, then each inventory's). ``inv_sku`` indexes
    ``sku_ids`` (-1 for a SKU not in it); limits and radii are inf where absent."""

    sku_ids: tuple[str, ...]
    sku_weight: np.ndarray  # (S,) float64
    sku_store_ok: np.ndarray  # (S,) bool
    node_ids: tuple[str, ...]
    node_lat: np.ndarray  # (N,) float64
    node_lon: np.ndarray
    node_is_store: np.ndarray  # (N,) bool
    node_handling_per_unit: np.ndarray
    node_handling_per_package: np.ndarray
    node_max_packages: np.ndarray  # (N,) float64, inf where unlimited
    node_max_units: np.ndarray
    node_safety_stock: np.ndarray  # (N,) int64
    node_radius: np.ndarray  # (N,) float64, inf where none
    inv_node: np.ndarray  # (I,) int64
    inv_sku: np.ndarray  # (I,) int64
    inv_qty: np.ndarray  # (I,) int64

    def __post_init__(self) -> None:
        for v in vars(self).values():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)


def network_columns(skus: Sequence[Sku], nodes: Sequence[Node]) -> NetworkColumns:
    """The columns of a network's SKUs, nodes and inventories."""
    sku_ids = tuple(s.id for s in skus)
    index = {s: i for i, s in enumerate(sku_ids)}
    n = len(nodes)
    inf = math.inf

    def col(values: Any, dtype: Any = np.float64) -> np.ndarray:
        return np.fromiter(values, dtype=dtype, count=n)

    counts = col((len(nd.inventory) for nd in nodes), np.int64)
    n_inv = int(counts.sum())
    get = index.get
    return NetworkColumns(
        sku_ids=sku_ids,
        sku_weight=np.fromiter((s.weight_kg for s in skus), dtype=np.float64, count=len(skus)),
        sku_store_ok=np.fromiter((s.store_eligible for s in skus), dtype=bool,
                                 count=len(skus)),
        node_ids=tuple(nd.id for nd in nodes),
        node_lat=col(nd.lat for nd in nodes), node_lon=col(nd.lon for nd in nodes),
        node_is_store=col((nd.kind == "store" for nd in nodes), bool),
        node_handling_per_unit=col(nd.handling_per_unit for nd in nodes),
        node_handling_per_package=col(nd.handling_per_package for nd in nodes),
        node_max_packages=col(inf if nd.max_packages is None else nd.max_packages
                              for nd in nodes),
        node_max_units=col(inf if nd.max_units is None else nd.max_units for nd in nodes),
        node_safety_stock=col((nd.safety_stock for nd in nodes), np.int64),
        node_radius=col(inf if nd.service_radius_km is None else nd.service_radius_km
                        for nd in nodes),
        inv_node=np.repeat(np.arange(n, dtype=np.int64), counts),
        inv_sku=np.fromiter((get(s, -1) for nd in nodes for s in nd.inventory),
                            dtype=np.int64, count=n_inv),
        inv_qty=np.fromiter((q for nd in nodes for q in nd.inventory.values()),
                            dtype=np.int64, count=n_inv),
    )


@dataclass(frozen=True, slots=True)
class Instance:
    """One batch: the network snapshot and the orders to route (SPEC section 2).

    Built by :meth:`from_dict` (or the readers), its records are validated. Its columns
    (:attr:`columns`, :attr:`network_columns`) are built on first use: an instance built
    directly from unchecked records fails there, not at construction."""

    name: str
    shipping: Shipping
    unfilled_penalty: float
    skus: tuple[Sku, ...]
    nodes: tuple[Node, ...]
    orders: tuple[Order, ...]
    default_max_packages: int | None = None
    _columns: OrderColumns | None = field(default=None, init=False, repr=False,
                                          compare=False)
    _network_columns: NetworkColumns | None = field(default=None, init=False, repr=False,
                                                    compare=False)

    @property
    def columns(self) -> OrderColumns:
        """The orders as read-only columns (built on first use, then kept)."""
        cols = self._columns
        if cols is None:  # two threads may both build it: the same value
            cols = order_columns(self.orders, self.network_columns.sku_ids)
            object.__setattr__(self, "_columns", cols)
        return cols

    @property
    def network_columns(self) -> NetworkColumns:
        """SKUs, nodes and inventories as read-only columns (built on first use, then kept:
        an instance that is only verified, never compiled, does not pay for them)."""
        net = self._network_columns
        if net is None:
            net = network_columns(self.skus, self.nodes)
            object.__setattr__(self, "_network_columns", net)
        return net

    @staticmethod
    def from_dict(data: Any, source: str = "<dict>") -> Instance:
        """Validate a parsed YAML/JSON mapping and build the instance.

        Raises :class:`router.errors.InputError` listing every problem found.
        """
        return Instance(**instance_fields(data, source))

    def to_dict(self) -> dict[str, Any]:
        """The instance as a plain mapping in ``router/instance-v1`` form (defaults omitted)."""
        shipping: dict[str, Any] = {
            "zones": [
                {"max_km": z.max_km, "per_package": z.per_package, "per_kg": z.per_kg}
                for z in self.shipping.zones
            ]
        }
        if self.shipping.express_max_km is not None:
            shipping["express_max_km"] = self.shipping.express_max_km
        out: dict[str, Any] = {"format": FORMAT, "name": self.name, "shipping": shipping,
                               "unfilled_penalty": self.unfilled_penalty}
        if self.default_max_packages is not None:
            out["default_max_packages"] = self.default_max_packages
        out["skus"] = [
            {"id": s.id, "weight_kg": s.weight_kg}
            | ({} if s.store_eligible else {"store_eligible": False})
            for s in self.skus
        ]
        nodes = []
        for n in self.nodes:
            d: dict[str, Any] = {"id": n.id, "kind": n.kind, "lat": n.lat, "lon": n.lon}
            if n.handling_per_unit:
                d["handling_per_unit"] = n.handling_per_unit
            if n.handling_per_package:
                d["handling_per_package"] = n.handling_per_package
            if n.max_packages is not None:
                d["max_packages"] = n.max_packages
            if n.max_units is not None:
                d["max_units"] = n.max_units
            if n.safety_stock:
                d["safety_stock"] = n.safety_stock
            if n.service_radius_km is not None:
                d["service_radius_km"] = n.service_radius_km
            d["inventory"] = dict(n.inventory)
            nodes.append(d)
        out["nodes"] = nodes
        orders = []
        for o in self.orders:
            d = {"id": o.id, "lat": o.lat, "lon": o.lon}
            if o.service != "standard":
                d["service"] = o.service
            if o.max_packages is not None:
                d["max_packages"] = o.max_packages
            if o.unfilled_penalty is not None:
                d["unfilled_penalty"] = o.unfilled_penalty
            d["lines"] = [{"sku": ln.sku, "qty": ln.qty} for ln in o.lines]
            orders.append(d)
        out["orders"] = orders
        return out

    def order_max_packages(self, order: Order) -> int | None:
        return order.max_packages if order.max_packages is not None else self.default_max_packages

    def order_penalty(self, order: Order) -> float:
        return order.unfilled_penalty if order.unfilled_penalty is not None else self.unfilled_penalty


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class GapInstance:
    """A Generalised Assignment Problem (OR-Library format): jobs become orders ``j1..jn``,
    agents become nodes ``a1..am``. Every job must be assigned to exactly one agent; agent
    ``i`` spends ``resource[i, j]`` of its ``capacity[i]`` on job ``j`` at cost ``cost[i, j]``.
    """

    name: str
    cost: np.ndarray  # (m, n) int
    resource: np.ndarray  # (m, n) int
    capacity: np.ndarray  # (m,) int

    def __post_init__(self) -> None:
        object.__setattr__(self, "cost", _readonly(self.cost))
        object.__setattr__(self, "resource", _readonly(self.resource))
        object.__setattr__(self, "capacity", _readonly(self.capacity))

    @property
    def n_agents(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_jobs(self) -> int:
        return int(self.cost.shape[1])

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(f"j{j + 1}" for j in range(self.n_jobs))

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(f"a{i + 1}" for i in range(self.n_agents))


GAP_SKU = "job"
"""The SKU id of the single unit line that every GAP job carries in a plan."""

AnyInstance = Instance | GapInstance
