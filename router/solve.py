"""The pipeline: compile -> solve -> plan -> verify.

``router.solve`` is what an order service calls on every batch. Solvers see only the compiled
:class:`~router.compile.Problem`; the plan that comes back is checked by the independent
verifier before it is returned.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from router.compile import Problem, compile_problem
from router.errors import VerificationError
from router.instance import GapInstance, Instance
from router.plan import Plan, build_plan
from router.solvers.registry import SolveOptions, SolverResult, Status, get
from router.verify import verify as verify_plan

log = logging.getLogger(__name__)

DEFAULT_SOLVER = "auto"


def solve(instance: Instance | GapInstance, solver: str = DEFAULT_SOLVER,
          time_limit: float | None = None, seed: int = 0, *, mip_gap: float = 1e-4,
          threads: int = 1, verify: bool = True, problem: Problem | None = None,
          **extra: Any) -> Plan:
    """Route one batch and return its verified :class:`~router.plan.Plan`.

    ``time_limit`` is wall-clock seconds for the whole call (compilation included);
    ``seed`` makes randomised solvers repeatable. ``problem`` may pass an already compiled
    instance (its compile time is then not counted again). With ``verify`` (the default) the
    plan is checked from the instance; a plan that fails is replaced by the greedy plan and
    the failure logged, so the caller always gets a valid plan.
    """
    t0 = time.perf_counter()
    info = get(solver)
    if problem is None:
        problem = compile_problem(instance)
    remaining = None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - t0))
    options = SolveOptions(time_limit=remaining, seed=seed, mip_gap=mip_gap, threads=threads,
                           extra=dict(extra))
    result = info.func(problem, options)
    stats: dict[str, Any] = {}
    if not result.has_plan and result.status != Status.INFEASIBLE and solver != "greedy":
        log.warning("%s found no plan for %s; falling back to greedy", solver, problem.name)
        result = _fallback(problem, result, "no plan from " + solver)
    seconds = time.perf_counter() - t0
    stats.update(seconds=seconds, compile_seconds=problem.compile_seconds,
                 build_seconds=result.build_seconds, solve_seconds=result.solve_seconds)
    stats.update(result.stats)
    plan = build_plan(problem, solver, str(result.status), result.x, result.lower_bound, stats)
    if verify and plan.has_plan:
        tv = time.perf_counter()
        report = verify_plan(instance, plan, raise_on_error=False)
        plan.stats["verify_seconds"] = time.perf_counter() - tv
        if not report.ok:
            log.error("plan of %s failed verification:\n%s", solver, report)
            if solver == "greedy":
                raise VerificationError(report)
            result = _fallback(problem, result, f"{solver} plan failed verification")
            plan = build_plan(problem, solver, str(result.status), result.x, result.lower_bound,
                              {**stats, **result.stats})
            verify_plan(instance, plan)
    return plan


def _fallback(problem: Problem, failed: SolverResult, why: str) -> SolverResult:
    greedy = get("greedy").func(problem, SolveOptions())
    stats = dict(failed.stats)
    stats["fallback"] = f"greedy ({why})"
    return SolverResult(failed.solver, greedy.status, greedy.x, greedy.objective,
                        failed.lower_bound, failed.build_seconds,
                        failed.solve_seconds + greedy.solve_seconds, stats)
