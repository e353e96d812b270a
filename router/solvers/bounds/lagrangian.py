"""``lagrangian``: prices on stock and capacity, a proven lower bound, and the plans the prices
suggest.

Relaxation. The stock of every pool (``u_p``), the package limit (``v_n``) and the unit
capacity (``w_n``) of every node are priced instead of enforced; the order package limits are
dropped. What is left splits by line once each package's fixed cost is spread over the
line-arcs of its arc: with ``x_e <= ub_e * y_a`` for every line-arc of arc ``a``,
``y_a >= max_e x_e / ub_e >= sum_e s_e x_e / ub_e`` for any shares ``s_e >= 0`` summing to 1
over the arc's line-arcs, so ``f_a y_a >= sum_e f_a s_e x_e / ub_e``. Every unit shipped on
line-arc ``e`` then costs at least the rate

    r_e = unit_e + u_p + w_n * use_e + (arc_cost_a + v_n) * s_e / ub_e

and each line is filled by a fractional knapsack: cheapest rates first, up to ``ub_e`` each,
never above the line's penalty. For any prices ``u, v, w >= 0``

    LB(u, v, w) = sum_l fill_l(r) - sum_p u_p qty_p - sum_n (v_n max_packages_n + w_n cap_n)

is a lower bound on the optimum (for GAP files it is the classic capacity relaxation, and it
is rounded up where every cost is an integer). The shares start even (``1 / L_a``, exact
for an order shipped complete from one node) and move towards the line-arcs the relaxed
solution uses (exponentiated gradient).

Start. On routing batches the stock prices start from the duals of the transportation LP
(:func:`transport_prices`): columns ``x_e`` (``0..ub_e``) at the zero-price rates above
(even shares), an unfilled column per line at its penalty (none for must-fill lines),
``sum_e x_e + unfilled_l = qty_l`` per line and ``sum_e x_e <= qty_p`` per binding pool,
over the lines that can draw on a binding pool only; HiGHS solves it (a fraction of the
budget at most, and not started when that fraction is below ``TRANSPORT_SECONDS_PER_LINE_ARC``
per line-arc; it splits by SKU and is far smaller than the MIP's LP). By LP duality the
bound at those prices (``v = w = 0``, even shares) equals the LP's optimum; any prices
``u >= 0`` give a valid bound, so a dual solution cut short by the clock is safe too. On
batches whose demand of scarce SKUs exceeds the stock, most of the cost is unfilled-unit
penalties that the stock prices must reach; from zero the subgradient gets there only
slowly over thousands of pools. Assignment batches (GAP: unlimited pools) start from zero.

Steps. Prices are raised by projected subgradient steps
(Polyak step towards the best plan known, halved when the bound stalls); only limits that
can bind (total possible demand above the limit) get a price. Order package limits are
dropped, so on routing batches the bound is well below the LP relaxation's; ``auto`` adds
the LP bound where it has the time.

Plans. Every few steps the orders are routed by the bidding rounds under the priced costs
(assignment batches: the regret construction under the prices), repaired to feasibility,
and the best plan is improved by :mod:`router.solvers.heuristics.local_search` until the deadline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import Budget, Limit, Outcome, Params, Run, SolverStats, StageRecord, param
from router.evaluate import objective
from router.solvers.heuristics import assign, local_search
from router.solvers.heuristics.core import (
    Prices,
    State,
    complete_must_fill,
    insert_orders,
    static,
    tiebreak_keys,
    true_prices,
)
from router.solvers.heuristics.greedy import greedy_solution
from router.solvers.registry import register
from router.solvers.result import conclude

DEFAULT_ITERATIONS = 150  # subgradient steps without a time limit
DEFAULT_MOVES = 300  # local-search moves without a time limit
SHARE_STEP = 2.0  # exponentiated-gradient step of the fixed-cost shares (times the step)
TRANSPORT_SHARE = 0.5  # of the subgradient's time for the starting stock prices at most
WARM_STEP = 2.0  # first step factor from the transportation prices
# the transportation LP takes 5-18 us per line-arc to build and solve (HiGHS, one core; 0.11 s
# on the 2,000-order preset, 1.9 s on 20,000 orders, 38 s on 200,000): with less time than
# this optimistic figure it is not started, the prices start from zero
TRANSPORT_SECONDS_PER_LINE_ARC = 5e-6
STALL = 8  # steps without a better bound before the step is halved (prices reset)


@dataclass
class Multipliers:
    pool: np.ndarray  # (P,)
    pk: np.ndarray  # (N,)
    cap: np.ndarray  # (N,)
    share: np.ndarray  # (E,) each arc's fixed cost split over its line-arcs (sums to 1)

    def copy(self) -> Multipliers:
        return Multipliers(self.pool.copy(), self.pk.copy(), self.cap.copy(), self.share.copy())


class Relaxation:
    """The priced relaxation of one problem (see the module docstring)."""

    def __init__(self, p: Problem) -> None:
        self.p = p
        S = static(p)
        self.e_node = S.e_node
        L_a = np.bincount(p.e_arc, minlength=p.n_arcs).astype(np.float64)
        self.even = 1.0 / L_a[p.e_arc]
        self.inv_ub = 1.0 / np.maximum(p.e_ub, 1)
        ub = p.e_ub.astype(np.float64)
        dem_pool = np.bincount(p.e_pool, weights=ub, minlength=len(p.pool_qty))
        self.bind_pool = np.isfinite(p.pool_qty) & (dem_pool > p.pool_qty + 1e-9)
        arcs_at = np.bincount(p.arc_node, minlength=p.n_nodes)
        self.bind_pk = np.isfinite(p.node_max_packages) & (arcs_at > p.node_max_packages)
        dem_cap = np.bincount(S.e_node, weights=ub * p.e_use, minlength=p.n_nodes)
        self.bind_cap = np.isfinite(p.node_capacity) & (dem_cap > p.node_capacity + 1e-9)
        self.pool_qty = np.where(self.bind_pool, p.pool_qty, 0.0)
        self.maxpk = np.where(self.bind_pk, p.node_max_packages, 0.0)
        self.cap = np.where(self.bind_cap, p.node_capacity, 0.0)
        self.integral = bool(np.all(p.arc_cost == np.round(p.arc_cost))
                             and np.all(p.e_unit_cost == np.round(p.e_unit_cost))
                             and np.all(~np.isfinite(p.line_penalty)
                                        | (p.line_penalty == np.round(p.line_penalty))))
        self.lines_empty = np.diff(p.line_e_ptr) == 0

    def zero(self) -> Multipliers:
        p = self.p
        return Multipliers(np.zeros(len(p.pool_qty)), np.zeros(p.n_nodes), np.zeros(p.n_nodes),
                           self.even.copy())

    def reshare(self, m: Multipliers, xh: np.ndarray, eta: float) -> None:
        """Shift each arc's fixed cost towards the line-arcs the relaxed solution uses
        (exponentiated gradient: the bound's slope in a share is ``x_e / ub_e``)."""
        p = self.p
        w = m.share * np.exp(np.minimum(eta * xh * self.inv_ub, 50.0))
        tot = np.bincount(p.e_arc, weights=w, minlength=p.n_arcs)
        m.share = w / tot[p.e_arc]

    def prices(self, m: Multipliers) -> Prices:
        """Priced costs for the bidding rounds (finite penalties)."""
        p = self.p
        unit = p.e_unit_cost + m.pool[p.e_pool] + m.cap[self.e_node] * p.e_use
        fixed = p.arc_cost + m.pk[p.arc_node]
        return Prices(unit, fixed, true_prices(p).penalty)

    def evaluate(self, m: Multipliers) -> tuple[float, Multipliers]:
        """The bound at ``m`` and a subgradient (usage of the relaxed solution - limit)."""
        p = self.p
        unit = p.e_unit_cost + m.pool[p.e_pool] + m.cap[self.e_node] * p.e_use
        fixed = p.arc_cost + m.pk[p.arc_node]
        inv = m.share * self.inv_ub
        rate = unit + fixed[p.e_arc] * inv
        qty = p.line_qty.astype(np.float64)
        pen = p.line_penalty
        if self.lines_empty.any() and np.isinf(pen[self.lines_empty]).any():
            return math.inf, self.zero()  # a must-fill line nothing can serve
        starts = p.line_e_ptr[:-1]
        nonempty = ~self.lines_empty
        rmin = np.full(p.n_lines, np.inf)
        if p.n_line_arcs:
            rmin[nonempty] = np.minimum.reduceat(rate, starts[nonempty])
        xh = np.zeros(p.n_line_arcs)
        # first line-arc reaching the minimum, and whether it alone fills the line
        is_min = rate == rmin[p.e_line]
        idx = np.flatnonzero(is_min)
        first = np.ones(len(idx), dtype=bool)
        first[1:] = p.e_line[idx[1:]] != p.e_line[idx[:-1]]
        emin = np.full(p.n_lines, -1, dtype=np.int64)
        emin[p.e_line[idx[first]]] = idx[first]
        use_pen = pen <= rmin
        value = np.zeros(p.n_lines)
        value[use_pen] = qty[use_pen] * pen[use_pen]
        simple = ~use_pen & (emin >= 0)
        if p.n_line_arcs:  # (without line-arcs no line is simple: emin is all -1)
            simple &= p.e_ub[np.maximum(emin, 0)] >= p.line_qty
        value[simple] = qty[simple] * rmin[simple]
        xh[emin[simple]] = qty[simple]
        hard = np.flatnonzero(~use_pen & ~simple)
        if len(hard):
            # fractional knapsack over the line-arcs of lines the cheapest cannot fill
            from router.compile import expand_ranges

            cnt = p.line_e_ptr[hard + 1] - p.line_e_ptr[hard]
            E = expand_ranges(p.line_e_ptr[hard], cnt)
            seg = np.repeat(np.arange(len(hard)), cnt)
            order = np.lexsort((rate[E], seg))
            E, seg = E[order], seg[order]
            ub = p.e_ub[E].astype(np.float64)
            cs = np.cumsum(ub)
            seg_start = np.cumsum(cnt) - cnt
            before = cs - ub - np.concatenate(([0.0], cs))[seg_start][seg]
            take = np.clip(qty[hard][seg] - before, 0.0, ub)
            take[rate[E] >= pen[hard][seg]] = 0.0
            xh[E] = take
            shipped = np.bincount(seg, weights=take, minlength=len(hard))
            short = qty[hard] - shipped
            if np.isinf(pen[hard][short > 1e-9]).any():
                return math.inf, self.zero()
            value[hard] = (np.bincount(seg, weights=take * rate[E], minlength=len(hard))
                           + np.where(short > 1e-9, short * np.where(np.isinf(pen[hard]), 0.0,
                                                                       pen[hard]), 0.0))
        lb = float(value.sum()) - float(np.dot(m.pool, self.pool_qty)) - float(
            np.dot(m.pk, self.maxpk)) - float(np.dot(m.cap, self.cap))
        g_pool = np.bincount(p.e_pool, weights=xh, minlength=len(p.pool_qty)) - self.pool_qty
        g_pk = np.bincount(self.e_node, weights=xh * inv, minlength=p.n_nodes) - self.maxpk
        g_cap = np.bincount(self.e_node, weights=xh * p.e_use, minlength=p.n_nodes) - self.cap
        g = Multipliers(np.where(self.bind_pool, g_pool, 0.0), np.where(self.bind_pk, g_pk, 0.0),
                        np.where(self.bind_cap, g_cap, 0.0), xh)
        return lb, g

    def safe(self, lb: float) -> float:
        """The bound made safe against rounding (and rounded up for integral costs)."""
        if not math.isfinite(lb):
            return lb
        lb -= 1e-9 * max(1.0, abs(lb))
        if self.integral:
            lb = math.ceil(lb - 1e-6)
        return lb


def transport_prices(p: Problem, rel: Relaxation, time_limit: float | None) -> np.ndarray | None:
    """Starting stock prices: the pool-row duals of the transportation relaxation.

    The LP over the lines that can draw on a binding pool: a column ``x_e`` (``0..ub_e``) per
    line-arc at the relaxation's rate at zero prices and even shares, an unfilled column
    (``0..qty``) at the penalty per line (none for must-fill lines), a row ``sum x_e +
    unfilled = qty`` per line and ``sum x_e <= qty_p`` per binding pool. Its pool duals
    ``u_p >= 0`` make the bound of the relaxation equal the LP's optimum. Solved by HiGHS
    within ``time_limit``; ``None`` when there is nothing to price, HiGHS is missing, or it
    gives no dual solution in time. Any ``u >= 0`` gives a valid bound, so the duals need
    not be optimal.
    """
    t0 = time.perf_counter()
    if not rel.bind_pool.any() or p.n_line_arcs == 0:
        return None
    from router.solvers.exact import lp as highs_lp

    if not highs_lp.available():
        return None
    from router.compile import expand_ranges
    ptr = p.line_e_ptr
    lines = np.unique(p.e_line[rel.bind_pool[p.e_pool]])
    cnt = ptr[lines + 1] - ptr[lines]
    E = expand_ranges(ptr[lines], cnt)
    n_l, n_e = len(lines), len(E)
    pools = np.flatnonzero(rel.bind_pool)
    prow = np.full(len(p.pool_qty), -1, dtype=np.int64)
    prow[pools] = n_l + np.arange(len(pools))
    rate = p.e_unit_cost[E] + p.arc_cost[p.e_arc[E]] * rel.even[E] * rel.inv_ub[E]
    pen = p.line_penalty[lines]
    soft = np.flatnonzero(np.isfinite(pen))
    qty = p.line_qty[lines].astype(np.float64)
    # columns: x_e (line row, then its pool row if binding), then unfilled (line row)
    er = prow[p.e_pool[E]]
    two = er >= 0
    per_col = np.concatenate((1 + two.astype(np.int64), np.ones(len(soft), dtype=np.int64)))
    start = np.concatenate(([0], np.cumsum(per_col)))
    index = np.empty(int(start[-1]), dtype=np.int64)
    xs = start[:n_e]
    index[xs] = np.repeat(np.arange(n_l), cnt)
    index[xs[two] + 1] = er[two]
    index[start[n_e:-1]] = soft
    inf = np.inf
    lp = highs_lp.ColumnLp(
        cost=np.concatenate((rate, pen[soft])), col_lower=np.zeros(n_e + len(soft)),
        col_upper=np.concatenate((p.e_ub[E].astype(np.float64), qty[soft])),
        row_lower=np.concatenate((qty, np.full(len(pools), -inf))),
        row_upper=np.concatenate((qty, p.pool_qty[pools].astype(np.float64))),
        start=start, index=index, value=np.ones(len(index)))
    left = None if time_limit is None else max(0.001, float(time_limit)
                                               - (time.perf_counter() - t0))
    hard = None if left is None else time.perf_counter() + left + 0.05
    ans = highs_lp.solve_lp(lp, left, hard)
    if ans.row_dual is None:
        return None
    dual = ans.row_dual[n_l:]
    u = np.zeros(len(p.pool_qty))
    u[pools] = np.maximum(0.0, -dual)  # HiGHS: a binding <= row of a minimum has dual <= 0
    return u


def primal(p: Problem, rel: Relaxation, m: Multipliers, seed: int,
           deadline: Budget | None) -> np.ndarray | None:
    """A feasible plan suggested by the prices ``m``."""
    rng = np.random.default_rng(seed)
    if assign.is_assignment(p):
        M = assign.Matrices(p)
        fixed = assign.repair(M, assign.regret_assign(M, m.cap), rng, deadline)
        if fixed is None:
            return None
        return M.to_x(p, assign.improve(M, fixed, rng, deadline, kick=False))
    st = State(p)
    insert_orders(p, st, np.arange(p.n_orders), rel.prices(m), priority="regret",
                  tiebreak=tiebreak_keys(p, seed), deadline=deadline)
    return complete_must_fill(p, st.x, rng, deadline)


@dataclass
class LagrangianOutcome:
    x: np.ndarray | None
    objective: float
    lower_bound: float
    multipliers: Multipliers
    stats: dict[str, Any]


def subgradient(p: Problem, x0: np.ndarray | None, deadline: Budget, seed: int = 0,
                max_iter: int | None = None, primal_every: int = 10,
                warm: bool = True, warm_seconds: float | None = None) -> LagrangianOutcome:
    """Projected subgradient ascent on the bound, with priced plans along the way
    (``warm``: stock prices start from :func:`transport_prices` on routing batches, within
    ``warm_seconds``, by default ``TRANSPORT_SHARE`` of the deadline)."""
    rel = Relaxation(p)
    best_x = x0
    ub = objective(p, x0) if x0 is not None else math.inf
    m = rel.zero()
    lam, stall, it, primals = 2.0, 0, 0, 0
    stats: dict[str, Any] = {}
    if warm and not assign.is_assignment(p) and not deadline.expired():
        t0 = time.perf_counter()
        left = deadline.remaining()
        cap = None if math.isinf(left) else TRANSPORT_SHARE * left
        if warm_seconds is not None:
            cap = min(warm_seconds, left)
        if cap is not None and cap < TRANSPORT_SECONDS_PER_LINE_ARC * p.n_line_arcs:
            stats["transport_skipped"] = f"too large for {cap:.3g} s"
        else:
            u = transport_prices(p, rel, cap)
            stats["transport_seconds"] = round(time.perf_counter() - t0, 4)
            if u is not None:
                m.pool = u
                lam = WARM_STEP
    best_lb, best_m = -math.inf, m.copy()
    limit = max_iter if max_iter is not None else (
        deadline.work if deadline.work is not None
        else DEFAULT_ITERATIONS if not deadline.timed else 10**9)
    while it < limit and not deadline.expired():
        it += 1
        lb, g = rel.evaluate(m)
        if lb > best_lb + 1e-9 * max(1.0, abs(lb)):
            best_lb, best_m, stall = lb, m.copy(), 0
        else:
            stall += 1
            if stall >= STALL:
                lam, stall = lam / 2, 0
                m = best_m.copy()
        if not math.isfinite(lb) or rel.safe(best_lb) >= ub - 1e-6 * max(1.0, abs(ub)):
            break
        if (it % primal_every == 0 or it == 1) and not deadline.expired():
            primals += 1
            x = primal(p, rel, m, seed + it, deadline)
            if x is not None:
                c = objective(p, x)
                if c < ub:
                    ub, best_x = c, x
        # projected step: a zero price with negative slack stays at zero
        gp = np.where((m.pool <= 0) & (g.pool < 0), 0.0, g.pool)
        gk = np.where((m.pk <= 0) & (g.pk < 0), 0.0, g.pk)
        gc = np.where((m.cap <= 0) & (g.cap < 0), 0.0, g.cap)
        norm = float(gp @ gp + gk @ gk + gc @ gc)
        if norm <= 1e-12 or lam < 1e-4:
            break
        target = ub if math.isfinite(ub) else abs(lb) * 1.1 + 1.0
        t = lam * max(target - lb, 1e-6 * max(1.0, abs(lb))) / norm
        m = Multipliers(np.maximum(0.0, m.pool + t * gp), np.maximum(0.0, m.pk + t * gk),
                        np.maximum(0.0, m.cap + t * gc), m.share)
        rel.reshare(m, g.share, SHARE_STEP * lam)
    lb_safe = rel.safe(best_lb) if best_lb > -math.inf else -math.inf
    return LagrangianOutcome(best_x, ub, lb_safe, best_m,
                             {"iterations": it, "primal_plans": primals, "step": lam, **stats})


@dataclass(frozen=True)
class LagrangianParams(Params):
    """The ``lagrangian`` solver (one work unit = one subgradient step or one local-search
    move; the subgradient takes ``subgradient_share`` of the budget)."""

    solver = "lagrangian"
    subgradient_share: float = param(0.5, lo=0.0, hi=1.0,
                                     doc="share of the budget for the subgradient")
    primal_every: int = param(10, lo=1, doc="subgradient steps between priced plans")
    default_iterations: int = param(DEFAULT_ITERATIONS, lo=0,
                                    doc="subgradient steps when nothing limits the budget")
    default_moves: int = param(DEFAULT_MOVES, lo=0,
                               doc="local-search moves when nothing limits the budget")


@register("lagrangian", "Lagrangian prices on stock and capacity (subgradient): a proven "
                        "lower bound, priced plans repaired to feasibility, local search",
          "heuristic", params=LagrangianParams,
          work_unit="a subgradient step or a local-search move")
def solve_lagrangian(problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    params = run.params if isinstance(run.params, LagrangianParams) else LagrangianParams()
    budget = run.budget
    if not budget.limited:
        budget = budget.with_work(params.default_iterations + params.default_moves)
    x0, _ = greedy_solution(problem, run.seed, budget)
    if run.initial is not None and (x0 is None
                                    or objective(problem, run.initial) < objective(problem, x0)):
        x0 = np.array(run.initial)
    share = budget.share(params.subgradient_share)
    t1 = time.perf_counter()
    out = subgradient(problem, x0, share, run.seed, primal_every=params.primal_every)
    stages = [StageRecord("subgradient", time.perf_counter() - t1,
                          int(out.stats.get("iterations", 0)), out.objective,
                          out.lower_bound if math.isfinite(out.lower_bound) else None)]
    extra: dict[str, Any] = {"lagrangian_" + k: v for k, v in out.stats.items()}
    x = out.x
    lb = out.lower_bound if math.isfinite(out.lower_bound) else None
    limit = Limit.NONE
    if out.lower_bound == math.inf:
        return conclude("lagrangian", problem, run, None, infeasible=True, stats=SolverStats(
            solve_seconds=time.perf_counter() - t0, stages=tuple(stages), extra=extra,
            notes=("a line that must be filled has no feasible source",)))
    if x is not None and (lb is None or objective(problem, x) > lb + 1e-6):
        t2 = time.perf_counter()
        rest = budget.with_work(None if budget.work is None
                                else budget.work - int(out.stats.get("iterations", 0)))
        x, ls = local_search.improve(problem, x, rest, run.seed)
        limit = ls.pop("limit", Limit.NONE)
        stages.append(StageRecord("local_search", time.perf_counter() - t2,
                                  int(ls.get("moves", 0)), objective(problem, x)))
        extra.update({"ls_" + k: v for k, v in ls.items()})
    work = sum(st.work for st in stages)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0, work=work,
                        iterations=int(out.stats.get("iterations", 0)), stages=tuple(stages),
                        extra=extra)
    return conclude("lagrangian", problem, run, x, bound=lb, source="lagrangian",
                    limit=limit, stats=stats)
