"""The mixed-integer model of the routing problem (SPEC section 3), built once on the compiled
arrays and handed to every MIP engine in bulk.

Columns (variables), only on candidate arcs and line-arcs:

- ``y[a]`` binary, one per arc: node ``arc_node[a]`` ships a package to order ``arc_order[a]``;
  objective ``arc_cost[a]``.
- ``x[e]`` integer in ``0..ub[e]``, one per line-arc: units of the line shipped on the arc;
  objective ``e_unit_cost[e]``. ``ub[e]`` is ``e_ub[e]`` (line quantity and pool stock)
  tightened by the node's capacity (``floor(node_capacity / e_use)``).
- ``u[l]`` integer in ``0..qty[l]``, one per line that may stay unfilled (finite penalty):
  unfilled units; objective ``line_penalty[l]``. Absent where every unit must ship (GAP).

Where an arc can carry a single line-arc with ``ub == 1`` (a one-unit line: every arc of a GAP,
single-unit orders of a sale day), ``x[e] = y[a]`` and the two share one binary column.

Rows (constraints), every one of SPEC section 3:

- ``fill[l]``:  ``sum_e x[e] + u[l] = qty[l]``  (shipped plus unfilled equals the quantity)
- ``link[e]``:  ``x[e] - ub[e] y[a] <= 0``  (units only in a package; the strong, per line-arc
  form of the linking, whose LP relaxation is much tighter than one row per arc)
- ``carry[a]``: ``y[a] - sum_e x[e] <= 0``  (every package carries at least one unit)
- ``stock[p]``: ``sum_e x[e] <= pool_qty[p]``
- ``pkg[n]``:   ``sum_a y[a] <= node_max_packages[n]``
- ``cap[n]``:   ``sum_e e_use[e] x[e] <= node_capacity[n]``
- ``opkg[o]``:  ``sum_a y[a] <= order_max_packages[o]``

Rows that can never bind (a stock pool holding more than every line could take, a node with
fewer candidate arcs than its package limit, ...) are left out; they would only slow the
engines down. The matrix is kept as sorted COO triplets (row, column, coefficient), built with
numpy in time near-linear in the number of arcs, and every engine receives it through its
bulk interface.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.compile import Problem, freeze_arrays
from router.evaluate import arc_units

ROW_KINDS = ("fill", "link", "carry", "stock", "pkg", "cap", "opkg")


@dataclass(frozen=True, eq=False)
class MipModel:
    """``min c.v  s.t.  row_lb <= A v <= row_ub,  col_lb <= v <= col_ub,  v integer``.

    ``A`` is given as COO triplets sorted by (row, column), without duplicates. ``arc_col``,
    ``e_col`` and ``line_u_col`` map the compiled indices to columns (-1: no column).
    """

    n_cols: int
    n_rows: int
    col_lb: np.ndarray
    col_ub: np.ndarray
    col_int: np.ndarray  # bool; every column of this model is integer
    obj: np.ndarray
    row_lb: np.ndarray  # -inf where unbounded below
    row_ub: np.ndarray  # +inf where unbounded above
    a_row: np.ndarray
    a_col: np.ndarray
    a_val: np.ndarray
    arc_col: np.ndarray  # (A,) column of y[a]
    e_col: np.ndarray  # (E,) column of x[e] (== arc_col[e_arc[e]] where merged)
    line_u_col: np.ndarray  # (L,) column of u[l], -1 where the line must be filled
    e_ub: np.ndarray  # (E,) tightened upper bound of x[e]
    row_kind: np.ndarray  # (R,) index into ROW_KINDS
    row_ref: np.ndarray  # (R,) the line, line-arc, arc, pool, node or order of the row
    build_seconds: float = 0.0

    def __post_init__(self) -> None:
        freeze_arrays(self)

    @property
    def n_nonzeros(self) -> int:
        return int(self.a_row.shape[0])

    def size(self) -> dict[str, int]:
        return {"columns": self.n_cols, "rows": self.n_rows, "nonzeros": self.n_nonzeros,
                "integer_columns": int(self.col_int.sum())}

    @property
    def integral_objective(self) -> bool:
        """True when every column is integer with an integer cost: so is every plan's cost."""
        return bool(self.col_int.all() and np.all(self.obj == np.round(self.obj)))

    @property
    def nonnegative_objective(self) -> bool:
        """True when no column can make the objective negative (costs and bounds >= 0)."""
        return bool((self.obj >= 0).all() and (self.col_lb >= 0).all())

    def row_ptr(self) -> np.ndarray:
        """CSR pointer (R+1,) of the row-sorted triplets."""
        ptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.a_row, minlength=self.n_rows), out=ptr[1:])
        return ptr

    def csc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The matrix by columns: (col_ptr (C+1,), row index, value)."""
        order = np.lexsort((self.a_row, self.a_col))
        ptr = np.zeros(self.n_cols + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.a_col, minlength=self.n_cols), out=ptr[1:])
        return ptr, self.a_row[order], self.a_val[order]

    def values_from_x(self, problem: Problem, x: np.ndarray) -> np.ndarray:
        """The column values of a solution ``x`` (units per line-arc): a complete MIP start."""
        x = np.asarray(x, dtype=np.float64)
        v = np.zeros(self.n_cols, dtype=np.float64)
        v[self.arc_col] = (arc_units(problem, x) > 0).astype(np.float64)
        v[self.e_col] = np.maximum(v[self.e_col], x)  # merged columns: x == y
        shipped = np.bincount(problem.e_line, weights=x, minlength=problem.n_lines)
        has_u = self.line_u_col >= 0
        v[self.line_u_col[has_u]] = np.maximum(0.0, problem.line_qty[has_u] - shipped[has_u])
        return v

    def x_from_values(self, values: np.ndarray) -> np.ndarray:
        """Units per line-arc from engine column values (rounded to integers, within bounds)."""
        x = np.rint(np.asarray(values, dtype=np.float64)[self.e_col])
        return np.clip(x, 0, self.e_ub).astype(np.int64)

    def objective_of(self, values: np.ndarray) -> float:
        return float(np.dot(self.obj, values))


def build_model(problem: Problem) -> MipModel:
    """Build the model of ``problem`` (vectorised; time near-linear in arcs and line-arcs)."""
    import time

    t0 = time.perf_counter()
    p = problem
    n_arcs, n_e, n_lines = p.n_arcs, p.n_line_arcs, p.n_lines
    e_arc = p.e_arc
    e_node = p.arc_node[e_arc] if n_e else np.zeros(0, dtype=np.int64)

    # tightened bounds of x: line quantity, pool stock, node capacity / use per unit
    ub = p.e_ub.astype(np.float64)
    cap = p.node_capacity[e_node]
    with np.errstate(divide="ignore", invalid="ignore"):
        cap_units = np.where(p.e_use > 0, np.floor(cap / np.where(p.e_use > 0, p.e_use, 1.0)
                                                    + 1e-9), np.inf)
    ub = np.minimum(ub, cap_units)
    ub = np.maximum(ub, 0.0)
    e_ub = ub.astype(np.int64)

    # merge y[a] and x[e] where the arc carries a single line-arc of at most one unit
    arc_ne = np.bincount(e_arc, minlength=n_arcs)
    arc_first_e = np.zeros(n_arcs, dtype=np.int64)
    if n_e:
        # e is sorted by line, not by arc: take any line-arc of the arc (unique when merged)
        arc_first_e[e_arc] = np.arange(n_e, dtype=np.int64)
    merged = (arc_ne == 1) & (e_ub[arc_first_e] <= 1) if n_arcs else np.zeros(0, dtype=bool)
    e_merged = merged[e_arc]

    # columns: arcs first (y, or y == x where merged), then x of the other line-arcs, then u
    arc_col = np.arange(n_arcs, dtype=np.int64)
    n_x = int((~e_merged).sum())
    e_col = np.empty(n_e, dtype=np.int64)
    e_col[e_merged] = arc_col[e_arc[e_merged]]
    e_col[~e_merged] = n_arcs + np.arange(n_x, dtype=np.int64)
    u_lines = np.flatnonzero(np.isfinite(p.line_penalty))
    line_u_col = np.full(n_lines, -1, dtype=np.int64)
    line_u_col[u_lines] = n_arcs + n_x + np.arange(len(u_lines), dtype=np.int64)
    n_cols = n_arcs + n_x + len(u_lines)

    col_lb = np.zeros(n_cols, dtype=np.float64)
    col_ub = np.empty(n_cols, dtype=np.float64)
    obj = np.empty(n_cols, dtype=np.float64)
    col_ub[:n_arcs] = 1.0
    obj[:n_arcs] = p.arc_cost
    # a merged arc whose single line-arc cannot carry a unit is closed
    col_ub[arc_col[merged]] = np.minimum(1.0, e_ub[arc_first_e[merged]])
    obj[arc_col[merged]] += p.e_unit_cost[arc_first_e[merged]]
    xs = ~e_merged
    col_ub[e_col[xs]] = e_ub[xs]
    obj[e_col[xs]] = p.e_unit_cost[xs]
    col_ub[line_u_col[u_lines]] = p.line_qty[u_lines]
    obj[line_u_col[u_lines]] = p.line_penalty[u_lines]
    col_int = np.ones(n_cols, dtype=bool)

    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, col, val), local rows
    r_lb: list[np.ndarray] = []
    r_ub: list[np.ndarray] = []
    r_kind: list[np.ndarray] = []
    r_ref: list[np.ndarray] = []
    n_rows = 0

    def add_block(kind: str, ref: np.ndarray, lb: np.ndarray, ubs: np.ndarray, rows: np.ndarray,
                  cols: np.ndarray, vals: np.ndarray) -> None:
        """Rows ``ref`` (local row i is ``ref[i]``); triplets with local row indices."""
        nonlocal n_rows
        blocks.append((rows + n_rows, cols, vals))
        r_lb.append(np.asarray(lb, dtype=np.float64))
        r_ub.append(np.asarray(ubs, dtype=np.float64))
        r_kind.append(np.full(len(ref), ROW_KINDS.index(kind), dtype=np.int8))
        r_ref.append(np.asarray(ref, dtype=np.int64))
        n_rows += len(ref)

    # fill[l]: sum_e x[e] + u[l] = qty[l]
    lines = np.arange(n_lines, dtype=np.int64)
    q = p.line_qty.astype(np.float64)
    add_block("fill", lines, q, q,
              np.concatenate([p.e_line, u_lines]),
              np.concatenate([e_col, line_u_col[u_lines]]),
              np.ones(n_e + len(u_lines)))

    # link[e]: x[e] - ub[e] y[a] <= 0, for line-arcs with their own column
    e_x = np.flatnonzero(xs)
    k = len(e_x)
    loc = np.arange(k, dtype=np.int64)
    add_block("link", e_x, np.full(k, -np.inf), np.zeros(k),
              np.concatenate([loc, loc]),
              np.concatenate([e_col[e_x], arc_col[e_arc[e_x]]]),
              np.concatenate([np.ones(k), -e_ub[e_x].astype(np.float64)]))

    # carry[a]: y[a] - sum_e x[e] <= 0, for arcs with their own y
    a_y = np.flatnonzero(~merged)
    loc_of_arc = np.full(n_arcs, -1, dtype=np.int64)
    loc_of_arc[a_y] = np.arange(len(a_y), dtype=np.int64)
    add_block("carry", a_y, np.full(len(a_y), -np.inf), np.zeros(len(a_y)),
              np.concatenate([loc_of_arc[a_y], loc_of_arc[e_arc[e_x]]]),
              np.concatenate([arc_col[a_y], e_col[e_x]]),
              np.concatenate([np.ones(len(a_y)), -np.ones(k)]))

    # stock[p]: sum_e x[e] <= qty, where the pool can run short
    n_pools = len(p.pool_qty)
    pool_demand = np.bincount(p.e_pool, weights=e_ub, minlength=n_pools)
    tight_p = np.flatnonzero(np.isfinite(p.pool_qty) & (pool_demand > p.pool_qty + 1e-9))
    _add_group_rows(add_block, "stock", tight_p, p.e_pool, e_col, np.ones(n_e), n_pools,
                    p.pool_qty)

    # pkg[n]: sum_a y[a] <= max_packages, where the node has more candidate arcs
    n_nodes = p.n_nodes
    node_arcs = np.bincount(p.arc_node, minlength=n_nodes)
    tight_n = np.flatnonzero(np.isfinite(p.node_max_packages)
                             & (node_arcs > p.node_max_packages + 1e-9))
    _add_group_rows(add_block, "pkg", tight_n, p.arc_node, arc_col, np.ones(n_arcs), n_nodes,
                    p.node_max_packages)

    # cap[n]: sum_e use[e] x[e] <= capacity, where the node can run out
    node_demand = np.bincount(e_node, weights=p.e_use * e_ub, minlength=n_nodes)
    tight_c = np.flatnonzero(np.isfinite(p.node_capacity)
                             & (node_demand > p.node_capacity + 1e-9))
    _add_group_rows(add_block, "cap", tight_c, e_node, e_col, p.e_use.astype(np.float64),
                    n_nodes, p.node_capacity)

    # opkg[o]: sum_a y[a] <= max_packages of the order, where it has more candidate arcs
    n_orders = p.n_orders
    order_arcs = np.diff(p.order_arc_ptr)
    # an order of one single-unit line cannot ship two packages anyway (fill row)
    one_unit = (np.diff(p.order_line_ptr) == 1) & (p.line_qty[np.minimum(
        p.order_line_ptr[:-1], max(n_lines - 1, 0))] == 1) if n_lines else np.zeros(n_orders,
                                                                                     dtype=bool)
    tight_o = np.flatnonzero((order_arcs > p.order_max_packages) & ~one_unit)
    _add_group_rows(add_block, "opkg", tight_o, p.arc_order, arc_col, np.ones(n_arcs), n_orders,
                    p.order_max_packages.astype(np.float64))

    a_row = np.concatenate([b[0] for b in blocks]).astype(np.int64)
    a_col = np.concatenate([b[1] for b in blocks]).astype(np.int64)
    a_val = np.concatenate([b[2] for b in blocks]).astype(np.float64)
    keep = a_val != 0.0
    a_row, a_col, a_val = a_row[keep], a_col[keep], a_val[keep]
    order = np.argsort(a_row * max(n_cols, 1) + a_col, kind="stable")
    a_row, a_col, a_val = a_row[order], a_col[order], a_val[order]

    return MipModel(
        n_cols=n_cols, n_rows=n_rows, col_lb=col_lb, col_ub=col_ub, col_int=col_int, obj=obj,
        row_lb=np.concatenate(r_lb), row_ub=np.concatenate(r_ub),
        a_row=a_row, a_col=a_col, a_val=a_val, arc_col=arc_col, e_col=e_col,
        line_u_col=line_u_col, e_ub=e_ub, row_kind=np.concatenate(r_kind),
        row_ref=np.concatenate(r_ref), build_seconds=time.perf_counter() - t0)


def _add_group_rows(add_block: object, kind: str, groups: np.ndarray, member_group: np.ndarray,
                    member_col: np.ndarray, member_val: np.ndarray, n_groups: int,
                    rhs: np.ndarray) -> None:
    """One ``<= rhs[g]`` row for each group ``g`` in ``groups`` over its members."""
    loc = np.full(n_groups, -1, dtype=np.int64)
    loc[groups] = np.arange(len(groups), dtype=np.int64)
    m = loc[member_group] >= 0
    add_block(kind, groups, np.full(len(groups), -np.inf),  # type: ignore[operator]
              np.asarray(rhs, dtype=np.float64)[groups], loc[member_group[m]], member_col[m],
              member_val[m])


def must_fill_without_source(problem: Problem) -> bool:
    """True when some must-fill line has no candidate line-arc: the batch is infeasible."""
    n_e = np.diff(problem.line_e_ptr)
    return bool((np.isinf(problem.line_penalty) & (n_e == 0)).any())


# ----------------------------------------------------------------------------------------------
# names and files (MPS / LP) for users of other solvers

_BAD = re.compile(r"[^A-Za-z0-9_.]")


def _clean(ids: Sequence[str]) -> list[str]:
    return [_BAD.sub("_", s) for s in ids]


def column_names(model: MipModel, problem: Problem) -> list[str]:
    """Readable, unique column names: ``y_<order>_<node>``, ``x_<order>_<sku>_<node>``,
    ``u_<order>_<sku>`` (characters other than letters, digits, ``_`` and ``.`` become ``_``)."""
    o, n, s = _clean(problem.order_ids), _clean(problem.node_ids), _clean(problem.sku_ids)
    names = [""] * model.n_cols
    ao, an = problem.arc_order.tolist(), problem.arc_node.tolist()
    for a, c in enumerate(model.arc_col.tolist()):
        names[c] = f"y_{o[ao[a]]}_{n[an[a]]}"
    eo = problem.line_order[problem.e_line].tolist()
    es = problem.line_sku[problem.e_line].tolist()
    en = problem.arc_node[problem.e_arc].tolist()
    merged_col = model.e_col < problem.n_arcs
    for e, c in enumerate(model.e_col.tolist()):
        if not merged_col[e]:
            names[c] = f"x_{o[eo[e]]}_{s[es[e]]}_{n[en[e]]}"
    lo, ls = problem.line_order.tolist(), problem.line_sku.tolist()
    for line, c in enumerate(model.line_u_col.tolist()):
        if c >= 0:
            names[c] = f"u_{o[lo[line]]}_{s[ls[line]]}"
    return _unique(names, "v")


def row_names(model: MipModel, problem: Problem) -> list[str]:
    o, n, s = _clean(problem.order_ids), _clean(problem.node_ids), _clean(problem.sku_ids)
    lo, ls = problem.line_order.tolist(), problem.line_sku.tolist()
    eline = problem.e_line.tolist()
    enode = problem.arc_node[problem.e_arc].tolist()
    ao, an = problem.arc_order.tolist(), problem.arc_node.tolist()
    pn, ps = problem.pool_node.tolist(), problem.pool_sku.tolist()
    out: list[str] = []
    for kind, ref in zip(model.row_kind.tolist(), model.row_ref.tolist(), strict=True):
        k = ROW_KINDS[kind]
        if k == "fill":
            out.append(f"fill_{o[lo[ref]]}_{s[ls[ref]]}")
        elif k == "link":
            ln = eline[ref]
            out.append(f"link_{o[lo[ln]]}_{s[ls[ln]]}_{n[enode[ref]]}")
        elif k == "carry":
            out.append(f"carry_{o[ao[ref]]}_{n[an[ref]]}")
        elif k == "stock":
            out.append(f"stock_{n[pn[ref]]}_{s[ps[ref]]}")
        elif k in ("pkg", "cap"):
            out.append(f"{k}_{n[ref]}")
        else:
            out.append(f"opkg_{o[ref]}")
    return _unique(out, "c")


def _unique(names: list[str], prefix: str) -> list[str]:
    if len(set(names)) == len(names):
        return names
    return [f"{nm}_{i}" for i, nm in enumerate(names)]  # cleaning made two names equal


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def write_lp(model: MipModel, problem: Problem, path: str | Path) -> None:
    """Write the model in CPLEX LP format (read by Gurobi, CPLEX, HiGHS, SCIP, CBC)."""
    cn = column_names(model, problem)
    rn = row_names(model, problem)
    out: list[str] = [f"\\ router model of {problem.name}: {problem.summary()}", "Minimize"]
    terms = [f"{_signed(c)} {cn[j]}" for j, c in enumerate(model.obj.tolist()) if c != 0.0]
    if not terms and model.n_cols:
        terms = [f"0 {cn[0]}"]  # every cost is zero: readers want at least one term
    out.extend(_wrap(" obj:", terms))
    out.append("Subject To")
    ptr = model.row_ptr().tolist()
    cols, vals = model.a_col.tolist(), model.a_val.tolist()
    for r in range(model.n_rows):
        lo, hi = float(model.row_lb[r]), float(model.row_ub[r])
        terms = [f"{_signed(vals[i])} {cn[cols[i]]}" for i in range(ptr[r], ptr[r + 1])]
        if not terms:
            terms = ["0 " + cn[0]] if model.n_cols else []
        if lo == hi:
            sense = f"= {_num(hi)}"
        elif math.isinf(lo):
            sense = f"<= {_num(hi)}"
        elif math.isinf(hi):
            sense = f">= {_num(lo)}"
        else:  # ranged rows do not occur in this model; write them as two rows
            out.extend(_wrap(f" {rn[r]}_lo:", [*terms, f">= {_num(lo)}"]))
            sense = f"<= {_num(hi)}"
        out.extend(_wrap(f" {rn[r]}:", [*terms, sense]))
    out.append("Bounds")
    binaries: list[str] = []
    generals: list[str] = []
    for j, (lo, hi) in enumerate(zip(model.col_lb.tolist(), model.col_ub.tolist(), strict=True)):
        if model.col_int[j] and lo == 0.0 and hi == 1.0:
            binaries.append(cn[j])
            continue
        out.append(f" {_num(lo)} <= {cn[j]} <= {_num(hi)}")
        if model.col_int[j]:
            generals.append(cn[j])
    if generals:
        out.append("General")
        out.extend(_wrap("", generals))
    if binaries:
        out.append("Binary")
        out.extend(_wrap("", binaries))
    out.append("End")
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def write_mps(model: MipModel, problem: Problem, path: str | Path) -> None:
    """Write the model in free MPS format (names without spaces; read by every MIP solver)."""
    cn = column_names(model, problem)
    rn = row_names(model, problem)
    out = [f"NAME {_BAD.sub('_', problem.name) or 'router'}", "ROWS", " N obj"]
    senses: list[str] = []
    for lo, hi in zip(model.row_lb.tolist(), model.row_ub.tolist(), strict=True):
        senses.append("E" if lo == hi else ("L" if math.isinf(lo) else
                                            ("G" if math.isinf(hi) else "L")))
    out.extend(f" {s} {rn[r]}" for r, s in enumerate(senses))
    out.append("COLUMNS")
    ptr, rows, vals = model.csc()
    ptr_l, rows_l, vals_l = ptr.tolist(), rows.tolist(), vals.tolist()
    objl = model.obj.tolist()
    in_int = False
    for j in range(model.n_cols):
        if model.col_int[j] and not in_int:
            out.append(" MARKER 'MARKER' 'INTORG'")
            in_int = True
        elif not model.col_int[j] and in_int:
            out.append(" MARKER 'MARKER' 'INTEND'")
            in_int = False
        name = cn[j]
        if objl[j] != 0.0 or ptr_l[j] == ptr_l[j + 1]:
            out.append(f" {name} obj {_num(objl[j])}")
        out.extend(f" {name} {rn[rows_l[i]]} {_num(vals_l[i])}"
                   for i in range(ptr_l[j], ptr_l[j + 1]))
    if in_int:
        out.append(" MARKER 'MARKER' 'INTEND'")
    out.append("RHS")
    for r, s in enumerate(senses):
        v = model.row_ub[r] if s in ("E", "L") else model.row_lb[r]
        if v != 0.0:
            out.append(f" rhs {rn[r]} {_num(float(v))}")
    ranged = [r for r in range(model.n_rows)
              if not math.isinf(model.row_lb[r]) and not math.isinf(model.row_ub[r])
              and model.row_lb[r] != model.row_ub[r]]
    if ranged:
        out.append("RANGES")
        out.extend(f" rng {rn[r]} {_num(float(model.row_ub[r] - model.row_lb[r]))}"
                   for r in ranged)
    out.append("BOUNDS")
    for j, (lo, hi) in enumerate(zip(model.col_lb.tolist(), model.col_ub.tolist(), strict=True)):
        if model.col_int[j] and lo == 0.0 and hi == 1.0:
            out.append(f" BV bnd {cn[j]}")
            continue
        if lo != 0.0:
            out.append(f" LO bnd {cn[j]} {_num(lo)}")
        out.append(f" UP bnd {cn[j]} {_num(hi)}")
    out.append("ENDATA")
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def _signed(v: float) -> str:
    return f"+ {_num(v)}" if v >= 0 else f"- {_num(-v)}"


def _wrap(head: str, terms: list[str], per_line: int = 8) -> list[str]:
    """Split a long expression over lines (LP readers limit the line length)."""
    if not terms:
        return [head] if head else []
    lines = []
    for i in range(0, len(terms), per_line):
        chunk = " ".join(terms[i:i + per_line])
        lines.append(f"{head} {chunk}" if i == 0 and head else f"   {chunk}")
    return lines
