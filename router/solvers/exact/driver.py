"""What every MIP backend shares: the warm start, the wall-clock budget, the fallback to the
incumbent and the reading of the engine's answer back into units per line-arc.

A backend only supplies an *engine*: a function that takes the built :class:`MipModel`, a
complete MIP start (or ``None``), the deadline and the options, hands the model to its solver
and returns an :class:`EngineAnswer`. :func:`solve_mip` does the rest, the same way for every
engine:

1. the incumbent: ``options.warm_start`` when it is a feasible plan, else the greedy plan;
2. the model, built once (:func:`router.solvers.exact.model.build_model`);
3. the engine, stopped at the time left (the budget counts model building too);
4. the best feasible plan of engine and incumbent, with the engine's proven lower bound.

If the engine finds nothing in time, the answer is the incumbent, status ``feasible``, and
``stats["fallback"]`` says so; there is no plan only when the incumbent is incomplete too
(a tight GAP) or the batch is proven infeasible.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.compile import Problem
from router.evaluate import objective, violations
from router.solvers.exact.model import MipModel, build_model, must_fill_without_source
from router.solvers.registry import Deadline, SolveOptions, SolverResult, Status

log = logging.getLogger(__name__)

# engine statuses
OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION, ERROR = (
    "optimal", "feasible", "infeasible", "no_solution", "error")

MIN_ENGINE_SECONDS = 0.005  # below this, the engine is not started
# the greedy incumbent gets this share of the time limit, and at least INCUMBENT_MIN seconds
# of it (a complete greedy plan beats anything an engine finds in a fraction of a second)
INCUMBENT_SHARE, INCUMBENT_MIN = 0.3, 0.25


@dataclass
class EngineAnswer:
    """What an engine found: its status, column values (None: no solution), proven bound."""

    status: str
    values: np.ndarray | None = None
    bound: float | None = None
    build_seconds: float = 0.0  # handing the model to the engine
    solve_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


Engine = Callable[[MipModel, np.ndarray | None, float | None, SolveOptions], EngineAnswer]
"""``engine(model, start, seconds_left_at_call, options)``; ``start`` is a complete vector of
column values (a feasible plan) or None. The engine must stop its solver when the seconds it
was given, less what its own building used, run out."""


def engine_time_limit(seconds: float | None, started: float) -> float | None:
    """Seconds the solver itself may use: what was given, less what was spent since
    ``started`` (the engine's own model building), less a small reserve for reading back."""
    if seconds is None:
        return None
    spent = time.perf_counter() - started
    return max(0.0, seconds - spent - min(0.05, 0.02 * seconds))


# HiGHS's MIP presolve does not look at the clock inside a pass: on a 20,000-order batch one
# pass took 26 s. A pessimistic cost per nonzero: presolve is turned off when it could take
# more than half of the time left.
HIGHS_PRESOLVE_SECONDS_PER_NONZERO = 1e-5


def heavy_presolve(n_nonzeros: int, time_limit: float | None) -> bool:
    """Could HiGHS's presolve alone take more than half of ``time_limit``?"""
    return time_limit is not None and \
        n_nonzeros * HIGHS_PRESOLVE_SECONDS_PER_NONZERO > 0.5 * time_limit


def strengthen_bound(model: MipModel, bound: float | None) -> float | None:
    """A proven lower bound made as tight as the model allows for free: never below zero
    when no cost is negative, rounded up when every plan costs a whole number (GAP)."""
    if bound is None or not math.isfinite(bound):
        return None
    if model.nonnegative_objective:
        bound = max(bound, 0.0)
    if model.integral_objective:
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    return bound


# An engine improves on its warm start only after it has solved the root LP relaxation, which
# takes at least about this per nonzero (HiGHS dual simplex, one core: 2 us on the 2,000-order
# preset, 25-70 us on 20,000 orders). Started with less time, the engines find nothing and
# overrun the limit (they look at their clock only between phases).
ROOT_LP_SECONDS_PER_NONZERO = 1e-6


def too_little_time(seconds: float | None, model: MipModel, seconds_per_nonzero: float
                    ) -> EngineAnswer | None:
    """An answer without solving when handing the model over and solving its root LP would
    take longer than the time left (``seconds_per_nonzero``: an optimistic cost of the
    engine's build; ``ROOT_LP_SECONDS_PER_NONZERO``: of the root LP)."""
    need = model.n_nonzeros * (seconds_per_nonzero + ROOT_LP_SECONDS_PER_NONZERO)
    if seconds is None or need < seconds:
        return None
    return EngineAnswer(NO_SOLUTION, stats={
        "engine_note": f"not started: handing it over and solving its root LP take about "
                       f"{need:.2f} s, {seconds:.2f} s left"})


def incumbent(problem: Problem, options: SolveOptions) -> tuple[np.ndarray | None, str, float]:
    """A feasible plan to start from and fall back on: the warm start given, else greedy."""
    t0 = time.perf_counter()
    ws = options.warm_start
    if ws is not None:
        ws = np.asarray(ws)
        if (ws.shape == (problem.n_line_arcs,) and not violations(problem, ws)
                and math.isfinite(objective(problem, ws))):
            return ws.astype(np.int64), "given", time.perf_counter() - t0
        log.info("warm start for %s is not a feasible plan; using greedy", problem.name)
    from router.solvers.registry import get

    # the incumbent may use part of the budget; the engine needs the rest
    limit = None
    if options.time_limit is not None:
        limit = min(options.time_limit, max(INCUMBENT_SHARE * options.time_limit, INCUMBENT_MIN))
    res = get("greedy").func(problem, SolveOptions(time_limit=limit, seed=options.seed))
    x = res.x
    if x is None or violations(problem, x) or not math.isfinite(objective(problem, x)):
        return None, "none (greedy incomplete)", time.perf_counter() - t0
    return np.asarray(x, dtype=np.int64), "greedy", time.perf_counter() - t0


def solve_mip(name: str, problem: Problem, options: SolveOptions, engine: Engine,
              engine_label: str) -> SolverResult:
    """Run one MIP backend on ``problem`` under ``options`` (see the module docstring)."""
    deadline = Deadline(options.time_limit)
    stats: dict[str, Any] = {"engine": engine_label}

    if must_fill_without_source(problem):
        stats["note"] = "a line that must be filled has no candidate node"
        return SolverResult(name, Status.INFEASIBLE, None, None, None, 0.0, deadline.elapsed(),
                            stats)

    if problem.n_line_arcs == 0:  # nothing can ship: every unit stays unfilled
        x0 = np.zeros(0, dtype=np.int64)
        obj0 = objective(problem, x0)
        stats["note"] = "no node can ship any line"
        return SolverResult(name, Status.OPTIMAL, x0, obj0, obj0, 0.0, deadline.elapsed(), stats)

    inc_x, inc_kind, inc_secs = incumbent(problem, options)
    inc_obj = None if inc_x is None else objective(problem, inc_x)
    stats.update(warm_start=inc_kind, warm_start_seconds=round(inc_secs, 6))
    if inc_obj is not None:
        stats["warm_start_objective"] = inc_obj

    t_build = time.perf_counter()
    model = build_model(problem)
    stats["model"] = model.size()
    model_seconds = time.perf_counter() - t_build

    start = None if inc_x is None else model.values_from_x(problem, inc_x)
    left = None if options.time_limit is None else deadline.remaining()
    if left is not None and left < MIN_ENGINE_SECONDS:
        ans = EngineAnswer(NO_SOLUTION, stats={"engine_note": "no time left for the engine"})
    else:
        try:
            ans = engine(model, start, left, options)
        except Exception as e:  # an engine failure must not lose the incumbent
            log.exception("%s failed on %s", name, problem.name)
            ans = EngineAnswer(ERROR, stats={"engine_error": f"{type(e).__name__}: {e}"})
    stats.update(ans.stats)
    stats["engine_status"] = ans.status
    build_seconds = model_seconds + ans.build_seconds

    x: np.ndarray | None = None
    obj: float | None = None
    if ans.values is not None:
        x = model.x_from_values(ans.values)
        bad = violations(problem, x)
        obj = objective(problem, x) if not bad else math.inf
        if bad or not math.isfinite(obj):
            log.warning("%s: the engine's solution for %s breaks %s; discarded", name,
                        problem.name, "; ".join(bad) or "a must-fill line")
            stats["engine_solution_discarded"] = "; ".join(bad) or "must-fill line unfilled"
            x, obj = None, None

    bound = strengthen_bound(model, ans.bound)
    if ans.status == INFEASIBLE and inc_x is None and x is None:
        return SolverResult(name, Status.INFEASIBLE, None, None, None, build_seconds,
                            ans.solve_seconds, stats)
    if ans.status == INFEASIBLE:
        log.warning("%s reports %s infeasible but a feasible plan is known", name, problem.name)

    engine_valid = x is not None
    engine_plan = x is not None and (inc_obj is None or obj is None
                                     or obj <= inc_obj + 1e-9 * abs(inc_obj))
    if not engine_plan:
        if inc_x is None:
            return SolverResult(name, Status.NO_SOLUTION, None, None, bound, build_seconds,
                                ans.solve_seconds, stats)
        if x is None:
            stats["fallback"] = f"{inc_kind} plan ({ans.status}: the engine found no plan)"
        else:
            stats["plan_source"] = f"{inc_kind} plan (better than the engine's)"
        x, obj = inc_x, inc_obj
    assert x is not None and obj is not None
    if bound is not None:
        bound = min(bound, obj)
    # optimal: the engine proved its plan optimal (the plan returned is at least as good), or
    # the plan returned is within the gap asked for of the proven bound
    proven = ans.status == OPTIMAL and engine_valid
    if bound is not None:
        # trust the bound rather than the status: optimal means within the gap of the bound
        within = obj - bound <= (options.mip_gap * abs(obj) + 1e-6 * max(1.0, abs(obj)))
        if proven and not within:
            log.warning("%s reports optimal for %s but its plan costs %s against a bound of %s",
                        name, problem.name, obj, bound)
            stats["engine_claim_rejected"] = "optimal, but the plan is not within the gap"
        proven = within
    status = Status.OPTIMAL if proven else Status.FEASIBLE
    return SolverResult(name, status, x, obj, bound, build_seconds, ans.solve_seconds, stats)
