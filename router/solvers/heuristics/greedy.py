"""``greedy``: the fast baseline and the fallback that always returns a plan.

Bidding rounds over all orders (:func:`router.solvers.heuristics.core.insert_orders`): every
order bids for its best option given what is left (a primary node shipping the lines it
carries best together, the other lines from their cheapest sources, short lines split where
stock is short); conflicts on stock, package and unit capacity are settled by regret (the
order that loses most without its bid wins), the rest bid again. Stock, capacities and
package limits are never exceeded; a unit stays unfilled only where nothing cheaper than its
penalty can ship it. Must-fill lines (GAP) left short are completed by the shift/swap repair
of :mod:`router.solvers.heuristics.assign`, then a quick descent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from router.compile import Problem
from router.contract import Budget, NoParams, Outcome, Run, SolverStats
from router.solvers.heuristics.core import (
    State,
    complete_must_fill,
    insert_orders,
    tiebreak_keys,
    true_prices,
)
from router.solvers.registry import register
from router.solvers.result import conclude


def greedy_solution(p: Problem, seed: int = 0, deadline: Budget | None = None,
                    engine: str = "auto") -> tuple[np.ndarray | None, dict[str, int]]:
    """Units per line-arc from the bidding rounds (``None`` if a must-fill line cannot be
    filled), and round statistics. ``engine``: the compiled rounds (``"jit"``) or their
    numpy twin (``"numpy"``), which give the same plan (``"auto"``: compiled where numba
    is enabled)."""
    st = State(p)
    info = insert_orders(p, st, np.arange(p.n_orders), true_prices(p), priority="regret",
                         tiebreak=tiebreak_keys(p, seed), deadline=deadline, engine=engine)
    x = complete_must_fill(p, st.x, seed, deadline)
    return x, info


@dataclass(frozen=True)
class GreedyParams(NoParams):
    """greedy has no tuning parameters: one pass of the bidding rounds, whatever the budget."""

    solver = "greedy"


@register("greedy", "vectorised bidding rounds: every order bids for its best option given "
                    "what is left, conflicts settled by regret", "heuristic", params=GreedyParams,
          work_unit="none: one pass, always complete")
def solve_greedy(problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    x, info = greedy_solution(problem, run.seed, run.budget)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0,
                        iterations=int(info.get("rounds", 0)), extra=dict(info))
    return conclude("greedy", problem, run, x, source="greedy", stats=stats)
