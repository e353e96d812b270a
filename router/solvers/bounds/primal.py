"""Plans from the dual: what column generation leaves (every plan it met per order and the
restricted master's LP solution, :class:`~router.solvers.bounds.dual.ColumnPool`) turned
into feasible plans.

- :func:`rounded_plan`: every order of the master takes its plan of largest weight in the
  master's LP solution, every other order its plan at zero prices; where that overloads a
  coupling row (a stock pool, a node's packages or units), the orders of least weight on the
  row are taken out until it fits, and every order taken out, with the orders whose LP
  solution was fractional, is routed again by the bidding rounds under true costs, given what
  the others leave. Milliseconds; on the sale-day batches 0.2-0.5 % above the bound.
- :func:`master_plan`: price-and-branch: the restricted master as an integer program. Every
  chosen order picks one of its plans: its plan in a feasible incumbent (the reference) or
  one of the plans column generation met; the coupling rows are kept exactly. The
  incumbent is a solution (all choices at the reference), so the program is never
  infeasible and the answer never worse than the incumbent. HiGHS solves it in a child
  process killed at the deadline (:mod:`router.solvers.exact.isolate`); a work limit is a
  branch-and-bound node limit (one thread: the same answer every time).

Plans are kept in the relative form of the master: a column per plan other than the
reference, ``z in {0, 1}``, its cost and row loads counted against the reference; an order
with several such columns gets ``sum z <= 1``. Only rows that some choice could overload
enter.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.compile import Problem, expand_ranges
from router.contract import Budget, Limit
from router.solvers.bounds.dual import ColumnPool
from router.solvers.exact.lp import quiet_highs

log = logging.getLogger(__name__)


class Rows:
    """The coupling rows of a problem, numbered as :class:`~router.solvers.bounds.dual.
    Lagrangian` numbers them: stock pools, then node package limits, then node unit
    capacities; their limits ``b`` (0 where there is none, ``finite`` False)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.n_pool, self.n_node = len(p.pool_qty), p.n_nodes
        self.n_rows = self.n_pool + 2 * self.n_node
        b = np.concatenate([p.pool_qty, p.node_max_packages, p.node_capacity]).astype(
            np.float64)
        self.finite = np.isfinite(b)
        self.b = np.where(self.finite, b, 0.0)
        self.e_node = p.arc_node[p.e_arc]
        self.e_order = p.line_order[p.e_line]
        self.pen = np.where(np.isinf(p.line_penalty), 0.0, p.line_penalty)

    def usage(self, x: np.ndarray) -> np.ndarray:
        """Load of every row (R,) by plan ``x`` (units per line-arc)."""
        p = self.p
        xf = np.asarray(x, dtype=np.float64)
        out = np.zeros(self.n_rows)
        out[:self.n_pool] = np.bincount(p.e_pool, weights=xf, minlength=self.n_pool)
        used = np.bincount(p.e_arc, weights=xf, minlength=p.n_arcs) > 0
        out[self.n_pool:self.n_pool + self.n_node] = np.bincount(
            p.arc_node[used], minlength=self.n_node)
        out[self.n_pool + self.n_node:] = np.bincount(self.e_node, weights=xf * p.e_use,
                                                       minlength=self.n_node)
        return np.where(self.finite, out, 0.0)

    def order_loads(self, x: np.ndarray, orders: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The plans of ``orders`` in ``x``: their true costs (finite penalties; (k,)) and
        their loads as triplets (position in ``orders``, row, value), finite rows only."""
        p = self.p
        k = len(orders)
        pos = np.full(p.n_orders, -1, dtype=np.int64)
        pos[orders] = np.arange(k)
        lines = expand_ranges(p.order_line_ptr[orders],
                              p.order_line_ptr[orders + 1] - p.order_line_ptr[orders])
        e = expand_ranges(p.line_e_ptr[lines], p.line_e_ptr[lines + 1] - p.line_e_ptr[lines])
        e = e[x[e] > 0]
        xe = x[e].astype(np.float64)
        ce = pos[self.e_order[e]]
        a = np.unique(p.e_arc[e])
        ca = pos[p.arc_order[a]]
        n_p, n = self.n_pool, self.n_node
        rows = np.concatenate([p.e_pool[e], n_p + p.arc_node[a], n_p + n + self.e_node[e]])
        cols = np.concatenate([ce, ca, ce])
        vals = np.concatenate([xe, np.ones(len(a)), xe * p.e_use[e]])
        keep = self.finite[rows] & (vals != 0)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        key = cols * self.n_rows + rows
        uk, inv = np.unique(key, return_inverse=True)
        val = np.bincount(inv, weights=vals, minlength=len(uk))
        shipped = np.bincount(p.e_line[e], weights=xe, minlength=p.n_lines)[lines]
        short = (p.line_qty[lines] - shipped) * self.pen[lines]
        seg = np.repeat(np.arange(k), p.order_line_ptr[orders + 1] - p.order_line_ptr[orders])
        cost = (np.bincount(ce, weights=xe * p.e_unit_cost[e], minlength=k)
                + np.bincount(ca, weights=p.arc_cost[a], minlength=k)
                + np.bincount(seg, weights=short, minlength=k))
        return cost, uk // self.n_rows, uk % self.n_rows, val


def best_plans(pool: ColumnPool, n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """Per order, the plan of largest weight (-1 outside the master) and that weight."""
    po, w = pool.plan_order, pool.weight
    order = np.lexsort((np.arange(len(w)), -w, po))
    first = np.ones(len(order), dtype=bool)
    first[1:] = po[order][1:] != po[order][:-1]
    best = np.full(n_orders, -1, dtype=np.int64)
    wmax = np.zeros(n_orders)
    best[po[order[first]]] = order[first]
    wmax[po[order[first]]] = w[order[first]]
    return best, wmax


def _with_plans(p: Problem, pool: ColumnPool, x: np.ndarray, orders: np.ndarray,
                plans: np.ndarray) -> np.ndarray:
    """``x`` with the units of ``orders`` replaced by their pool ``plans`` (-1: nothing)."""
    x = np.array(x, dtype=np.int64, copy=True)
    mark = np.zeros(p.n_orders, dtype=bool)
    mark[orders] = True
    x[mark[p.line_order[p.e_line]]] = 0
    take = np.zeros(pool.n_plans, dtype=bool)
    take[plans[plans >= 0]] = True
    sel = take[pool.x_plan]
    np.add.at(x, pool.x_e[sel], pool.x_units[sel])
    return x


def rounded_plan(p: Problem, pool: ColumnPool, seed: int = 0,
                 budget: Budget | None = None, rows: Rows | None = None
                 ) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The master's LP solution rounded and repaired (module docstring): a feasible plan
    (``None`` only where a must-fill line cannot be completed) and what was done."""
    from router.solvers.heuristics.core import (
        State,
        complete_must_fill,
        insert_orders,
        tiebreak_keys,
        true_prices,
    )

    rows = rows or Rows(p)
    best, wmax = best_plans(pool, p.n_orders)
    master = np.flatnonzero(pool.in_master)
    frac = pool.in_master & (wmax < 1.0 - 1e-6)
    x = _with_plans(p, pool, pool.base_x, master, np.where(frac[master], -1, best[master]))
    out = frac.copy()
    used = rows.usage(x)
    over = np.flatnonzero(rows.finite & (used > rows.b + 1e-9))
    if len(over):
        # the orders on the overloaded rows, those of least weight first, out until it fits
        on = np.flatnonzero(x > 0)
        cost, o_pos, o_row, o_val = rows.order_loads(x, np.unique(rows.e_order[on]))
        holders = np.unique(rows.e_order[on])
        is_over = np.zeros(rows.n_rows, dtype=bool)
        is_over[over] = True
        sel = is_over[o_row]
        o_ord, o_row, o_val = holders[o_pos[sel]], o_row[sel], o_val[sel]
        weight = np.where(pool.in_master[o_ord], wmax[o_ord], 1.0)
        srt = np.lexsort((o_ord, weight, o_row))
        o_ord, o_row, o_val = o_ord[srt], o_row[srt], o_val[srt]
        load = used.copy()
        for r, lo, hi in _segments(o_row):
            if load[r] <= rows.b[r] + 1e-9:
                continue
            for i in range(lo, hi):
                o = o_ord[i]
                if out[o]:
                    continue
                out[o] = True
                load[r] -= o_val[i]
                if load[r] <= rows.b[r] + 1e-9:
                    break
        x[out[rows.e_order]] = 0
    st = State(p, x)
    again = np.flatnonzero(out)
    if len(again):
        insert_orders(p, st, again, true_prices(p), priority="regret",
                      tiebreak=tiebreak_keys(p, seed), deadline=budget)
    done = complete_must_fill(p, st.x, seed, budget)
    return done, {"rerouted": int(len(again)), "fractional": int(frac.sum()),
                  "overloaded_rows": int(len(over))}


def _segments(keys: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, start, end) of the runs of equal values of sorted ``keys``."""
    if len(keys) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return list(zip(keys[starts].tolist(), starts.tolist(), ends.tolist(), strict=True))


# ----------------------------------------------------------------------------------------
# the restricted master as an integer program


@dataclass(frozen=True)
class MasterProgram:
    """The integer program of :func:`master_plan`, in the relative form (columns sorted by
    column; ``rhs``: row upper bounds, every row ``<=``)."""

    orders: np.ndarray  # the orders that choose
    plan: np.ndarray  # pool plan of each column
    cost: np.ndarray  # cost relative to the reference
    rhs: np.ndarray
    start: np.ndarray  # (C+1,) into index / value
    index: np.ndarray
    value: np.ndarray
    offset: float  # cost of the incumbent
    rows: np.ndarray  # coupling row of each LP row (-1: a row sum z <= 1)

    @property
    def n_cols(self) -> int:
        return len(self.cost)


def master_program(p: Problem, pool: ColumnPool, x_inc: np.ndarray, orders: np.ndarray,
                   rows: Rows | None = None) -> MasterProgram:
    """The restricted master over ``orders`` (of the master) with references their plans in
    the feasible plan ``x_inc`` (every other order keeps its plan there)."""
    rows = rows or Rows(p)
    orders = np.unique(np.asarray(orders, dtype=np.int64))
    orders = orders[pool.in_master[orders]]
    k = len(orders)
    pos = np.full(p.n_orders, -1, dtype=np.int64)
    pos[orders] = np.arange(k)
    inc_cost, i_pos, i_row, i_val = rows.order_loads(x_inc, orders)
    cand = np.flatnonzero(pos[pool.plan_order] >= 0)
    c_pos = pos[pool.plan_order[cand]]
    # the loads of each candidate plan relative to its order's reference
    plan_col = np.full(pool.n_plans, -1, dtype=np.int64)
    plan_col[cand] = np.arange(len(cand))
    sel = plan_col[pool.l_plan] >= 0
    own_c, own_r, own_v = plan_col[pool.l_plan[sel]], pool.l_row[sel], pool.l_val[sel]
    by = np.argsort(c_pos, kind="stable")
    ptr = np.searchsorted(c_pos[by], np.arange(k + 1))
    cnt = ptr[i_pos + 1] - ptr[i_pos]
    idx = expand_ranges(ptr[i_pos], cnt)
    ref_c, ref_r, ref_v = by[idx], np.repeat(i_row, cnt), -np.repeat(i_val, cnt)
    cc = np.concatenate([own_c, ref_c])
    rr = np.concatenate([own_r, ref_r])
    vv = np.concatenate([own_v, ref_v])
    key = cc * rows.n_rows + rr
    uk, inv = np.unique(key, return_inverse=True)
    vv = np.bincount(inv, weights=vv, minlength=len(uk))
    cc, rr = uk // rows.n_rows, uk % rows.n_rows
    nz = np.abs(vv) > 1e-9
    cc, rr, vv = cc[nz], rr[nz], vv[nz]
    rel_cost = pool.plan_cost[cand] - inc_cost[c_pos]
    # a plan the same as its reference (no load changes, same cost) is no choice
    moves = np.bincount(cc, minlength=len(cand)) > 0
    useful = moves | (rel_cost < -1e-9)
    # rows some choice could overload: the loads now plus every increase
    used = rows.usage(x_inc)
    inc = np.bincount(rr, weights=np.maximum(vv, 0.0), minlength=rows.n_rows)
    need = rows.finite & (used + inc > rows.b + 1e-9)
    keep = useful[cc] & need[rr]
    cc, rr, vv = cc[keep], rr[keep], vv[keep]
    col_new = np.cumsum(useful) - 1
    cand, c_pos, rel_cost = cand[useful], c_pos[useful], rel_cost[useful]
    cc = col_new[cc]
    lp_rows = np.flatnonzero(need)
    row_of = np.full(rows.n_rows, -1, dtype=np.int64)
    row_of[lp_rows] = np.arange(len(lp_rows))
    rr = row_of[rr]
    rhs = rows.b[lp_rows] - used[lp_rows]
    # sum z <= 1 for orders with several columns
    per = np.bincount(c_pos, minlength=k)
    many = np.flatnonzero(per >= 2)
    conv = np.full(k, -1, dtype=np.int64)
    conv[many] = len(lp_rows) + np.arange(len(many))
    cz = np.flatnonzero(conv[c_pos] >= 0)
    cc = np.concatenate([cc, cz])
    rr = np.concatenate([rr, conv[c_pos[cz]]])
    vv = np.concatenate([vv, np.ones(len(cz))])
    srt = np.lexsort((rr, cc))
    cc, rr, vv = cc[srt], rr[srt], vv[srt]
    start = np.searchsorted(cc, np.arange(len(cand) + 1)).astype(np.int64)
    from router.evaluate import objective

    return MasterProgram(orders=orders, plan=cand, cost=rel_cost,
                         rhs=np.concatenate([np.maximum(rhs, 0.0), np.ones(len(many))]),
                         start=start, index=rr, value=vv,
                         offset=float(objective(p, x_inc)),
                         rows=np.concatenate([lp_rows, np.full(len(many), -1)]))


@dataclass
class IpAnswer:
    status: str  # optimal, limit, infeasible, failed, empty
    chosen: np.ndarray | None = None  # columns set to 1
    objective: float | None = None  # relative to the incumbent
    bound: float | None = None
    nodes: int = 0
    seconds: float = 0.0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def master_plan(p: Problem, pool: ColumnPool, x_inc: np.ndarray, budget: Budget, *,
                orders: np.ndarray | None = None, mip_gap: float = 1e-4,
                grace: float = 0.05, rows: Rows | None = None
                ) -> tuple[np.ndarray | None, IpAnswer]:
    """A plan at least as good as the feasible ``x_inc``: the restricted master over
    ``orders`` (default: every order of the master) solved as an integer program within
    ``budget`` (its deadline; its work: a branch-and-bound node limit), HiGHS in a child
    process killed ``grace`` seconds past the deadline. ``None`` when nothing better was
    found."""
    from router.solvers.exact.isolate import run_isolated

    t0 = time.perf_counter()
    rows = rows or Rows(p)
    chosen = np.flatnonzero(pool.in_master) if orders is None else orders
    prog = master_program(p, pool, x_inc, chosen, rows)
    if prog.n_cols == 0:
        return None, IpAnswer("empty", seconds=time.perf_counter() - t0)
    if budget.expired():
        return None, IpAnswer("limit", seconds=time.perf_counter() - t0,
                              detail="not started: no time left")
    hard = None if budget.deadline is None else budget.deadline + grace
    res = run_isolated(_solve_ip, prog, budget.deadline, budget.work, mip_gap,
                       hard_deadline=hard, label="HiGHS restricted master",
                       cancel=budget.cancel)
    if not res.ok or res.value is None:
        return None, IpAnswer("failed" if res.failure not in ("killed", "interrupted")
                              else "limit", seconds=time.perf_counter() - t0,
                              detail=res.detail)
    ans: IpAnswer = res.value
    ans.seconds = time.perf_counter() - t0
    ans.extra.update(columns=prog.n_cols, rows=len(prog.rhs), orders=len(prog.orders))
    if ans.chosen is None or len(ans.chosen) == 0:
        return None, ans
    pick = prog.plan[ans.chosen]
    x = _with_plans(p, pool, x_inc, pool.plan_order[pick], pick)
    return x, ans


def _solve_ip(prog: MasterProgram, deadline: float | None, nodes: int | None,
              mip_gap: float, workdir: str) -> IpAnswer:
    """In the engine's process: HiGHS on the program (time counted from the absolute
    deadline, so that loading HiGHS is part of it)."""
    import highspy

    inf = highspy.kHighsInf
    n = prog.n_cols
    hs = highspy.HighsModelStatus
    h = None
    for attempt in (1, 0):  # see router.solvers.exact.lp: a forked HiGHS keeps its threads
        h = quiet_highs(highspy)
        if attempt:
            h.setOptionValue("threads", 1)
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        h.setOptionValue("random_seed", 0)
        if deadline is not None:
            h.setOptionValue("time_limit", max(0.01, deadline - time.perf_counter()))
        if nodes is not None:
            h.setOptionValue("mip_max_nodes", max(1, int(nodes)))
        n_r = len(prog.rhs)
        h.addRows(n_r, np.full(n_r, -inf), prog.rhs, 0, np.zeros(0, dtype=np.int32),
                  np.zeros(0, dtype=np.int32), np.zeros(0))
        h.addCols(n, prog.cost, np.zeros(n), np.ones(n), len(prog.value),
                  prog.start[:-1].astype(np.int32), prog.index.astype(np.int32),
                  prog.value.astype(np.float64))
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
        h.changeObjectiveOffset(prog.offset)
        h.run()
        if h.getModelStatus() != hs.kNotset or not attempt:
            break
    assert h is not None
    ms = h.getModelStatus()
    info = h.getInfo()
    status = ("optimal" if ms == hs.kOptimal else
              "infeasible" if ms in (hs.kInfeasible, hs.kUnboundedOrInfeasible) else
              "limit" if ms in (hs.kTimeLimit, hs.kSolutionLimit, hs.kInterrupt,
                                hs.kIterationLimit) else "failed")
    sol = h.getSolution()
    chosen = None
    obj = None
    if info.primal_solution_status == 2:
        z = np.asarray(sol.col_value, dtype=np.float64)
        if len(z) == n:
            chosen = np.flatnonzero(z > 0.5)
            obj = float(info.objective_function_value)
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    return IpAnswer(status, chosen, obj, bound, int(info.mip_node_count),
                    detail=h.modelStatusToString(ms))


def ip_limit(budget: Budget) -> Limit:
    return Limit.INTERRUPTED if budget.cancelled() else Limit.TIME


def neighbourhood(pool: ColumnPool, prices: np.ndarray, rows: Rows, max_columns: int,
                  rng: np.random.Generator, seeds: np.ndarray | None = None,
                  n_rows: int = 60) -> np.ndarray:
    """Orders of the master for one restricted program of at most ``max_columns`` plans:
    every order of the master when they fit; else the ``seeds`` (default: the orders on
    ``n_rows`` coupling rows drawn among those with a positive price), then the orders
    sharing a priced stock pool with them, then a priced node, then the rest, each group
    in a seeded random order."""
    po = pool.plan_order
    n_o = len(pool.in_master)
    per = np.bincount(po, minlength=n_o)
    master = np.flatnonzero(pool.in_master)
    if int(per[master].sum()) <= max_columns:
        return master
    priced = prices > 0
    plan_of_row = po[pool.l_plan]
    if seeds is None:
        cand = np.flatnonzero(priced[:rows.n_rows])
        if len(cand) == 0:
            cand = np.flatnonzero(rows.finite)
        pick = rng.choice(cand, size=min(n_rows, len(cand)), replace=False) if len(cand) \
            else np.zeros(0, dtype=np.int64)
        on = np.zeros(rows.n_rows, dtype=bool)
        on[pick] = True
        seeds = np.unique(plan_of_row[on[pool.l_row]])
    rank = np.full(n_o, 4.0)
    rank[master] = 3.0
    is_seed = np.zeros(n_o, dtype=bool)
    is_seed[seeds] = True
    rr = np.unique(pool.l_row[is_seed[plan_of_row]])
    rr = rr[priced[rr]]
    for level, sel in ((1.0, rr[rr < rows.n_pool]), (2.0, rr[rr >= rows.n_pool])):
        on = np.zeros(rows.n_rows, dtype=bool)
        on[sel] = True
        near = np.unique(plan_of_row[on[pool.l_row]])
        rank[near] = np.minimum(rank[near], level)
    rank[seeds] = 0.0
    rank = rank + rng.random(n_o)
    srt = master[np.argsort(rank[master], kind="stable")]
    take = np.cumsum(per[srt]) <= max_columns
    return np.sort(srt[take])
