"""Industry rule baselines, as retailers configure them today (no cost model in the choice).

- ``nearest``: ship complete from the nearest node that has every line; else each line from
  the nearest node that has it (splitting a line where one node lacks the quantity).
- ``fewest-splits``: fewest nodes first (greedy set cover: the node shipping most of the
  order's remaining lines, the nearer among equals), then least distance.

Orders are served first come, first served (in the batch's order), in vectorised rounds.
Both respect stock, unit and package capacity, eligibility and package limits like every
solver; a unit stays unfilled only where no node can ship it. Must-fill lines (GAP) left
short are completed by the shift/swap repair.
"""

from __future__ import annotations

import time

import numpy as np

from router.compile import Problem
from router.contract import Budget, Outcome, Run, SolverStats
from router.solvers.heuristics.core import (
    Prices,
    State,
    complete_must_fill,
    insert_orders,
)
from router.solvers.registry import register
from router.solvers.result import conclude


def _distance_prices(p: Problem, per_package: float) -> Prices:
    km = np.asarray(p.arc_km, dtype=np.float64)
    top = float(km.max(initial=0.0)) + 1.0
    big = per_package * top
    # a package costs its distance (plus ``per_package`` x the longest distance: fewer
    # packages first); shipping always beats leaving a unit unfilled
    return Prices(np.zeros(p.n_line_arcs), km + big,
                  np.full(p.n_lines, (big + top) * (p.n_nodes + 2) * 10.0))


def rule_solution(p: Problem, rule: str, seed: int = 0, deadline: Budget | None = None
                  ) -> tuple[np.ndarray | None, dict[str, int]]:
    st = State(p)
    if rule == "nearest":
        info = insert_orders(p, st, np.arange(p.n_orders), _distance_prices(p, 0.0),
                             priority="sequence", mode="complete", deadline=deadline)
    else:
        info = insert_orders(p, st, np.arange(p.n_orders), _distance_prices(p, 1.0),
                             priority="sequence", mode="cover", deadline=deadline)
    return complete_must_fill(p, st.x, seed, deadline), info


def _solve_rule(rule: str, problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    x, info = rule_solution(problem, rule, run.seed, run.budget)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0,
                        iterations=int(info.get("rounds", 0)), extra=dict(info))
    return conclude(rule, problem, run, x, source=rule, stats=stats)


@register("nearest", "industry rule: ship complete from the nearest node that has every "
                     "line, else each line from the nearest node that has it", "heuristic",
          work_unit="none: one pass, always complete")
def solve_nearest(problem: Problem, run: Run) -> Outcome:
    return _solve_rule("nearest", problem, run)


@register("fewest-splits", "industry rule: fewest nodes per order, then least distance",
          "heuristic", work_unit="none: one pass, always complete")
def solve_fewest_splits(problem: Problem, run: Run) -> Outcome:
    return _solve_rule("fewest-splits", problem, run)
