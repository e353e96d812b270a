"""The day's event stream (``router/day-v1``): JSON Lines, one event a line, in time order.

The first line is the header, every other line an event with ``t`` (seconds since the day's
start, never going back) and ``type``::

    {"format": "router/day-v1", "network": "sale-day-xl-1", "duration": 86400, ...}
    {"t": 0.0, "type": "acceptance", "node": "ST-0042", "p": 0.95}
    {"t": 0.004, "type": "order", "id": "D-0000001", "lat": 31.2, "lon": 121.4,
     "lines": [{"sku": "SKU-00017", "qty": 1}]}
    {"t": 36000.0, "type": "sale", "node": "ST-0042", "sku": "SKU-00017", "qty": 1}
    {"t": 21600.0, "type": "replenish", "node": "WH-01-Shanghai", "items": {"SKU-00017": 40}}
    {"t": 40000.0, "type": "count", "node": "ST-0042", "sku": "SKU-00017", "qty": 2}
    {"t": 1800.0, "type": "cancel", "order": "D-0000001"}
    {"t": 50.0, "type": "decline", "order": "D-0000001", "node": "ST-0042"}

(see docs/reference.md for every field). :func:`read_day` checks the whole stream against
the network before anything is replayed, and reports every problem with its line number
(``day.jsonl: line 17: lines[0].qty: must be a positive integer``); the orders are held as
arrays, not as objects, so a day of millions of orders fits in memory.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from router.compile import expand_ranges
from router.errors import InputError
from router.instance import Line, Order, OrderColumns

FORMAT = "router/day-v1"
EVENT_TYPES = ("order", "sale", "replenish", "count", "cancel", "acceptance", "decline")
MAX_PROBLEMS = 20
MAX_QTY = 2**53 - 1

_ORDER_KEYS = {"t", "type", "id", "lat", "lon", "service", "max_packages", "unfilled_penalty",
               "lines"}
_KEYS = {"sale": {"t", "type", "node", "sku", "qty"},
         "replenish": {"t", "type", "node", "items"},
         "count": {"t", "type", "node", "sku", "qty"},
         "cancel": {"t", "type", "order"},
         "acceptance": {"t", "type", "node", "p"},
         "decline": {"t", "type", "order", "node"}}
_HEADER_KEYS = {"format", "network", "seed", "orders", "duration", "start", "generator"}


@dataclass(frozen=True)
class Event:
    """An event other than an order arrival (``qty`` is -1 where the type has none)."""

    t: float
    type: str
    line: int  # line number in the file
    node: int = -1  # node index
    sku: int = -1  # SKU index (sale, count)
    qty: int = -1
    items: tuple[tuple[int, int], ...] = ()  # replenish: (SKU index, units)
    order: str = ""  # cancel, decline
    p: float = 1.0  # acceptance


@dataclass(frozen=True, eq=False)
class Day:
    """A parsed day: its header, the order arrivals as arrays (in time order) and the other
    events. Indices are the network's."""

    header: dict[str, Any]
    order_t: np.ndarray
    order_ids: tuple[str, ...]
    order_lat: np.ndarray
    order_lon: np.ndarray
    order_express: np.ndarray
    order_max_packages: np.ndarray  # 0 where the order has none (the network's default)
    order_penalty: np.ndarray  # nan where the order has none (the network's)
    order_line_ptr: np.ndarray
    order_file_line: np.ndarray
    line_sku: np.ndarray
    line_qty: np.ndarray
    events: tuple[Event, ...]
    sku_ids: tuple[str, ...] = field(repr=False, default=())

    @property
    def n_orders(self) -> int:
        return len(self.order_ids)

    @property
    def duration(self) -> float:
        d = self.header.get("duration")
        if d is not None:
            return float(d)
        last = max(float(self.order_t[-1]) if self.n_orders else 0.0,
                   self.events[-1].t if self.events else 0.0)
        return last

    def orders(self, idx: Iterable[int]) -> list[Order]:
        """Order records of the given arrivals."""
        out = []
        ptr, sku, qty, ids = self.order_line_ptr, self.line_sku, self.line_qty, self.sku_ids
        for i in idx:
            a, b = int(ptr[i]), int(ptr[i + 1])
            mp = int(self.order_max_packages[i])
            pen = float(self.order_penalty[i])
            out.append(Order(self.order_ids[i], float(self.order_lat[i]),
                             float(self.order_lon[i]),
                             tuple(Line(ids[int(sku[k])], int(qty[k])) for k in range(a, b)),
                             "express" if self.order_express[i] else "standard",
                             mp if mp > 0 else None, None if math.isnan(pen) else pen))
        return out

    def columns(self, idx: np.ndarray, sku_ids: tuple[str, ...]) -> OrderColumns:
        """The given arrivals as the columns compilation reads (``sku_ids``: the network's,
        in the order the day's SKU indices follow)."""
        idx = np.asarray(idx, dtype=np.int64)
        a, b = self.order_line_ptr[idx], self.order_line_ptr[idx + 1]
        lines = expand_ranges(a, b - a)
        ptr = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(b - a, out=ptr[1:])
        mp = self.order_max_packages[idx]
        return OrderColumns(
            ids=tuple(self.order_ids[i] for i in idx.tolist()), sku_ids=sku_ids,
            lat=self.order_lat[idx], lon=self.order_lon[idx], express=self.order_express[idx],
            max_packages=np.where(mp > 0, mp, -1), unfilled_penalty=self.order_penalty[idx],
            line_ptr=ptr, line_sku=self.line_sku[lines], line_qty=self.line_qty[lines])

    def units(self) -> int:
        return int(self.line_qty.sum())

    def stream(self) -> Iterator[tuple[float, int, int]]:
        """Every record in file order: (t, 0, order arrival index) or (t, 1, event index)."""
        fl = self.order_file_line.tolist()
        ot = self.order_t.tolist()
        i = j = 0
        ev = self.events
        while i < len(fl) or j < len(ev):
            if j >= len(ev) or (i < len(fl) and fl[i] < ev[j].line):
                yield ot[i], 0, i
                i += 1
            else:
                yield ev[j].t, 1, j
                j += 1


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[str, str]] = []

    def add(self, line: int, path: str, message: str) -> None:
        where = f"line {line}" + (f": {path}" if path else "")
        self.items.append((where, message))
        if len(self.items) >= MAX_PROBLEMS:
            self.items.append(("", f"stopped after {MAX_PROBLEMS} problems"))
            raise InputError(self.items, self.source)


def _int(v: Any, lo: int) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= MAX_QTY:
        return None
    return v


def _num(v: Any, lo: float, hi: float) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and lo <= f <= hi else None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def read_day(path: str | os.PathLike[str], node_index: Mapping[str, int],
             sku_index: Mapping[str, int], pools_of: Any) -> Day:
    """Read and check a day file against a network (its node and SKU indices and a function
    ``pools_of(nodes, skus)`` giving pool indices or -1). Raises
    :class:`InputError` naming the line of every problem; nothing is returned half read."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            return parse_day(f, source, node_index, sku_index, pools_of)
    except OSError as e:
        raise InputError([("", f"cannot read the day: {e.strerror or e}")], source) from None


def parse_day(f: IO[bytes], source: str, node_index: Mapping[str, int],
              sku_index: Mapping[str, int], pools_of: Any) -> Day:
    pr = _Problems(source)
    header: dict[str, Any] = {}
    t_prev = 0.0
    o_t: list[float] = []
    o_ids: list[str] = []
    o_lat: list[float] = []
    o_lon: list[float] = []
    o_ex: list[bool] = []
    o_mp: list[int] = []
    o_pen: list[float] = []
    o_ptr: list[int] = [0]
    o_line: list[int] = []
    l_sku: list[int] = []
    l_qty: list[int] = []
    seen: dict[str, int] = {}
    events: list[Event] = []
    check_pools: list[tuple[int, int, int, str]] = []  # (line, node, sku, path)
    n = 0
    loads = json.loads
    for n, raw in enumerate(f, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            pr.add(n, "", f"not UTF-8 text (byte {e.start + 1})")
            continue
        if not text.strip():
            pr.add(n, "", "empty line")
            continue
        try:
            d = loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as e:
            cut = "" if text.endswith("\n") else " (the line is cut short: truncated file?)"
            pr.add(n, "", f"not valid JSON: {e.msg} at column {e.colno}{cut}")
            continue
        except ValueError as e:
            pr.add(n, "", f"not valid JSON: {e}")
            continue
        if not isinstance(d, dict):
            pr.add(n, "", "an event must be a JSON object")
            continue
        if n == 1:
            header = d
            if d.get("format") != FORMAT:
                pr.add(n, "format", f"the first line must be the header with format "
                                    f"{FORMAT!r}")
            for k in d:
                if k not in _HEADER_KEYS:
                    pr.add(n, k, "unknown field")
            if "duration" in d and _num(d["duration"], 0.0, 1e9) is None:
                pr.add(n, "duration", "must be a number of seconds >= 0")
            continue
        t = _num(d.get("t"), 0.0, 1e12)
        if t is None:
            pr.add(n, "t", "required: a number of seconds >= 0" if "t" not in d
                   else "must be a finite number >= 0")
            t = t_prev
        elif t < t_prev:
            pr.add(n, "t", f"out of order: {t:g} s comes after {t_prev:g} s")
            t = t_prev
        t_prev = t
        typ = d.get("type")
        if typ == "order":
            count = len(pr.items)
            for k in d:
                if k not in _ORDER_KEYS:
                    pr.add(n, k, "unknown field")
            oid = d.get("id")
            if not isinstance(oid, str) or not oid.strip():
                pr.add(n, "id", "must be a non-empty string")
                oid = None
            elif oid in seen:
                pr.add(n, "id", f"duplicate order id {oid!r} (first on line {seen[oid]})")
            lat, lon = _num(d.get("lat"), -90.0, 90.0), _num(d.get("lon"), -180.0, 180.0)
            if lat is None:
                pr.add(n, "lat", "must be a number in [-90, 90]")
            if lon is None:
                pr.add(n, "lon", "must be a number in [-180, 180]")
            service = d.get("service", "standard")
            if service not in ("standard", "express"):
                pr.add(n, "service", f"must be 'standard' or 'express', not {service!r}")
            mp = d.get("max_packages")
            if mp is not None and _int(mp, 1) is None:
                pr.add(n, "max_packages", "must be a positive integer")
            pen = d.get("unfilled_penalty")
            if pen is not None and _num(pen, 0.0, 1e300) is None:
                pr.add(n, "unfilled_penalty", "must be a finite number >= 0")
            lines = d.get("lines")
            merged: dict[int, int] = {}
            if not isinstance(lines, list) or not lines:
                pr.add(n, "lines", "an order must have a non-empty list of lines")
                lines = []
            for k, ln in enumerate(lines):
                if not isinstance(ln, dict) or not ln.keys() <= {"sku", "qty"}:
                    pr.add(n, f"lines[{k}]", "must be an object {sku, qty}")
                    continue
                s = sku_index.get(ln.get("sku"))  # type: ignore[arg-type]
                if s is None:
                    pr.add(n, f"lines[{k}].sku", f"unknown SKU {ln.get('sku')!r}")
                q = _int(ln.get("qty"), 1)
                if q is None:
                    pr.add(n, f"lines[{k}].qty", "must be a positive integer")
                if s is not None and q is not None:
                    merged[s] = merged.get(s, 0) + q
            if len(pr.items) > count or oid is None:
                continue
            seen[oid] = n
            o_t.append(t)
            o_ids.append(oid)
            o_lat.append(lat)  # type: ignore[arg-type]
            o_lon.append(lon)  # type: ignore[arg-type]
            o_ex.append(service == "express")
            o_mp.append(0 if mp is None else mp)
            o_pen.append(math.nan if pen is None else float(pen))
            o_line.append(n)
            l_sku.extend(merged)
            l_qty.extend(merged.values())
            o_ptr.append(len(l_sku))
            continue
        if typ not in _KEYS:
            pr.add(n, "type", f"must be one of {', '.join(EVENT_TYPES)}, not {typ!r}"
                   if "type" in d else "required field is missing")
            continue
        count = len(pr.items)
        for k in d:
            if k not in _KEYS[typ]:
                pr.add(n, k, "unknown field")
        node = -1
        if "node" in _KEYS[typ]:
            nid = d.get("node")
            node = node_index.get(nid, -1) if isinstance(nid, str) else -1
            if node < 0:
                pr.add(n, "node", f"unknown node {nid!r}")
        ev: Event | None = None
        if typ in ("sale", "count"):
            sid = d.get("sku")
            s = sku_index.get(sid, -1) if isinstance(sid, str) else -1
            if s < 0:
                pr.add(n, "sku", f"unknown SKU {sid!r}")
            q = _int(d.get("qty"), 1 if typ == "sale" else 0)
            if q is None:
                pr.add(n, "qty", "must be a positive integer" if typ == "sale"
                       else "must be a non-negative integer")
            if len(pr.items) == count:
                check_pools.append((n, node, s, "sku"))
                ev = Event(t, typ, n, node=node, sku=s, qty=q)  # type: ignore[arg-type]
        elif typ == "replenish":
            items = d.get("items")
            got: list[tuple[int, int]] = []
            if not isinstance(items, dict) or not items:
                pr.add(n, "items", "must be a non-empty object {SKU: units}")
                items = {}
            for sid, qv in items.items():
                s = sku_index.get(sid, -1)
                if s < 0:
                    pr.add(n, f"items.{sid}", f"unknown SKU {sid!r}")
                q = _int(qv, 1)
                if q is None:
                    pr.add(n, f"items.{sid}", "must be a positive integer")
                if s >= 0 and q is not None:
                    got.append((s, q))
                    if node >= 0:
                        check_pools.append((n, node, s, f"items.{sid}"))
            if len(pr.items) == count:
                ev = Event(t, typ, n, node=node, items=tuple(got))
        elif typ in ("cancel", "decline"):
            oid = d.get("order")
            if not isinstance(oid, str) or oid not in seen:
                pr.add(n, "order", f"unknown order {oid!r} (no earlier arrival)")
            elif len(pr.items) == count:
                ev = Event(t, typ, n, node=node, order=oid)
        elif typ == "acceptance":
            p = _num(d.get("p"), 0.0, 1.0)
            if p is None:
                pr.add(n, "p", "must be a probability in [0, 1]")
            elif len(pr.items) == count:
                ev = Event(t, typ, n, node=node, p=p)
        if ev is not None:
            events.append(ev)
    if n == 0:
        pr.add(1, "", "file is empty")
    if check_pools:
        ln_, nd, sk, path = zip(*check_pools, strict=True)
        pools = pools_of(np.array(nd, dtype=np.int64), np.array(sk, dtype=np.int64))
        inv_nodes = {v: k for k, v in node_index.items()}
        inv_skus = {v: k for k, v in sku_index.items()}
        for i in np.flatnonzero(pools < 0).tolist():
            pr.add(ln_[i], path[i], f"node {inv_nodes[nd[i]]!r} does not stock SKU "
                                    f"{inv_skus[sk[i]]!r}")
    if pr.items:
        raise InputError(pr.items, source)
    sku_ids = tuple(k for k, _ in sorted(sku_index.items(), key=lambda kv: kv[1]))
    return Day(header=header, order_t=np.array(o_t, dtype=np.float64), order_ids=tuple(o_ids),
               order_lat=np.array(o_lat, dtype=np.float64),
               order_lon=np.array(o_lon, dtype=np.float64),
               order_express=np.array(o_ex, dtype=bool),
               order_max_packages=np.array(o_mp, dtype=np.int64),
               order_penalty=np.array(o_pen, dtype=np.float64),
               order_line_ptr=np.array(o_ptr, dtype=np.int64),
               order_file_line=np.array(o_line, dtype=np.int64),
               line_sku=np.array(l_sku, dtype=np.int64),
               line_qty=np.array(l_qty, dtype=np.int64), events=tuple(events), sku_ids=sku_ids)


def write_day(path: str | os.PathLike[str], header: dict[str, Any],
              records: Iterable[str]) -> int:
    """Write a header and already-encoded event lines; returns the bytes written. The file
    is written under a temporary name and renamed when complete."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    size = 0
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for text in (json.dumps({"format": FORMAT, **header}, separators=(",", ":")),
                         *records):
                f.write(text)
                f.write("\n")
                size += len(text) + 1
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError([("", f"cannot write the day: {e.strerror or e}")], str(path)) from None
    return size


def dumps(event: dict[str, Any]) -> str:
    """One event line (compact JSON, no NaN)."""
    return json.dumps(event, separators=(",", ":"), allow_nan=False)
