"""Local search on a feasible plan: large-neighbourhood moves over orders.

One move takes a few orders out of the plan (freeing their stock, packages and capacity) and
routes them again with the bidding rounds of :mod:`router.solvers.heuristics.core`, keeping the result
when the cost of those orders does not rise. Re-routing an order alone moves a line to
another node or merges its packages where that pays; re-routing orders that share a node or
a SKU together swaps stock and capacity between them. The orders of a move are drawn
(seeded) in turn: at random; around one node (orders it serves and orders that could use it,
so congested nodes are re-shared); among orders with unfilled units or split shipments; and
short lines with the orders that hold the stock they could use (so stock changes hands); and
orders short of a line with every package slot used, re-routed as a set cover (the node
shipping most of their lines first) so that fewer packages carry more lines.
Before the first move and every ``flow_every`` moves, all single-unit orders are re-routed
at once, optimally given the others, by min-cost flow (:mod:`router.solvers.heuristics.flow`).

Assignment batches (GAP) use the shift/swap search of :mod:`router.solvers.heuristics.assign` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem, expand_ranges
from router.contract import Budget, Limit, Params, param
from router.solvers.heuristics import assign, flow
from router.solvers.heuristics.core import Prices, State, insert_orders, order_costs, true_prices

KINDS = ("random", "node", "short-or-split", "stock", "regroup")


@dataclass(frozen=True)
class LocalSearchParams(Params):
    """Tuning of the local search (one work unit = one move)."""

    solver = "local_search"
    k_max: int = param(300, lo=1, doc="most orders re-routed by one move")
    k_div: int = param(50, lo=1, doc="a move re-routes about n_orders / k_div orders "
                                     "(within 4..k_max)")
    flow_every: int = param(200, lo=1, doc="moves between two min-cost-flow re-routings of "
                                           "single-unit orders")
    default_moves: int = param(300, lo=0, doc="moves when the budget limits neither time nor "
                                              "work")
    moves_per_order: int = param(10, lo=1, doc="a counted budget never exceeds this many "
                                               "moves per order")
    schedule: tuple[int, ...] = param((3, 2, 4, 1, 3, 2, 4, 0), lo=0, hi=len(KINDS) - 1,
                                      doc=f"the kinds of move in turn ({', '.join(KINDS)})")


class NodeIndex:
    """Arcs grouped by node and line-arcs grouped by stock pool (CSR), to find the orders
    around a node or competing for a pool."""

    def __init__(self, p: Problem) -> None:
        self.arcs = np.argsort(p.arc_node, kind="stable")
        self.ptr = np.zeros(p.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(p.arc_node, minlength=p.n_nodes), out=self.ptr[1:])
        self.pool_e = np.argsort(p.e_pool, kind="stable")
        self.pool_ptr = np.zeros(len(p.pool_qty) + 1, dtype=np.int64)
        np.cumsum(np.bincount(p.e_pool, minlength=len(p.pool_qty)), out=self.pool_ptr[1:])


def improve(p: Problem, x: np.ndarray, budget: Budget, seed: int = 0,
            prices: Prices | None = None, params: LocalSearchParams | None = None
            ) -> tuple[np.ndarray, dict[str, Any]]:
    """Improve plan ``x`` until the budget is spent (one work unit = one move; a budget that
    limits neither time nor work gets ``params.default_moves``); never returns a worse plan.
    ``info["limit"]`` is the :class:`~router.contract.Limit` that stopped it."""
    params = params or LocalSearchParams()
    rng = np.random.default_rng(seed)
    max_moves = budget.work
    if max_moves is None and not budget.timed:
        max_moves = params.default_moves
    if max_moves is not None:
        max_moves = min(max_moves, params.moves_per_order * p.n_orders)
    deadline = budget
    if p.n_orders == 0:
        return x, {"moves": 0, "improved": 0, "limit": Limit.NONE}
    if assign.is_assignment(p):
        M = assign.Matrices(p)
        a = M.from_x(p, x)
        if (a < 0).any():
            return x, {"moves": 0, "improved": 0}
        before = M.total(a)
        a = assign.improve(M, a, rng, deadline,
                           max_rounds=None if max_moves is None else max_moves)
        limit = Limit.TIME if deadline.expired() else Limit.NONE
        return M.to_x(p, a), {"moves": 1, "improved": int(M.total(a) < before), "limit": limit}
    pr = prices or true_prices(p)
    flow_gain = 0.0
    use_flow = prices is None and len(flow.single_unit_orders(p)) > 0
    if use_flow:
        x, info = flow.reroute_within(p, x, budget)
        flow_gain += info.get("flow_gain", 0.0)
    st = State(p, x)
    tiebreak = rng.permutation(p.n_orders)
    nodes = NodeIndex(p)
    n = p.n_orders
    k_base = int(np.clip(n // params.k_div, 4, params.k_max))
    schedule = params.schedule or (0,)
    moves = improved = 0
    gains = [0.0] * len(KINDS)
    limit = Limit.NONE
    while True:
        if deadline.expired():
            limit = Limit.INTERRUPTED if deadline.cancelled() else Limit.TIME
            break
        if max_moves is not None and moves >= max_moves:
            limit = Limit.WORK if budget.work is not None else Limit.NONE
            break
        kind = schedule[moves % len(schedule)]
        k = int(rng.integers(max(2, k_base // 2), k_base + 1))
        D = _draw(p, st, nodes, rng, kind, k)
        moves += 1
        if use_flow and moves % params.flow_every == 0:
            y, info = flow.reroute_within(p, st.x, budget)
            if info.get("flow_gain", 0.0) > 0:
                flow_gain += info["flow_gain"]
                st = State(p, y)
        if len(D) == 0:
            continue
        old = order_costs(p, st.x, D)
        lines = expand_ranges(p.order_line_ptr[D], p.order_line_ptr[D + 1] - p.order_line_ptr[D])
        e = expand_ranges(p.line_e_ptr[lines], p.line_e_ptr[lines + 1] - p.line_e_ptr[lines])
        e = e[st.x[e] > 0]
        q = st.x[e].copy()
        st.remove_orders(D)
        insert_orders(p, st, D, pr, priority="regret", tiebreak=tiebreak,
                      mode="cover" if kind == 4 else "cost")
        new = order_costs(p, st.x, D)
        if new < old - 1e-9:
            improved += 1
            gains[kind] += old - new
        elif new > old + 1e-9:
            st.remove_orders(D)
            st.add(e, q)
    return st.x, {"moves": moves, "improved": improved, "flow_gain": round(flow_gain, 2),
                  "limit": limit,
                  "gain_by_move": {KINDS[i]: round(g, 2) for i, g in enumerate(gains)}}


def _draw(p: Problem, st: State, nodes: NodeIndex, rng: np.random.Generator, kind: int,
          k: int) -> np.ndarray:
    n = p.n_orders
    if kind == 4:
        # orders short of a line with every package slot used: regroup their lines
        short = np.bincount(p.line_order, weights=(st.line_need > 0) & (np.diff(p.line_e_ptr) > 0),
                            minlength=n) > 0
        cand = np.flatnonzero(short & (st.order_npk >= p.order_max_packages))
        if len(cand):
            return np.unique(rng.choice(cand, size=min(k, len(cand)), replace=False))
        kind = 2
    if kind == 3:
        # stock competitors: short lines and the orders holding the stock they could use
        short_lines = np.flatnonzero((st.line_need > 0) & (np.diff(p.line_e_ptr) > 0))
        if len(short_lines):
            pick = rng.choice(short_lines, size=min(max(1, k // 8), len(short_lines)),
                              replace=False)
            e = expand_ranges(p.line_e_ptr[pick], p.line_e_ptr[pick + 1] - p.line_e_ptr[pick])
            pools = np.unique(p.e_pool[e])
            held = expand_ranges(nodes.pool_ptr[pools], nodes.pool_ptr[pools + 1]
                                 - nodes.pool_ptr[pools])
            held = nodes.pool_e[held]
            held = held[st.x[held] > 0]
            rivals = np.unique(p.line_order[p.e_line[held]])
            if len(rivals) > k:
                rivals = rng.choice(rivals, size=k, replace=False)
            return np.unique(np.concatenate([p.line_order[pick], rivals])).astype(np.int64)
    if kind == 1 and p.n_nodes > 0:
        # around one busy node (saturated ones first): the orders it serves and some that
        # could use it
        used = np.bincount(p.arc_node[st.arc_units > 0], minlength=p.n_nodes).astype(float)
        full = (st.node_pk_left < 1) | (st.cap_left < 1)
        used = used * np.where(full, 10.0, 1.0)
        if used.sum() > 0:
            node = int(rng.choice(p.n_nodes, p=used / used.sum()))
            arcs = nodes.arcs[nodes.ptr[node]:nodes.ptr[node + 1]]
            served = p.arc_order[arcs[st.arc_units[arcs] > 0]]
            other = p.arc_order[arcs[st.arc_units[arcs] == 0]]
            half = k // 2
            chosen = [rng.choice(served, size=min(half, len(served)), replace=False)
                      if len(served) else np.zeros(0, dtype=np.int64),
                      rng.choice(other, size=min(k - half, len(other)), replace=False)
                      if len(other) else np.zeros(0, dtype=np.int64)]
            return np.unique(np.concatenate(chosen)).astype(np.int64)
    if kind == 2:
        # orders with unfilled units or more than one package
        short = np.bincount(p.line_order, weights=st.line_need > 0, minlength=n) > 0
        cand = np.flatnonzero(short | (st.order_npk > 1))
        if len(cand):
            return np.unique(rng.choice(cand, size=min(k, len(cand)), replace=False))
    return np.unique(rng.choice(n, size=min(k, n), replace=False)).astype(np.int64)
