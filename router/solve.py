"""The pipeline of one batch: compile -> solve -> plan -> verify.

``router.solve`` is what an order service calls on every batch. It keeps the run contract
(:mod:`router.contract`):

- The time limit counts from the call: compilation, the solver, building the plan and
  verifying it all fit in it. The solver gets the limit less a reserve for building and
  verifying the plan (:class:`PipelineParams`, measured per line). The call returns within the
  limit plus a small overhead (docs/reference.md, "Time limits"); the floor is one greedy pass:
  a batch whose compilation and first greedy plan take longer than the limit is answered
  late, and the result says so (``termination.detail``, ``stats.notes``).
- Solvers see only the compiled problem. The plan that comes back is checked by the
  independent verifier from the instance itself; a plan that fails is replaced by the greedy
  plan (the failure logged and noted), so the caller always gets a valid plan.
- ``initial``: a plan to start from (for example the previous batch's plan for the same
  orders). Solvers that can use it do (the MIP backends as their MIP start, ``auto`` and
  ``lagrangian`` as their first incumbent); whatever the solver, the answer is never worse
  than a feasible initial plan.
- Thread-safe: each call has its own budget and state; engines run in child processes of
  their own (:mod:`router.solvers.exact.isolate`). Calls from several threads at once are
  safe; each may be cancelled through ``cancel`` (a :class:`threading.Event`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.compile import Problem, compile_problem
from router.contract import (
    Budget,
    Limit,
    Outcome,
    Params,
    Reason,
    Run,
    RunStats,
    Status,
    Termination,
    check_gap,
    check_seed,
    check_threads,
    param,
)
from router.errors import OptionError, VerificationError
from router.evaluate import objective, violations
from router.instance import GapInstance, Instance
from router.plan import Plan, build_plan, x_from_plan
from router.solvers.registry import get
from router.verify import verify as verify_plan

log = logging.getLogger(__name__)

DEFAULT_SOLVER = "auto"
RUN_OPTIONS = ("time_limit", "work_limit", "seed", "mip_gap", "threads", "initial", "verify",
               "problem", "cancel", "params", "verbose")


@dataclass(frozen=True)
class PipelineParams(Params):
    """Costs of the stages around the solver, kept back from a timed solver's budget: about
    2.5 times what ``python -m benchmarks.plan_speed`` measures (benchmarks/results/
    plan_speed.md: building the plan 1.0-1.7 us and verifying it 1.3-1.8 us of CPU per line on
    l and xl), for a loaded machine and plans with more shipments per line."""

    plan_seconds_per_line: float = param(4e-6, lo=0.0, doc="building the plan, per line")
    verify_seconds_per_line: float = param(5e-6, lo=0.0, doc="the verifier, per line")
    fixed_seconds: float = param(0.002, lo=0.0, doc="per call")


PIPELINE = PipelineParams()


def solve(instance: Instance | GapInstance, solver: str = DEFAULT_SOLVER,
          time_limit: float | None = None, seed: int = 0, *, work_limit: int | None = None,
          mip_gap: float = 1e-4, threads: int = 1, initial: Plan | None = None,
          verify: bool = True, problem: Problem | None = None,
          cancel: threading.Event | None = None, params: Params | None = None,
          verbose: bool = False, **options: Any) -> Plan:
    """Route one batch and return its verified :class:`~router.plan.Plan`.

    ``time_limit``: wall-clock seconds for the whole call, compilation included (``None`` or
    ``inf``: none). ``work_limit``: work units (the solver's, see ``router solvers``): a run
    stopped by work repeats exactly for the same seed. Without either, every solver does a
    fixed default amount of work and stops. ``seed`` makes randomised solvers repeatable;
    ``mip_gap`` is the relative gap within which a plan counts as optimal; ``threads`` the
    threads an engine may use. ``problem`` may pass the already compiled instance.
    Solver parameters go by keyword (``lagrangian_share=0.3``) or as ``params``; an unknown
    name is an error naming the valid ones. ``verbose``: engines log their progress (to the
    ``router`` logger).
    """
    t0 = time.perf_counter()
    budget = Budget.start(time_limit, work_limit, cancel)
    seed, mip_gap, threads = check_seed(seed), check_gap(mip_gap), check_threads(threads)
    info = get(solver)
    if params is None:
        solver_params = info.params.build(options, solver, RUN_OPTIONS)
    elif options:
        raise OptionError(f"give solver parameters either as params or as keywords, not both "
                          f"({', '.join(options)})")
    elif not isinstance(params, info.params):
        raise OptionError(f"params for solver {solver!r} must be {info.params.__name__}, not "
                          f"{type(params).__name__}")
    else:
        solver_params = params
    if problem is None:
        problem = compile_problem(instance)
    notes: list[str] = []
    x0 = _initial(problem, initial, notes)

    reserve = 0.0
    if budget.timed:
        reserve = PIPELINE.fixed_seconds + problem.n_lines * (
            PIPELINE.plan_seconds_per_line
            + (PIPELINE.verify_seconds_per_line if verify else 0.0))
    run = Run(budget=budget.before(reserve), seed=seed, mip_gap=mip_gap, threads=threads,
              params=solver_params, initial=x0, verbose=verbose)
    outcome = info.func(problem, run)
    outcome = _floor(problem, run, outcome, solver)
    outcome = _not_worse_than(problem, run, outcome, x0)

    stats = _stats(problem, outcome, t0, time_limit, work_limit, notes)
    plan = build_plan(problem, solver, outcome.status, outcome.x, outcome.bound, stats,
                      outcome.termination, outcome.source)
    if verify and plan.has_plan:
        tv = time.perf_counter()
        report = verify_plan(instance, plan, raise_on_error=False)
        if not report.ok and all(v.code == "lower-bound" for v in report.violations):
            # the plan is sound, its bound is not: never report that bound
            log.error("%s: bound %s above the plan's cost on %s; dropped", solver,
                      plan.lower_bound, problem.name)
            notes.append(f"the bound {plan.lower_bound!r} was above the plan's cost: dropped")
            outcome = outcome.but(bound=None)
            if outcome.status == Status.OPTIMAL:
                outcome = outcome.but(status=Status.FEASIBLE, termination=Termination(
                    Reason.COMPLETED, outcome.termination.limit, outcome.termination.detail,
                    outcome.termination.fallback))
            stats = _stats(problem, outcome, t0, time_limit, work_limit, notes)
            plan = build_plan(problem, solver, outcome.status, outcome.x, None, stats,
                              outcome.termination, outcome.source)
            report = verify_plan(instance, plan, raise_on_error=False)
        if not report.ok:
            log.error("plan of %s failed verification:\n%s", solver, report)
            if solver == "greedy" or outcome.source == "greedy":
                raise VerificationError(report)
            notes.append(f"the plan of {solver} failed verification; the greedy plan replaced it")
            outcome = _greedy(problem, run, outcome.but(bound=None),
                              f"{solver} plan failed verification")
            stats = _stats(problem, outcome, t0, time_limit, work_limit, notes)
            plan = build_plan(problem, solver, outcome.status, outcome.x, outcome.bound, stats,
                              outcome.termination, outcome.source)
            verify_plan(instance, plan)
        verify_seconds = time.perf_counter() - tv
        plan = plan.with_stats(plan.stats.but(verify_seconds=verify_seconds,
                                              seconds=time.perf_counter() - t0))
    return plan


def _initial(problem: Problem, initial: Plan | None, notes: list[str]) -> np.ndarray | None:
    """The starting plan as units per line-arc, when it is a feasible plan of this batch."""
    if initial is None:
        return None
    if not isinstance(initial, Plan):
        raise OptionError(f"initial must be a router.Plan, not {type(initial).__name__}")
    x, why = x_from_plan(problem, initial)
    if x is None:
        notes.append(f"initial plan not used: {why}")
        log.warning("initial plan not used for %s: %s", problem.name, why)
        return None
    bad = violations(problem, x)
    if bad or not math.isfinite(objective(problem, x)):
        why = "; ".join(bad) or "a line that must be filled is short"
        notes.append(f"initial plan not used: it is not feasible here ({why})")
        log.warning("initial plan not used for %s: %s", problem.name, why)
        return None
    return x


def _greedy(problem: Problem, run: Run, failed: Outcome, why: str) -> Outcome:
    """The floor: one greedy pass (whatever the budget), keeping the failed run's bound."""
    from router.solvers.heuristics.greedy import GreedyParams

    g = get("greedy").func(problem, run.but(params=GreedyParams(), initial=None))
    term = Termination(failed.termination.reason if failed.termination.reason
                       in (Reason.ENGINE_FAILURE, Reason.LIMIT) else Reason.COMPLETED,
                       failed.termination.limit, failed.termination.detail, why)
    bound = failed.bound
    status = g.status
    if g.x is not None and status == Status.OPTIMAL:
        status = Status.FEASIBLE  # greedy's own proof, if any, is rechecked below
    out = failed.but(status=status, x=g.x, objective=g.objective, source="greedy",
                     termination=term)
    if g.x is not None and bound is not None and g.objective is not None:
        from router.contract import within_gap

        if within_gap(g.objective, bound, run.mip_gap):
            out = out.but(status=Status.OPTIMAL, termination=Termination(
                Reason.OPTIMAL, term.limit, term.detail, why))
    return out


def _floor(problem: Problem, run: Run, outcome: Outcome, solver: str) -> Outcome:
    if outcome.has_plan or outcome.status == Status.INFEASIBLE or solver == "greedy":
        return outcome
    log.warning("%s found no plan for %s; the greedy floor answers", solver, problem.name)
    return _greedy(problem, run, outcome, f"{solver} found no plan")


def _not_worse_than(problem: Problem, run: Run, outcome: Outcome,
                    x0: np.ndarray | None) -> Outcome:
    if x0 is None or outcome.status == Status.INFEASIBLE:
        return outcome
    c0 = objective(problem, x0)
    if outcome.objective is not None and outcome.objective <= c0 + 1e-9 * max(1.0, abs(c0)):
        return outcome
    from router.contract import within_gap

    status = Status.OPTIMAL if within_gap(c0, outcome.bound, run.mip_gap) else Status.FEASIBLE
    term = outcome.termination
    if status == Status.OPTIMAL:
        term = Termination(Reason.OPTIMAL, term.limit, term.detail, term.fallback)
    elif term.reason == Reason.OPTIMAL:
        term = Termination(Reason.COMPLETED, term.limit, term.detail, term.fallback)
    return outcome.but(status=status, x=x0, objective=c0, source="initial", termination=term)


def _stats(problem: Problem, outcome: Outcome, t0: float, time_limit: float | None,
           work_limit: int | None, notes: list[str]) -> RunStats:
    seconds = time.perf_counter() - t0
    solver_notes = tuple(outcome.stats.notes) + tuple(notes)
    limit = None if time_limit is None or math.isinf(time_limit) else float(time_limit)
    if limit is not None and seconds > limit:
        solver_notes += (f"over the time limit: the call took {seconds:.3f} s of {limit:g} s"
                         + (" (the floor: compilation and one greedy pass)"
                            if outcome.source == "greedy" else ""),)
    stats = RunStats.of(outcome.stats, seconds=seconds, compile_seconds=problem.compile_seconds,
                        time_limit=limit, work_limit=work_limit)
    return stats.but(notes=solver_notes)


def overrun_limit(time_limit: float) -> float:
    """The documented promise: a call with ``time_limit`` T returns within
    T + max(0.1 s, 10% of T), apart from the greedy floor."""
    return time_limit + max(0.1, 0.1 * time_limit)


__all__ = ["DEFAULT_SOLVER", "PIPELINE", "PipelineParams", "Limit", "overrun_limit", "solve"]
