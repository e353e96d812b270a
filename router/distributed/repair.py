"""The final repair: the shards' plans joined into one plan of the whole batch, feasible.

Each shard routes within the limits allotted to it on the stock pools and node capacities it
shares, and the allotments of a row sum to at most its limit, so the union keeps every limit;
should it not (a plan from elsewhere), every order on an overloaded row is taken out first.
Then the units the allotments left over (rounding, a shard's unused share) serve the lines
still short: the bidding rounds over the whole batch insert every order with a short line,
at true costs, into what is left. Optionally local search improves the whole plan with the
time (or moves) left: the one stage that looks at the batch as a whole, and so the stage
that bounds how far the decomposition scales.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import Budget
from router.solvers.heuristics import local_search
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
    insert_orders,
    tiebreak_keys,
    true_prices,
)

TOL = 1e-6


def overloaded_orders(p: Problem, x: np.ndarray) -> np.ndarray:
    """Orders that ship on a pool or node whose limit ``x`` exceeds."""
    x = np.asarray(x)
    pool_used = np.bincount(p.e_pool, weights=x, minlength=len(p.pool_qty))
    arc_units = np.bincount(p.e_arc, weights=x, minlength=p.n_arcs)
    used = arc_units > 0
    node_pk = np.bincount(p.arc_node[used], minlength=p.n_nodes)
    e_node = p.e_node
    node_use = np.bincount(e_node, weights=x * p.e_use, minlength=p.n_nodes)
    bad_pool = pool_used > p.pool_qty + TOL
    bad_node = (node_pk > p.node_max_packages + TOL) | (node_use > p.node_capacity + TOL)
    e_bad = (x > 0) & (bad_pool[p.e_pool] | bad_node[e_node])
    return np.unique(p.line_order[p.e_line[e_bad]])


def short_orders(p: Problem, st: State) -> np.ndarray:
    """Orders with a line short of its quantity and a candidate arc."""
    short_line = st.line_need > 0
    o = np.unique(p.line_order[short_line])
    return o[p.order_arc_ptr[o + 1] > p.order_arc_ptr[o]]


def repair(p: Problem, x: np.ndarray, budget: Budget, seed: int = 0, *,
           polish: bool = True, polish_moves: int | None = None
           ) -> tuple[np.ndarray, dict[str, Any]]:
    """A feasible plan of the whole batch from the union ``x`` of the shards' plans (see the
    module docstring); ``polish_moves``: local-search moves at most (``None``: the budget's
    time decides; 0: none)."""
    x = np.asarray(x, dtype=np.int64).copy()
    info: dict[str, Any] = {}
    bad = overloaded_orders(p, x)
    st = State(p, x)
    if len(bad):
        st.remove_orders(bad)
    info["removed_orders"] = int(len(bad))
    short = short_orders(p, st)
    info["reinserted_orders"] = int(len(short))
    if len(short):
        insert_orders(p, st, short, true_prices(p), priority="regret",
                      tiebreak=tiebreak_keys(p, seed))
    x = st.x
    if p.must_fill:
        filled = complete_must_fill(p, x, seed, budget)
        if filled is not None:
            x = filled
    if polish and (polish_moves is None or polish_moves > 0) and not budget.expired():
        b = budget if polish_moves is None else budget.with_work(polish_moves)
        if b.limited:
            x, ls = local_search.improve(p, x, b, seed)
            info["moves"] = int(ls.get("moves", 0))
    return np.asarray(x, dtype=np.int64), info
