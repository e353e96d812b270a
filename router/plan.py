"""The plan: ``router/plan-v1`` (SPEC section 4), built from a solver result and read/written
as JSON."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import gc
import io
import json
import math
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from router.compile import Problem
from router.contract import RunStats, Status, Termination, relative_gap
from router.errors import InputError
from router.evaluate import cost as compiled_cost
from router.evaluate import line_shipped
from router.io.atomic import write_text_atomic
from router.io.safe import json_value, read_text
from router.limits import MAX_FILE_BYTES, MAX_INT, MAX_STATS_DEPTH

if TYPE_CHECKING:
    from router.instance import GapInstance, Instance

FORMAT = "router/plan-v1"
STATUSES = tuple(str(s) for s in Status)
PLAN_FORMATS = {".json": "json", ".csv": "csv"}
CSV_COLUMNS = ("order", "node", "sku", "qty", "state", "km", "zone", "shipment_cost")


def plan_format(path: str | os.PathLike[str]) -> str:
    """``json`` or ``csv`` by the extension of ``path``; any other is bad usage
    (:class:`InputError`)."""
    ext = Path(path).suffix.lower()
    fmt = PLAN_FORMATS.get(ext)
    if fmt is None:
        what = f"extension {ext!r}" if ext else "no extension"
        raise InputError([("", f"cannot write a plan with {what}: use .json (router/plan-v1) "
                               f"or .csv (one row per shipment line)")], str(path))
    return fmt


@dataclass(frozen=True, slots=True)
class PlanLine:
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class Shipment:
    """One package. ``km``, ``zone`` (1-based) and ``cost`` are optional details derived from
    the instance (:meth:`Plan.with_details`); they take no part in comparisons."""

    order: str
    node: str
    lines: tuple[PlanLine, ...]
    km: float | None = field(default=None, compare=False)
    zone: int | None = field(default=None, compare=False)
    cost: float | None = field(default=None, compare=False)

    @property
    def units(self) -> int:
        return sum(ln.qty for ln in self.lines)


@dataclass(frozen=True, slots=True)
class Unfilled:
    order: str
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    package: float
    unit: float
    unfilled: float
    total: float


@dataclass(frozen=True, eq=False)
class ShipmentTable:
    """A plan's shipments as columns, in the order of :attr:`Plan.shipments`: shipment ``k``
    goes from ``node_ids[node[k]]`` to ``order_ids[order[k]]`` and carries the lines
    ``line_ptr[k]:line_ptr[k + 1]`` (SKU ``sku_ids[line_sku[i]]``, ``line_qty[i]`` units).
    The arrays are read-only int64. :func:`build_plan` makes one; the plan's
    :class:`Shipment` objects are made from it on first use (:meth:`shipments`), and readers
    of whole plans (the verifier) read the columns instead."""

    order_ids: tuple[str, ...]
    node_ids: tuple[str, ...]
    sku_ids: tuple[str, ...]
    order: np.ndarray
    node: np.ndarray
    line_ptr: np.ndarray
    line_sku: np.ndarray
    line_qty: np.ndarray

    def __post_init__(self) -> None:
        for name in ("order", "node", "line_ptr", "line_sku", "line_qty"):
            a = np.asarray(getattr(self, name))
            if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                raise ValueError(f"ShipmentTable: {name} must be a 1-D integer array")
            a = a.astype(np.int64)  # a copy: the caller's array stays writable
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        ns, ptr = len(self.order), self.line_ptr
        if len(self.node) != ns or len(ptr) != ns + 1 \
                or len(self.line_sku) != len(self.line_qty) \
                or int(ptr[0]) != 0 or int(ptr[-1]) != len(self.line_sku) \
                or bool((np.diff(ptr) < 0).any()):
            raise ValueError("ShipmentTable: columns of inconsistent lengths, or line ranges "
                             "that do not start at 0 and run forwards")
        for name, ids in (("order", self.order_ids), ("node", self.node_ids),
                          ("line_sku", self.sku_ids)):
            a = getattr(self, name)
            if a.size and (int(a.min()) < 0 or int(a.max()) >= len(ids)):
                raise ValueError(f"ShipmentTable: {name} holds a position outside its ids")

    def __len__(self) -> int:
        return len(self.order)

    def shipments(self) -> tuple[Shipment, ...]:
        """The :class:`Shipment` objects: identical lines (same SKU and quantity) are one
        :class:`PlanLine` object, and single-line shipments of one line share one ``lines``
        tuple (value objects: sharing them changes nothing)."""
        starts = self.line_ptr[:-1]
        counts = np.diff(self.line_ptr)
        with _collector_paused():
            line_objs, singles, pair = _plan_lines(self.sku_ids, self.line_sku, self.line_qty)
            first = np.minimum(starts, len(pair) - 1)  # a shipment of no lines: set below
            ship_lines: list[tuple[PlanLine, ...]] = (
                list(map(singles.__getitem__, pair[first].tolist())) if len(pair)
                else [() for _ in range(len(starts))])
            pick = line_objs.__getitem__
            for width in np.unique(counts[counts != 1]).tolist():  # several lines (or none)
                ks = np.flatnonzero(counts == width)
                cols = [map(pick, pair[starts[ks] + j].tolist()) for j in range(width)]
                rows = zip(*cols, strict=True) if width else repeat((), len(ks))
                for k, t in zip(ks.tolist(), rows, strict=True):
                    ship_lines[k] = t
            return tuple(_shipments(map(self.order_ids.__getitem__, self.order.tolist()),
                                    map(self.node_ids.__getitem__, self.node.tolist()),
                                    ship_lines))


class _Shipments:
    """The ``shipments`` field of :class:`Plan`: the tuple given, or, where a
    :class:`ShipmentTable` is given instead, the tuple made from it on first use (and kept)."""

    def __get__(self, obj: Any, objtype: Any = None) -> tuple[Shipment, ...]:
        if obj is None:
            raise AttributeError("shipments")  # the field has no default
        d = obj.__dict__
        ships = d["_shipments"]
        if ships is None and d["_table"] is not None:
            ships = d["_shipments"] = d["_table"].shipments()
        return ships

    def __set__(self, obj: Any, value: tuple[Shipment, ...] | ShipmentTable) -> None:
        d = obj.__dict__
        if isinstance(value, ShipmentTable):
            d["_table"], d["_shipments"] = value, None
        else:
            d["_table"], d["_shipments"] = None, value


@dataclass(frozen=True)
class Plan:
    """A routed batch: shipments, unfilled lines, cost, and how the run ended: its status,
    termination (reason and limit), the stage or engine the plan came from (``source``), the
    proven lower bound and the run's statistics.

    ``shipments`` may be given as a :class:`ShipmentTable`: the plan then keeps it
    (:attr:`table`) and makes its :class:`Shipment` objects on first use."""

    instance: str
    solver: str
    status: Status
    objective: float | None
    lower_bound: float | None
    cost: CostBreakdown | None
    shipments: tuple[Shipment, ...]
    unfilled: tuple[Unfilled, ...]
    stats: RunStats = field(default_factory=RunStats)
    termination: Termination | None = None
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if not isinstance(self.stats, RunStats):
            object.__setattr__(self, "stats", RunStats.from_mapping(self.stats))

    @property
    def has_plan(self) -> bool:
        return self.status in (Status.OPTIMAL, Status.FEASIBLE)

    @property
    def table(self) -> ShipmentTable | None:
        """The shipments as columns, where the plan was made from them (:func:`build_plan`);
        ``None`` for a plan made from :class:`Shipment` objects (e.g. read from a file)."""
        table: ShipmentTable | None = self.__dict__.get("_table")
        return table

    def with_stats(self, stats: RunStats) -> Plan:
        """The same plan with other statistics (its table, and its shipments if made, kept)."""
        d = self.__dict__
        table = d["_table"]
        plan = dataclasses.replace(self, stats=stats,
                                   shipments=d["_shipments"] if table is None else table)
        plan.__dict__["_shipments"] = d["_shipments"]
        return plan

    @property
    def gap(self) -> float | None:
        """Relative gap between the objective and the proven lower bound."""
        if self.objective is None or self.lower_bound is None:
            return None
        return relative_gap(self.objective, self.lower_bound)

    def __repr__(self) -> str:
        return (f"Plan(instance={self.instance!r}, solver={self.solver!r}, "
                f"status={str(self.status)!r}, objective={self.objective!r}, "
                f"lower_bound={self.lower_bound!r}, {len(self.shipments)} shipments, "
                f"{len(self.unfilled)} unfilled lines)")

    def __str__(self) -> str:
        """A few lines for people: status, cost and bound, shipments, splits, unfilled."""
        head = f"plan of {self.instance} by {self.solver}: {self.status}"
        term = self.termination
        if term is not None and str(term.limit) != "none":
            head += f" (stopped by the {term.limit} limit)"
        if not self.has_plan and not self.shipments:
            return f"{head}, nothing to ship"
        if self.objective is not None:
            head += f", cost {self.objective:,.2f}"
        if self.lower_bound is not None:
            gap = self.gap
            head += f", bound {self.lower_bound:,.2f}"
            head += "" if gap is None else f" (gap {100 * gap:.2f}%)"
        per_order = Counter(s.order for s in self.shipments)
        split = sum(1 for k in per_order.values() if k > 1)
        units = sum(s.units for s in self.shipments)
        out = [head, f"  {len(self.shipments):,} shipments ({units:,} units) to "
                     f"{len(per_order):,} orders, {split:,} split over several nodes"]
        short = sum(u.qty for u in self.unfilled)
        if self.unfilled:
            orders = len({u.order for u in self.unfilled})
            out.append(f"  {short:,} units unfilled in {len(self.unfilled):,} lines of "
                       f"{orders:,} orders")
        else:
            out.append("  every unit shipped")
        if self.cost is not None:
            seconds = self.stats.get("seconds")
            tail = f"; solved in {seconds:.3f} s" if isinstance(seconds, (int, float)) else ""
            out.append(f"  cost: packages {self.cost.package:,.2f} + units "
                       f"{self.cost.unit:,.2f} + unfilled {self.cost.unfilled:,.2f}{tail}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """The plan in ``router/plan-v1`` form; the optional per-shipment details (``km``,
        ``zone``, ``cost``) are written where the shipments carry them."""
        return {
            "format": FORMAT,
            "instance": self.instance,
            "solver": self.solver,
            "status": str(self.status),
            **({"termination": self.termination.to_dict()} if self.termination else {}),
            **({"source": self.source} if self.source else {}),
            "objective": _num(self.objective),
            "lower_bound": _num(self.lower_bound),
            "cost": None if self.cost is None else {
                "package": _round(self.cost.package), "unit": _round(self.cost.unit),
                "unfilled": _round(self.cost.unfilled), "total": _round(self.cost.total)},
            "shipments": [_shipment_dict(s) for s in self.shipments],
            "unfilled": [{"order": u.order, "sku": u.sku, "qty": u.qty} for u in self.unfilled],
            "stats": _jsonable(dict(self.stats)),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_csv(self) -> str:
        """One row per shipment line, then one per unfilled line (``state`` ``unfilled``,
        no node). ``shipment_cost`` stands on the first line of each shipment only, so the
        column sums to the shipping cost; ``km``, ``zone`` and ``shipment_cost`` are empty
        where the plan carries no details."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for s in self.shipments:
            km = "" if s.km is None else f"{s.km:.3f}"
            zone = "" if s.zone is None else s.zone
            for k, ln in enumerate(s.lines):
                cost = "" if s.cost is None or k else _round(s.cost)
                w.writerow((s.order, s.node, ln.sku, ln.qty, "shipped", km, zone, cost))
        for u in self.unfilled:
            w.writerow((u.order, "", u.sku, u.qty, "unfilled", "", "", ""))
        return buf.getvalue()

    def with_details(self, instance: Instance | GapInstance) -> Plan:
        """The same plan with each shipment's distance, zone and cost from ``instance`` (a GAP
        file: the assignment cost only). Shipments naming an unknown order or node, or beyond
        every zone, keep what can be known."""
        from router.costing import Tariff
        from router.instance import GapInstance

        if isinstance(instance, GapInstance):
            jobs = {j: k for k, j in enumerate(instance.order_ids)}
            agents = {a: k for k, a in enumerate(instance.node_ids)}
            ships = []
            for s in self.shipments:
                j, i = jobs.get(s.order), agents.get(s.node)
                ships.append(s if j is None or i is None else
                             replace(s, cost=float(instance.cost[i, j])))
            return replace(self, shipments=tuple(ships))
        tariff = Tariff(instance)
        ships = []
        for s in self.shipments:
            n, o = tariff.nodes.get(s.node), tariff.orders.get(s.order)
            if n is None or o is None or any(ln.sku not in tariff.skus for ln in s.lines):
                ships.append(s)
                continue
            km = tariff.km(n, o)
            sc = tariff.shipment(n, o, ((ln.sku, ln.qty) for ln in s.lines), km=km)
            ships.append(replace(s, km=km, zone=None if sc is None else sc.zone,
                                 cost=None if sc is None else sc.total))
        return replace(self, shipments=tuple(ships))

    def write(self, path: str | os.PathLike[str], *,
              instance: Instance | GapInstance | None = None) -> None:
        """Write the plan atomically (the file is the whole plan or is left as it was), by the
        extension of ``path``: ``.json`` (``router/plan-v1``) or ``.csv`` (:meth:`to_csv`);
        any other extension raises :class:`InputError` before anything is written. With
        ``instance``, the per-shipment details are added first."""
        fmt = plan_format(path)
        plan = self if instance is None else self.with_details(instance)
        text = plan.to_json() + "\n" if fmt == "json" else plan.to_csv()
        write_text_atomic(path, text, "the plan")

    @staticmethod
    def from_dict(d: Any, source: str = "<dict>") -> Plan:
        return plan_from_dict(d, source)

    @staticmethod
    def from_json(text: str, source: str = "<string>") -> Plan:
        """Read plan JSON text: not JSON, NaN, a key given twice, nesting or integers beyond
        the parser's limits are bad input (:class:`InputError`), as is any structural
        problem."""
        if not text.strip():
            raise InputError([("", "file is empty")], source)
        return plan_from_dict(json_value(text, source), source)

    @staticmethod
    def read(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> Plan:
        """Read a plan file of at most ``max_bytes`` (found without reading it all)."""
        if Path(path).suffix.lower() == ".csv":
            raise InputError([("", "a CSV plan is a table of shipment lines for people and "
                                   "spreadsheets; read the plan from its .json file")], str(path))
        return Plan.from_json(read_text(path, max_bytes), str(path))


setattr(Plan, "shipments", _Shipments())  # noqa: B010  (after @dataclass: no default)


def _shipment_dict(s: Shipment) -> dict[str, Any]:
    d: dict[str, Any] = {"order": s.order, "node": s.node}
    if s.km is not None:
        d["km"] = round(float(s.km), 3)
    if s.zone is not None:
        d["zone"] = int(s.zone)
    if s.cost is not None:
        d["cost"] = _round(s.cost)
    d["lines"] = [{"sku": ln.sku, "qty": ln.qty} for ln in s.lines]
    return d


def _round(x: float) -> float:
    return round(float(x), 6)


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else _round(x)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return v


def build_plan(problem: Problem, solver: str, status: Status | str, x: np.ndarray | None,
               lower_bound: float | None, stats: RunStats | dict[str, Any],
               termination: Termination | None = None, source: str = "") -> Plan:
    """Turn units per line-arc into shipments and unfilled lines (ids, not indices).

    Shipments come in the order of their arcs (order, then node), their lines in the order of
    the order's lines. They are grouped with numpy into a :class:`ShipmentTable`, which the
    plan keeps; its :class:`Shipment` objects are made from it on first use."""
    if not isinstance(stats, RunStats):
        stats = RunStats.from_mapping(stats)
    if x is None:
        return Plan(instance=problem.name, solver=solver, status=Status(status), objective=None,
                    lower_bound=lower_bound, cost=None, shipments=(), unfilled=(), stats=stats,
                    termination=termination, source=source)
    x = np.asarray(x, dtype=np.int64)
    shipped = line_shipped(problem, x)
    c = compiled_cost(problem, x, shipped)
    nz = np.flatnonzero(x > 0)  # sorted by (line, node); regroup by (order, node)
    arcs = problem.e_arc[nz]
    by_arc = np.argsort(arcs, kind="stable")
    nz, arcs = nz[by_arc], arcs[by_arc]
    n = len(nz)
    starts = np.flatnonzero(np.concatenate(([n > 0], arcs[1:] != arcs[:-1])))
    ship_arcs = arcs[starts]
    oids, sids = problem.order_ids, problem.sku_ids
    table = ShipmentTable(oids, problem.node_ids, sids, problem.arc_order[ship_arcs],
                          problem.arc_node[ship_arcs], np.append(starts, n),
                          problem.line_sku[problem.e_line[nz]], x[nz])
    short = problem.line_qty - shipped
    gone = np.flatnonzero(short > 0)
    with _collector_paused():
        unfilled = tuple(_make_all(Unfilled, {
            "order": list(map(oids.__getitem__, problem.line_order[gone].tolist())),
            "sku": list(map(sids.__getitem__, problem.line_sku[gone].tolist())),
            "qty": short[gone].tolist()}))
    total = c.total
    return Plan(instance=problem.name, solver=solver, status=Status(status),
                objective=total if math.isfinite(total) else None, lower_bound=lower_bound,
                cost=CostBreakdown(c.package, c.unit, c.unfilled, total),
                shipments=table, unfilled=unfilled, stats=stats,  # type: ignore[arg-type]
                termination=termination, source=source)


def _plan_lines(sku_ids: tuple[str, ...], sku: np.ndarray, qty: np.ndarray
                ) -> tuple[list[PlanLine], list[tuple[PlanLine]], np.ndarray]:
    """The distinct (SKU, quantity) pairs of a plan's lines, each as a :class:`PlanLine` and
    as the one-line tuple of it, and for every line the index of its pair."""
    if len(sku) == 0:
        return [], [], np.zeros(0, dtype=np.int64)
    span = int(qty.max()) + 1
    size = span * len(sku_ids)
    packable = int(qty.min()) >= 0 and size < 2**62  # (a table made by hand may hold anything)
    if packable and size <= 4 * len(sku) + 4096:  # pairs numbered through a table of every key
        key = sku * span + qty
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        keys = np.flatnonzero(seen)
        which = (np.cumsum(seen) - 1)[key]
        u_sku, u_qty = keys // span, keys % span
    elif packable:
        keys, which = np.unique(sku * span + qty, return_inverse=True)
        u_sku, u_qty = keys // span, keys % span
    else:  # quantities too large (or negative) to pack into one key
        rows, which = np.unique(np.stack((sku, qty), axis=1), axis=0, return_inverse=True)
        u_sku, u_qty = rows[:, 0], rows[:, 1]
    objs = _make_all(PlanLine, {"sku": list(map(sku_ids.__getitem__, u_sku.tolist())),
                                "qty": u_qty.tolist()})
    return objs, [(ln,) for ln in objs], which.reshape(-1)


def _make_all(cls: type, columns: dict[str, list[Any]]) -> list[Any]:
    """Instances of a frozen slots dataclass, the k-th with ``columns[name][k]`` for each named
    field and the defaults for the others: the objects ``cls(...)`` makes, built a slot at a
    time over all of them in C loops (``map`` over the slot's setter) instead of one
    ``__init__`` call each, which sets field after field through ``object.__setattr__``
    (about twice as fast). Made by ``cls(...)`` itself where that would not be the same
    (an instance dict, a ``__post_init__``, a field without a plain default)."""
    fields = dataclasses.fields(cls)
    n = len(next(iter(columns.values())))
    assert all(len(v) == n for v in columns.values())
    if (hasattr(cls, "__post_init__") or "__dict__" in dir(cls)
            or set(columns) - {f.name for f in fields}
            or any(f.name not in columns and f.default is dataclasses.MISSING for f in fields)):
        names = list(columns)
        return [cls(**dict(zip(names, values, strict=True)))
                for values in zip(*columns.values(), strict=True)]
    objs: list[Any] = list(map(object.__new__, repeat(cls, n)))
    for f in fields:
        values = columns.get(f.name)
        deque(map(getattr(cls, f.name).__set__, objs,
                  repeat(f.default) if values is None else values), maxlen=0)
    return objs


class _ShipmentDraft:
    """A :class:`Shipment` being made: the same slots, plainly writable. ``_shipments`` fills
    many with ordinary attribute stores, then makes each a ``Shipment`` by ``__class__``
    assignment (allowed between classes of one layout)."""

    __slots__ = Shipment.__slots__


def _shipments_by_draft(orders: Iterable[str], nodes: Iterable[str],
                        lines: list[tuple[PlanLine, ...]]) -> list[Shipment]:
    """``Shipment(o, n, ls)`` for each triple, the optional details ``None``: the objects the
    constructor makes, about three times as fast (a frozen dataclass's ``__init__`` sets every
    field through ``object.__setattr__``)."""
    out: list[Any] = list(map(object.__new__, repeat(_ShipmentDraft, len(lines))))
    for s, o, n, ls in zip(out, orders, nodes, lines, strict=True):
        s.order, s.node, s.lines = o, n, ls
        s.km = s.zone = s.cost = None
        s.__class__ = Shipment
    return out


def _shipments_by_constructor(orders: Iterable[str], nodes: Iterable[str],
                              lines: list[tuple[PlanLine, ...]]) -> list[Shipment]:
    return list(map(Shipment, orders, nodes, lines))


def _pick_shipments() -> Callable[[Iterable[str], Iterable[str], list[tuple[PlanLine, ...]]],
                                  list[Shipment]]:
    """The draft way where it gives what the constructor gives (the fields of ``Shipment``
    unchanged since it was written: the same slots, these defaults, no ``__post_init__``),
    else the constructor."""
    probe = (PlanLine("A", 1),)
    try:
        made = _shipments_by_draft(["O"], ["N"], [probe])[0]
    except TypeError:  # pragma: no cover  (a layout __class__ assignment refuses)
        return _shipments_by_constructor
    same = (type(made) is Shipment and not hasattr(Shipment, "__post_init__")
            and [(f.name, f.default) for f in dataclasses.fields(Shipment)]
            == [("order", dataclasses.MISSING), ("node", dataclasses.MISSING),
                ("lines", dataclasses.MISSING), ("km", None), ("zone", None), ("cost", None)]
            and repr(made) == repr(Shipment("O", "N", probe)))
    return _shipments_by_draft if same else _shipments_by_constructor


_shipments = _pick_shipments()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a plan's many small objects are made: all
    of them are kept, so a collection would free nothing, and with a large batch in memory a
    full one costs more than building the plan. Turned back on only if it was on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def x_from_plan(problem: Problem, plan: Plan) -> tuple[np.ndarray | None, str]:
    """A plan of this batch as units per line-arc (the compiled space of ``problem``), or
    ``None`` and why it does not fit (another batch, an arc the batch cannot use)."""
    if plan.instance != problem.name:
        return None, f"it is a plan for {plan.instance!r}, not {problem.name!r}"
    order = {o: i for i, o in enumerate(problem.order_ids)}
    node = {n: i for i, n in enumerate(problem.node_ids)}
    sku = {s: i for i, s in enumerate(problem.sku_ids)}
    x = np.zeros(problem.n_line_arcs, dtype=np.int64)
    olp, lep = problem.order_line_ptr, problem.line_e_ptr
    line_sku, e_node = problem.line_sku, problem.e_node
    for s in plan.shipments:
        o, n = order.get(s.order), node.get(s.node)
        if o is None or n is None:
            return None, f"shipment {s.order!r} from {s.node!r} names an unknown order or node"
        lines = range(int(olp[o]), int(olp[o + 1]))
        for ln in s.lines:
            k = sku.get(ln.sku)
            line = next((li for li in lines if line_sku[li] == k), None)
            if line is None:
                return None, f"order {s.order!r} has no line of {ln.sku!r}"
            es = range(int(lep[line]), int(lep[line + 1]))
            e = next((ei for ei in es if e_node[ei] == n), None)
            if e is None:
                return None, f"{s.node!r} cannot ship {ln.sku!r} to {s.order!r} in this batch"
            x[e] += ln.qty
    return x, ""


def plan_from_dict(d: Any, source: str = "<dict>") -> Plan:
    """Read a plan mapping, reporting every structural problem as ``path: message``."""
    problems: list[tuple[str, str]] = []
    if not isinstance(d, dict):
        raise InputError([("", "a plan must be a JSON object")], source)
    if d.get("format", FORMAT) != FORMAT:
        problems.append(("format", f"must be {FORMAT!r}"))
    for key in ("instance", "solver", "status"):
        if not isinstance(d.get(key), str):
            problems.append((key, "required string is missing"))
    if d.get("status") not in STATUSES and isinstance(d.get("status"), str):
        problems.append(("status", f"must be one of {', '.join(STATUSES)}"))

    def num(v: Any, path: str) -> float | None:
        if v is None:
            return None
        f = math.nan
        if not isinstance(v, bool) and isinstance(v, (int, float)):
            with contextlib.suppress(OverflowError):  # an integer beyond the float range
                f = float(v)
        if not math.isfinite(f):
            problems.append((path, "must be a finite number or null"))
            return None
        return f

    def qty(v: Any, path: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append((path, "must be a positive integer"))
            return 0
        if v > MAX_INT:
            problems.append((path, f"must be at most {MAX_INT}"))
            return 0
        return v

    def text(v: Any, path: str) -> str:
        if not isinstance(v, str):
            problems.append((path, "must be a string"))
            return ""
        return v

    objective = num(d.get("objective"), "objective")
    lower = num(d.get("lower_bound"), "lower_bound")
    cost = None
    cd = d.get("cost")
    if isinstance(cd, dict):
        vals = [num(cd.get(k), f"cost.{k}") or 0.0 for k in ("package", "unit", "unfilled",
                                                             "total")]
        cost = CostBreakdown(*vals)
    elif cd is not None:
        problems.append(("cost", "must be an object or null"))
    shipments = []
    sv = d.get("shipments", [])
    if not isinstance(sv, list):
        problems.append(("shipments", "must be a list"))
        sv = []
    for i, s in enumerate(sv):
        p = f"shipments[{i}]"
        if not isinstance(s, dict):
            problems.append((p, "must be an object"))
            continue
        lines = []
        lv = s.get("lines")
        if not isinstance(lv, list):
            problems.append((f"{p}.lines", "must be a list"))
            lv = []
        for k, ln in enumerate(lv):
            if not isinstance(ln, dict):
                problems.append((f"{p}.lines[{k}]", "must be an object"))
                continue
            lines.append(PlanLine(text(ln.get("sku"), f"{p}.lines[{k}].sku"),
                                  qty(ln.get("qty"), f"{p}.lines[{k}].qty")))
        zone = s.get("zone")
        if zone is not None and (isinstance(zone, bool) or not isinstance(zone, int)
                                 or zone < 1):
            problems.append((f"{p}.zone", "must be a positive integer or null"))
            zone = None
        shipments.append(Shipment(text(s.get("order"), f"{p}.order"),
                                  text(s.get("node"), f"{p}.node"), tuple(lines),
                                  km=num(s.get("km"), f"{p}.km"), zone=zone,
                                  cost=num(s.get("cost"), f"{p}.cost")))
    unfilled = []
    uv = d.get("unfilled", [])
    if not isinstance(uv, list):
        problems.append(("unfilled", "must be a list"))
        uv = []
    for i, u in enumerate(uv):
        p = f"unfilled[{i}]"
        if not isinstance(u, dict):
            problems.append((p, "must be an object"))
            continue
        unfilled.append(Unfilled(text(u.get("order"), f"{p}.order"),
                                 text(u.get("sku"), f"{p}.sku"), qty(u.get("qty"), f"{p}.qty")))
    stats = d.get("stats", {})
    if not isinstance(stats, dict):
        problems.append(("stats", "must be an object"))
        stats = {}
    elif _depth(stats, MAX_STATS_DEPTH) > MAX_STATS_DEPTH:
        problems.append(("stats", f"nested more than {MAX_STATS_DEPTH} levels deep"))
        stats = {}
    termination = None
    tv = d.get("termination")
    if tv is not None:
        try:
            termination = Termination.from_dict(tv)
        except (KeyError, ValueError, TypeError, AttributeError):
            problems.append(("termination", "must be an object with a known reason and limit"))
    src = d.get("source", "")
    if not isinstance(src, str):
        problems.append(("source", "must be a string"))
        src = ""
    run_stats = RunStats()
    try:
        run_stats = RunStats.from_mapping(stats)
    except (OverflowError, ValueError, TypeError):  # e.g. "seconds": a 400-digit integer
        problems.append(("stats", "a figure is not a finite number"))
    if problems:
        raise InputError(problems, source)
    return Plan(instance=d["instance"], solver=d["solver"], status=Status(d["status"]),
                objective=objective, lower_bound=lower, cost=cost, shipments=tuple(shipments),
                unfilled=tuple(unfilled), stats=run_stats, termination=termination, source=src)


def _depth(v: Any, limit: int) -> int:
    """Nesting depth of lists and mappings in ``v`` (a scalar: 0), counted up to ``limit + 1``."""
    deepest = 0
    stack = [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (dict, list)):
            deepest = max(deepest, d)
            if d > limit:
                break
            stack.extend((y, d + 1) for y in (x.values() if isinstance(x, dict) else x))
    return deepest
