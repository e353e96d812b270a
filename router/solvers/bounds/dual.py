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

The first master holds, per order, its best plan with the overloaded rows closed (the
reference) and its zero-price plan; later plans are columns relative to the reference (see
:class:`_Master`). Prices are clipped to the most a unit of the row could save. Optionally
(``BoundParams.smoothing > 0``, off by default: on the 20,000-order batch it doubled the
rounds) the oracle is called at ``a * best + (1 - a) * master`` prices (Wentges), and at the
master's own prices when that yields no improving column. The bound is ``L`` at the best
prices met; every evaluation is proven on its own, so the master need not be solved to
optimality and the loop can stop at any time. It stops when the bound reaches the master's
value (within ``BoundParams.tolerance``), when no column improves and no row is overloaded
(the bound is then the Dantzig-Wolfe bound), at ``max_iterations`` (a work limit: the same
run repeats exactly), or when the deadline leaves no time for another round.
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
    priced_costs,
    rounding_scale,
)
from router.solvers.exact.lp import quiet_highs

log = logging.getLogger(__name__)

# relative rounding margin of a bound, times the magnitudes summed into it: float64 sums of
# up to 10^5 terms err by at most about 10^-11 of those magnitudes
ROUNDING = 1e-10
# an oracle call takes about 5e-7 s per line-arc (one core; 1 s on 2 million line-arcs): with
# less time than this optimistic figure left, no call is started
ORACLE_SECONDS_PER_LINE_ARC = 2e-7


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
    pool: ColumnPool | None = None


@dataclass(frozen=True)
class ColumnPool:
    """The plans column generation met, for primal heuristics (a restricted-master integer
    program, rounding): ``base_x`` (E,), every order's plan at zero prices (the plan of
    every order outside the master); and for the orders of the master (``in_master``)
    every plan kept: its order, true cost, units per line-arc (triplets ``x_plan``,
    ``x_e``, ``x_units``), loads on the coupling rows (triplets ``l_plan``, ``l_row``,
    ``l_val``) and its weight in the last master LP solution (``weight``: the weights of
    an order's plans sum to 1). ``rows``: the coupling rows of the master (global row
    ids, as :class:`Lagrangian` numbers them)."""

    base_x: np.ndarray
    in_master: np.ndarray
    rows: np.ndarray
    plan_order: np.ndarray
    plan_cost: np.ndarray
    weight: np.ndarray
    x_plan: np.ndarray
    x_e: np.ndarray
    x_units: np.ndarray
    l_plan: np.ndarray
    l_row: np.ndarray
    l_val: np.ndarray

    @property
    def n_plans(self) -> int:
        return len(self.plan_order)


def integral_costs(p: Problem) -> bool:
    """True when every plan costs a whole number (then a bound may be rounded up)."""
    pen = p.line_penalty[np.isfinite(p.line_penalty)]
    return bool(np.all(p.arc_cost == np.round(p.arc_cost))
                and np.all(p.e_unit_cost == np.round(p.e_unit_cost))
                and np.all(pen == np.round(pen)))


def proven_bound(raw: float, scale: float, integral: bool) -> float:
    """The bound that a float sum ``raw`` of numbers of magnitude up to ``scale`` proves:
    ``ROUNDING * scale`` below it, rounded up where every plan costs a whole number."""
    lb = raw - ROUNDING * scale
    return float(math.ceil(lb)) if integral else lb


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
        self.cap = self._price_caps()

    def _price_caps(self) -> np.ndarray:
        """The most a plan could gain from one unit of each row (R,): no optimal price is
        above it (beyond it no plan uses the row, and a lower price bounds higher), so
        prices are clipped to it. ``inf`` where lines must be filled."""
        p, orc = self.p, self.oracle
        n_p, n = self.n_pool, self.n_node
        pen = np.where(orc.must, np.inf, orc.pen_fin)[p.e_line]
        gain = np.maximum(pen - p.e_unit_cost, 0.0)
        cap = np.zeros(self.n_rows)
        cap[:n_p] = _group_max(p.e_pool, gain, n_p)
        per_use = np.where(p.e_use > 0, gain / np.where(p.e_use > 0, p.e_use, 1.0), 0.0)
        cap[n_p + n:] = _group_max(self.e_node, per_use, n)
        arc_gain = np.bincount(p.e_arc, weights=np.where(np.isinf(gain), 0.0,
                                                         gain * orc.tf), minlength=p.n_arcs)
        arc_inf = np.bincount(p.e_arc, weights=np.isinf(gain).astype(np.float64),
                              minlength=p.n_arcs) > 0
        arc_gain = np.where(arc_inf, np.inf, arc_gain - p.arc_cost)
        cap[n_p:n_p + n] = _group_max(p.arc_node, np.maximum(arc_gain, 0.0), n)
        return np.where(self.finite, cap, 0.0)

    def priced(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit rates (E,) and package costs (A,) at prices ``lam`` (full row vector)."""
        return priced_costs(self.p, lam)

    def value(self, lam: np.ndarray) -> tuple[float, OracleAnswer]:
        """The proven bound at prices ``lam`` (``>= 0``, zero on rows without a limit)."""
        lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, self.cap)
        rate, fixed = self.priced(lam)
        ans = self.oracle.solve(rate, fixed)
        if np.isinf(ans.value).any():
            return math.inf, ans
        raw = float(ans.value.sum()) - float(np.dot(lam, self.b))
        scale = (rounding_scale(self.oracle, rate, fixed) + float(np.dot(lam, self.b))
                 + float(np.abs(ans.value).sum()))
        return proven_bound(raw, scale, self.integral), ans

    def usage(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Load of every coupling row (R,) of a plan (units per line-arc, packages per arc)."""
        p = self.p
        n_p, n = self.n_pool, self.n_node
        out = np.zeros(self.n_rows)
        out[:n_p] = np.bincount(p.e_pool, weights=x, minlength=n_p)
        out[n_p:n_p + n] = np.bincount(p.arc_node, weights=y, minlength=n)
        out[n_p + n:] = np.bincount(self.e_node, weights=x * p.e_use, minlength=n)
        return np.where(self.finite, out, 0.0)


def _group_max(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Largest of ``values`` per group (n,), at least 0 (0 for empty groups)."""
    out = np.zeros(n)
    if len(group):
        np.maximum.at(out, group, values)
    return out


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
        self.e, self.xe, self.ce = e, xe, ce  # the plans' units per line-arc
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


class _Master:
    """The restricted master LP in HiGHS.

    Every master order has a *reference* plan; each of its other plans is a column
    ``z in [0, 1]`` whose cost and row loads are counted relative to the reference (so
    ``z = 0`` everywhere means every order ships its reference, whose loads sit on the
    right-hand sides). An order with one other plan needs no row of its own; one with
    several gets ``sum z <= 1``. Most orders have two plans, so the LP has about as many
    rows as coupling rows, not as orders. Each coupling row has an elastic overload
    column. Every plan (reference or not) is also kept here with its absolute cost and
    loads, for pricing and for rows added later.
    """

    def __init__(self, lag: Lagrangian, elastic: float) -> None:
        import highspy

        self.lag = lag
        self.hs = highspy
        self.h = quiet_highs(highspy)
        h = self.h
        h.setOptionValue("threads", 1)
        h.setOptionValue("presolve", "off")
        self.elastic = elastic
        n_o = lag.p.n_orders
        self.n_rows = 0
        self.n_cols = 0
        self.row_of = np.full(lag.n_rows, -1, dtype=np.int64)  # coupling row -> LP row
        self.in_master = np.zeros(n_o, dtype=bool)
        self.ref = np.full(n_o, -1, dtype=np.int64)  # plan id of the reference
        self.n_other = np.zeros(n_o, dtype=np.int64)
        self.first_other = np.full(n_o, -1, dtype=np.int64)  # its LP column
        self.conv = np.full(n_o, -1, dtype=np.int64)  # LP row sum z <= 1
        self.ref_load = np.zeros(lag.n_rows)
        self.const = 0.0
        # every plan: order, cost, LP column (-1: a reference), loads (plan, row, value)
        self.p_order: list[np.ndarray] = []
        self.p_cost: list[np.ndarray] = []
        self.p_col: list[np.ndarray] = []
        self.l_plan: list[np.ndarray] = []
        self.l_row: list[np.ndarray] = []
        self.l_val: list[np.ndarray] = []
        # every plan's units: (plan, line-arc, units)
        self.x_plan: list[np.ndarray] = []
        self.x_e: list[np.ndarray] = []
        self.x_units: list[np.ndarray] = []
        self.n_plans = 0
        self._cache: tuple[np.ndarray, ...] | None = None

    # -- the plan store ------------------------------------------------------------------

    def _store(self, cols: _Columns, which: np.ndarray, lp_col: np.ndarray) -> np.ndarray:
        """Keep plans ``which`` of ``cols``; returns their plan ids."""
        k = len(which)
        ids = self.n_plans + np.arange(k)
        local = np.full(len(cols.orders), -1, dtype=np.int64)
        local[which] = ids
        sel = local[cols.col] >= 0
        self.p_order.append(cols.orders[which])
        self.p_cost.append(cols.cost[which])
        self.p_col.append(lp_col)
        self.l_plan.append(local[cols.col[sel]])
        self.l_row.append(cols.row[sel])
        self.l_val.append(cols.val[sel])
        xs = local[cols.ce] >= 0
        self.x_plan.append(local[cols.ce[xs]])
        self.x_e.append(cols.e[xs])
        self.x_units.append(cols.xe[xs])
        self.n_plans += k
        self._cache = None
        return ids

    def plans(self) -> tuple[np.ndarray, ...]:
        if self._cache is None:
            self._cache = tuple(np.concatenate(a) if a else np.zeros(0) for a in (
                self.p_order, self.p_cost, self.p_col, self.l_plan, self.l_row, self.l_val))
            self.p_order, self.p_cost, self.p_col = ([self._cache[0]], [self._cache[1]],
                                                     [self._cache[2]])
            self.l_plan, self.l_row, self.l_val = ([self._cache[3]], [self._cache[4]],
                                                   [self._cache[5]])
        return self._cache

    def sigma(self, lam: np.ndarray) -> np.ndarray:
        """Least priced cost at ``lam`` over each master order's plans (O,), ``inf``
        outside the master (the convexity dual of the master, at its optimum)."""
        order, cost, _, lp, lr, lv = self.plans()
        priced = cost + np.bincount(lp.astype(np.int64), weights=lv * lam[lr.astype(np.int64)],
                                    minlength=len(cost))
        out = np.full(self.lag.p.n_orders, np.inf)
        np.minimum.at(out, order.astype(np.int64), priced)
        return out

    # -- building ------------------------------------------------------------------------

    def _rhs(self, rows: np.ndarray) -> np.ndarray:
        return self.lag.b[rows] - self.ref_load[rows]

    def add_rows(self, rows: np.ndarray) -> None:
        """Coupling rows (global ids): relative loads of the columns already there, the
        right-hand side less the references' loads, an elastic overload column each."""
        rows = rows[self.row_of[rows] < 0]
        if len(rows) == 0:
            return
        first = self.n_rows
        self.row_of[rows] = first + np.arange(len(rows))
        order, _, pcol, lp, lr, lv = self.plans()
        lp, lr = lp.astype(np.int64), lr.astype(np.int64)
        sel = self.row_of[lr] >= first if len(lr) else np.zeros(0, dtype=bool)
        lp, lr, lv = lp[sel], lr[sel], lv[sel]
        pc = pcol.astype(np.int64)
        po = order.astype(np.int64)
        other = pc[lp] >= 0
        # columns: + their own loads; - the loads of their order's reference
        cc = [pc[lp[other]]]
        cr = [lr[other]]
        cv = [lv[other]]
        refs = ~other
        if refs.any():
            ro, rr, rv = po[lp[refs]], lr[refs], lv[refs]
            cols_of = np.flatnonzero(pc >= 0)
            by = cols_of[np.argsort(po[cols_of], kind="stable")]
            ptr = np.searchsorted(po[by], np.arange(self.lag.p.n_orders + 1))
            cnt = ptr[ro + 1] - ptr[ro]
            idx = expand_ranges(ptr[ro], cnt)
            cc.append(pc[by[idx]])
            cr.append(np.repeat(rr, cnt))
            cv.append(-np.repeat(rv, cnt))
        ec, er, ev = np.concatenate(cc), np.concatenate(cr), np.concatenate(cv)
        key = (self.row_of[er] - first) * (self.n_cols + 1) + ec
        uk, inv = np.unique(key, return_inverse=True)
        ev = np.bincount(inv, weights=ev, minlength=len(uk))
        mr, ec = uk // (self.n_cols + 1), uk % (self.n_cols + 1)
        keep = ev != 0
        mr, ec, ev = mr[keep], ec[keep], ev[keep]
        starts = np.searchsorted(mr, np.arange(len(rows))).astype(np.int32)
        inf = self.hs.kHighsInf
        self.h.addRows(len(rows), np.full(len(rows), -inf), self._rhs(rows), len(ec), starts,
                       ec.astype(np.int32), ev.astype(np.float64))
        self.n_rows += len(rows)
        k = len(rows)
        self.h.addCols(k, np.minimum(self.elastic, self.lag.cap[rows]), np.zeros(k),
                       np.full(k, inf), k,
                       np.arange(k, dtype=np.int32), (first + np.arange(k)).astype(np.int32),
                       np.full(k, -1.0))
        self.n_cols += k

    def add_orders(self, cols: _Columns, which: np.ndarray) -> None:
        """Orders ``cols.orders[which]`` enter with those plans as their references."""
        orders = cols.orders[which]
        fresh = ~self.in_master[orders]
        which, orders = which[fresh], orders[fresh]
        if len(which) == 0:
            return
        self.in_master[orders] = True
        ids = self._store(cols, which, np.full(len(which), -1, dtype=np.int64))
        self.ref[orders] = ids
        self.const += float(cols.cost[which].sum())
        local = np.full(len(cols.orders), False)
        local[which] = True
        sel = local[cols.col]
        np.add.at(self.ref_load, cols.row[sel], cols.val[sel])
        touched = np.unique(cols.row[sel])
        touched = touched[self.row_of[touched] >= 0]
        if len(touched):
            self.h.changeRowsBounds(
                len(touched), self.row_of[touched].astype(np.int32),
                                    np.full(len(touched), -self.hs.kHighsInf),
                                    self._rhs(touched))

    def add_columns(self, cols: _Columns, which: np.ndarray) -> int:
        """Plans ``which`` of ``cols`` (orders already in the master) as new columns."""
        which = which[self.in_master[cols.orders[which]]]
        if len(which) == 0:
            return 0
        k = len(which)
        orders = cols.orders[which]
        lp_col = self.n_cols + np.arange(k)
        # relative loads on the master's rows: own loads minus the reference's
        local = np.full(len(cols.orders), -1, dtype=np.int64)
        local[which] = np.arange(k)
        sel = local[cols.col] >= 0
        c_own, r_own, v_own = local[cols.col[sel]], cols.row[sel], cols.val[sel]
        _, _, _, lp, lr, lv = self.plans()
        lp, lr = lp.astype(np.int64), lr.astype(np.int64)
        ref_ids = self.ref[orders]
        pos = np.full(self.n_plans, -1, dtype=np.int64)
        pos[ref_ids] = np.arange(k)
        rs = pos[lp] >= 0 if len(lp) else np.zeros(0, dtype=bool)
        c_ref, r_ref, v_ref = pos[lp[rs]], lr[rs], lv[rs]
        ec = np.concatenate([c_own, c_ref])
        er = np.concatenate([r_own, r_ref])
        ev = np.concatenate([v_own, -v_ref])
        inm = self.row_of[er] >= 0
        ec, er, ev = ec[inm], self.row_of[er[inm]], ev[inm]
        # convexity rows of orders that already have one
        has = self.conv[orders] >= 0
        ec = np.concatenate([ec, np.flatnonzero(has)])
        er = np.concatenate([er, self.conv[orders[has]]])
        ev = np.concatenate([ev, np.ones(int(has.sum()))])
        key = ec * (self.n_rows + 1) + er
        uk, inv = np.unique(key, return_inverse=True)
        ev = np.bincount(inv, weights=ev, minlength=len(uk))
        ec, er = uk // (self.n_rows + 1), uk % (self.n_rows + 1)
        keep = ev != 0
        ec, er, ev = ec[keep], er[keep], ev[keep]
        starts = np.searchsorted(ec, np.arange(k)).astype(np.int32)
        cost = cols.cost[which] - self._ref_cost(orders)
        self.h.addCols(k, cost, np.zeros(k), np.ones(k), len(ec), starts,
                       er.astype(np.int32), ev)
        self.n_cols += k
        self._store(cols, which, lp_col)
        # orders whose second column this is: a row sum z <= 1 over both
        second = np.flatnonzero((self.n_other[orders] == 1) & ~has)
        if len(second):
            n2 = len(second)
            o2 = orders[second]
            idx = np.stack([self.first_other[o2], lp_col[second]], axis=1).reshape(-1)
            self.conv[o2] = self.n_rows + np.arange(n2)
            self.h.addRows(n2, np.full(n2, -self.hs.kHighsInf), np.ones(n2), 2 * n2,
                           np.arange(0, 2 * n2, 2, dtype=np.int32), idx.astype(np.int32),
                           np.ones(2 * n2))
            self.n_rows += n2
        first = self.n_other[orders] == 0
        self.first_other[orders[first]] = lp_col[first]
        self.n_other[orders] += 1
        return k

    def pool(self, base_x: np.ndarray, z: np.ndarray | None) -> ColumnPool:
        """Every plan kept, with its weight in the LP solution ``z`` (column values; plans
        added after it weigh 0, a reference what its order's other plans leave)."""
        order, cost, pcol, lp, lr, lv = self.plans()
        pc = pcol.astype(np.int64)
        po = order.astype(np.int64)
        w = np.zeros(len(pc))
        if z is not None and len(pc):
            has = (pc >= 0) & (pc < len(z))
            w[has] = np.clip(z[pc[has]], 0.0, 1.0)
        taken = np.bincount(po, weights=w, minlength=self.lag.p.n_orders)
        ref = pc < 0
        w[ref] = np.maximum(0.0, 1.0 - taken[po[ref]])
        cat = [np.concatenate(a) if a else np.zeros(0) for a in (self.x_plan, self.x_e,
                                                                  self.x_units)]
        return ColumnPool(base_x=base_x, in_master=self.in_master.copy(),
                          rows=np.flatnonzero(self.row_of >= 0), plan_order=po,
                          plan_cost=cost.astype(np.float64), weight=w,
                          x_plan=cat[0].astype(np.int64), x_e=cat[1].astype(np.int64),
                          x_units=np.rint(cat[2]).astype(np.int64),
                          l_plan=lp.astype(np.int64), l_row=lr.astype(np.int64),
                          l_val=lv.astype(np.float64))

    def _ref_cost(self, orders: np.ndarray) -> np.ndarray:
        _, cost, _, _, _, _ = self.plans()
        return cost[self.ref[orders]]

    # -- solving -------------------------------------------------------------------------

    def solve(self, seconds: float | None) -> bool:
        if seconds is not None:
            self.h.setOptionValue("time_limit", max(0.01, seconds))
        self.h.run()
        return self.h.getModelStatus() == self.hs.HighsModelStatus.kOptimal

    def stopped_by_time(self) -> bool:
        return self.h.getModelStatus() == self.hs.HighsModelStatus.kTimeLimit

    def duals(self) -> tuple[np.ndarray, float, np.ndarray]:
        """(row prices (R,) >= 0, value of the master orders, column values)."""
        sol = self.h.getSolution()
        rd = np.asarray(sol.row_dual, dtype=np.float64)
        lam = np.zeros(self.lag.n_rows)
        m = self.row_of >= 0
        lam[m] = np.maximum(0.0, -rd[self.row_of[m]])
        val = float(self.h.getInfo().objective_function_value) + self.const
        return lam, val, np.asarray(sol.col_value, dtype=np.float64)

    def loads(self, z: np.ndarray) -> np.ndarray:
        """Loads of every coupling row (R,) by the master orders at column values ``z``."""
        order, _, pcol, lp, lr, lv = self.plans()
        pc = pcol.astype(np.int64)
        w = np.where(pc >= 0, z[np.maximum(pc, 0)], 0.0)
        taken = np.bincount(order.astype(np.int64), weights=w, minlength=self.lag.p.n_orders)
        w = np.where(pc >= 0, w, 1.0 - taken[order.astype(np.int64)])
        return np.bincount(lr.astype(np.int64), weights=lv * w[lp.astype(np.int64)],
                           minlength=self.lag.n_rows)


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
    clock = {"oracle": 0.0, "master": 0.0, "oracle_max": 0.0}
    history: list[tuple[float, float]] = []
    n_eval = 0

    def left() -> float:
        return math.inf if deadline is None else deadline.remaining()

    def value(lam: np.ndarray) -> tuple[float, OracleAnswer]:
        nonlocal n_eval
        t, before = time.perf_counter(), left()
        out = lag.value(lam)
        clock["oracle"] += time.perf_counter() - t
        # in the deadline's own clock (it need not be the wall clock)
        used = before - left() if math.isfinite(before) else time.perf_counter() - t
        clock["oracle_max"] = max(clock["oracle_max"], used)
        n_eval += 1
        return out

    z_last: list[np.ndarray] = []
    base: list[np.ndarray] = []

    def result(bound: float, lam: np.ndarray, stop: str, it: int, master: _Master | None,
               mval: float | None, exact: bool, x: np.ndarray | None = None) -> BoundResult:
        stats = BoundStats(
            method="column generation", stop=stop, iterations=it, evaluations=n_eval,
            seconds=time.perf_counter() - t0, oracle_seconds=clock["oracle"],
            master_seconds=clock["master"], master_value=mval,
            master_rows=0 if master is None else int((master.row_of >= 0).sum()),
            master_orders=0 if master is None else int(master.in_master.sum()),
            columns=0 if master is None else master.n_cols, exact_oracle=exact,
            history=tuple(history))
        # the prices the bound was evaluated at (clipped as in Lagrangian.value)
        lam = np.clip(lam, 0.0, lag.cap)
        pool = None if master is None or not base else master.pool(
            base[0], z_last[-1] if z_last else None)
        return BoundResult(bound, DualPrices.from_vector(p, lam), stats, x, pool)

    lam0 = np.zeros(n_rows)
    if p.n_orders == 0:
        return result(0.0, lam0, "empty", 0, None, None, True)
    if left() < ORACLE_SECONDS_PER_LINE_ARC * p.n_line_arcs:
        return result(-math.inf, lam0, "deadline", 0, None, None, True)
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
    if (limit is not None and limit <= 0) or \
            left() < 2 * ORACLE_SECONDS_PER_LINE_ARC * p.n_line_arcs:
        return result(best, best_lam, "iterations" if left() > 0 else "deadline", 0, None,
                      None, exact)
    try:
        import highspy  # noqa: F401
    except ImportError:
        return result(best, best_lam, "no_master", 0, None, None, exact)

    # the plans at zero prices: the implicit plan of every order outside the master
    cols0 = _Columns(lag, ans0, np.arange(p.n_orders))
    base.append(np.rint(ans0.x).astype(np.int64))
    cost0 = cols0.cost
    top = float(np.max(lag.oracle.base + np.bincount(p.arc_order, weights=p.arc_cost,
                                                     minlength=p.n_orders)
                       + np.bincount(lag.oracle.e_order, weights=p.e_unit_cost * lag.oracle.tf,
                                     minlength=p.n_orders))) + 1.0
    use_min = float(p.e_use[p.e_use > 0].min()) if (p.e_use > 0).any() else 1.0
    master = _Master(lag, params.elastic_factor * top / min(1.0, use_min))
    in_master = np.zeros(n_rows, dtype=bool)

    def admit_rows(rows: np.ndarray) -> None:
        """Coupling rows enter; outside orders whose zero-price plan loads one of them enter
        with that plan as their reference."""
        rows = rows[~in_master[rows]]
        if len(rows) == 0:
            return
        in_master[rows] = True
        master.add_rows(rows)
        touch = np.zeros(n_rows, dtype=bool)
        touch[rows] = True
        hit = np.unique(cols0.col[touch[cols0.row]])
        hit = hit[~master.in_master[hit]]
        if len(hit):
            master.add_orders(cols0, hit)

    # the first master: the orders loading the overloaded rows at zero prices, with their
    # best plan when those rows are closed (the reference) and their zero-price plan
    in_master[over] = True
    touch = np.zeros(n_rows, dtype=bool)
    touch[over] = True
    first = np.unique(cols0.col[touch[cols0.row]])
    lam_avoid = np.zeros(n_rows)
    lam_avoid[over] = master.elastic
    _, ans_a = value(lam_avoid)
    ref = _Columns(lag, ans_a, first)
    master.add_orders(ref, np.arange(len(first)))
    master.add_rows(over)
    differs = np.flatnonzero(ref.cost != cost0[first])
    master.add_columns(cols0, first[differs])
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
        t_round = left() if deadline is not None else time.perf_counter()
        it += 1
        t = time.perf_counter()
        # the master may use what is left less one oracle call (the slowest seen so far)
        ok = master.solve(None if deadline is None else left() - clock["oracle_max"])
        while not ok and deadline is not None and left() > clock["oracle_max"] + 0.05 \
                and master.stopped_by_time():
            # the engine's clock is the wall clock; the deadline's may be another one
            ok = master.solve(left() - clock["oracle_max"])
        clock["master"] += time.perf_counter() - t
        if not ok:
            stop = "deadline" if deadline is not None and left() < clock["oracle_max"] + 0.05 \
                else "master"
            break
        lam_m, mval, z = master.duals()
        z_last[:] = [z]
        outside = ~master.in_master
        mval += float(cost0[outside].sum())
        # rows the master's solution overloads (with the outside orders' plans)
        loads = master.loads(z) + _outside_loads(cols0, outside, n_rows)
        new_rows = np.flatnonzero(lag.finite & ~in_master & (loads > lag.b + 1e-9))
        if len(new_rows) == 0 and best >= mval - params.tolerance * max(1.0, abs(mval)):
            stop = "converged"
            break
        # the least priced cost of each order's known plans (outside: its zero-price plan)
        sig = np.where(outside, cost0, master.sigma(lam_m))
        added = 0
        out_of_time = False
        for alpha in ((params.smoothing, 0.0) if params.smoothing > 0 else (0.0,)):
            if left() < clock["oracle_max"]:
                out_of_time = True
                break
            lam = alpha * best_lam + (1.0 - alpha) * lam_m
            lb, ans = value(lam)
            exact = exact and ans.exact
            if lb == math.inf:
                return result(lb, lam, "infeasible", it, master, mval, exact)
            if lb > best:
                best, best_lam = lb, lam
                history.append((time.perf_counter() - t0, best))
            # master orders may improve with any plan, the others only with a plan that
            # loads a master row (else their zero-price plan stays their best)
            cand_o = master.in_master.copy()
            cand_o[_touching(lag, ans, in_master)] = True
            touch_o = np.flatnonzero(cand_o)
            cols = _Columns(lag, ans, touch_o)
            rc = cols.priced_cost(lam_m) - sig[touch_o]
            cand = np.flatnonzero(rc < -1e-9 * (1.0 + np.abs(sig[touch_o])))
            if len(cand):
                newcomers = cand[~master.in_master[cols.orders[cand]]]
                if len(newcomers):  # they enter with their zero-price plan as reference
                    master.add_orders(cols0, cols.orders[newcomers])
                added = master.add_columns(cols, cand)
                break
        if out_of_time:
            stop = "deadline"
            break
        if len(new_rows):
            admit_rows(new_rows)
        if added == 0 and len(new_rows) == 0:
            stop = "no_column"
            break
        last_round = (t_round - left()) if deadline is not None else \
            time.perf_counter() - t_round
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


def _outside_loads(cols0: _Columns, outside: np.ndarray, n_rows: int) -> np.ndarray:
    """Loads of the zero-price plans of the orders outside the master (cols0 holds every
    order, in order)."""
    sel = outside[cols0.col]
    return np.bincount(cols0.row[sel], weights=cols0.val[sel], minlength=n_rows)


def bound_stats_dict(stats: BoundStats) -> dict[str, Any]:
    """The stats as plain values (for a solver's ``stats``)."""
    d = {k: getattr(stats, k) for k in stats.__dataclass_fields__}
    d["history"] = [list(h) for h in stats.history]
    return d


# the answer of a bound computed in a child process comes back pickled: about this many
# seconds per line-arc (the zero-price plan and the master's plans), kept back from its
# deadline
TRANSFER_SECONDS_PER_LINE_ARC = 1e-7


def isolated_bound(problem: Problem, budget: Any, params: BoundParams | None = None, *,
                   max_iterations: int | None = None, grace: float = 0.05
                   ) -> tuple[BoundResult | None, str]:
    """:func:`lagrangian_bound` in a child process (:mod:`router.solvers.exact.isolate`), so
    that HiGHS, the master's engine, is never loaded into the caller's process and the
    call ends by the deadline of ``budget`` (a :class:`~router.contract.Budget`) whatever
    HiGHS does: the child stops its rounds early enough to send its answer back and is
    killed ``grace`` seconds past the deadline. ``(None, why)`` when it gave no answer."""
    from router.solvers.exact.isolate import run_isolated

    deadline = None
    hard = None
    if budget.deadline is not None:
        reserve = max(0.01, TRANSFER_SECONDS_PER_LINE_ARC * problem.n_line_arcs)
        deadline = budget.before(reserve)
        hard = budget.deadline + grace
    res = run_isolated(_bound_in_child, problem, deadline, params, max_iterations,
                       hard_deadline=hard, label="column generation", cancel=budget.cancel)
    if not res.ok or res.value is None:
        return None, res.detail
    return res.value, ""


def _bound_in_child(problem: Problem, deadline: DeadlineLike | None,
                    params: BoundParams | None, max_iterations: int | None,
                    workdir: str) -> BoundResult:
    return lagrangian_bound(problem, deadline, params, max_iterations=max_iterations)
