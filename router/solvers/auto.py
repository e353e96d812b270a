"""``auto`` (placeholder while the improvement stages are wired)."""

from __future__ import annotations

from router.compile import Problem
from router.solvers.base import SolveOptions, SolverResult, register
from router.solvers.greedy import solve_greedy


@register("auto", "the best plan found within the time limit (default)", "heuristic")
def solve_auto(problem: Problem, options: SolveOptions) -> SolverResult:
    r = solve_greedy(problem, options)
    return SolverResult("auto", r.status, r.x, r.objective, r.lower_bound, r.build_seconds,
                        r.solve_seconds, {**r.stats, "stages": ["greedy"]})
