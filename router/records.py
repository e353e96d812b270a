"""The records of an instance (``router/instance-v1``): zones, SKUs, nodes, orders and their
lines, as immutable value objects. :mod:`router.validate` builds them from a parsed file;
:mod:`router.instance` assembles them into a batch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

FORMAT = "router/instance-v1"

NodeKind = Literal["warehouse", "store"]
Service = Literal["standard", "express"]


@dataclass(frozen=True, slots=True)
class Zone:
    """A shipping zone: applies to a (node, order) pair whose distance is at most ``max_km``."""

    max_km: float
    per_package: float
    per_kg: float


@dataclass(frozen=True, slots=True)
class Shipping:
    zones: tuple[Zone, ...]
    express_max_km: float | None = None


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    weight_kg: float
    store_eligible: bool = True


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: NodeKind
    lat: float
    lon: float
    handling_per_unit: float = 0.0
    handling_per_package: float = 0.0
    max_packages: int | None = None
    max_units: int | None = None
    safety_stock: int = 0
    inventory: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    service_radius_km: float | None = None

    def available(self, sku: str) -> int:
        """Units of ``sku`` this node may ship: inventory less safety stock, never negative."""
        return max(0, self.inventory.get(sku, 0) - self.safety_stock)


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    lat: float
    lon: float
    lines: tuple[Line, ...]
    service: Service = "standard"
    max_packages: int | None = None
    unfilled_penalty: float | None = None
