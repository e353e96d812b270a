"""What every MIP backend shares: the incumbent, the budget, the engine in a child process that
is killed at the deadline, and the reading of the engine's answer back into units per line-arc.

A backend supplies an *engine*: a function ``engine(model, start, seconds, setup, workdir)``
that hands the built :class:`MipModel` to its solver with a MIP start (or ``None``), stops it
after ``seconds`` (``None``: no time limit) and returns an :class:`EngineAnswer`. It runs in a
child process (:mod:`router.solvers.exact.isolate`), so whatever the engine does (overrun its
limit, print, change process state, crash) the caller's process is unaffected and the answer
comes back by the deadline. :func:`solve_mip` does the rest, the same way for every engine:

1. the incumbent: the run's initial plan when it is feasible, else the greedy plan;
2. the model, built once in the caller's process (:func:`~router.solvers.exact.model.build_model`);
3. the engine in its child, given the time left less the reading-back reserve, and killed
   ``kill_grace`` seconds after the budget's deadline;
4. the best feasible plan of engine and incumbent, with the engine's proven bound; the
   status by :func:`router.contract.within_gap`.

Under a work budget the engine stops after that many branch-and-bound nodes (with one thread
the run repeats exactly). If the engine finds nothing, the answer is the incumbent and the
termination says so (``fallback``); there is no plan only when the incumbent is incomplete
too (a tight GAP) or the batch is proven infeasible.
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
from router.contract import (
    Budget,
    Limit,
    Outcome,
    Params,
    Reason,
    Run,
    SolverStats,
    Status,
    Termination,
    param,
    within_gap,
)
from router.evaluate import objective, violations
from router.solvers.exact.isolate import run_isolated
from router.solvers.exact.model import MipModel, build_model, must_fill_without_source

log = logging.getLogger(__name__)

# engine statuses
OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION, ERROR = (
    "optimal", "feasible", "infeasible", "no_solution", "error")


@dataclass(frozen=True)
class MipParams(Params):
    """Tuning of the MIP backends (one work unit = one branch-and-bound node)."""

    min_engine_seconds: float = param(0.005, lo=0.0, doc="below this left, no engine is started")
    incumbent_share: float = param(0.3, lo=0.0, hi=1.0,
                                   doc="share of the budget the greedy incumbent may use")
    incumbent_min: float = param(0.25, lo=0.0, doc="seconds the greedy incumbent may use at least")
    kill_grace: float = param(0.05, lo=0.0, doc="seconds past the deadline before the engine's "
                                                "process is killed")
    presolve_seconds_per_nonzero: float = param(
        1e-5, lo=0.0, doc="HiGHS presolve (pessimistic): off when it could take half the time")
    root_lp_seconds_per_nonzero: float = param(
        1e-6, lo=0.0, doc="the root LP (optimistic): the engine is not started when the "
                          "hand-over and the root LP cannot fit the time left")
    cpsat_light_presolve_nonzeros: int = param(
        50_000, lo=0, doc="above this, CP-SAT presolves lightly (no probing)")
    engine_options: tuple[str, ...] = param(
        (), doc="passed to the engine: CBC options ('name value'), or 'name=value' fields of "
                "OR-Tools' SolveParametersProto")


@dataclass
class EngineAnswer:
    """What an engine found: its status, column values (None: no solution), proven bound."""

    status: str
    values: np.ndarray | None = None
    bound: float | None = None
    build_seconds: float = 0.0  # handing the model to the engine
    solve_seconds: float = 0.0
    nodes: int = 0
    iterations: int = 0
    detail: str = ""
    limit: Limit = Limit.NONE
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineSetup:
    """What an engine needs besides the model: seed, gap, threads, work limit, verbosity and
    the backend's parameters."""

    seed: int
    mip_gap: float
    threads: int
    node_limit: int | None
    verbose: bool
    params: MipParams


Engine = Callable[[MipModel, "np.ndarray | None", "float | None", EngineSetup, str],
                  EngineAnswer]


def engine_time_limit(seconds: float | None, started: float) -> float | None:
    """Seconds the solver itself may use: what was given, less what was spent since
    ``started`` (the engine's own model building), less a small reserve for reading back."""
    if seconds is None:
        return None
    spent = time.perf_counter() - started
    return max(0.0, seconds - spent - min(0.05, 0.02 * seconds))


def heavy_presolve(n_nonzeros: int, time_limit: float | None, params: MipParams) -> bool:
    """Could HiGHS's presolve alone take more than half of ``time_limit``? (It does not look
    at the clock inside a pass: on a 20,000-order batch one pass took 26 s.)"""
    return time_limit is not None and \
        n_nonzeros * params.presolve_seconds_per_nonzero > 0.5 * time_limit


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


MIN_NONZEROS_PER_LINE_ARC = 2
"""Every line-arc's variable sits in its line's row and in at least one limit's row: a lower
estimate of the model's size before it is built (measured: 2.0 on GAP files, 5.5-5.9 on the
sale-day presets)."""


def too_little_time(seconds: float | None, n_nonzeros: int, seconds_per_nonzero: float,
                    params: MipParams) -> str:
    """Why not to start the engine ('' to start it): handing a model of ``n_nonzeros`` over
    (``seconds_per_nonzero``, optimistic) and solving its root LP would take longer than the
    time left, so the engine would find nothing."""
    need = n_nonzeros * (seconds_per_nonzero + params.root_lp_seconds_per_nonzero)
    if seconds is None or need < seconds:
        return ""
    return (f"not started: handing the model over and solving its root LP take about "
            f"{need:.2f} s, {seconds:.2f} s left")


def incumbent(problem: Problem, run: Run, params: MipParams
              ) -> tuple[np.ndarray | None, str, float]:
    """A feasible plan to start from and fall back on: the run's initial plan, else greedy."""
    t0 = time.perf_counter()
    if run.initial is not None:
        x0 = np.asarray(run.initial)
        if (x0.shape == (problem.n_line_arcs,) and not violations(problem, x0)
                and math.isfinite(objective(problem, x0))):
            return x0.astype(np.int64), "initial", time.perf_counter() - t0
        log.info("initial plan for %s is not feasible; using greedy", problem.name)
    from router.solvers.heuristics.greedy import greedy_solution

    b = run.budget
    if b.timed:  # the incumbent may use part of the budget; the engine needs the rest
        left = b.remaining()
        b = b.within(min(left, max(params.incumbent_share * left, params.incumbent_min)))
    x, _ = greedy_solution(problem, run.seed, b)
    if x is None or violations(problem, x) or not math.isfinite(objective(problem, x)):
        return None, "none (greedy incomplete)", time.perf_counter() - t0
    return np.asarray(x, dtype=np.int64), "greedy", time.perf_counter() - t0


def run_engine(engine: Engine, model: MipModel, start: np.ndarray | None, budget: Budget,
               setup: EngineSetup, label: str) -> EngineAnswer:
    """The engine in a child process, given the time left and killed ``kill_grace`` past the
    budget's deadline (or when the run is cancelled)."""
    if budget.expired():
        return EngineAnswer(NO_SOLUTION, detail="not started: no time left",
                            limit=Limit.INTERRUPTED if budget.cancelled() else Limit.TIME)
    hard = None if budget.deadline is None else budget.deadline + setup.params.kill_grace
    res = run_isolated(_in_child, engine, model, start, budget.deadline, setup,
                       hard_deadline=hard, label=label, verbose=setup.verbose,
                       cancel=budget.cancel)
    if res.ok and res.value is not None:
        return res.value
    status = NO_SOLUTION if res.failure in ("killed", "interrupted") else ERROR
    limit = {"killed": Limit.TIME, "interrupted": Limit.INTERRUPTED}.get(res.failure, Limit.NONE)
    return EngineAnswer(status, solve_seconds=res.seconds, detail=res.detail, limit=limit,
                        notes=(res.detail,))


def _in_child(engine: Engine, model: MipModel, start: np.ndarray | None,
              deadline: float | None, setup: EngineSetup, workdir: str) -> EngineAnswer:
    """In the engine's process: the seconds left until the absolute deadline (the monotonic
    clock is the same in every process), counted from here, so that loading the engine's
    modules is part of its time."""
    seconds = None if deadline is None else max(0.0, deadline - time.perf_counter())
    return engine(model, start, seconds, setup, workdir)


def solve_mip(name: str, problem: Problem, run: Run, engine: Engine, engine_label: str,
              seconds_per_nonzero: float) -> Outcome:
    """Run one MIP backend on ``problem`` (see the module docstring)."""
    t0 = time.perf_counter()
    params = run.params if isinstance(run.params, MipParams) else MipParams()
    base = SolverStats(engine=engine_label)

    if must_fill_without_source(problem):
        return Outcome(name, Status.INFEASIBLE, Termination(
            Reason.INFEASIBLE, detail="a line that must be filled has no candidate node"),
            None, None, None, name, base)
    if problem.n_line_arcs == 0:  # nothing can ship: every unit stays unfilled
        x0 = np.zeros(0, dtype=np.int64)
        obj0 = objective(problem, x0)
        return Outcome(name, Status.OPTIMAL, Termination(
            Reason.OPTIMAL, detail="no node can ship any line"), x0, obj0, obj0, name, base)

    inc_x, inc_kind, inc_secs = incumbent(problem, run, params)
    inc_obj = None if inc_x is None else objective(problem, inc_x)
    extra: dict[str, Any] = {"warm_start": inc_kind, "warm_start_seconds": round(inc_secs, 6)}
    if inc_obj is not None:
        extra["warm_start_objective"] = inc_obj

    budget = run.budget
    setup = EngineSetup(run.seed, run.mip_gap, run.threads, budget.work, run.verbose, params)

    def why_not_start(n_nonzeros: int) -> str:
        left = budget.remaining() if budget.timed else None
        if budget.expired():
            return "not started: no time left"
        if left is not None and left < params.min_engine_seconds:
            return "not started: no time left for the engine"
        return too_little_time(left, n_nonzeros, seconds_per_nonzero, params)

    # the model is not even built when a lower estimate of its size says it cannot be solved
    why_not = why_not_start(MIN_NONZEROS_PER_LINE_ARC * problem.n_line_arcs)
    model_seconds = 0.0
    model: MipModel | None = None
    if not why_not:
        t_build = time.perf_counter()
        model = build_model(problem)
        extra["model"] = model.size()
        model_seconds = time.perf_counter() - t_build
        why_not = why_not_start(model.n_nonzeros)
    if why_not or model is None:
        ans = EngineAnswer(NO_SOLUTION, detail=why_not,
                           limit=Limit.INTERRUPTED if budget.cancelled() else Limit.TIME)
    else:
        start = None if inc_x is None else model.values_from_x(problem, inc_x)
        ans = run_engine(engine, model, start, budget, setup, f"{name} ({engine_label})")
    build_seconds = model_seconds + ans.build_seconds

    x: np.ndarray | None = None
    obj: float | None = None
    notes = list(ans.notes)
    if ans.values is not None and model is not None:
        x = model.x_from_values(ans.values)
        bad = violations(problem, x)
        obj = objective(problem, x) if not bad else math.inf
        if bad or not math.isfinite(obj):
            why = "; ".join(bad) or "a must-fill line is short"
            log.warning("%s: the engine's solution for %s breaks %s; discarded", name,
                        problem.name, why)
            notes.append(f"the engine's solution was discarded: {why}")
            x, obj = None, None

    bound = None if model is None else strengthen_bound(model, ans.bound)
    stats = base.but(build_seconds=build_seconds, solve_seconds=ans.solve_seconds,
                     nodes=ans.nodes, iterations=ans.iterations, work=ans.nodes,
                     engine_status=ans.status, engine_detail=ans.detail,
                     notes=tuple(n for n in notes if n), extra={**extra, **ans.extra})
    if ans.status == INFEASIBLE and inc_x is None and x is None:
        return Outcome(name, Status.INFEASIBLE, Termination(Reason.INFEASIBLE, ans.limit,
                                                            ans.detail), None, None, None,
                       name, stats)
    if ans.status == INFEASIBLE:
        log.warning("%s reports %s infeasible but a feasible plan is known", name, problem.name)

    engine_failed = ans.status == ERROR
    fallback = ""
    source = name
    if x is None or (inc_obj is not None and obj is not None
                     and obj > inc_obj + 1e-9 * abs(inc_obj)):
        if inc_x is None:
            limit = ans.limit if ans.limit != Limit.NONE else Limit.TIME if budget.expired() \
                else Limit.NONE
            reason = Reason.ENGINE_FAILURE if engine_failed else (
                Reason.LIMIT if limit != Limit.NONE else Reason.COMPLETED)
            return Outcome(name, Status.NO_SOLUTION, Termination(reason, limit, ans.detail),
                           None, None, bound, "", stats)
        if x is None:
            fallback = (f"the engine found no plan ({ans.detail or ans.status}); "
                        f"the {inc_kind} plan is returned")
        x, obj, source = inc_x, inc_obj, inc_kind
    assert x is not None and obj is not None
    if bound is not None and bound > obj and not within_gap(bound, obj, 0.0):
        log.error("%s: bound %s above the plan's cost %s on %s; dropped", name, bound, obj,
                  problem.name)
        stats = stats.but(notes=(*stats.notes, f"bound {bound} above the plan dropped"))
        bound = None
    elif bound is not None:
        bound = min(bound, obj)
    proven = within_gap(obj, bound, run.mip_gap)
    if ans.status == OPTIMAL and not proven and x is not None:
        log.warning("%s reports optimal for %s but its plan costs %s against a bound of %s",
                    name, problem.name, obj, bound)
        stats = stats.but(notes=(*stats.notes, "the engine's optimality claim is not within the "
                                               "gap of its bound: not trusted"))
    limit = ans.limit
    if proven:
        reason = Reason.OPTIMAL
    elif engine_failed:
        reason = Reason.ENGINE_FAILURE
    elif limit != Limit.NONE:
        reason = Reason.LIMIT
    else:
        reason = Reason.COMPLETED
    stats = stats.but(solve_seconds=time.perf_counter() - t0 - build_seconds)
    status = Status.OPTIMAL if proven else Status.FEASIBLE
    return Outcome(name, status, Termination(reason, limit, ans.detail, fallback), x, obj,
                   bound, source, stats)
