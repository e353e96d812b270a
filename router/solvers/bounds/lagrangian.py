"""``lagrangian``: the Lagrangian heuristic: a proven bound and prices from the Lagrangian dual,
the plan they suggest, and local search.

1. ``greedy`` (the caller's ``initial`` plan competes): the incumbent.
2. ``bound``: the Lagrangian dual of the coupling rows (stock pools, node packages, node
   units) maximised by column generation (:func:`router.solvers.bounds.dual.lagrangian_bound`,
   in a child process killed at its deadline), within ``subgradient_share`` of the budget:
   a proven bound at least as strong as the LP relaxation once converged, the prices of the
   coupling rows, and the master's LP solution over the plans it met.
3. ``rounded``: that solution rounded (every order its plan of largest weight), the orders
   it leaves fractional or that overload a row routed again by the bidding rounds under
   true costs (:func:`router.solvers.bounds.primal.rounded_plan`).
4. Local search (:mod:`router.solvers.heuristics.local_search`) on the best plan until the
   budget is spent.

One work unit is a round of column generation or a local-search move; without a limit the
run does ``default_iterations`` rounds at most and ``default_moves`` moves. The priced
restricted master as an integer program (price-and-branch) is ``auto``'s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import Limit, Outcome, Params, Run, SolverStats, StageRecord, param
from router.evaluate import objective
from router.solvers.bounds.dual import bound_stats_dict, isolated_bound
from router.solvers.bounds.primal import rounded_plan
from router.solvers.heuristics import local_search
from router.solvers.heuristics.greedy import greedy_solution
from router.solvers.registry import register
from router.solvers.result import conclude


@dataclass(frozen=True)
class LagrangianParams(Params):
    """The ``lagrangian`` solver (one work unit = a round of column generation or a
    local-search move)."""

    solver = "lagrangian"
    subgradient_share: float = param(
        0.5, lo=0.0, hi=1.0, doc="share of the budget for the Lagrangian dual (column "
                                 "generation; it stops earlier once converged)")
    default_iterations: int = param(60, lo=0,
                                    doc="rounds of column generation at most when nothing "
                                        "limits the budget")
    default_moves: int = param(300, lo=0,
                               doc="local-search moves when nothing limits the budget")


@register("lagrangian", "the Lagrangian dual by column generation (a proven bound and the "
                        "prices of stock and capacity), its rounded plan repaired by the "
                        "bidding rounds, local search", "heuristic", params=LagrangianParams,
          work_unit="a round of column generation or a local-search move")
def solve_lagrangian(problem: Problem, run: Run) -> Outcome:
    t0 = time.perf_counter()
    p = problem
    params = run.params if isinstance(run.params, LagrangianParams) else LagrangianParams()
    budget = run.budget
    if not budget.limited:
        budget = budget.with_work(params.default_iterations + params.default_moves)
    stages: list[StageRecord] = []
    extra: dict[str, Any] = {}
    best_x: np.ndarray | None = None
    best = math.inf
    source = ""
    lb: float | None = None

    def offer(x: np.ndarray | None, name: str) -> None:
        nonlocal best_x, best, source
        if x is None:
            return
        c = objective(p, x)
        if math.isfinite(c) and c < best - 1e-9:
            best_x, best, source = np.asarray(x, dtype=np.int64), c, name

    def stage(name: str, t: float, work: int = 0, note: str = "") -> None:
        stages.append(StageRecord(name, time.perf_counter() - t, work,
                                  best if best_x is not None else None, lb, note))

    t = time.perf_counter()
    x0, _ = greedy_solution(p, run.seed, budget)
    offer(x0, "greedy")
    if run.initial is not None:
        offer(np.array(run.initial), "initial")
    stage("greedy", t)
    rounds = 0
    if p.n_orders and p.n_line_arcs and not budget.expired():
        t = time.perf_counter()
        share = budget.share(params.subgradient_share) if budget.timed else budget
        limit = None if share.work is None else share.work
        if not budget.timed:
            limit = params.default_iterations if limit is None else \
                min(limit, params.default_iterations)
        res, why = isolated_bound(p, share, max_iterations=limit)
        if res is not None:
            rounds = res.stats.iterations
            extra["bound"] = {k: v for k, v in bound_stats_dict(res.stats).items()
                              if k != "history"}
            if res.bound == math.inf:
                return conclude("lagrangian", p, run, None, infeasible=True,
                                stats=SolverStats(
                                    solve_seconds=time.perf_counter() - t0,
                                    stages=tuple(stages), extra=extra,
                                    notes=("a line that must be filled has no feasible "
                                           "source",)))
            lb = res.bound if math.isfinite(res.bound) else None
            offer(res.x, "bound")
            stage("bound", t, rounds, f"{res.stats.stop}, {rounds} rounds")
            if res.pool is not None:
                t = time.perf_counter()
                x, info = rounded_plan(p, res.pool, run.seed, budget)
                offer(x, "rounded")
                extra["rounded"] = info
                stage("rounded", t, 0, f"{info['rerouted']} orders routed again")
        else:
            stage("bound", t, 0, why)
    limit_hit = Limit.NONE
    if best_x is not None and (lb is None or best > lb + 1e-6 * max(1.0, abs(best))) \
            and not budget.expired():
        t = time.perf_counter()
        rest = budget.with_work(None if budget.work is None else budget.work - rounds)
        x, ls = local_search.improve(p, best_x, rest, run.seed)
        limit_hit = ls.pop("limit", Limit.NONE)
        offer(x, "local_search")
        stage("local_search", t, int(ls.get("moves", 0)))
        extra.update({"ls_" + k: v for k, v in ls.items()})
    elif budget.expired():
        limit_hit = Limit.INTERRUPTED if budget.cancelled() else Limit.TIME
    work = sum(st.work for st in stages)
    stats = SolverStats(solve_seconds=time.perf_counter() - t0, work=work, iterations=rounds,
                        stages=tuple(stages), extra=extra)
    return conclude("lagrangian", p, run, best_x, bound=lb, source=source or "lagrangian",
                    limit=limit_hit, stats=stats)
