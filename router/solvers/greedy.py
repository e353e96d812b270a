"""``greedy``: the baseline and the fallback that guarantees a plan.

Orders are taken most constrained first (fewest candidate nodes, then most penalty at stake).
Each order gets the cheaper of two options given the stock and capacity left: the cheapest
single node that ships it complete, or line by line the cheapest marginal source (a node
already shipping to the order costs only its per-unit rate; a new one also its package cost),
splitting a line over nodes where stock is short. A unit stays unfilled only where no source
is cheaper than its penalty (or where nothing can serve it at all).
"""

from __future__ import annotations

import math
import time

import numpy as np

from router.compile import Problem
from router.evaluate import objective
from router.solvers.base import SolveOptions, SolverResult, Status, register


class _State:
    """Stock, package and capacity left, shared by the order-by-order rules."""

    def __init__(self, p: Problem) -> None:
        self.pool = p.pool_qty.tolist()
        self.node_pk = p.node_max_packages.tolist()
        self.node_cap = p.node_capacity.tolist()


def order_sequence(p: Problem) -> np.ndarray:
    """Most constrained orders first: fewest candidate arcs, then most penalty at stake."""
    n_arcs = np.diff(p.order_arc_ptr)
    stake = np.bincount(p.line_order, weights=np.where(np.isinf(p.line_penalty), 1e12,
                                                      p.line_penalty) * p.line_qty,
                        minlength=p.n_orders)
    return np.lexsort((np.arange(p.n_orders), -stake, n_arcs))


def greedy_solution(p: Problem, sequence: np.ndarray | None = None) -> np.ndarray:
    """Route every order in ``sequence`` (default :func:`order_sequence`); units per line-arc."""
    st = _State(p)
    x = np.zeros(p.n_line_arcs, dtype=np.int64)
    arc_node = p.arc_node.tolist()
    arc_cost = p.arc_cost.tolist()
    e_arc = p.e_arc.tolist()
    e_pool = p.e_pool.tolist()
    e_unit = p.e_unit_cost.tolist()
    e_use = p.e_use.tolist()
    line_qty = p.line_qty.tolist()
    line_pen = p.line_penalty.tolist()
    line_e_ptr = p.line_e_ptr.tolist()
    olp = p.order_line_ptr.tolist()
    oap = p.order_arc_ptr.tolist()
    omp = p.order_max_packages.tolist()
    seq = order_sequence(p) if sequence is None else sequence
    for o in seq.tolist():
        lines = range(olp[o], olp[o + 1])
        if oap[o] == oap[o + 1]:
            continue
        single = _best_single(o, lines, st, arc_node, arc_cost, e_arc, e_pool, e_unit, e_use,
                              line_qty, line_e_ptr)
        multi, multi_cost = _line_by_line(lines, omp[o], st, arc_node, arc_cost, e_arc, e_pool,
                                          e_unit, e_use, line_qty, line_pen, line_e_ptr)
        if single is not None and single[1] <= multi_cost + 1e-9:
            chosen = [(e, line_qty[line]) for line, e in single[0]]
        else:
            chosen = multi
        opened: set[int] = set()
        for e, q in chosen:
            if q <= 0:
                continue
            x[e] += q
            a = e_arc[e]
            n = arc_node[a]
            st.pool[e_pool[e]] -= q
            st.node_cap[n] -= q * e_use[e]
            if a not in opened:
                opened.add(a)
                st.node_pk[n] -= 1
    return x


def _best_single(o: int, lines: range, st: _State, arc_node: list[int], arc_cost: list[float],
                 e_arc: list[int], e_pool: list[int], e_unit: list[float], e_use: list[float],
                 line_qty: list[int], line_e_ptr: list[int]
                 ) -> tuple[list[tuple[int, int]], float] | None:
    """Cheapest arc that ships every line of the order complete, with its line-arcs."""
    per_arc: dict[int, list[tuple[int, int]]] = {}
    cost: dict[int, float] = {}
    use: dict[int, float] = {}
    n_lines = len(lines)
    for line in lines:
        q = line_qty[line]
        for e in range(line_e_ptr[line], line_e_ptr[line + 1]):
            if st.pool[e_pool[e]] < q:
                continue
            a = e_arc[e]
            per_arc.setdefault(a, []).append((line, e))
            cost[a] = cost.get(a, 0.0) + q * e_unit[e]
            use[a] = use.get(a, 0.0) + q * e_use[e]
    best: tuple[list[tuple[int, int]], float] | None = None
    for a, items in per_arc.items():
        n = arc_node[a]
        if len(items) < n_lines or st.node_pk[n] < 1 or st.node_cap[n] < use[a] - 1e-9:
            continue
        c = arc_cost[a] + cost[a]
        if best is None or c < best[1]:
            best = (items, c)
    return best


def _line_by_line(lines: range, max_packages: int, st: _State, arc_node: list[int],
                  arc_cost: list[float], e_arc: list[int], e_pool: list[int],
                  e_unit: list[float], e_use: list[float], line_qty: list[int],
                  line_pen: list[float], line_e_ptr: list[int]
                  ) -> tuple[list[tuple[int, int]], float]:
    """Each line (most valuable first) from its cheapest marginal sources; returns the
    line-arc quantities and their cost (unfilled units at their penalty)."""
    opened: set[int] = set()
    pool_left: dict[int, float] = {}
    cap_left: dict[int, float] = {}
    chosen: list[tuple[int, int]] = []
    total = 0.0
    order_lines = sorted(lines, key=lambda ln: -min(line_pen[ln], 1e12) * line_qty[ln])
    for line in order_lines:
        need = line_qty[line]
        pen = line_pen[line]
        while need > 0:
            best_e, best_rate, best_q = -1, math.inf, 0
            for e in range(line_e_ptr[line], line_e_ptr[line + 1]):
                a = e_arc[e]
                n = arc_node[a]
                pool = pool_left.get(e_pool[e], st.pool[e_pool[e]])
                cap = cap_left.get(n, st.node_cap[n])
                q = min(need, pool)
                if e_use[e] > 0 and cap < q * e_use[e]:
                    q = min(q, math.floor(cap / e_use[e] + 1e-9))
                q = int(q)
                if q <= 0:
                    continue
                if a in opened:
                    rate = e_unit[e]
                else:
                    if len(opened) >= max_packages or st.node_pk[n] < 1:
                        continue
                    rate = e_unit[e] + arc_cost[a] / q
                if rate < best_rate - 1e-12 or (rate <= best_rate + 1e-12 and q > best_q):
                    best_e, best_rate, best_q = e, rate, q
            if best_e < 0 or best_rate >= pen:
                break
            e = best_e
            a = e_arc[e]
            n = arc_node[a]
            chosen.append((e, best_q))
            total += best_rate * best_q
            opened.add(a)
            pool_left[e_pool[e]] = pool_left.get(e_pool[e], st.pool[e_pool[e]]) - best_q
            cap_left[n] = cap_left.get(n, st.node_cap[n]) - best_q * e_use[e]
            need -= best_q
        if need > 0:
            total += need * pen
    return chosen, total


@register("greedy", "orders most constrained first, each to its cheapest single node or "
                    "cheapest line-by-line sources given what is left", "heuristic")
def solve_greedy(problem: Problem, options: SolveOptions) -> SolverResult:
    t0 = time.perf_counter()
    x = greedy_solution(problem)
    obj = objective(problem, x)
    secs = time.perf_counter() - t0
    if not math.isfinite(obj):
        # a must-fill line (GAP) was left unfilled: greedy found no complete plan
        return SolverResult("greedy", Status.NO_SOLUTION, None, None, None, 0.0, secs,
                            {"note": "greedy could not assign every job"})
    return SolverResult("greedy", Status.FEASIBLE, x, obj, None, 0.0, secs)
