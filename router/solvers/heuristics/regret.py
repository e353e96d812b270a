"""``regret``: orders that lose most when their best option vanishes go first.

Routing batches: bidding rounds that accept only the top 2% of bids by regret (the cost
difference between an order's best and second-best primary node) before every order bids
again, so regrets are recomputed as stock and capacity run out. Assignment batches (GAP):
the Martello-Toth regret construction one order at a time, then the shift/swap repair.
"""

from __future__ import annotations

import time

import numpy as np

from router.compile import Problem
from router.solvers.heuristics import assign
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
    insert_orders,
    make_result,
    tiebreak_keys,
    true_prices,
)
from router.solvers.registry import Deadline, SolveOptions, SolverResult, register

CHUNK = 0.02


def regret_solution(p: Problem, seed: int = 0, deadline: Deadline | None = None
                    ) -> tuple[np.ndarray | None, dict[str, int]]:
    rng = np.random.default_rng(seed)
    if assign.is_assignment(p):
        M = assign.Matrices(p)
        x = M.to_x(p, assign.regret_assign(M))
        return complete_must_fill(p, x, rng, deadline), {}
    st = State(p)
    info = insert_orders(p, st, np.arange(p.n_orders), true_prices(p), priority="regret",
                         tiebreak=tiebreak_keys(p, seed), chunk=CHUNK, deadline=deadline)
    return complete_must_fill(p, st.x, rng, deadline), info


@register("regret", "regret ordering: orders that lose most without their best option "
                    "are routed first", "heuristic")
def solve_regret(problem: Problem, options: SolveOptions) -> SolverResult:
    t0 = time.perf_counter()
    x, info = regret_solution(problem, options.seed, Deadline(options.time_limit))
    return make_result("regret", problem, x, time.perf_counter() - t0, dict(info))
