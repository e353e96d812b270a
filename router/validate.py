"""Validation of a parsed ``router/instance-v1`` mapping (SPEC section 2).

Every problem is collected, each with the path where it stands
(``orders[17].lines[2].qty``), and reported at once in one :class:`InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import chain
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import numpy as np

from router.errors import InputError, brief
from router.limits import MAX_COST, MAX_INT
from router.records import FORMAT, Line, Node, Order, Shipping, Sku, Zone

__all__ = ["MAX_COST", "MAX_INT", "checked_fields", "instance_fields"]

_MISSING = object()

_TOP_KEYS = {"format", "name", "shipping", "unfilled_penalty", "default_max_packages", "skus",
             "nodes", "orders"}
_ZONE_KEYS = {"max_km", "per_package", "per_kg"}
_SHIPPING_KEYS = {"zones", "express_max_km"}
_SKU_KEYS = {"id", "weight_kg", "store_eligible"}
_NODE_KEYS = {"id", "kind", "lat", "lon", "handling_per_unit", "handling_per_package",
              "max_packages", "max_units", "safety_stock", "inventory", "service_radius_km"}
_ORDER_KEYS = {"id", "lat", "lon", "service", "max_packages", "unfilled_penalty", "lines"}
_LINE_KEYS = {"sku", "qty"}


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, (bool, np.bool_)):
        return "a boolean"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "a number"
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return type(v).__name__


class _Checker:
    """Collects problems while reading values; each reader returns a usable default on error."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.entries = 0  # entries of the mappings read (all of them, in a valid instance)

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, v: Any, path: str) -> Mapping[str, Any] | None:
        if isinstance(v, Mapping):
            self.entries += len(v)
            return v
        self.add(path, f"must be a mapping, not {_type_name(v)}")
        return None

    def unknown_keys(self, m: Mapping[str, Any], allowed: set[str], path: str) -> None:
        for k in m:
            if k not in allowed:
                self.add(_join(path, _key(k)), "unknown field")

    def required(self, m: Mapping[str, Any], key: str, path: str) -> Any:
        v = m.get(key, _MISSING)
        if v is _MISSING:
            self.add(_join(path, key), "required field is missing")
        return v

    def string(self, v: Any, path: str) -> str | None:
        if isinstance(v, str) and v.strip():
            return v if type(v) is str else str(v)
        if isinstance(v, str):
            self.add(path, "must be a non-empty string")
        else:
            self.add(path, f"must be a non-empty string, not {_type_name(v)}")
        return None

    def number(self, v: Any, path: str, lo: float | None = 0.0, hi: float | None = None) -> float:
        """A finite number in [lo, hi]: an int or float (numpy's too), never a boolean."""
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                   np.floating)):
            self.add(path, f"must be a number, not {_type_name(v)}")
            return 0.0
        try:
            f = float(v)
        except OverflowError:  # an integer beyond the float range
            self.add(path, "must be a finite number (too large)")
            return 0.0
        if not math.isfinite(f):
            self.add(path, "must be a finite number")
            return 0.0
        if lo is not None and f < lo:
            if lo == 0.0:
                self.add(path, "must be non-negative")
            else:
                self.add(path, f"must be in [{lo:g}, {hi:g}]" if hi is not None else f"must be >= {lo:g}")
            return lo
        if hi is not None and f > hi:
            self.add(path, f"must be in [{lo:g}, {hi:g}]" if lo not in (None, 0.0)
                     else f"must be at most {hi:g}")
            return hi
        return f

    def cost(self, v: Any, path: str) -> float:
        """A cost, weight or penalty: in [0, MAX_COST], so that every sum of costs is finite."""
        return self.number(v, path, 0.0, MAX_COST)

    def integer(self, v: Any, path: str, minimum: int = 0) -> int:
        """An integer in [minimum, MAX_INT] (numpy's too), never a boolean."""
        if isinstance(v, np.integer):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, (float, np.floating)) and not math.isfinite(v):
                self.add(path, "must be a finite number")
            else:
                kind = "a positive integer" if minimum == 1 else "a non-negative integer"
                self.add(path, f"must be {kind}, not {_type_name(v)}"
                         if not isinstance(v, (int, float, np.floating))
                         or isinstance(v, (bool, np.bool_)) else f"must be {kind}")
            return minimum
        if v < minimum:
            self.add(path, "must be a positive integer" if minimum == 1
                     else "must be a non-negative integer")
            return minimum
        if v > MAX_INT:
            self.add(path, f"must be at most {MAX_INT}")
            return minimum
        return v

    def first_id(self, ident: str, seen: dict[str, int], i: int, path: str, what: str,
                 collection: str) -> bool:
        """Record ``ident`` of ``collection[i]``; False (and a problem) if it stands earlier
        in the collection already."""
        if ident in seen:
            self.add(f"{path}.id", f"duplicate {what} id {brief(ident)} "
                                   f"(first at {collection}[{seen[ident]}])")
            return False
        seen[ident] = i
        return True

    def boolean(self, v: Any, path: str) -> bool:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        self.add(path, f"must be true or false, not {_type_name(v)}")
        return True

    def listing(self, v: Any, path: str, non_empty: bool = False) -> list[Any]:
        if not isinstance(v, list):
            self.add(path, f"must be a list, not {_type_name(v)}")
            return []
        if non_empty and not v:
            self.add(path, "must not be empty")
        return v


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _key(k: Any) -> str:
    """A mapping key as it stands in a path: a string as it is (cut when long)."""
    return brief(k, 60, quote=False) if isinstance(k, str) else brief(k, 60)


def _opt(m: Mapping[str, Any], key: str) -> Any:
    return m.get(key, _MISSING)


def instance_fields(data: Any, source: str = "<dict>") -> dict[str, Any]:
    """Validate ``data`` (a parsed instance file): the fields of its
    :class:`~router.instance.Instance`, every record built."""
    return checked_fields(data, source)[0]


def checked_fields(data: Any, source: str = "<dict>") -> tuple[dict[str, Any], int]:
    """:func:`instance_fields`, and the number of entries of the mappings in ``data``: in a
    valid instance validation reads every mapping, so that is all of them (the JSON reader
    compares it with the text to rule out duplicate keys)."""
    c = _Checker()
    top = c.mapping(data, "")
    if top is None:
        c.problems[-1] = ("", f"an instance must be a mapping at the top level, not {_type_name(data)}")
        raise InputError(c.problems, source)
    c.unknown_keys(top, _TOP_KEYS, "")

    fmt = _opt(top, "format")
    if fmt is not _MISSING and fmt != FORMAT:
        c.add("format", f"must be {FORMAT!r}, not {brief(fmt)}")

    name_v = c.required(top, "name", "")
    name = c.string(name_v, "name") if name_v is not _MISSING else None

    shipping = _shipping(c, c.required(top, "shipping", ""))

    pen_v = c.required(top, "unfilled_penalty", "")
    penalty = c.cost(pen_v, "unfilled_penalty") if pen_v is not _MISSING else 0.0

    dmp_v = _opt(top, "default_max_packages")
    default_max_packages = (None if dmp_v is _MISSING or dmp_v is None
                            else c.integer(dmp_v, "default_max_packages", 1))

    skus = _skus(c, c.required(top, "skus", ""))
    sku_ids = {s.id for s in skus}
    nodes = _nodes(c, c.required(top, "nodes", ""), sku_ids)
    orders = _orders(c, c.required(top, "orders", ""), sku_ids)

    if c.problems:
        raise InputError(c.problems, source)
    assert name is not None and shipping is not None
    return dict(name=name, shipping=shipping, unfilled_penalty=penalty, skus=skus,
                nodes=nodes, orders=orders, default_max_packages=default_max_packages), c.entries


def _shipping(c: _Checker, v: Any) -> Shipping | None:
    if v is _MISSING:
        return None
    m = c.mapping(v, "shipping")
    if m is None:
        return None
    c.unknown_keys(m, _SHIPPING_KEYS, "shipping")
    zones: list[Zone] = []
    zv = c.required(m, "zones", "shipping")
    if zv is not _MISSING:
        prev = -math.inf
        for i, z in enumerate(c.listing(zv, "shipping.zones", non_empty=True)):
            p = f"shipping.zones[{i}]"
            zm = c.mapping(z, p)
            if zm is None:
                continue
            c.unknown_keys(zm, _ZONE_KEYS, p)
            vals = {}
            for k in ("max_km", "per_package", "per_kg"):
                kv = c.required(zm, k, p)
                read = c.number if k == "max_km" else c.cost
                vals[k] = read(kv, f"{p}.{k}") if kv is not _MISSING else 0.0
            if "max_km" in zm and vals["max_km"] <= prev:
                c.add(f"{p}.max_km", f"zones must be in strictly ascending max_km "
                      f"({vals['max_km']:g} follows {prev:g})")
            prev = max(prev, vals["max_km"])
            zones.append(Zone(**vals))
    ev = _opt(m, "express_max_km")
    express = None if ev is _MISSING or ev is None else c.number(ev, "shipping.express_max_km")
    return Shipping(zones=tuple(zones), express_max_km=express)


def _skus(c: _Checker, v: Any) -> tuple[Sku, ...]:
    if v is _MISSING:
        return ()
    out: list[Sku] = []
    seen: dict[str, int] = {}
    for i, s in enumerate(c.listing(v, "skus")):
        p = f"skus[{i}]"
        m = c.mapping(s, p)
        if m is None:
            continue
        c.unknown_keys(m, _SKU_KEYS, p)
        idv = c.required(m, "id", p)
        sid = c.string(idv, f"{p}.id") if idv is not _MISSING else None
        wv = c.required(m, "weight_kg", p)
        w = c.cost(wv, f"{p}.weight_kg") if wv is not _MISSING else 0.0
        ev = _opt(m, "store_eligible")
        elig = True if ev is _MISSING else c.boolean(ev, f"{p}.store_eligible")
        if sid is None or not c.first_id(sid, seen, i, p, "SKU", "skus"):
            continue
        out.append(Sku(sid, w, elig))
    return tuple(out)


def _coord(c: _Checker, m: Mapping[str, Any], p: str) -> tuple[float, float]:
    lat_v = c.required(m, "lat", p)
    lat = c.number(lat_v, f"{p}.lat", -90.0, 90.0) if lat_v is not _MISSING else 0.0
    lon_v = c.required(m, "lon", p)
    lon = c.number(lon_v, f"{p}.lon", -180.0, 180.0) if lon_v is not _MISSING else 0.0
    return lat, lon


def _opt_int(c: _Checker, m: Mapping[str, Any], key: str, p: str, minimum: int = 0) -> int | None:
    v = _opt(m, key)
    if v is _MISSING or v is None:
        return None
    return c.integer(v, f"{p}.{key}", minimum)


def _nodes(c: _Checker, v: Any, sku_ids: set[str]) -> tuple[Node, ...]:
    if v is _MISSING:
        return ()
    out: list[Node] = []
    seen: dict[str, int] = {}
    for i, n in enumerate(c.listing(v, "nodes")):
        p = f"nodes[{i}]"
        m = c.mapping(n, p)
        if m is None:
            continue
        c.unknown_keys(m, _NODE_KEYS, p)
        idv = c.required(m, "id", p)
        nid = c.string(idv, f"{p}.id") if idv is not _MISSING else None
        kv = c.required(m, "kind", p)
        kind = "warehouse"
        if kv is not _MISSING:
            if kv in ("warehouse", "store"):
                kind = kv
            else:
                c.add(f"{p}.kind", f"must be 'warehouse' or 'store', not {brief(kv)}")
        lat, lon = _coord(c, m, p)
        hpu_v, hpp_v = _opt(m, "handling_per_unit"), _opt(m, "handling_per_package")
        hpu = 0.0 if hpu_v is _MISSING else c.cost(hpu_v, f"{p}.handling_per_unit")
        hpp = 0.0 if hpp_v is _MISSING else c.cost(hpp_v, f"{p}.handling_per_package")
        maxp = _opt_int(c, m, "max_packages", p)
        maxu = _opt_int(c, m, "max_units", p)
        ss = _opt_int(c, m, "safety_stock", p) or 0
        rv = _opt(m, "service_radius_km")
        radius = None if rv is _MISSING or rv is None else c.number(rv, f"{p}.service_radius_km")
        inventory: dict[str, int] = {}
        iv = _opt(m, "inventory")
        if iv is not _MISSING and iv is not None:
            im = c.mapping(iv, f"{p}.inventory")
            if im is not None:
                for sku, q in im.items():
                    ip = f"{p}.inventory.{_key(sku)}"
                    if not isinstance(sku, str) or sku not in sku_ids:
                        c.add(ip, f"unknown SKU {brief(sku)}")
                        continue
                    inventory[sku] = c.integer(q, ip)
        if nid is None or not c.first_id(nid, seen, i, p, "node", "nodes"):
            continue
        out.append(Node(id=nid, kind=kind, lat=lat, lon=lon,  # type: ignore[arg-type]
                        handling_per_unit=hpu, handling_per_package=hpp, max_packages=maxp,
                        max_units=maxu, safety_stock=ss, inventory=MappingProxyType(inventory),
                        service_radius_km=radius))
    return tuple(out)


_FAST = True  # the fast path for well-formed orders (tests switch it off to compare)


def _fast_number(v: Any, lo: float, hi: float) -> float | None:
    """``v`` as a float when it is a plain int or float in [lo, hi] (what ``_Checker.number``
    accepts without a problem), else ``None``."""
    t = type(v)
    if t is float:
        return v if lo <= v <= hi else None  # NaN fails both comparisons
    if t is int and lo <= v <= hi and -MAX_INT <= v <= MAX_INT:
        return float(v)
    return None


def _fast_order(m: Any, sku_ids: set[str], lines_cache: dict[tuple[str, int], Line]
                ) -> Order | None:
    """The order built from a well-formed mapping, exactly as the checked path below builds
    it; ``None`` whenever anything is unusual, and the checked path then reports it."""
    if type(m) is not dict or not m.keys() <= _ORDER_KEYS:
        return None
    oid = m.get("id")
    if type(oid) is not str or not oid.strip():
        return None
    lat = _fast_number(m.get("lat"), -90.0, 90.0)
    lon = _fast_number(m.get("lon"), -180.0, 180.0)
    if lat is None or lon is None:
        return None
    service = m.get("service", "standard")
    if type(service) is not str or service not in ("standard", "express"):
        return None
    maxp = m.get("max_packages")
    if maxp is not None and (type(maxp) is not int or not 1 <= maxp <= MAX_INT):
        return None
    pen = m.get("unfilled_penalty")
    if pen is not None:
        pen = _fast_number(pen, 0.0, MAX_COST)
        if pen is None:
            return None
    lines = m.get("lines")
    if type(lines) is not list or not lines:
        return None
    merged: dict[str, int] = {}
    for ln in lines:
        if type(ln) is not dict or len(ln) != 2:
            return None
        sku, qty = ln.get("sku"), ln.get("qty")
        if (type(sku) is not str or sku not in sku_ids or type(qty) is not int
                or not 1 <= qty <= MAX_INT):
            return None
        merged[sku] = merged.get(sku, 0) + qty
    if len(merged) != len(lines) and max(merged.values()) > MAX_INT:
        return None
    out_lines = []
    for key in merged.items():
        line = lines_cache.get(key)
        if line is None:
            line = lines_cache[key] = Line(*key)
        out_lines.append(line)
    return Order(id=oid, lat=lat, lon=lon, lines=tuple(out_lines),
                 service=service, max_packages=maxp, unfilled_penalty=pen)  # type: ignore[arg-type]


def _orders(c: _Checker, v: Any, sku_ids: set[str]) -> tuple[Order, ...]:
    if v is _MISSING:
        return ()
    out: list[Order] = []
    seen: dict[str, int] = {}
    lines_cache: dict[tuple[str, int], Line] = {}  # lines are immutable: equal ones are shared
    largest = 0  # the largest merged quantity of the checked path
    for i, o in enumerate(c.listing(v, "orders")):
        fast = _fast_order(o, sku_ids, lines_cache) if _FAST else None
        if fast is not None:
            c.entries += len(o) + 2 * len(o["lines"])  # every line has its two entries
            first = seen.setdefault(fast.id, i)
            if first == i:
                out.append(fast)
            else:
                c.add(f"orders[{i}].id", f"duplicate order id {brief(fast.id)} (first at "
                                         f"orders[{first}])")
            continue
        p = f"orders[{i}]"
        m = c.mapping(o, p)
        if m is None:
            continue
        c.unknown_keys(m, _ORDER_KEYS, p)
        idv = c.required(m, "id", p)
        oid = c.string(idv, f"{p}.id") if idv is not _MISSING else None
        lat, lon = _coord(c, m, p)
        sv = _opt(m, "service")
        service = "standard"
        if sv is not _MISSING:
            if sv in ("standard", "express"):
                service = sv
            else:
                c.add(f"{p}.service", f"must be 'standard' or 'express', not {brief(sv)}")
        maxp = _opt_int(c, m, "max_packages", p, 1)
        pv = _opt(m, "unfilled_penalty")
        pen = None if pv is _MISSING or pv is None else c.cost(pv, f"{p}.unfilled_penalty")
        merged: dict[str, int] = {}
        lv = c.required(m, "lines", p)
        if lv is not _MISSING:
            lines_v = c.listing(lv, f"{p}.lines")
            if isinstance(lv, list) and not lv:
                c.add(f"{p}.lines", "an order must have at least one line")
            for k, ln in enumerate(lines_v):
                lp = f"{p}.lines[{k}]"
                lm = c.mapping(ln, lp)
                if lm is None:
                    continue
                c.unknown_keys(lm, _LINE_KEYS, lp)
                skv = c.required(lm, "sku", lp)
                sku = c.string(skv, f"{lp}.sku") if skv is not _MISSING else None
                if sku is not None and sku not in sku_ids:
                    c.add(f"{lp}.sku", f"unknown SKU {brief(sku)}")
                    sku = None
                qv = c.required(lm, "qty", lp)
                qty = c.integer(qv, f"{lp}.qty", 1) if qv is not _MISSING else 1
                if sku is not None:
                    total = merged.get(sku, 0) + qty
                    if total > MAX_INT:
                        c.add(f"{lp}.qty", f"the lines of SKU {brief(sku)} add up to more than "
                                           f"{MAX_INT} units (lines of one SKU are merged)")
                        total = 0
                    merged[sku] = total
                    largest = max(largest, total)
        if oid is None or not c.first_id(oid, seen, i, p, "order", "orders"):
            continue
        out.append(Order(id=oid, lat=lat, lon=lon, service=service,  # type: ignore[arg-type]
                         max_packages=maxp, unfilled_penalty=pen,
                         lines=tuple(Line(s, q) for s, q in merged.items())))
    # the units of the batch, added up only when they might exceed the limit: there are fewer
    # lines than mapping entries (two or more each), and the fast path's lines are in the cache
    largest = max(largest, max((q for _, q in lines_cache), default=0))
    if largest * c.entries <= MAX_INT:
        return tuple(out)
    units = sum(map(attrgetter("qty"), chain.from_iterable(map(attrgetter("lines"), out))))
    if units > MAX_INT:
        c.add("orders", f"the orders add up to {units} units, more than the {MAX_INT} a batch "
                        "may hold")
    return tuple(out)
