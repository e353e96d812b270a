"""``regret``: orders that lose most when their best option vanishes go first.

Routing batches: bidding rounds that accept only the top 2% of bids by regret (the cost
difference between an order's best and second-best primary node) before every order bids
again, so regrets are recomputed as stock and capacity run out. Assignment batches (GAP):
the Martello-Toth regret construction one order at a time, then the shift/swap repair.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from router.compile import Problem
from router.contract import Budget, Outcome, Params, Run, SolverStats, param
from router.solvers.heuristics import assign
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
    insert_orders,
    tiebreak_keys,
    true_prices,
)
from router.solvers.registry import register
from router.solvers.result import conclude


@dataclass(frozen=True)
class RegretParams(Params):
    solver = "regret"
    chunk: float = param(0.02, lo=1e-6, hi=1.0,
                         doc="share of the bids accepted per round before regrets are recomputed")


def regret_solution(p: Problem, seed: int = 0, deadline: Budget | None = None,
                    params: RegretParams | None = None
                    ) -> tuple[np.ndarray | None, dict[str, int]]:
    params = params or RegretParams()
    rng = np.random.default_rng(seed)
    if assign.is_assignment(p):
        M = assign.Matrices(p)
        x = M.to_x(p, assign.regret_assign(M))
        return complete_must_fill(p, x, rng, deadline), {}
    st = State(p)
    info = insert_orders(p, st, np.arange(p.n_orders), true_prices(p), priority="regret",
                         tiebreak=tiebreak_keys(p, seed), chunk=params.chunk, deadline=deadline)
    return complete_must_fill(p, st.x, rng, deadline), info


@register("regret", "regret ordering: orders that lose most without their best option "
                    "are routed first", "heuristic", params=RegretParams,
          work_unit="none: one pass, always complete")
def solve_regret(problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    params = run.params if isinstance(run.params, RegretParams) else RegretParams()
    x, info = regret_solution(problem, run.seed, run.budget, params)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0,
                        iterations=int(info.get("rounds", 0)), extra=dict(info))
    return conclude("regret", problem, run, x, source="regret", stats=stats)
