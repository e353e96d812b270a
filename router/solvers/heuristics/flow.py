"""An exact move for single-unit orders: re-route all of them at once by min-cost flow.

Most orders of a sale-day batch are one line of one unit. Such an order uses exactly one
unit of one stock pool, one unit of its node's unit capacity and one of its packages, so
with every other order held fixed, routing all of them optimally is a min-cost flow:

    source -> line (1) -> pool (line-arc: package + unit cost) -> node -> sink
    line -> sink directly at the line's penalty (left unfilled)

with pool arcs capped by the stock left and node arcs by ``min(units left, packages
left)``. OR-Tools' ``SimpleMinCostFlow`` solves it in well under a second for 20,000 orders
(costs scaled to integers; the move is kept only if the true cost falls).
"""

from __future__ import annotations

import numpy as np

from router.compile import Problem, expand_ranges
from router.contract import Budget
from router.solvers.heuristics.core import State, order_costs

SCALE = 1000.0  # cost units per currency unit in the flow network
CAP_INF = 1 << 40


def _available() -> bool:
    try:
        from ortools.graph.python import min_cost_flow  # noqa: F401
    except ImportError:  # pragma: no cover - ortools is a dependency
        return False
    return True


def single_unit_orders(p: Problem) -> np.ndarray:
    """Orders of one line of one unit that may be left unfilled (finite penalty)."""
    n_lines = np.diff(p.order_line_ptr)
    first = p.order_line_ptr[:-1]
    ok = n_lines == 1
    idx = np.flatnonzero(ok)
    ln = first[idx]
    keep = (p.line_qty[ln] == 1) & np.isfinite(p.line_penalty[ln]) & (
        p.order_max_packages[idx] >= 1)
    return idx[keep]


def reroute_within(p: Problem, x: np.ndarray, budget: Budget
                   ) -> tuple[np.ndarray, dict[str, float]]:
    """:func:`reroute_single_units` within the budget: OR-Tools' min-cost flow does not look at
    a clock, so under a deadline it runs in a child process killed at the deadline
    (:mod:`router.solvers.exact.isolate`); with no time left it is not run."""
    if not budget.timed:
        return reroute_single_units(p, x)
    if budget.expired():
        return x, {"flow_orders": 0}
    from router.solvers.exact.isolate import run_isolated

    res = run_isolated(_reroute_in_child, p, x, hard_deadline=budget.deadline,
                       label="min-cost flow", cancel=budget.cancel)
    if not res.ok or res.value is None:
        return x, {"flow_orders": 0}
    return res.value


def _reroute_in_child(p: Problem, x: np.ndarray, workdir: str
                      ) -> tuple[np.ndarray, dict[str, float]]:
    return reroute_single_units(p, x)


def reroute_single_units(p: Problem, x: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Re-route every single-unit order optimally given the others; never worse than ``x``."""
    orders = single_unit_orders(p)
    if len(orders) == 0 or not _available():
        return x, {"flow_orders": 0}
    from ortools.graph.python import min_cost_flow

    st = State(p, x)
    before = order_costs(p, st.x, orders)
    st.remove_orders(orders)
    lines = p.order_line_ptr[orders]
    cnt = p.line_e_ptr[lines + 1] - p.line_e_ptr[lines]
    E = expand_ranges(p.line_e_ptr[lines], cnt)
    le = np.repeat(np.arange(len(lines)), cnt)
    a = p.e_arc[E]
    node = p.arc_node[a]
    pool = p.e_pool[E]
    # line-arcs that can carry a unit at all given what the fixed orders left
    ok = (st.pool_left[pool] >= 1) & (st.cap_left[node] >= p.e_use[E]) & (
        st.node_pk_left[node] >= 1) & (p.e_ub[E] >= 1)
    E, le, a, node, pool = E[ok], le[ok], a[ok], node[ok], pool[ok]
    n_l = len(lines)
    pools, pool_inv = np.unique(pool, return_inverse=True)
    nodes, node_inv = np.unique(p.pool_node[pools], return_inverse=True)
    # node numbering: 0 source, 1 sink, lines, pools, nodes
    src, snk = 0, 1
    l0 = 2
    p0 = l0 + n_l
    n0 = p0 + len(pools)
    tails = np.concatenate([np.full(n_l, src), l0 + le, l0 + np.arange(n_l),
                            p0 + np.arange(len(pools)), n0 + np.arange(len(nodes))])
    heads = np.concatenate([l0 + np.arange(n_l), p0 + pool_inv, np.full(n_l, snk),
                            n0 + node_inv, np.full(len(nodes), snk)])
    unit_cost = p.arc_cost[a] + p.e_unit_cost[E]
    pen = p.line_penalty[lines]
    pool_cap = np.minimum(st.pool_left[pools], CAP_INF)
    node_cap = np.minimum(np.minimum(st.cap_left[nodes], st.node_pk_left[nodes]), CAP_INF)
    caps = np.concatenate([np.ones(n_l), np.ones(len(E)), np.ones(n_l),
                           np.floor(pool_cap + 1e-9), np.floor(node_cap + 1e-9)])
    costs = np.concatenate([np.zeros(n_l), np.rint(unit_cost * SCALE), np.rint(pen * SCALE),
                            np.zeros(len(pools)), np.zeros(len(nodes))])
    if not np.all(np.isfinite(costs)) or costs.max(initial=0) > 2**50:
        return x, {"flow_orders": 0}
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64),
        costs.astype(np.int64))
    supplies = np.zeros(n0 + len(nodes), dtype=np.int64)
    supplies[src], supplies[snk] = n_l, -n_l
    mcf.set_nodes_supplies(np.arange(len(supplies), dtype=np.int32), supplies)
    status = mcf.solve()
    if status != mcf.OPTIMAL:
        return x, {"flow_orders": 0, "flow_status": float(status)}
    flows = mcf.flows(arcs)
    f_e = flows[n_l:n_l + len(E)]
    chosen = np.flatnonzero(f_e > 0)
    st.add(E[chosen], np.ones(len(chosen), dtype=np.int64))
    after = order_costs(p, st.x, orders)
    if after < before - 1e-9:
        return st.x, {"flow_orders": float(len(orders)), "flow_gain": before - after}
    return x, {"flow_orders": float(len(orders)), "flow_gain": 0.0}
