"""The plan: ``router/plan-v1`` (SPEC section 4), built from a solver result and read/written
as JSON."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import RunStats, Status, Termination, relative_gap
from router.errors import InputError
from router.evaluate import cost as compiled_cost
from router.io.atomic import write_text_atomic

FORMAT = "router/plan-v1"
STATUSES = tuple(str(s) for s in Status)
PLAN_FORMATS = {".json": "json"}


def plan_format(path: str | os.PathLike[str]) -> str:
    """The plan file format implied by the extension; anything else is bad usage."""
    fmt = PLAN_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError([("", f"a plan file must end in {', '.join(sorted(PLAN_FORMATS))}")],
                         str(path))
    return fmt


@dataclass(frozen=True, slots=True)
class PlanLine:
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class Shipment:
    order: str
    node: str
    lines: tuple[PlanLine, ...]


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


@dataclass(frozen=True)
class Plan:
    """A routed batch: shipments, unfilled lines, cost, and how the run ended: its status,
    termination (reason and limit), the stage or engine the plan came from (``source``), the
    proven lower bound and the run's statistics."""

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

    def with_stats(self, stats: RunStats) -> Plan:
        return dataclasses.replace(self, stats=stats)

    @property
    def gap(self) -> float | None:
        """Relative gap between the objective and the proven lower bound."""
        if self.objective is None or self.lower_bound is None:
            return None
        return relative_gap(self.objective, self.lower_bound)

    def to_dict(self) -> dict[str, Any]:
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
            "shipments": [{"order": s.order, "node": s.node,
                           "lines": [{"sku": ln.sku, "qty": ln.qty} for ln in s.lines]}
                          for s in self.shipments],
            "unfilled": [{"order": u.order, "sku": u.sku, "qty": u.qty} for u in self.unfilled],
            "stats": _jsonable(dict(self.stats)),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the plan file atomically: the file is the whole plan or is left as it was."""
        plan_format(path)
        write_text_atomic(path, self.to_json() + "\n", "the plan")

    @staticmethod
    def from_dict(d: Any, source: str = "<dict>") -> Plan:
        return plan_from_dict(d, source)

    @staticmethod
    def from_json(text: str, source: str = "<string>") -> Plan:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            msg = e.msg.removesuffix(" at")
            raise InputError([("", f"not valid JSON: {msg} at line {e.lineno} column "
                                   f"{e.colno}")], source) from None
        return plan_from_dict(d, source)

    @staticmethod
    def read(path: str | os.PathLike[str]) -> Plan:
        from router.io.read import read_text

        return Plan.from_json(read_text(path), str(path))


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
    """Turn units per line-arc into shipments and unfilled lines (ids, not indices)."""
    if not isinstance(stats, RunStats):
        stats = RunStats.from_mapping(stats)
    if x is None:
        return Plan(instance=problem.name, solver=solver, status=Status(status), objective=None,
                    lower_bound=lower_bound, cost=None, shipments=(), unfilled=(), stats=stats,
                    termination=termination, source=source)
    x = np.asarray(x, dtype=np.int64)
    c = compiled_cost(problem, x)
    nz = np.flatnonzero(x > 0)  # sorted by (line, node); regroup by (order, node)
    arcs = problem.e_arc[nz]
    order_by_arc = np.argsort(arcs, kind="stable")
    nz, arcs = nz[order_by_arc], arcs[order_by_arc]
    bounds = np.flatnonzero(np.diff(arcs)) + 1
    oids, nids, sids = problem.order_ids, problem.node_ids, problem.sku_ids
    line_sku = problem.line_sku[problem.e_line[nz]].tolist()
    qty = x[nz].tolist()
    arc_list = arcs.tolist()
    shipments = []
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(nz)]
    for s, e in zip(starts, ends, strict=True):
        if s == e:
            continue
        a = arc_list[s]
        shipments.append(Shipment(
            order=oids[int(problem.arc_order[a])], node=nids[int(problem.arc_node[a])],
            lines=tuple(PlanLine(sids[line_sku[k]], qty[k]) for k in range(s, e))))
    shipped = np.bincount(problem.e_line, weights=x, minlength=problem.n_lines).astype(np.int64)
    short = problem.line_qty - shipped
    unfilled = tuple(
        Unfilled(oids[int(problem.line_order[ln])], sids[int(problem.line_sku[ln])],
                 int(short[ln]))
        for ln in np.flatnonzero(short > 0))
    total = c.total
    return Plan(instance=problem.name, solver=solver, status=Status(status),
                objective=total if math.isfinite(total) else None, lower_bound=lower_bound,
                cost=CostBreakdown(c.package, c.unit, c.unfilled, total),
                shipments=tuple(shipments), unfilled=unfilled, stats=stats,
                termination=termination, source=source)


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
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            problems.append((path, "must be a finite number or null"))
            return None
        return float(v)

    def qty(v: Any, path: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append((path, "must be a positive integer"))
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
        shipments.append(Shipment(text(s.get("order"), f"{p}.order"),
                                  text(s.get("node"), f"{p}.node"), tuple(lines)))
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
    if problems:
        raise InputError(problems, source)
    return Plan(instance=d["instance"], solver=d["solver"], status=Status(d["status"]),
                objective=objective, lower_bound=lower, cost=cost, shipments=tuple(shipments),
                unfilled=tuple(unfilled), stats=RunStats.from_mapping(stats),
                termination=termination, source=src)
