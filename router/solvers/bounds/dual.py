"""A proven lower bound at least as strong as the LP relaxation: the Lagrangian dual of the
coupling rows, maximised by column generation.

The relaxation prices the rows that tie orders together -- stock pools, node package limits,
node unit capacities (prices ``pi``, ``nu``, ``mu >= 0``) -- and solves what is left per
order exactly, as an integer problem (:mod:`router.solvers.bounds.oracle`). For any prices
``lam >= 0``

    L(lam) = sum_o Z_o(lam) - sum_p pi_p stock_p - sum_n (nu_n packages_n + mu_n capacity_n)

is a lower bound on the optimum (:func:`evaluate`; made safe against rounding, and rounded up
where every plan costs a whole number). Its maximum is the Dantzig-Wolfe bound, at least the
LP relaxation's, because every order's subproblem is solved over its integer plans.

The prices come from column generation (:func:`lagrangian_bound`): a restricted master LP
(HiGHS) chooses a convex combination of known plans ("columns") per order subject to the
coupling rows; its row duals are the next prices, and the oracle at those prices returns,
for every order, the plan of least reduced cost, which becomes a new column where it
improves. Only what can matter enters the master:

- rows: the coupling rows that the relaxation's own solution at zero prices overloads; then
  those that the master's solution overloads (row generation);
- orders: those whose plans use a row of the master; every other order keeps its plan of
  least cost at zero prices, which no price on the master's rows can change.

Prices are smoothed (Wentges): the oracle is called at ``a * best + (1 - a) * master`` prices,
which damps the oscillation of plain column generation; when that point yields no improving
column the master's own prices are tried. The bound is ``L`` at the best prices met; every
evaluation is proven on its own, so the master need not be solved to optimality and the
loop can stop at any time. It stops when the bound reaches the master's value (within
``BoundParams.tolerance``), when no column improves and no row is overloaded (the bound is
then the Dantzig-Wolfe bound), at ``max_iterations`` (a work limit: the same run repeats
exactly), or when the deadline leaves no time for another round.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from router.compile import Problem, expand_ranges
from router.solvers.bounds.oracle import (
    LagrangianOracle,
    OracleAnswer,
    OracleLimits,
    rounding_scale,
)

log = logging.getLogger(__name__)

ROUNDING = 1e-9  # relative rounding margin of a bound (far above float64's summation error)


class DeadlineLike(Protocol):
    """What a bound needs of a budget: ``remaining()`` seconds and ``expired()``."""

    def remaining(self) -> float: ...

    def expired(self) -> bool: ...


@dataclass(frozen=True)
class BoundParams:
    """Tuning of :func:`lagrangian_bound` (validated)."""

    tolerance: float = 1e-6  # stop when bound >= master value * (1 - tolerance)
    smoothing: float = 0.0  # Wentges: weight of the best prices in the next evaluation
    max_iterations: int | None = None  # rounds of column generation (None: no limit)
    oracle: OracleLimits = field(default_factory=OracleLimits)
    # elastic coupling rows in the master cost this much per unit of overload, times the
    # largest cost of one order: the master is always feasible and its prices bounded
    elastic_factor: float = 10.0
    avoid_start: bool = True  # start the master with plans that avoid the overloaded rows

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError("tolerance must be in [0, 1)")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        if self.max_iterations is not None and self.max_iterations < 0:
            raise ValueError("max_iterations must be >= 0")
        if self.elastic_factor <= 1.0:
            raise ValueError("elastic_factor must be > 1")


@dataclass(frozen=True)
class DualPrices:
    """Prices of the coupling rows: per unit of stock of each pool, per package and per unit
    of capacity of each node (zero where the limit is absent or did not bind)."""

    pool: np.ndarray  # (P,)
    pkg: np.ndarray  # (N,)
    cap: np.ndarray  # (N,)

    @staticmethod
    def zero(p: Problem) -> DualPrices:
        return DualPrices(np.zeros(len(p.pool_qty)), np.zeros(p.n_nodes), np.zeros(p.n_nodes))

    def vector(self) -> np.ndarray:
        return np.concatenate([self.pool, self.pkg, self.cap])

    @staticmethod
    def from_vector(p: Problem, v: np.ndarray) -> DualPrices:
        n_p, n = len(p.pool_qty), p.n_nodes
        v = np.asarray(v, dtype=np.float64)
        out = DualPrices(v[:n_p].copy(), v[n_p:n_p + n].copy(), v[n_p + n:].copy())
        for a in (out.pool, out.pkg, out.cap):
            a.setflags(write=False)
        return out


@dataclass(frozen=True)
class BoundStats:
    method: str
    stop: str  # converged, no_column, iterations, deadline, feasible, infeasible, empty
    iterations: int
    evaluations: int
    seconds: float
    oracle_seconds: float
    master_seconds: float
    master_value: float | None  # the restricted master's optimum (an estimate from above)
    master_rows: int
    master_orders: int
    columns: int
    exact_oracle: bool  # every per-order subproblem was solved exactly
    history: tuple[tuple[float, float], ...]  # (seconds, bound) at each improvement


@dataclass(frozen=True)
class BoundResult:
    """``bound``: proven lower bound on the optimum (``-inf``: none; ``inf``: the batch is
    infeasible). ``prices``: the prices of the best bound. ``x``: a plan, set only when the
    relaxation's own solution is feasible (then it is optimal and ``bound`` its cost)."""

    bound: float
    prices: DualPrices
    stats: BoundStats
    x: np.ndarray | None = None


def integral_costs(p: Problem) -> bool:
    """True when every plan costs a whole number (then a bound may be rounded up)."""
    pen = p.line_penalty[np.isfinite(p.line_penalty)]
    return bool(np.all(p.arc_cost == np.round(p.arc_cost))
                and np.all(p.e_unit_cost == np.round(p.e_unit_cost))
                and np.all(pen == np.round(pen)))


class Lagrangian:
    """The Lagrangian function of one problem: priced costs and proven values."""

    def __init__(self, p: Problem, limits: OracleLimits | None = None) -> None:
        self.p = p
        self.oracle = LagrangianOracle(p, limits)
        n_p, n = len(p.pool_qty), p.n_nodes
        self.n_pool, self.n_node = n_p, n
        self.n_rows = n_p + 2 * n
        b = np.concatenate([p.pool_qty, p.node_max_packages, p.node_capacity]).astype(
            np.float64)
        self.finite = np.isfinite(b)
        self.b = np.where(self.finite, b, 0.0)
        self.e_node = p.e_node
        self.integral = integral_costs(p)

    def priced(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit rates (E,) and package costs (A,) at prices ``lam`` (full row vector)."""
        p = self.p
        n_p, n = self.n_pool, self.n_node
        rate = p.e_unit_cost + lam[:n_p][p.e_pool] + lam[n_p + n:][self.e_node] * p.e_use
        fixed = p.arc_cost + lam[n_p:n_p + n][p.arc_node]
        return rate, fixed

    def value(self, lam: np.ndarray) -> tuple[float, OracleAnswer]:
        """The proven bound at prices ``lam`` (``>= 0``, zero on rows without a limit)."""
        lam = np.where(self.finite, np.maximum(np.asarray(lam, dtype=np.float64), 0.0), 0.0)
        rate, fixed = self.priced(lam)
        ans = self.oracle.solve(rate, fixed)
        if np.isinf(ans.value).any():
            return math.inf, ans
        raw = float(ans.value.sum()) - float(np.dot(lam, self.b))
        scale = rounding_scale(self.oracle, rate, fixed) + float(np.dot(lam, self.b))
        lb = raw - ROUNDING * scale
        if self.integral:
            lb = float(math.ceil(lb))
        return lb, ans

    def usage(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Load of every coupling row (R,) of a plan (units per line-arc, packages per arc)."""
        p = self.p
        n_p, n = self.n_pool, self.n_node
        out = np.zeros(self.n_rows)
        out[:n_p] = np.bincount(p.e_pool, weights=x, minlength=n_p)
        out[n_p:n_p + n] = np.bincount(p.arc_node, weights=y, minlength=n)
        out[n_p + n:] = np.bincount(self.e_node, weights=x * p.e_use, minlength=n)
        return np.where(self.finite, out, 0.0)


def evaluate(problem: Problem, prices: DualPrices,
             limits: OracleLimits | None = None) -> float:
    """The proven Lagrangian bound at ``prices`` (any non-negative prices are valid, for
    example approximate duals of the LP relaxation from another solver)."""
    lag = Lagrangian(problem, limits)
    return lag.value(prices.vector())[0]


# ----------------------------------------------------------------------------------------
# column generation


class _Columns:
    """Plans of chosen orders taken from one oracle answer, as master columns."""

    def __init__(self, lag: Lagrangian, ans: OracleAnswer, orders: np.ndarray) -> None:
        p = lag.p
        n_p, n = lag.n_pool, lag.n_node
        self.orders = orders
        k = len(orders)
        pos = np.full(p.n_orders, -1, dtype=np.int64)
        pos[orders] = np.arange(k)
        e = expand_ranges(p.line_e_ptr[p.order_line_ptr[orders]],
                          p.line_e_ptr[p.order_line_ptr[orders + 1]]
                          - p.line_e_ptr[p.order_line_ptr[orders]])
        e = e[ans.x[e] > 0]
        a = expand_ranges(p.order_arc_ptr[orders], p.order_arc_ptr[orders + 1]
                          - p.order_arc_ptr[orders])
        a = a[ans.y[a] > 0]
        xe = ans.x[e]
        ce = pos[lag.oracle.e_order[e]]
        ca = pos[p.arc_order[a]]
        rows = np.concatenate([p.e_pool[e], n_p + p.arc_node[a], n_p + n + lag.e_node[e]])
        cols = np.concatenate([ce, ca, ce])
        vals = np.concatenate([xe, ans.y[a], xe * p.e_use[e]])
        keep = lag.finite[rows] & (vals != 0)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        key = cols * lag.n_rows + rows
        uk, inv = np.unique(key, return_inverse=True)
        self.col = uk // lag.n_rows
        self.row = uk % lag.n_rows
        self.val = np.bincount(inv, weights=vals, minlength=len(uk))
        # true cost of each plan
        shipped = np.bincount(p.e_line[e], weights=xe, minlength=p.n_lines)
        lines = expand_ranges(p.order_line_ptr[orders], p.order_line_ptr[orders + 1]
                              - p.order_line_ptr[orders])
        short = (p.line_qty[lines] - shipped[lines]) * lag.oracle.pen_fin[lines]
        self.cost = (np.bincount(ce, weights=xe * p.e_unit_cost[e], minlength=k)
                     + np.bincount(ca, weights=ans.y[a] * p.arc_cost[a], minlength=k)
                     + np.bincount(np.repeat(np.arange(k), p.order_line_ptr[orders + 1]
                                             - p.order_line_ptr[orders]),
                                   weights=short, minlength=k))

    def priced_cost(self, lam: np.ndarray) -> np.ndarray:
        return self.cost + np.bincount(self.col, weights=self.val * lam[self.row],
                                       minlength=len(self.orders))

    def touches(self, in_master: np.ndarray) -> np.ndarray:
        """(k,) whether each plan loads a row of the master."""
        return np.bincount(self.col, weights=in_master[self.row].astype(np.float64),
                           minlength=len(self.orders)) > 0


class _Master:
    """The restricted master LP in HiGHS: convexity rows of master orders, coupling rows,
    elastic overload columns; columns added in batches."""

    def __init__(self, lag: Lagrangian, elastic: float) -> None:
        import highspy

        from router.solvers.exact.pulp import _stdout_to_stderr

        self.lag = lag
        self.hs = highspy
        with _stdout_to_stderr():
            self.h = highspy.Highs()
        h = self.h
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("presolve", "off")
        self.elastic = elastic
        self.n_rows = 0
        self.n_cols = 0
        self.row_of = np.full(lag.n_rows, -1, dtype=np.int64)  # coupling row -> master row
        self.conv_of = np.full(lag.p.n_orders, -1, dtype=np.int64)  # order -> master row
        # every column's loads (global coupling rows), kept to fill rows added later
        self.c_col: list[np.ndarray] = []
        self.c_row: list[np.ndarray] = []
        self.c_val: list[np.ndarray] = []
        self.col_order: list[np.ndarray] = []

    def add_rows(self, rows: np.ndarray) -> None:
        """Coupling rows (global ids) with the loads of the columns already there, and an
        elastic overload column each."""
        rows = rows[self.row_of[rows] < 0]
        if len(rows) == 0:
            return
        lag = self.lag
        first = self.n_rows
        self.row_of[rows] = first + np.arange(len(rows))
        if self.c_col:
            cc, cr, cv = (np.concatenate(self.c_col), np.concatenate(self.c_row),
                          np.concatenate(self.c_val))
            sel = np.isin(cr, rows)
            cc, cr, cv = cc[sel], cr[sel], cv[sel]
        else:
            cc = cr = np.zeros(0, dtype=np.int64)
            cv = np.zeros(0)
        mr = self.row_of[cr] - first
        o = np.lexsort((cc, mr))
        mr, cc, cv = mr[o], cc[o], cv[o]
        starts = np.searchsorted(mr, np.arange(len(rows))).astype(np.int32)
        inf = self.hs.kHighsInf
        self.h.addRows(len(rows), np.full(len(rows), -inf), lag.b[rows], len(cc), starts,
                       cc.astype(np.int32), cv.astype(np.float64))
        self.n_rows += len(rows)
        # elastic columns: -1 on each new row
        k = len(rows)
        self.h.addCols(k, np.full(k, self.elastic), np.zeros(k), np.full(k, inf), k,
                       np.arange(k, dtype=np.int32), (first + np.arange(k)).astype(np.int32),
                       np.full(k, -1.0))
        self.n_cols += k

    def add_orders(self, orders: np.ndarray) -> None:
        orders = orders[self.conv_of[orders] < 0]
        if len(orders) == 0:
            return
        k = len(orders)
        self.conv_of[orders] = self.n_rows + np.arange(k)
        self.h.addRows(k, np.ones(k), np.ones(k), 0, np.zeros(k, dtype=np.int32),
                       np.zeros(0, dtype=np.int32), np.zeros(0))
        self.n_rows += k

    def add_columns(self, cols: _Columns, which: np.ndarray) -> int:
        """Plans ``which`` (indices into ``cols``) of orders already in the master."""
        if len(which) == 0:
            return 0
        k = len(which)
        new_id = np.full(len(cols.orders), -1, dtype=np.int64)
        new_id[which] = self.n_cols + np.arange(k)
        sel = new_id[cols.col] >= 0
        gc, gr, gv = new_id[cols.col[sel]], cols.row[sel], cols.val[sel]
        # column-wise entries: convexity row, then the coupling rows already in the master
        in_m = self.row_of[gr] >= 0
        ec = np.concatenate([new_id[which], gc[in_m]])
        er = np.concatenate([self.conv_of[cols.orders[which]], self.row_of[gr[in_m]]])
        ev = np.concatenate([np.ones(k), gv[in_m]])
        o = np.lexsort((er, ec))
        ec, er, ev = ec[o], er[o], ev[o]
        starts = np.searchsorted(ec, self.n_cols + np.arange(k)).astype(np.int32)
        inf = self.hs.kHighsInf
        self.h.addCols(k, cols.cost[which], np.zeros(k), np.full(k, inf), len(ec), starts,
                       er.astype(np.int32), ev)
        self.c_col.append(gc)
        self.c_row.append(gr)
        self.c_val.append(gv)
        self.col_order.append(cols.orders[which])
        self.n_cols += k
        return k

    def solve(self, seconds: float | None) -> bool:
        if seconds is not None:
            self.h.setOptionValue("time_limit", max(0.01, seconds))
        self.h.run()
        return self.h.getModelStatus() == self.hs.HighsModelStatus.kOptimal

    def duals(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """(row prices (R,) >= 0, convexity duals (O,), value, column values)."""
        sol = self.h.getSolution()
        rd = np.asarray(sol.row_dual, dtype=np.float64)
        lam = np.zeros(self.lag.n_rows)
        m = self.row_of >= 0
        lam[m] = np.maximum(0.0, -rd[self.row_of[m]])
        sigma = np.zeros(self.lag.p.n_orders)
        c = self.conv_of >= 0
        sigma[c] = rd[self.conv_of[c]]
        val = float(self.h.getInfo().objective_function_value)
        return lam, sigma, val, np.asarray(sol.col_value, dtype=np.float64)

    def loads(self, z: np.ndarray) -> np.ndarray:
        """Loads of every coupling row (R,) by the master's columns at values ``z``."""
        out = np.zeros(self.lag.n_rows)
        if self.c_col:
            cc, cr, cv = (np.concatenate(self.c_col), np.concatenate(self.c_row),
                          np.concatenate(self.c_val))
            out += np.bincount(cr, weights=cv * z[cc], minlength=self.lag.n_rows)
        return out


def lagrangian_bound(problem: Problem, deadline: DeadlineLike | None = None,
                     params: BoundParams | None = None, *,
                     max_iterations: int | None = None,
                     lagrangian: Lagrangian | None = None) -> BoundResult:
    """The best proven Lagrangian bound found by column generation within ``deadline``
    (see the module docstring). ``max_iterations`` (or ``params.max_iterations``) limits
    the rounds: with it, and no deadline, the same call returns the same answer."""
    t0 = time.perf_counter()
    params = params or BoundParams()
    limit = max_iterations if max_iterations is not None else params.max_iterations
    p = problem
    lag = lagrangian or Lagrangian(p, params.oracle)
    n_rows = lag.n_rows
    clock = {"oracle": 0.0, "master": 0.0}
    history: list[tuple[float, float]] = []
    n_eval = 0

    def left() -> float:
        return math.inf if deadline is None else deadline.remaining()

    def value(lam: np.ndarray) -> tuple[float, OracleAnswer]:
        nonlocal n_eval
        t = time.perf_counter()
        out = lag.value(lam)
        clock["oracle"] += time.perf_counter() - t
        n_eval += 1
        return out

    def result(bound: float, lam: np.ndarray, stop: str, it: int, master: _Master | None,
               mval: float | None, exact: bool, x: np.ndarray | None = None) -> BoundResult:
        stats = BoundStats(
            method="column generation", stop=stop, iterations=it, evaluations=n_eval,
            seconds=time.perf_counter() - t0, oracle_seconds=clock["oracle"],
            master_seconds=clock["master"], master_value=mval,
            master_rows=0 if master is None else int((master.row_of >= 0).sum()),
            master_orders=0 if master is None else int((master.conv_of >= 0).sum()),
            columns=0 if master is None else master.n_cols, exact_oracle=exact,
            history=tuple(history))
        return BoundResult(bound, DualPrices.from_vector(p, lam), stats, x)

    lam0 = np.zeros(n_rows)
    if p.n_orders == 0:
        return result(0.0, lam0, "empty", 0, None, None, True)
    best, ans0 = value(lam0)
    exact = ans0.exact
    history.append((time.perf_counter() - t0, best))
    if best == math.inf:
        return result(best, lam0, "infeasible", 0, None, None, exact)
    load0 = lag.usage(ans0.x, ans0.y)
    over = np.flatnonzero(lag.finite & (load0 > lag.b + 1e-9))
    if len(over) == 0 and exact:
        return result(best, lam0, "feasible", 0, None, None, exact,
                      np.rint(ans0.x).astype(np.int64))
    best_lam = lam0
    try:
        import highspy  # noqa: F401
    except ImportError:
        return result(best, best_lam, "no_master", 0, None, None, exact)

    # the plans at zero prices: the implicit column of every order outside the master
    cols0 = _Columns(lag, ans0, np.arange(p.n_orders))
    cost0 = cols0.cost
    top = float(np.max(lag.oracle.base + np.bincount(p.arc_order, weights=p.arc_cost,
                                                     minlength=p.n_orders)
                       + np.bincount(lag.oracle.e_order, weights=p.e_unit_cost * lag.oracle.tf,
                                     minlength=p.n_orders))) + 1.0
    use_min = float(p.e_use[p.e_use > 0].min()) if (p.e_use > 0).any() else 1.0
    master = _Master(lag, params.elastic_factor * top / min(1.0, use_min))
    in_master = np.zeros(n_rows, dtype=bool)

    def admit_orders(orders: np.ndarray) -> None:
        """Orders enter with their zero-price plan and, where penalties allow, the plan that
        ships nothing (so the master never needs its elastic columns for them)."""
        orders = orders[master.conv_of[orders] < 0]
        if len(orders) == 0:
            return
        master.add_orders(orders)
        sub = _Columns(lag, ans0, orders)
        master.add_columns(sub, np.arange(len(orders)))
        empty = orders[lag.oracle.n_must[orders] == 0]
        if len(empty):
            none = OracleAnswer(np.zeros(p.n_orders), np.zeros(p.n_line_arcs),
                                np.zeros(p.n_arcs))
            master.add_columns(_Columns(lag, none, empty), np.arange(len(empty)))

    def admit_rows(rows: np.ndarray) -> None:
        rows = rows[~in_master[rows]]
        if len(rows) == 0:
            return
        in_master[rows] = True
        master.add_rows(rows)
        # outside orders whose zero-price plan loads a new row join the master
        touch = np.zeros(n_rows, dtype=bool)
        touch[rows] = True
        hit = np.unique(cols0.orders[cols0.col[touch[cols0.row]]])
        admit_orders(hit)

    admit_rows(over)
    if params.avoid_start:
        # a first alternative for every master order: its best plan when the overloaded
        # rows are closed (priced out); with it the first master is a sensible LP
        lam_avoid = np.zeros(n_rows)
        lam_avoid[over] = master.elastic
        _, ans_a = value(lam_avoid)
        orders = np.flatnonzero(master.conv_of >= 0)
        cols = _Columns(lag, ans_a, orders)
        master.add_columns(cols, np.arange(len(orders)))
    it = 0
    mval: float | None = None
    stop = "iterations"
    last_round = 0.0
    while True:
        if limit is not None and it >= limit:
            stop = "iterations"
            break
        if left() <= 1.2 * last_round:
            stop = "deadline"
            break
        t_round = time.perf_counter()
        it += 1
        t = time.perf_counter()
        ok = master.solve(None if deadline is None else left())
        clock["master"] += time.perf_counter() - t
        if not ok:
            stop = "master"
            break
        lam_m, sigma, mval, z = master.duals()
        mval += float(cost0[master.conv_of < 0].sum())  # the orders outside the master
        # rows the master's solution overloads (with the outside orders' plans)
        loads = master.loads(z) + _outside_loads(cols0, master.conv_of, n_rows)
        new_rows = np.flatnonzero(lag.finite & ~in_master & (loads > lag.b + 1e-9))
        if len(new_rows) == 0 and best >= mval - params.tolerance * max(1.0, abs(mval)):
            stop = "converged"
            break
        # outside orders: their implicit column's price is its cost
        sig = np.where(master.conv_of >= 0, sigma, cost0)
        added = 0
        for alpha in ((params.smoothing, 0.0) if params.smoothing > 0 else (0.0,)):
            lam = alpha * best_lam + (1.0 - alpha) * lam_m
            lb, ans = value(lam)
            exact = exact and ans.exact
            if lb == math.inf:
                return result(lb, lam, "infeasible", it, master, mval, exact)
            if lb > best:
                best, best_lam = lb, lam
                history.append((time.perf_counter() - t0, best))
            # master orders may improve with any plan, the others only with a plan that
            # loads a master row (else their zero-price plan stays the best)
            inside = master.conv_of >= 0
            inside[_touching(lag, ans, in_master)] = True
            touch = np.flatnonzero(inside)
            cols = _Columns(lag, ans, touch)
            rc = cols.priced_cost(lam_m) - sig[touch]
            cand = np.flatnonzero(rc < -1e-9 * (1.0 + np.abs(sig[touch])))
            if len(cand):
                admit_orders(cols.orders[cand])
                added = master.add_columns(cols, cand)
                break
        if len(new_rows):
            admit_rows(new_rows)
        if added == 0 and len(new_rows) == 0:
            stop = "no_column"
            break
        last_round = time.perf_counter() - t_round
    return result(best, best_lam, stop, it, master, mval, exact)


def _touching(lag: Lagrangian, ans: OracleAnswer, rows: np.ndarray) -> np.ndarray:
    """Orders whose plan in ``ans`` loads one of the coupling ``rows`` (bool mask (R,))."""
    p = lag.p
    n_p, n = lag.n_pool, lag.n_node
    e = np.flatnonzero(ans.x > 0)
    hit_e = rows[p.e_pool[e]] | rows[n_p + n + lag.e_node[e]]
    a = np.flatnonzero(ans.y > 0)
    hit_a = rows[n_p + p.arc_node[a]]
    mark = np.zeros(p.n_orders, dtype=bool)
    mark[lag.oracle.e_order[e[hit_e]]] = True
    mark[p.arc_order[a[hit_a]]] = True
    return np.flatnonzero(mark)


def _outside_loads(cols0: _Columns, conv_of: np.ndarray, n_rows: int) -> np.ndarray:
    outside = conv_of[cols0.orders[cols0.col]] < 0
    return np.bincount(cols0.row[outside], weights=cols0.val[outside], minlength=n_rows)


def bound_stats_dict(stats: BoundStats) -> dict[str, Any]:
    """The stats as plain values (for a solver's ``stats``)."""
    d = {k: getattr(stats, k) for k in stats.__dataclass_fields__}
    d["history"] = [list(h) for h in stats.history]
    return d
