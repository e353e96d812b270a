"""The knapsack Lagrangian of assignment batches (GAP): a bound at least as strong as the LP's.

An assignment batch (:func:`router.solvers.heuristics.assign.is_assignment`) asks every order
j to go to one node i at cost ``c_ij`` using ``r_ij`` of the node's capacity ``b_i`` (or to
stay unfilled at its penalty ``p_j`` where that is finite). Relaxing "each order goes once"
with a price ``u_j`` per order leaves one 0-1 knapsack per node::

    L(u) = sum_j min(u_j, p_j) - sum_i max { sum_j (u_j - c_ij) x_j : sum_j r_ij x_j <= b_i }

and ``L(u)`` is a lower bound on the optimum for every ``u``. The knapsacks have integral
resources, so they are solved exactly by dynamic programming over the capacity
(:meth:`Knapsacks.solve`, compiled, with a numpy twin); their relaxation over ``0 <= x <= 1`` is the
LP's, so ``L(u)`` is at least the LP bound at the LP's order prices
``u_j = min_i (c_ij + lambda_i r_ij)`` (``lambda``: the capacity prices of the dual of
:mod:`~router.solvers.bounds.dual`), and often above it on tight batches (types D and E).
:func:`knapsack_bound` starts there and climbs by subgradient steps (Polyak's step towards
the incumbent's cost, halved after ``KnapsackParams.stall`` steps without a better bound).

Its plan: each order to the cheapest node whose knapsack took it at the best prices, the rest
where they overload least (often over capacity; ``auto`` offers it where it fits).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from router import jit
from router.contract import Budget, Params, param
from router.jit import njit
from router.solvers.bounds.dual import proven_bound
from router.solvers.heuristics import assign as assign_mod
from router.solvers.heuristics.assign import Matrices


@dataclass(frozen=True)
class KnapsackParams(Params):
    """Tuning of the knapsack Lagrangian (one work unit = one evaluation of ``L(u)``)."""

    solver = "knapsack"
    step: float = param(2.0, lo=0.0, doc="first step factor of Polyak's rule")
    stall: int = param(20, lo=1, doc="steps without a better bound after which the step "
                                     "factor is halved")
    min_step: float = param(1e-4, lo=0.0, doc="the climb stops once the factor is below this")
    max_iterations: int = param(1500, lo=0, doc="evaluations at most")
    max_cells: int = param(200_000_000, lo=0,
                           doc="no climb on batches whose knapsack tables (nodes x orders x "
                               "capacity) are larger than this")
    cells_per_second: float = param(3e8, lo=1.0,
                                    doc="an optimistic rate of the dynamic programme (table "
                                        "cells per second): no evaluation is started with "
                                        "less time left than its table takes at this rate")


KNAPSACK = KnapsackParams()


def integral(M: Matrices) -> bool:
    """Whether the knapsacks can be solved exactly over the capacity: whole resources and
    capacities (infinite capacities aside)."""
    r = M.res[M.ok]
    cap = M.cap[np.isfinite(M.cap)]
    return bool(np.all(r == np.round(r)) and np.all(r >= 0)
                and np.all(cap == np.round(cap)) and np.all(cap >= 0))


def table_cells(M: Matrices) -> int:
    """Cells of the knapsack tables of one evaluation at most (capacities capped at the sum of
    the resources a node could take)."""
    return int((_caps(M).astype(np.float64) + 1.0).sum() * M.n)


def _caps(M: Matrices) -> np.ndarray:
    """Each node's capacity as a whole number, no larger than the most it could be asked to
    hold (infinite: all of its orders)."""
    total = np.where(M.ok, M.res, 0.0).sum(axis=1)
    cap = np.where(np.isfinite(M.cap), np.minimum(M.cap, total), total)
    return np.floor(cap + 1e-9).astype(np.int64)


@njit
def _knapsacks_jit(profit, w, ok, caps, keep, best, take):  # pragma: no cover  (compiled)
    """Every node's 0-1 knapsack (``profit`` and ``w`` node x order): fills ``take`` with the
    chosen orders and returns each node's best profit."""
    m, n = profit.shape
    out = np.zeros(m)
    for i in range(m):
        cap = caps[i]
        for c in range(cap + 1):
            best[c] = 0.0
        for j in range(n):
            take[i, j] = False
            pj = profit[i, j]
            wj = w[i, j]
            if not ok[i, j] or pj <= 0.0 or wj > cap:
                for c in range(cap + 1):
                    keep[j, c] = False
                continue
            for c in range(wj):
                keep[j, c] = False
            for c in range(cap, wj - 1, -1):
                v = best[c - wj] + pj
                if v > best[c]:
                    best[c] = v
                    keep[j, c] = True
                else:
                    keep[j, c] = False
        out[i] = best[cap]
        c = cap
        for j in range(n - 1, -1, -1):
            if keep[j, c]:
                take[i, j] = True
                c -= w[i, j]
    return out


def _knapsacks_numpy(profit: np.ndarray, w: np.ndarray, ok: np.ndarray, caps: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    m, n = profit.shape
    take = np.zeros((m, n), dtype=bool)
    out = np.zeros(m)
    for i in range(m):
        cap = int(caps[i])
        items = np.flatnonzero(ok[i] & (profit[i] > 0.0) & (w[i] <= cap))
        best = np.zeros(cap + 1)
        keep = np.zeros((len(items), cap + 1), dtype=bool)
        for t, j in enumerate(items.tolist()):
            wj = int(w[i, j])
            cand = best[:cap + 1 - wj] + profit[i, j]
            better = cand > best[wj:]
            keep[t, wj:] = better
            best[wj:] = np.where(better, cand, best[wj:])
        out[i] = best[cap]
        c = cap
        for t in range(len(items) - 1, -1, -1):
            if keep[t, c]:
                j = int(items[t])
                take[i, j] = True
                c -= int(w[i, j])
    return out, take


class Knapsacks:
    """The knapsacks of one assignment batch, evaluated at any order prices."""

    def __init__(self, M: Matrices) -> None:
        self.M = M
        self.caps = _caps(M)
        self.w = np.where(M.ok, M.res, 0.0).astype(np.int64)
        self.pen = np.asarray(M.penalty, dtype=np.float64)
        self.cost_ok = np.where(M.ok, M.cost, 0.0)
        top = int(self.caps.max(initial=0))
        self._keep = np.zeros((M.n, top + 1), dtype=np.bool_) if jit.ENABLED else None
        self._best = np.zeros(top + 1)
        self._take = np.zeros((M.m, M.n), dtype=np.bool_)

    def solve(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each node's best knapsack profit at prices ``u`` and the orders it takes."""
        profit = u[None, :] - self.cost_ok
        if self._keep is not None:
            val = _knapsacks_jit(profit, self.w, self.M.ok, self.caps, self._keep, self._best,
                                 self._take)
            return val, self._take.copy()
        return _knapsacks_numpy(profit, self.w, self.M.ok, self.caps)

    def value(self, u: np.ndarray, integral_costs: bool) -> tuple[float, np.ndarray]:
        """The proven bound ``L(u)`` (a rounding margin below the float sum; rounded up where
        every plan costs a whole number) and the orders each knapsack took."""
        val, take = self.solve(u)
        fill = np.minimum(u, self.pen)
        raw = float(fill.sum()) - float(val.sum())
        scale = float(np.abs(fill).sum()) + float(np.abs(val).sum()) + 1.0
        return proven_bound(raw, scale, integral_costs), take


@dataclass(frozen=True)
class KnapsackResult:
    """The best proven bound met (``-inf``: none), its order prices, the plan they suggest
    (one node per order, ``-1`` for none; not necessarily within capacity), evaluations
    made and why the climb stopped (``converged``, ``proven``, ``iterations``, ``deadline``,
    ``cancelled``, ``too_large``)."""

    bound: float
    prices: np.ndarray
    start: np.ndarray | None
    iterations: int
    stop: str


def lp_order_prices(M: Matrices, cap_prices: np.ndarray) -> np.ndarray:
    """The LP dual's order prices from its capacity prices: ``min_i (c_ij + lambda_i r_ij)``
    (capped at the penalty)."""
    lam = np.maximum(np.asarray(cap_prices, dtype=np.float64), 0.0)
    u = np.where(M.ok, M.cost + lam[:, None] * np.where(M.ok, M.res, 0.0), np.inf).min(axis=0)
    u = np.minimum(u, np.asarray(M.penalty, dtype=np.float64))
    return np.where(np.isfinite(u), u, 0.0)


def knapsack_bound(M: Matrices, u0: np.ndarray, upper: float, budget: Budget,
                   integral_costs: bool, params: KnapsackParams | None = None
                   ) -> KnapsackResult:
    """The knapsack Lagrangian climbed from prices ``u0`` towards the cost ``upper`` of a
    feasible plan, within ``budget`` (its clock, and its work: evaluations)."""
    pr = params or KNAPSACK
    limit = pr.max_iterations if budget.work is None else min(pr.max_iterations, budget.work)
    cells = table_cells(M)
    if cells > pr.max_cells or M.n == 0 or M.m == 0:
        return KnapsackResult(-math.inf, u0, None, 0, "too_large")
    ks = Knapsacks(M)
    # Polyak's target: the incumbent's cost (without one, a little above the bound)
    target = upper if math.isfinite(upper) else math.nan
    est = cells / pr.cells_per_second
    u = np.array(u0, dtype=np.float64)
    best_lb, best_u, best_take = -math.inf, u.copy(), None
    step, stall, it, stop = pr.step, 0, 0, "iterations"
    while it < limit:
        if budget.cancelled():
            stop = "cancelled"
            break
        if budget.timed and budget.remaining() < est:
            stop = "deadline"
            break
        t = time.perf_counter()
        lb, take = ks.value(u, integral_costs)
        it += 1
        est = max(est * 0.5, time.perf_counter() - t)
        if lb > best_lb + 1e-9:
            best_lb, best_u, best_take, stall = lb, u.copy(), take, 0
        else:
            stall += 1
            if stall >= pr.stall:
                step, stall = step * 0.5, 0
        if math.isnan(target):
            target = lb + max(1.0, 0.05 * abs(lb))
        if best_lb >= upper - 1e-9:
            stop = "proven"
            break
        if step < pr.min_step:
            stop = "converged"
            break
        # each order's residual: once, less the knapsacks that took it and (at its penalty)
        # the relaxation leaving it unfilled
        g = 1.0 - take.sum(axis=0) - (u >= ks.pen)
        norm = float(g @ g)
        if norm == 0.0:
            stop = "converged"  # every order taken once: the knapsacks' plan is optimal
            break
        u = np.minimum(u + step * max(target - lb, 1e-9) / norm * g, ks.pen)
    start = None if best_take is None else suggested_plan(M, best_take)
    return KnapsackResult(best_lb, best_u, start, it, stop)


def suggested_plan(M: Matrices, take: np.ndarray) -> np.ndarray:
    """Each order to the cheapest node whose knapsack took it; the others where the
    overload they add is least (then the cost); ``-1`` where no node can serve it."""
    n = M.n
    a = np.full(n, -1, dtype=np.int64)
    cost = np.where(take & M.ok, M.cost, np.inf)
    has = np.isfinite(cost).any(axis=0)
    a[has] = np.argmin(cost[:, has], axis=0)
    placed = assign_mod.place_unassigned(M, a)
    return a if placed is None else placed


def warm_up() -> None:
    """Load (or, the first time after an install, compile) the knapsacks' loop on a 2-node,
    3-order GAP batch, so that the first assignment batch does not pay for it within its
    budget."""
    from router.compile import compile_problem
    from router.io.read import parse_gap

    M = Matrices(compile_problem(parse_gap("2 3  1 2 3  2 1 3  1 1 1  1 1 1  2 2", "warm-up")))
    Knapsacks(M).solve(np.full(M.n, 5.0))
